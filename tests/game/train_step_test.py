"""The update step and its two moves: each move alone, their composition,
device-count invariance, objectives, errors."""
import json

import jax
import ml_collections
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mnist, mnist_mlp, mog_ring
from gan_jax.config import keys as config_keys
from gan_jax.config import validation
from gan_jax.game import state as state_lib
from gan_jax.game import train_step
from gan_jax.models import layers
from gan_jax.errors import ConfigError



def random_batches(config, num_steps, seed=0):
  rng = np.random.default_rng(seed)
  return [rng.integers(0, 256, (config.n_critic, config.batch_size, 28, 28, 1),
                       dtype=np.uint8) for _ in range(num_steps)]


def random_batches_seed_1(config, num_steps):
  """`random_batches` of seed 1. Leaky ReLU's kink makes D's gradient
  discontinuous: with DiffAugment and instance noise, seed 0's batches put one
  pre-activation within rounding of the kink, where the 1- and 4-device
  reductions round differently and G's gradient norm jumps by 2e-4 (seeds 1-3
  agree to 2e-6). The draws themselves are compared exactly across device
  counts in augment_test."""
  return random_batches(config, num_steps, seed=1)


def random_points(config, num_steps, seed=0):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=(config.n_critic, config.batch_size, 2)).astype(np.float32)
          for _ in range(num_steps)]


def ring_with_batch_norm():
  """The 2-D ring's MLPs (64, 64) with batch norm in G."""
  config = mog_ring.get_config()
  config.model.g_batch_norm = True
  config.model.g_hidden = config.model.d_hidden = (64, 64)
  return config


def ring_with_tricks():
  """`ring_with_batch_norm` with one-sided label smoothing and instance noise
  annealed to 0 over the test's 3 steps."""
  config = ring_with_batch_norm()
  config.loss.real_label = 0.9
  config.instance_noise.std, config.instance_noise.anneal_steps = 0.2, 2
  return config


def mlp_with_diffaugment():
  """The MNIST MLP GAN with DiffAugment's three policies and instance noise."""
  config = mnist_mlp.get_config()
  config.diffaugment = 'color,translation,cutout'
  config.instance_noise.std = 0.1
  return config


def assert_trees_close(a, b, rtol, atol):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# The image models' two compilations take 30-40 s each: they run in the slow
# suite (dropout's device invariance is also models_test's).
@pytest.mark.parametrize('get_config,make_batches', [
    pytest.param(mnist.get_config, random_batches, marks=pytest.mark.slow),
    pytest.param(mnist_mlp.get_config, random_batches, marks=pytest.mark.slow),
    pytest.param(mlp_with_diffaugment, random_batches_seed_1, marks=pytest.mark.slow),
    (ring_with_batch_norm, random_points), (ring_with_tricks, random_points)],
    ids=['dcgan28', 'mlp', 'mlp_diffaugment', 'ring_bn', 'ring_tricks'])
def test_one_and_four_devices_agree(assert_devices_agree, get_config, make_batches):
  config = get_config()
  config.batch_size, config.n_critic, config.ema_decay = 16, 2, 0.9
  config.optimizer_g.name = config.optimizer_d.name = 'sgd'
  config.optimizer_g.learning_rate = config.optimizer_d.learning_rate = 0.05
  batches = make_batches(config, 3)
  state1, _ = assert_devices_agree(config, batches)
  assert int(state1.step) == 3
  # The step really moved the parameters (and both players).
  initial = state_lib.create_state(config, state_lib.build_gan(config, batches[0].shape[2:]))
  for before, after in ((initial.g_params, state1.g_params),
                        (initial.d_params, state1.d_params)):
    assert not np.allclose(jax.tree.leaves(before)[0], jax.tree.leaves(after)[0])


