"""workdir/checkpoints.py: the latest N plus the best checkpoint kept, each
restored by name, set aside rather than deleted, and a workdir rewound to a
step (what a rollback drops)."""
import os

import jax
import numpy as np
import pytest

from gan_jax.errors import GanJaxError
from gan_jax.workdir import checkpoints
from gan_jax.workdir import metrics_log


def _state(value):
  return {'w': np.full((3,), value, np.float32), 'step': np.array(value, np.int32)}


def _manager_with(tmp_path, fids, keep=1):
  """A manager holding checkpoints 1..len(fids), step s saved with FID fids[s-1]."""
  manager = checkpoints.create_manager(str(tmp_path), keep, 'fid', 'min')
  for step, fid in enumerate(fids, start=1):
    checkpoints.save(manager, step, _state(step), {'fid': fid})
  return manager


def test_the_latest_and_the_best_are_kept_and_restored_by_name(tmp_path):
  manager = _manager_with(tmp_path, [5.0, 1.0, 3.0, 4.0])
  # keep=1: the latest (4) and the lowest FID (2); 1 and 3 are cleaned up.
  assert sorted(manager.all_steps()) == [2, 4]
  template = _state(0)
  for which, step in (('latest', 4), ('best', 2), ('2', 2)):
    state, restored_step = checkpoints.restore(manager, which, template, 'fid', 'min')
    assert restored_step == step
    np.testing.assert_array_equal(state['w'], np.full((3,), step, np.float32))
  assert checkpoints.best_step(manager, 'fid', 'min') == 2


def test_a_checkpoint_without_the_metric_ranks_last(tmp_path):
  manager = checkpoints.create_manager(str(tmp_path), 5, 'fid', 'max')
  checkpoints.save(manager, 1, _state(1), {'fid': 2.0})
  checkpoints.save(manager, 2, _state(2), {'loss_d': 0.1})     # before any evaluation
  checkpoints.save(manager, 3, _state(3), {'fid': float('nan')})
  assert checkpoints.best_step(manager, 'fid', 'max') == 1


@pytest.mark.parametrize('which,match', [
    ('7', r'no checkpoint at step 7 in .*; have \[1, 2\]'),
    ('first', "--checkpoint must be best, latest or a step, got 'first'")])
def test_a_checkpoint_that_is_not_there_is_named(which, match, tmp_path):
  manager = _manager_with(tmp_path, [2.0, 1.0], keep=2)
  with pytest.raises(GanJaxError, match=match):
    checkpoints.restore(manager, which, _state(0))


def test_set_aside_moves_a_checkpoint_out_of_the_managers_way(tmp_path):
  manager = _manager_with(tmp_path, [2.0, 1.0, 3.0], keep=3)
  first = checkpoints.set_aside(manager, 3, 'superseded_checkpoints')
  assert first == os.path.join(str(tmp_path), 'superseded_checkpoints', '3')
  assert os.path.isdir(first) and sorted(manager.all_steps()) == [1, 2]
  checkpoints.save(manager, 3, _state(3), {'fid': 3.0})
  second = checkpoints.set_aside(manager, 3, 'superseded_checkpoints')
  assert second.endswith(os.path.join('superseded_checkpoints', '3.1'))
  assert os.path.isdir(first) and os.path.isdir(second)  # nothing is deleted


def test_a_rollback_forgets_the_reports_of_the_steps_it_redoes(tmp_path):
  # checkpoints.rewind is what a run calls on a rollback.
  workdir = str(tmp_path)
  writer = metrics_log.MetricWriter(workdir)
  for step in (2, 4, 6):
    writer.write_scalars(step, {'loss_d': 1.0})
  writer.flush()
  os.makedirs(tmp_path / 'eval')
  # The loop's also_params reports and gan_jax.evaluate's: those of steps
  # after the restore step score a trajectory the rollback discards (their
  # checkpoints are gone); the references are no step's.
  kept = ['2,params=raw.json', '4,params=raw.json', '4,params=ema.json', '4.json',
          '4,params=raw,num_samples=100.json', 'data.json', 'init.json']
  stale = ['6,params=raw.json', '8,params=ema.json', '6.json',
           '6,params=raw,num_samples=100.json', '10,bn_stats=running.json']
  for name in kept + stale:
    (tmp_path / 'eval' / name).write_text('{}')
  checkpoints.rewind(workdir, 4)
  assert sorted(os.listdir(tmp_path / 'eval')) == sorted(kept)
  assert [r['step'] for r in metrics_log.read_metrics(workdir)] == [2, 4]


