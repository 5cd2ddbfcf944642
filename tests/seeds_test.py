"""Several seeds trained together (`train.train_seeds`, vmapped over the seeds
on each device): each seed's workdir is what its solo run writes."""
import json
import os

import jax
import numpy as np
import pytest

from gan_jax import report, train, train_step, writers
from tests import evaluator_test, reliability_test
from tests.train_test import tiny_config


def ring_config(num_train_steps):
  """evaluator_test's small ring, on 2 devices with n_critic 2 and EMA."""
  config = evaluator_test.ring_config(num_train_steps)
  config.num_devices = 2
  config.n_critic = 2
  config.ema_decay = 0.9
  config.eval_every_steps = 4
  config.keep_checkpoints = 2
  return config


def assert_close(a, b, rtol=2e-5, atol=2e-6):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def records(workdir):
  return report.without_timing(writers.read_metrics(str(workdir)))


def assert_records_close(a, b):
  assert [sorted(r) for r in a] == [sorted(r) for r in b]
  for x, y in zip(a, b):
    np.testing.assert_allclose([x[k] for k in sorted(x)], [y[k] for k in sorted(y)],
                               rtol=1e-4, atol=1e-5)


@pytest.fixture(scope='module')
def solo_runs(tmp_path_factory):
  """Seeds 3 and 7 of the ring, each trained alone, 8 steps."""
  root = tmp_path_factory.mktemp('solo')
  finals = {}
  for seed in (3, 7):
    config = ring_config(8)
    config.seed = seed
    finals[seed] = train.train_and_evaluate(config, str(root / f'seed={seed}'))
  return root, finals


def test_vmapped_seeds_equal_their_solo_runs(solo_runs, tmp_path):
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
    assert_records_close(records(workdirs[seed]), records(solo_root / f'seed={seed}'))
    for name in ('config.json', 'param_counts.json'):
      with open(os.path.join(workdirs[seed], name)) as f, \
          open(solo_root / f'seed={seed}' / name) as g:
        assert json.load(f) == json.load(g)
    assert sorted(os.listdir(os.path.join(workdirs[seed], 'checkpoints'))) == \
        sorted(os.listdir(solo_root / f'seed={seed}' / 'checkpoints'))


def test_a_group_resumes_from_solo_checkpoints_at_their_common_step(
    solo_runs, tmp_path):
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
    assert [r['step'] for r in writers.read_metrics(workdirs[seed])
            if 'loss_d' in r] == [2, 4, 6, 8]


def test_rollback_gives_only_the_diverged_seed_new_noise(
    tfds_data_dir, tmp_path, monkeypatch, caplog):
  """BN, EMA and n_critic > 1 on MNIST; a NaN hits seed 0 at step 5."""
  config = tiny_config(tfds_data_dir, 8)
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
                      reliability_test._poison_at(5, only_first_rng=True))
  workdirs = {0: str(tmp_path / 'seed=0'), 1: str(tmp_path / 'seed=1')}
  with caplog.at_level('WARNING'):
    finals = train.train_seeds(config, workdirs)
  assert 'non-finite d_param_norm at step 5 of seed 0' in caplog.text
  assert 'rolled back to step 4 with new noise (1/3)' in caplog.text
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(finals))
  assert_close(finals[1], clean)  # seed 1 replayed its own steps
  for workdir in workdirs.values():
    assert [r['step'] for r in writers.read_metrics(workdir)] == [2, 4, 6, 8]


def test_a_diverged_seed_is_named_when_the_group_stops(
    tfds_data_dir, tmp_path, monkeypatch):
  config = tiny_config(tfds_data_dir, 6)
  config.checkpoint_every_steps = 4
  monkeypatch.setattr(train_step, 'make_train_step',
                      reliability_test._poison_at(5, only_first_rng=True))
  with pytest.raises(train.DivergenceError) as error:
    train.train_seeds(config, {0: str(tmp_path / 'a'), 1: str(tmp_path / 'b')})
  message = str(error.value)
  assert 'non-finite d_param_norm at step 5 of seed 0;' in message
  assert 'of seed 1' not in message and '\n' not in message
