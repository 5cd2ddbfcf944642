"""Several steps per dispatch (config.steps_per_dispatch, lax.scan): the same
run as one step per dispatch, resumable across the two."""
import pytest

from gan_jax.config import validation
from gan_jax.training import dispatch
from gan_jax.training import train
from gan_jax.errors import ConfigError


@pytest.mark.parametrize('start,end,k,sizes', [
    (0, 8, 1, [1] * 8),
    (0, 10, 4, [4, 4, 1, 1]),       # the tail in single steps
    (3, 10, 4, [1, 4, 1, 1]),       # single steps up to a multiple of k
    (5, 6, 4, [1]),
    (8, 8, 4, []),
])
def test_dispatch_sizes(start, end, k, sizes):
  assert dispatch.dispatch_sizes(start, end, k) == sizes


@pytest.fixture(scope='module')
def one_per_dispatch(tmp_path_factory, ring_group_config):
  """Seed 3 of the ring (2 devices, n_critic 2, EMA), 8 steps, one per call."""
  workdir = tmp_path_factory.mktemp('k1')
  config = ring_group_config(8)
  config.seed = 3
  return workdir, train.train_and_evaluate(config, str(workdir))


def test_two_steps_per_dispatch_train_the_same_seeds(one_per_dispatch, tmp_path,
                                                     ring_group_config, assert_trees_close,
                                                     assert_logs_close):
  solo_dir, solo = one_per_dispatch
  config = ring_group_config(8)
  config.steps_per_dispatch = 2
  # Two seeds vmapped inside the scan: the batch axes are [device, step, seed].
  finals = train.train_seeds(config, {3: str(tmp_path / '3'), 7: str(tmp_path / '7')})
  assert int(finals[0].step) == 8
  assert_trees_close(finals[0], solo)
  # Every step's metrics are logged, as with one step per dispatch.
  assert_logs_close(tmp_path / '3', solo_dir)


def test_resuming_with_another_steps_per_dispatch(one_per_dispatch, tmp_path,
                                                  ring_group_config, assert_trees_close):
  _, solo = one_per_dispatch
  config = ring_group_config(5)
  config.seed = 3
  train.train_and_evaluate(config, str(tmp_path))  # saves at step 5
  config.num_train_steps = 8
  config.steps_per_dispatch = 2  # resumes with steps 6, then 7-8 in one call
  final = train.train_and_evaluate(config, str(tmp_path))
  assert int(final.step) == 8
  assert_trees_close(final, solo)


@pytest.mark.parametrize('field,value,match', [
    ('steps_per_dispatch', 0, 'steps_per_dispatch must be >= 1'),
    ('log_every_steps', 3, r'log_every_steps=3 must be a multiple of '
                           r'config.steps_per_dispatch=2'),
])
def test_invalid_steps_per_dispatch(field, value, match, ring_group_config):
  config = ring_group_config(8)
  config.steps_per_dispatch = 2
  setattr(config, field, value)
  with pytest.raises(ConfigError, match=match):
    validation.validate(config, num_devices=2)