def test_a_reader_changes_nothing_in_the_run(tmp_path):
  # As gan_jax.evaluate and generate open a run, possibly while it trains:
  # a save in progress (orbax's temporary directory) must survive them.
  manager = _manager_with(tmp_path, [5.0, 1.0, 3.0], keep=3)
  in_progress = tmp_path / 'checkpoints' / '4.orbax-checkpoint-tmp'
  in_progress.mkdir()
  (in_progress / 'part').write_text('being written')
  before = sorted(str(p) for p in tmp_path.rglob('*'))
  reader = checkpoints.open_for_reading(str(tmp_path), 'fid', 'min')
  state, step = checkpoints.restore(reader, 'best', _state(0), 'fid', 'min')
  assert step == 2 and float(state['w'][0]) == 2.0
  assert checkpoints.restore(reader, 'latest', _state(0))[1] == 3
  assert sorted(str(p) for p in tmp_path.rglob('*')) == before
  del manager


def test_a_reader_opened_while_the_training_deletes_a_step_tries_again(tmp_path,
                                                                     monkeypatch):
  # Orbax lists the step folders, then stats each; the training's cleanup
  # can remove one in between (FileNotFoundError from the constructor).
  manager = _manager_with(tmp_path, [5.0, 1.0, 3.0], keep=3)
  real = checkpoints.ocp.CheckpointManager
  calls = []

  def racing(directory, options):
    calls.append(directory)
    if len(calls) == 1:
      manager.delete(1)
      raise FileNotFoundError(f'{directory}/1')
    return real(directory, options=options)

  monkeypatch.setattr(checkpoints.ocp, 'CheckpointManager', racing)
  reader = checkpoints.open_for_reading(str(tmp_path), 'fid', 'min')
  assert len(calls) == 2 and sorted(reader.all_steps()) == [2, 3]
  assert checkpoints.restore(reader, 'latest', _state(0))[1] == 3


def test_a_reader_gives_up_on_a_directory_that_keeps_failing(tmp_path, monkeypatch):
  _manager_with(tmp_path, [5.0])

  def failing(directory, options):
    raise FileNotFoundError(f'{directory}/1')

  monkeypatch.setattr(checkpoints.ocp, 'CheckpointManager', failing)
  with pytest.raises(FileNotFoundError):
    checkpoints.open_for_reading(str(tmp_path), 'fid', 'min')


def test_a_reader_of_a_run_without_checkpoints_creates_none(tmp_path):
  with pytest.raises(GanJaxError, match='no checkpoint in .*checkpoints; train first'):
    checkpoints.open_for_reading(str(tmp_path), 'fid', 'min')
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('target,detail', [
    ({'w': (3, 5), 'step': ()}, r"\['w'\] has shape \(3,\) there and \(3, 5\) in the config's "
                                 'model'),
    ({'w': (3,)}, r'its tree of arrays differs\); it was saved by another config or version'),
])
def test_a_checkpoint_of_another_model_is_named_so_and_never_moved(target, detail, tmp_path):
  manager = _manager_with(tmp_path, [1.0, 2.0], keep=2)
  template = {k: jax.ShapeDtypeStruct(shape, np.float32 if k == 'w' else np.int32)
              for k, shape in target.items()}
  for restore in (lambda: checkpoints.restore(manager, 'latest', template),
                  lambda: checkpoints.restore_latest(manager, template)):
    with pytest.raises(checkpoints.CheckpointMismatchError,
                       match=r'checkpoint 2 in .* holds another model than the run\'s '
                             rf'config describes.*{detail}'):
      restore()
  assert sorted(manager.all_steps()) == [1, 2]
  assert sorted(os.listdir(tmp_path)) == ['checkpoints']   # nothing moved aside
