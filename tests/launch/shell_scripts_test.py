"""The launch/ shell scripts parse (bash -n)."""
import glob
import os
import subprocess

import pytest

_LAUNCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'launch')


@pytest.mark.parametrize('script', sorted(
    os.path.basename(p) for p in glob.glob(os.path.join(_LAUNCH, '*.sh')) +
    glob.glob(os.path.join(_LAUNCH, '*.sbatch'))))
def test_the_script_parses(script):
  result = subprocess.run(['bash', '-n', os.path.join(_LAUNCH, script)],
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
