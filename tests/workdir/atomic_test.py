"""workdir/atomic.py and the outputs written through it: a file appears
whole or not at all, and a good file is never replaced by a worse one; the
full disk is a real one (a small tmpfs)."""
import os

import numpy as np
import pytest

from gan_jax import report
from gan_jax.errors import GanJaxError
from gan_jax.sampling import generation
from gan_jax.workdir import atomic


def _listing(path):
  return sorted(os.listdir(path))


def test_an_error_while_writing_leaves_the_old_file(tmp_path):
  path = tmp_path / 'out.json'
  path.write_text('{"good": 1}')
  with pytest.raises(ZeroDivisionError):
    with atomic.replace(str(path)) as f:
      f.write('{"half": ')
      1 / 0
  assert path.read_text() == '{"good": 1}' and _listing(tmp_path) == ['out.json']


def test_a_full_disk_keeps_the_old_file_and_says_so(small_filesystem):
  disk = small_filesystem(256)
  path = disk / 'keep.txt'
  path.write_text('good')
  small_filesystem.fill(disk, leave_bytes=0)
  with pytest.raises(atomic.OutputError) as error:
    atomic.write_text(str(path), 'x' * 100_000)
  assert str(error.value) == (f'could not write {path} (No space left on device); '
                              f'{path} is unchanged: free space or fix the path, then '
                              'run again')
  assert path.read_text() == 'good' and _listing(disk) == ['filler', 'keep.txt']


def test_generate_on_a_full_disk_keeps_the_npz_that_was_there(small_filesystem):
  disk = small_filesystem(512)
  out = str(disk / 'keep.npz')
  small = generation.Generated(samples=np.zeros((4, 2), np.float32),
                               z=np.zeros((4, 2), np.float32), labels=None, rows=1, step=1,
                               config=None)
  generation.write(out, small)
  before = open(out, 'rb').read()
  small_filesystem.fill(disk, leave_bytes=4096)
  big = generation.Generated(samples=np.ones((100_000, 2), np.float32),
                             z=np.ones((100_000, 2), np.float32), labels=None, rows=1, step=2,
                             config=None)
  with pytest.raises(atomic.OutputError, match=r'keep\.npz is unchanged'):
    generation.write(out, big)
  assert open(out, 'rb').read() == before
  np.testing.assert_array_equal(np.load(out)['samples'], small.samples)
  assert _listing(disk) == ['filler', 'keep.npz']


def test_a_report_on_a_full_disk_keeps_the_good_one(small_filesystem, fake_runs):
  disk = small_filesystem(1024)
  fake_runs.sweep(str(disk))
  good = report.report(str(disk), metrics=['fid', 'loss_d'])
  small_filesystem.fill(disk, leave_bytes=0)
  with pytest.raises(atomic.OutputError, match=r'report\.md is unchanged'):
    report.report(str(disk), metrics=['fid', 'kid', 'loss_d', 'loss_g'])
  assert (disk / 'report.md').read_text() == good
  assert not [n for n in os.listdir(disk) if '.tmp' in n]


@pytest.mark.parametrize('flag', ['metrics', 'plot_metric'])
def test_a_metric_no_run_recorded_is_refused_before_writing(flag, tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  good = report.report(str(tmp_path))
  kwargs = {'metrics': ['fid', 'bogus']} if flag == 'metrics' else {'plot_metric': 'bogus'}
  with pytest.raises(GanJaxError, match=f"--{flag}: no run recorded bogus; the runs' "
                     'metrics: fid, kid, loss_d, loss_g, train_minutes'):
    report.report(str(tmp_path), **kwargs)
  assert (tmp_path / 'report.md').read_text() == good
