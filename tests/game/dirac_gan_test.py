"""The Dirac-GAN (Mescheder et al. 2018, "Which training methods for GANs
actually converge?", Sec. 2) played by the real update step.

Data: a point mass at 0. G(z) = theta (ignores z), D(x) = psi x. The only
equilibrium is (theta, psi) = (0, 0). `train_step.make_train_step` makes one
critic move then one generator move per step (alternating gradient descent),
here with SGD; `lax.scan` runs the steps inside one pmapped call.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.config import defaults
from gan_jax.game import losses
from gan_jax.game import optimizers
from gan_jax.game import train_step as train_step_lib
from gan_jax.game import state as state_lib

LEARNING_RATE = 0.1
BATCH = 4


class DiracGenerator(nn.Module):
  """z [B, latent_dim] -> the point theta, [B, 1]."""

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    del train
    theta = self.param('theta', nn.initializers.zeros, (1,))
    return jnp.broadcast_to(theta, (z.shape[0], 1))


class DiracDiscriminator(nn.Module):
  """x [B, 1] -> psi x, [B]."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    del train
    psi = self.param('psi', nn.initializers.zeros, ())
    return psi * x[:, 0]


def dirac_config(loss_name, penalty, penalty_weight):
  config = defaults.get_config()
  config.update(n_critic=1, ema_decay=0.0, seed=0)
  config.model.latent_dim = 1
  config.loss.update(name=loss_name, penalty=penalty, penalty_weight=penalty_weight)
  config.optimizer = defaults.optimizer(LEARNING_RATE, b1=0.0, b2=0.0, name='sgd')
  return config


def play(loss_name, penalty='none', penalty_weight=0.0, num_steps=300):
  """(theta, psi) after each step, from (1, 0): [num_steps, 2]."""
  config = dirac_config(loss_name, penalty, penalty_weight)
  objective = losses.get_objective(loss_name)
  gan = state_lib.GAN(
      generator=DiracGenerator(), discriminator=DiracDiscriminator(),
      g_tx=optimizers.create(config.optimizer),
      d_tx=optimizers.create(config.optimizer),
      objective=objective, penalty=penalty, image_shape=(1,))
  state = state_lib.create_state(config, gan)
  state = state.replace(g_params={'theta': jnp.ones((1,))},
                        ema_g_params={'theta': jnp.ones((1,))})
  train_step = train_step_lib.make_train_step(config, gan)

  def run(state, images):
    def body(state, step_images):
      state, _ = train_step(state, step_images)
      return state, jnp.stack([state.g_params['theta'][0],
                               state.d_params['psi']])
    return jax.lax.scan(body, state, images)[1]

  # Float data pass through batching.preprocess unchanged: [device,
  # step, n_critic, batch, 1] zeros are the point mass at 0.
  images = jnp.zeros((1, num_steps, config.n_critic, BATCH, 1), jnp.float32)
  state = jax.tree.map(lambda x: x[None], state)
  trajectory = jax.pmap(run, axis_name=state_lib.AXIS,
                        devices=jax.devices()[:1])(state, images)
  return np.asarray(trajectory[0])


def distance(trajectory):
  return np.linalg.norm(trajectory, axis=1)


def test_first_step_is_alternating_gradient_descent():
  # Non-saturating loss from (1, 0): D moves first, psi <- 0 - h theta
  # sigmoid(0) = -h / 2; then G with the new D: theta <- 1 + h psi
  # sigmoid(-psi theta).
  (theta, psi), = play('non_saturating', num_steps=1)
  psi_expected = -LEARNING_RATE / 2
  np.testing.assert_allclose(psi, psi_expected, rtol=1e-6)
  np.testing.assert_allclose(
      theta, 1 + LEARNING_RATE * psi_expected / (1 + np.exp(psi_expected)),
      rtol=1e-6)


def test_unregularized_training_cycles():
  # The zero-sum game of the paper's Sec. 2 (f(t) = -log(1 + exp(-t)), our
  # 'minimax'): the Jacobian at the equilibrium has the purely imaginary
  # eigenvalues +-i f'(0) (Sec. 2.2), and alternating gradient descent
  # circles around (0, 0) without approaching it: the distance never drops
  # below ~ its start.
  trajectory = play('minimax', num_steps=600)
  d = distance(trajectory)
  assert d.min() > 0.95 and d[-1] > 0.95
  # ... while going round: both signs of theta and of psi are visited.
  assert trajectory[:, 0].min() < -0.5 < 0.5 < trajectory[:, 0].max()
  assert trajectory[:, 1].min() < -0.5 < 0.5 < trajectory[:, 1].max()


def test_non_saturating_without_regularization_is_not_linearly_convergent():
  # The non-saturating loss has the same Jacobian at the equilibrium; away
  # from it the iterates spiral in, but only sublinearly (d^2 ~ 1/t): after
  # 300 steps it is still far from (0, 0), where R1 has converged.
  d = distance(play('non_saturating', num_steps=300))
  assert d[-1] > 0.3
  assert d[-1] > 0.6 * d[149]  # Halving the steps left barely changes it.


@pytest.mark.parametrize('penalty,weight',
                         [('r1', 1.0), ('zero_centered', 0.5)])
def test_zero_centered_penalties_converge(penalty, weight):
  # R1 (Mescheder et al. 2018, Sec. 4) and zero-centred penalties make the
  # equilibrium locally (linearly) convergent. For D(x) = psi x both penalise
  # psi^2: R1 = psi^2 / 2, the zero-centred GP psi^2.
  trajectory = play('non_saturating', penalty, weight, num_steps=300)
  np.testing.assert_allclose(trajectory[-1], [0.0, 0.0], atol=1e-3)
  d = distance(trajectory)
  assert d[-1] < 1e-2 * d[149]


def test_wgan_gp_does_not_converge():
  # The paper's Sec. 3: WGAN-GP with finitely many critic moves need not
  # converge. In the Dirac-GAN the penalised critic wants |psi| = 1 at
  # theta = 0, so the generator keeps moving (grad_theta = -psi).
  trajectory = play('wgan_gp', 'wgan_gp', 1.0, num_steps=300)
  assert np.all(np.isfinite(trajectory))
  assert distance(trajectory)[-100:].min() > 0.3
