"""Several seeds trained together (`train.train_seeds`, vmapped over the seeds
on each device): each seed's workdir is what its solo run writes."""
import json
import os

import jax
import numpy as np
import pytest

from gan_jax.training import nonfinite
from gan_jax.training import train
from gan_jax.game import train_step
from gan_jax.workdir import metrics_log


@pytest.fixture(scope='module')
def solo_runs(tmp_path_factory, ring_group_config):
  """Seeds 3 and 7 of the ring, each trained alone, 8 steps."""
  ring_config = ring_group_config
  root = tmp_path_factory.mktemp('solo')
  finals = {}
  for seed in (3, 7):
    config = ring_config(8)
    config.seed = seed
    finals[seed] = train.train_and_evaluate(config, str(root / f'seed={seed}'))
  return root, finals


def test_vmapped_seeds_equal_their_solo_runs(solo_runs, tmp_path, ring_group_config,
                                            assert_trees_close, assert_logs_close):
  ring_config, assert_close = ring_group_config, assert_trees_close
  solo_root, solo = solo_runs
  workdirs = {seed: str(tmp_path / f'seed={seed}') for seed in (3, 7)}
  finals = train.train_seeds(ring_config(8), workdirs)
  assert [int(s.step) for s in finals] == [8, 8]
  # The seeds really differ (the ring's data follows the seed too) ...
  assert not np.allclose(finals[0].g_params['Dense_0']['kernel'],
                         finals[1].g_params['Dense_0']['kernel'])
  for final, seed in zip(finals, (3, 7)):
    # ... and each is its solo run: parameters, logs, evaluations, config.
    assert_close(final, solo[seed])
    assert_logs_close(workdirs[seed], solo_root / f'seed={seed}')
    for name in ('config.json', 'param_counts.json'):
      with open(os.path.join(workdirs[seed], name)) as f, \
          open(solo_root / f'seed={seed}' / name) as g:
        assert json.load(f) == json.load(g)
    assert sorted(os.listdir(os.path.join(workdirs[seed], 'checkpoints'))) == \
        sorted(os.listdir(solo_root / f'seed={seed}' / 'checkpoints'))


def test_a_group_resumes_from_solo_checkpoints_at_their_common_step(
    solo_runs, tmp_path, ring_group_config, assert_trees_close):
  ring_config, assert_close = ring_group_config, assert_trees_close
  _, solo = solo_runs
  # Seed 3 got to step 6, seed 7 to step 4 (as if killed between saves).
  for seed, steps in ((3, 6), (7, 4)):
    config = ring_config(steps)
    config.seed = seed
    train.train_and_evaluate(config, str(tmp_path / f'seed={seed}'))
  workdirs = {seed: str(tmp_path / f'seed={seed}') for seed in (3, 7)}
  finals = train.train_seeds(ring_config(8), workdirs)
  # Seed 3's step-6 checkpoint was set aside, not deleted, and recomputed.
  assert os.listdir(tmp_path / 'seed=3' / 'superseded_checkpoints') == ['6']
  for final, seed in zip(finals, (3, 7)):
    assert int(final.step) == 8
    assert_close(final, solo[seed])
    assert [r['step'] for r in metrics_log.read_metrics(workdirs[seed])
            if 'loss_d' in r] == [2, 4, 6, 8]


@pytest.mark.slow  # two compilations of the vmapped MLP GAN (~40 s); the
# single-seed rollback is in reliability_test's default tests
def test_rollback_gives_only_the_diverged_seed_new_noise(
    tiny_config, poison_at, assert_trees_close, tmp_path, monkeypatch, caplog):
  """BN, EMA and n_critic > 1 (tiny_config); a NaN hits seed 0 at step 5."""
  config = tiny_config(8)
  config.checkpoint_every_steps = 4
  config.nonfinite = 'rollback'
  # SGD: Adam would turn the rounding noise in the gradients of the biases
  # before batch norm (zero in exact arithmetic) into lr-sized steps, and the
  # vmapped program rounds differently from the solo one.
  config.optimizer_g.name = config.optimizer_d.name = 'sgd'
  config.optimizer_g.learning_rate = config.optimizer_d.learning_rate = 0.05
  config.seed = 1
  clean = train.train_and_evaluate(config, str(tmp_path / 'solo'))
  config.seed = 0
  monkeypatch.setattr(train_step, 'make_train_step',
                      poison_at(5, only_first_rng=True))
  workdirs = {0: str(tmp_path / 'seed=0'), 1: str(tmp_path / 'seed=1')}
  with caplog.at_level('WARNING'):
    finals = train.train_seeds(config, workdirs)
  assert 'non-finite d_param_norm at step 5 of seed 0' in caplog.text
  assert 'rolled back to step 4 with new noise (1/3)' in caplog.text
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(finals))
  assert_trees_close(finals[1], clean)  # seed 1 replayed its own steps
  for workdir in workdirs.values():
    assert [r['step'] for r in metrics_log.read_metrics(workdir)] == [2, 4, 6, 8]


@pytest.mark.slow  # the vmapped MLP GAN's compilation (~20 s)
def test_a_diverged_seed_is_named_when_the_group_stops(
    tiny_config, poison_at, tmp_path, monkeypatch):
  config = tiny_config(6)
  config.checkpoint_every_steps = 4
  monkeypatch.setattr(train_step, 'make_train_step',
                      poison_at(5, only_first_rng=True))
  with pytest.raises(nonfinite.DivergenceError) as error:
    train.train_seeds(config, {0: str(tmp_path / 'a'), 1: str(tmp_path / 'b')})
  message = str(error.value)
  assert 'non-finite d_param_norm at step 5 of seed 0;' in message
  assert 'of seed 1' not in message and '\n' not in message
