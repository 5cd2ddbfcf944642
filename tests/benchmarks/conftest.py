"""The scripts of benchmarks/ (not a package) as modules, one fixture each."""
import importlib.util
import os

import pytest

_BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'benchmarks')


def _script(name: str):
  """benchmarks/<name>.py imported as the module `benchmarks_<name>`."""
  spec = importlib.util.spec_from_file_location(f'benchmarks_{name}',
                                                os.path.join(_BENCHMARKS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope='module')
def compare():
  return _script('compare')


@pytest.fixture(scope='module')
def cpu_forms():
  return _script('cpu_forms')
