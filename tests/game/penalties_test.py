"""Gradient penalties on critics whose input gradient is known; spectral
normalisation of the discriminators."""
from flax import jax_utils
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import mnist_mlp
from gan_jax.config import defaults
from gan_jax.game import optimizers
from gan_jax.game import penalties
from gan_jax.game import train_step
from gan_jax.game import state as state_lib
from gan_jax.models import dcgan, dcgan3x3, dcgan64, mlp, mlp2d

W = jnp.array([0.6, -0.3, 1.2, 0.0])  # ||W|| = 1.3748
W_NORM = float(jnp.linalg.norm(W))


def linear_critic(x):
  return x.reshape(x.shape[0], -1) @ W


def quadratic_critic(x):  # grad at x_i is 2 x_i
  return jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1)


REAL = jax.random.normal(jax.random.PRNGKey(0), (6, 2, 2, 1))
FAKE = jax.random.normal(jax.random.PRNGKey(1), (6, 2, 2, 1))


def test_penalties_of_linear_critic():
  key = jax.random.PRNGKey(2)
  np.testing.assert_allclose(
      penalties.wgan_gp(linear_critic, REAL, FAKE, key), (W_NORM - 1) ** 2, rtol=1e-5)
  np.testing.assert_allclose(
      penalties.zero_centered(linear_critic, REAL, FAKE, key), W_NORM ** 2, rtol=1e-5)
  np.testing.assert_allclose(
      penalties.r1(linear_critic, REAL, FAKE, key), 0.5 * W_NORM ** 2, rtol=1e-5)


def test_dragan_of_linear_critic():
  # grad D = W at every point, so (||grad D(x_hat)|| - 1)^2 = (||W|| - 1)^2
  # wherever the perturbed points x_hat land.
  np.testing.assert_allclose(
      penalties.dragan(linear_critic, REAL, FAKE, jax.random.PRNGKey(4)),
      (W_NORM - 1) ** 2, rtol=1e-5)


def test_dragan_perturbations_follow_the_reference_code():
  # x_hat - x = alpha * 0.5 std(x) U[0, 1]: within [0, 0.5 std(x)] entrywise,
  # with one alpha per example.
  x_hat = penalties._dragan_perturbations(REAL, jax.random.PRNGKey(5), None)
  delta = np.asarray(x_hat - REAL)
  bound = 0.5 * float(np.std(np.asarray(REAL)))
  assert delta.min() >= 0.0 and delta.max() <= bound + 1e-6
  assert delta.max() > 0.5 * bound  # a real perturbation, of that scale


def test_dragan_is_device_count_invariant():
  # Per-example noise keyed by the global example id and std(x) over the
  # global batch: two devices compute the one-device penalty.
  key = jax.random.PRNGKey(6)
  expected = penalties.dragan(quadratic_critic, REAL, FAKE, key)
  sharded = jax.pmap(
      lambda r, f: jax.lax.pmean(
          penalties.dragan(quadratic_critic, r, f, key, 'batch'), 'batch'),
      axis_name='batch', devices=jax.devices()[:2])(
          REAL.reshape((2, 3) + REAL.shape[1:]),
          FAKE.reshape((2, 3) + FAKE.shape[1:]))
  np.testing.assert_allclose(sharded[0], expected, rtol=1e-5)


@pytest.mark.parametrize('name', sorted(penalties.PENALTIES))
def test_penalty_gradients_finite_where_input_gradient_is_zero(name):
  # A linear critic with w = 0, and a scaled quadratic critic at x = 0: grad_x
  # D = 0 at every penalised point, where a plain norm has an infinite
  # derivative.
  penalty_fn = penalties.PENALTIES[name]
  zeros = jnp.zeros_like(REAL)
  key = jax.random.PRNGKey(7)
  grads = [
      jax.grad(lambda w: penalty_fn(
          lambda x: x.reshape(x.shape[0], -1) @ w, REAL, FAKE, key))(
              jnp.zeros(4)),
      jax.grad(lambda a: penalty_fn(
          lambda x: a * quadratic_critic(x), zeros, zeros, key))(1.0),
  ]
  assert all(np.all(np.isfinite(g)) for g in grads)


def test_r1_r2_are_per_sample():
  expected_r1 = 0.5 * np.mean(np.sum((2 * np.asarray(REAL).reshape(6, -1)) ** 2, 1))
  expected_r2 = 0.5 * np.mean(np.sum((2 * np.asarray(FAKE).reshape(6, -1)) ** 2, 1))
  key = jax.random.PRNGKey(0)
  np.testing.assert_allclose(penalties.r1(quadratic_critic, REAL, FAKE, key),
                             expected_r1, rtol=1e-5)
  np.testing.assert_allclose(penalties.r2(quadratic_critic, REAL, FAKE, key),
                             expected_r2, rtol=1e-5)


def test_wgan_gp_gradient_matches_finite_differences():
  key = jax.random.PRNGKey(3)

  def penalty(w):
    return penalties.wgan_gp(lambda x: x.reshape(x.shape[0], -1) @ w,
                                REAL, FAKE, key)

  w = np.asarray(W, np.float64)
  grad = np.asarray(jax.grad(penalty)(jnp.asarray(w, jnp.float32)))
  eps = 1e-3
  numeric = [(penalty(jnp.asarray(w + eps * e, jnp.float32)) -
              penalty(jnp.asarray(w - eps * e, jnp.float32))) / (2 * eps)
             for e in np.eye(4)]
  np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-3)