def test_wasserstein_clips_critic_and_wgan_gp_penalises(run_steps):
  # The 2-D ring's MLPs: the objectives, not the model, are under test.
  config = mog_ring.get_config()
  config.batch_size, config.n_critic = 8, 3
  config.loss.name = 'wasserstein'
  state, _ = run_steps(config, 2, random_points(config, 2))
  leaves = jax.tree.leaves(state.d_params)
  assert max(float(np.max(np.abs(x))) for x in leaves) <= 0.01 + 1e-7
  config.loss.name = 'wgan_gp'
  _, history = run_steps(config, 2, random_points(config, 1))
  assert history[0]['penalty'] > 0
  assert np.isfinite(history[0]['loss_d'])


def test_first_step_losses_match_the_objective(run_steps):
  # At initialisation D is near chance: the minimax D loss is near log 4.
  config = mnist_mlp.get_config()
  config.batch_size = 32
  _, history = run_steps(config, 1, random_batches(config, 1))
  assert abs(history[0]['loss_d'] - np.log(4)) < 0.2
  assert 0.3 < history[0]['d_real'] < 0.7


@pytest.mark.parametrize('field,value,match', [
    ('batch_size', 30, 'multiple of the device count'),
    ('n_critic', 0, 'n_critic must be >= 1'),
])
def test_invalid_step_config(field, value, match):
  config = mnist.get_config()
  setattr(config, field, value)
  with pytest.raises(ConfigError, match=match):
    validation.validate(config, num_devices=4)


def _one_move(move, config, state, real, key):
  """`move` on one device: its pmean and axis_index over a named axis of 1."""
  gan = state_lib.build_gan(config, real.shape[1:])
  vmapped = jax.vmap(lambda s, x, k: move(s, x, k, gan, config), axis_name='batch')
  new, metrics = vmapped(jax.tree.map(lambda x: x[None], state), real[None], key[None])
  return jax.tree.map(lambda x: x[0], new), jax.tree.map(lambda x: x[0], metrics), gan


def _ring_move_setup(loss_name='non_saturating'):
  config = mog_ring.get_config()
  config.model.g_hidden = config.model.d_hidden = (16,)
  config.model.g_batch_norm = True  # so G's batch statistics move too
  config.loss.name = loss_name
  config.optimizer_g.name = config.optimizer_d.name = 'sgd'
  config.optimizer_g.learning_rate = config.optimizer_d.learning_rate = 0.05
  config.ema_decay = 0.5
  gan = state_lib.build_gan(config, (2,), axis_name='batch')
  state = state_lib.create_state(config, gan)
  real = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32) + 3.0
  return config, state, real


def _unchanged(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize('step,expected', [(0, 0.1), (2, 0.25), (90, 0.91),
                                           (10**6, 0.999)])
def test_ema_warmup_follows_the_num_updates_rule(step, expected):
  config, _, _ = _ring_move_setup()
  config.ema_decay, config.ema_warmup = 0.999, True
  assert float(train_step.ema_decay_at(step, config)) == pytest.approx(expected, rel=1e-6)
  config.ema_warmup = False  # the configured float itself, at every step
  assert train_step.ema_decay_at(step, config) == 0.999


def test_warmed_up_ema_of_a_generator_move_is_the_decayed_average():
  config, state, real = _ring_move_setup()
  config.ema_decay, config.ema_warmup = 0.999, True
  state = state.replace(step=jnp.asarray(2, state.step.dtype))  # decay 3 / 12
  moved, _, _ = _one_move(train_step.generator_move, config, state, real,
                          jax.random.PRNGKey(2))
  for e, p0, p1 in zip(jax.tree.leaves(moved.ema_g_params), jax.tree.leaves(state.g_params),
                       jax.tree.leaves(moved.g_params)):
    np.testing.assert_allclose(e, 0.25 * p0 + 0.75 * p1, rtol=1e-6, atol=1e-7)


def test_discriminator_move_moves_only_d_and_lowers_its_loss():
  config, state, real = _ring_move_setup()
  key = jax.random.PRNGKey(1)
  moved, metrics, gan = _one_move(train_step.discriminator_move, config, state, real, key)
  assert _unchanged(moved.g_params, state.g_params)
  assert _unchanged(moved.g_opt_state, state.g_opt_state)
  assert _unchanged(moved.ema_g_params, state.ema_g_params)
  assert not _unchanged(moved.d_params, state.d_params)
  assert not _unchanged(moved.g_batch_stats, state.g_batch_stats)  # G generated
  # The same move again from the moved state sees the same real batch and
  # the same noise: its loss (before its update) is the loss after the first
  # update, lower by gradient descent.
  again = state.replace(d_params=moved.d_params, d_opt_state=moved.d_opt_state)
  _, metrics_after, _ = _one_move(train_step.discriminator_move, config, again, real, key)
  assert metrics_after['loss_d'] < metrics['loss_d']
  assert metrics['d_grad_norm'] > 0


def test_generator_move_moves_only_g_and_lowers_its_loss():
  config, state, real = _ring_move_setup()
  key = jax.random.PRNGKey(2)
  moved, metrics, _ = _one_move(train_step.generator_move, config, state, real, key)
  assert _unchanged(moved.d_params, state.d_params)
  assert _unchanged(moved.d_opt_state, state.d_opt_state)
  assert not _unchanged(moved.g_params, state.g_params)
  # EMA with decay 0.5 from the initial parameters: halfway to the new ones.
  for e, p0, p1 in zip(jax.tree.leaves(moved.ema_g_params), jax.tree.leaves(state.g_params),
                       jax.tree.leaves(moved.g_params)):
    np.testing.assert_allclose(e, 0.5 * p0 + 0.5 * p1, rtol=1e-6, atol=1e-7)
  again = state.replace(g_params=moved.g_params, g_opt_state=moved.g_opt_state)
  _, metrics_after, _ = _one_move(train_step.generator_move, config, again, real, key)
  assert metrics_after['loss_g'] < metrics['loss_g']
  assert int(moved.step) == int(state.step)  # only the composed step counts


def test_the_step_is_its_moves_composed():
  """make_train_step = n_critic discriminator moves, then a generator move,
  with the step's keys; then the step counter."""
  config, state, real = _ring_move_setup()
  config.n_critic = 2
  images = np.stack([real, real[::-1]])
  gan = state_lib.build_gan(config, (2,), axis_name='batch')
  step = jax.vmap(train_step.make_train_step(config, gan), axis_name='batch')
  stepped, metrics = step(jax.tree.map(lambda x: x[None], state), images[None])
  step_key = jax.random.fold_in(state.rng, state.step)
  d_keys = jax.random.split(jax.random.fold_in(step_key, 0), 2)
  manual = state
  d_losses = []
  for k in range(2):
    manual, m, _ = _one_move(train_step.discriminator_move, config, manual, images[k], d_keys[k])
    d_losses.append(m['loss_d'])
  manual, g_metrics, _ = _one_move(train_step.generator_move, config, manual, images[-1],
                                   jax.random.fold_in(step_key, 1))
  stepped = jax.tree.map(lambda x: x[0], stepped)
  assert int(stepped.step) == int(state.step) + 1
  for x, y in zip(jax.tree.leaves(stepped.replace(step=manual.step)), jax.tree.leaves(manual)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(metrics['loss_d'][0], np.mean(d_losses), rtol=1e-6)
  np.testing.assert_allclose(metrics['loss_g'][0], g_metrics['loss_g'], rtol=1e-6)


def test_simultaneous_moves_start_from_the_same_state():
  """update_order='simultaneous': D's move and G's move both from the step's
  state (G against the old D), with the step's keys."""
  config, state, real = _ring_move_setup()
  config.update_order = 'simultaneous'
  gan = state_lib.build_gan(config, (2,), axis_name='batch')
  step = jax.vmap(train_step.make_train_step(config, gan), axis_name='batch')
  stepped, _ = step(jax.tree.map(lambda x: x[None], state), real[None, None])
  stepped = jax.tree.map(lambda x: x[0], stepped)
  step_key = jax.random.fold_in(state.rng, state.step)
  d_key = jax.random.split(jax.random.fold_in(step_key, 0), 1)[0]
  d_moved, _, _ = _one_move(train_step.discriminator_move, config, state, real, d_key)
  g_moved, _, _ = _one_move(train_step.generator_move, config, state, real,
                            jax.random.fold_in(step_key, 1))
  for got, want in ((stepped.d_params, d_moved.d_params),
                    (stepped.g_params, g_moved.g_params),
                    (stepped.ema_g_params, g_moved.ema_g_params)):
    for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
  # ...which differs from the alternating step, whose G faces the moved D.
  config.update_order = 'alternating'
  alternating = jax.vmap(train_step.make_train_step(config, gan), axis_name='batch')
  alt, _ = alternating(jax.tree.map(lambda x: x[None], state), real[None, None])
  assert not np.allclose(jax.tree.leaves(alt.g_params)[0][0],
                         jax.tree.leaves(stepped.g_params)[0])
  config.update_order, config.n_critic = 'simultaneous', 2
  with pytest.raises(ConfigError, match='simultaneous.*set config.n_critic=1'):
    validation.validate(config)


def test_n_generator_makes_that_many_generator_moves_with_their_own_keys():
  config, state, real = _ring_move_setup()
  config.n_generator = 2
  gan = state_lib.build_gan(config, (2,), axis_name='batch')
  step = jax.vmap(train_step.make_train_step(config, gan), axis_name='batch')
  stepped, metrics = step(jax.tree.map(lambda x: x[None], state), real[None, None])
  step_key = jax.random.fold_in(state.rng, state.step)
  d_key = jax.random.split(jax.random.fold_in(step_key, 0), 1)[0]
  manual, _, _ = _one_move(train_step.discriminator_move, config, state, real, d_key)
  losses = []
  for key in (jax.random.fold_in(step_key, 1), jax.random.fold_in(step_key, 0x101)):
    manual, m, _ = _one_move(train_step.generator_move, config, manual, real, key)
    losses.append(m['loss_g'])
  for x, y in zip(jax.tree.leaves(jax.tree.map(lambda x: x[0], stepped.g_params)),
                  jax.tree.leaves(manual.g_params)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(metrics['loss_g'][0], np.mean(losses), rtol=1e-6)
  assert int(stepped.step[0]) == int(state.step) + 1


def test_uniform_latents_lie_in_the_unit_cube_and_reach_every_sampler():
  from gan_jax.training import runs as runs_lib
  from gan_jax.models import layers
  z = layers.sample_latent(jax.random.PRNGKey(0), 4096, 8, distribution='uniform')
  assert float(z.min()) >= -1.0 and float(z.max()) < 1.0
  assert abs(float(z.std()) - 1 / np.sqrt(3)) < 0.01   # U[-1, 1): variance 1/3
  config, _, _ = _ring_move_setup()
  config.model.latent_distribution = 'uniform'
  assert float(np.abs(runs_lib.fixed_latents(config, 512)).max()) < 1.0
  config.model.latent_distribution = 'normal'
  assert float(np.abs(runs_lib.fixed_latents(config, 512)).max()) > 1.5


# ------------------------------------------------ what D sees (d_view) ----
def test_tricks_off_leave_d_view_the_examples_themselves():
  config, state, real = _ring_move_setup()
  x = jax.numpy.asarray(real)
  assert train_step.d_view(x, jax.random.PRNGKey(0), train_step.REAL_VIEW,
                           state.step, config, None) is x
  # A config saved before the keys, completed as a run's is when read back.
  saved = json.loads(config.to_json_best_effort())
  del saved['instance_noise'], saved['diffaugment']
  config = ml_collections.ConfigDict(config_keys.complete(saved))
  assert train_step.d_view(x, jax.random.PRNGKey(0), train_step.REAL_VIEW,
                           state.step, config, None) is x


def test_instance_noise_reaches_both_moves_and_anneals_away():
  config, state, real = _ring_move_setup()
  key = jax.random.PRNGKey(3)
  plain_d = _one_move(train_step.discriminator_move, config, state, real, key)[1]
  plain_g = _one_move(train_step.generator_move, config, state, real, key)
  config.instance_noise.std, config.instance_noise.anneal_steps = 0.5, 10
  noisy_d = _one_move(train_step.discriminator_move, config, state, real, key)[1]
  noisy_g = _one_move(train_step.generator_move, config, state, real, key)
  assert noisy_d['d_real_logit'] != plain_d['d_real_logit']
  assert noisy_d['d_fake_logit'] != plain_d['d_fake_logit']
  # G's gradient flows through the noisy view of its samples.
  assert noisy_g[1]['loss_g'] != plain_g[1]['loss_g'] and noisy_g[1]['g_grad_norm'] > 0
  assert not _unchanged(noisy_g[0].g_params, plain_g[0].g_params)
  # sigma is a function of state.step: 0 from step anneal_steps on, where
  # the moves are the noiseless ones.
  late = state.replace(step=jax.numpy.int32(10))
  annealed = _one_move(train_step.discriminator_move, config, late, real, key)
  config.instance_noise.std = 0.0
  plain_late = _one_move(train_step.discriminator_move, config, late, real, key)
  assert _unchanged(annealed[:2], plain_late[:2])


def test_label_smoothing_changes_only_ds_loss_on_reals():
  # BCE with real target alpha = BCE with target 1 + (1 - alpha) E[logit]
  # (softplus(t) - softplus(-t) = t), with D's real logits of the same move.
  config, state, real = _ring_move_setup()
  key = jax.random.PRNGKey(4)
  _, plain, _ = _one_move(train_step.discriminator_move, config, state, real, key)
  config.loss.real_label = 0.9
  moved, smoothed, _ = _one_move(train_step.discriminator_move, config, state, real, key)
  np.testing.assert_allclose(smoothed['loss_d'],
                             plain['loss_d'] + 0.1 * plain['d_real_logit'], rtol=1e-6)
  assert smoothed['d_real_logit'] == plain['d_real_logit']
  # G's move against the same D: its loss is the unsmoothed one, bit for bit.
  g_smoothed = _one_move(train_step.generator_move, config, state, real, key)[1]
  config.loss.real_label = 1.0
  g_plain = _one_move(train_step.generator_move, config, state, real, key)[1]
  assert g_smoothed['loss_g'] == g_plain['loss_g']


def test_the_ema_copies_g_until_its_start_step():
  config, state, real = _ring_move_setup()
  config.ema_decay, config.ema_start_step = 0.5, 3
  for step, copies in ((2, True), (3, False)):
    at = state.replace(step=jnp.asarray(step, state.step.dtype))
    moved, _, _ = _one_move(train_step.generator_move, config, at, real,
                            jax.random.PRNGKey(2))
    for e, p0, p1 in zip(jax.tree.leaves(moved.ema_g_params),
                         jax.tree.leaves(at.ema_g_params), jax.tree.leaves(moved.g_params)):
      np.testing.assert_allclose(e, p1 if copies else 0.5 * p0 + 0.5 * p1,
                                 rtol=1e-6, atol=1e-7)


def test_a_generator_batch_of_its_own_draws_that_many_fakes(monkeypatch):
  # SNGAN's official recipe: D sees 64 real and 64 fake, G's move 128 fakes.
  config, state, real = _ring_move_setup('hinge')
  config.batch_size, config.g_batch_size = 32, 64
  drawn = []
  original = layers.sample_latent
  monkeypatch.setattr(layers, 'sample_latent',
                      lambda key, n, *args: drawn.append(n) or original(key, n, *args))
  moved, metrics, _ = _one_move(train_step.generator_move, config, state, real,
                                jax.random.PRNGKey(2))
  assert drawn == [64] and np.isfinite(metrics['loss_g'])
  drawn.clear()
  _one_move(train_step.discriminator_move, config, state, real, jax.random.PRNGKey(2))
  assert drawn == [32]   # D's fakes match its real batch