def test_safe_norm_has_finite_gradient_at_zero():
  grad = jax.grad(lambda x: penalties.safe_norm(x, axis=0))(jnp.zeros(3))
  assert np.all(np.isfinite(grad))


@pytest.mark.parametrize('clip', [0.01, 0.5])
def test_weight_clipping_keeps_params_in_range(clip):
  tx = optimizers.create(
      optimizers_config(), weight_clip=clip)
  params = {'w': jnp.array([0.3, -2.0, 0.001])}
  state = tx.init(params)
  updates, _ = tx.update({'w': jnp.array([-10.0, 10.0, 0.0])}, state, params)
  new = jax.tree.map(lambda p, u: p + u, params, updates)
  assert float(jnp.max(jnp.abs(new['w']))) <= clip + 1e-7
  np.testing.assert_allclose(new["w"][:2], [clip, -clip], rtol=1e-5)


def optimizers_config():
  return defaults.optimizer(0.1, b1=0.0, b2=0.0, name='sgd')


# ------------------------------------------------- spectral normalisation ----
SPECTRAL_NORM_MODELS = {
    'dcgan28': (dcgan.Discriminator, (2, 28, 28, 1)),
    'dcgan3x3': (dcgan3x3.Discriminator, (2, 28, 28, 1)),
    'dcgan64': (dcgan64.Discriminator, (2, 64, 64, 1)),
    'mlp': (mlp.Discriminator, (2, 28, 28, 1)),
    'mlp2d': (mlp2d.Discriminator, (2, 2)),
}


def _by_layer(tree, suffix):
  """{layer name: leaf} for the leaves whose last key ends with `suffix`;
  the layer is the key before it ('Conv_0' of params['Conv_0']['kernel']) or
  its prefix (batch_stats['SpectralNorm_0']['Conv_0/kernel/sigma'])."""
  leaves = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    last = path[-1].key
    if last.endswith(suffix):
      leaves[last[:-len(suffix)] or path[-2].key] = leaf
  return leaves


@pytest.mark.parametrize('family', sorted(SPECTRAL_NORM_MODELS))
def test_spectral_norm_normalises_every_kernel(family):
  cls, shape = SPECTRAL_NORM_MODELS[family]
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  model = cls(spectral_norm=True)
  # The same parameters (names, shapes); sigma's state lives in batch_stats.
  init_shapes = lambda m: jax.tree.map(jnp.shape, jax.eval_shape(
      lambda: m.init(jax.random.PRNGKey(1), x, train=False))['params'])
  assert init_shapes(model) == init_shapes(cls())

  @jax.jit
  def init_and_power_iterations():
    variables = model.init(jax.random.PRNGKey(1), x, train=False)

    def body(_, stats):  # a training-mode call: one power-iteration step
      _, updates = model.apply({'params': variables['params'],
                                'batch_stats': stats}, x, train=True,
                               rngs={'dropout': jax.random.PRNGKey(2)},
                               mutable=['batch_stats'])
      return updates['batch_stats']

    stats = jax.lax.fori_loop(0, 100, body, variables['batch_stats'])
    out = model.apply({'params': variables['params'], 'batch_stats': stats},
                      x, train=False)
    return variables, stats, out

  variables, stats, out = init_and_power_iterations()
  assert out.shape == (shape[0],) and np.all(np.isfinite(out))
  sigmas = _by_layer(stats, '/kernel/sigma')
  kernels = _by_layer(variables['params'], 'kernel')
  assert set(sigmas) == set(kernels)  # every conv / dense kernel
  for name, w in kernels.items():
    # The normalised weight W / sigma has largest singular value 1.
    matrix = np.asarray(w).reshape(-1, w.shape[-1])
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    np.testing.assert_allclose(top / sigmas[name], 1.0, rtol=1e-2, err_msg=name)


def test_spectral_norm_in_the_update_step():
  # The step applies D with train=True and mutable batch_stats: each D call
  # advances the power iteration; R1 differentiates through the normalised
  # weights twice.
  config = mnist_mlp.get_config()
  config.batch_size, config.model.spectral_norm = 4, True
  config.loss.name, config.loss.penalty = 'hinge', 'r1'
  gan = state_lib.build_gan(config, (28, 28, 1))
  state = state_lib.create_state(config, gan)
  devices = jax.devices()[:1]
  step = jax.pmap(train_step.make_train_step(config, gan), axis_name='batch',
                  devices=devices)
  images = np.random.default_rng(0).integers(0, 256, (1, 1, 4, 28, 28, 1),
                                             dtype=np.uint8)
  new_state, metrics = step(jax_utils.replicate(state, devices), images)
  new_state = jax.tree.map(lambda x: x[0], new_state)
  before = _by_layer(state.d_batch_stats, '/kernel/u')
  after = _by_layer(new_state.d_batch_stats, '/kernel/u')
  assert set(before) == {'Dense_0', 'Dense_1', 'Dense_2'} == set(after)
  assert not np.allclose(before['Dense_0'], after['Dense_0'])
  assert all(np.isfinite(float(m[0])) for m in jax.tree.leaves(metrics))
  assert float(metrics['penalty'][0]) > 0
