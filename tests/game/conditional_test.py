"""Class-conditional GANs: the conditioning layers against their closed forms,
labels through the batches, the step and the loop, and the errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import mnist, mog_ring
from gan_jax import models
from gan_jax.config import validation
from gan_jax.data import batching
from gan_jax.training import runs as runs_lib
from gan_jax.training import train
from gan_jax.game import state as state_lib
from gan_jax.game import train_step
from gan_jax.evaluation import checkpoint_eval
from gan_jax.evaluation import evaluators
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.errors import ConfigError
from gan_jax.models import mlp2d
from gan_jax.data import tfds_images
from gan_jax.workdir import metrics_log


def conditional_ring(g_conditioning='cbn', d_conditioning='projection'):
  """The 2-D ring's MLPs (64, 64), batch norm in G, conditioned on the mode."""
  config = mog_ring.get_config()
  config.model.g_batch_norm = True
  config.model.g_hidden = config.model.d_hidden = (64, 64)
  config.model.num_classes = 8
  config.model.g_conditioning = g_conditioning
  config.model.d_conditioning = d_conditioning
  return config



def labelled_points(config, num_steps, seed=0):
  rng = np.random.default_rng(seed)
  return [(rng.normal(size=(config.n_critic, config.batch_size, 2)).astype(np.float32),
           rng.integers(0, config.model.num_classes,
                        (config.n_critic, config.batch_size)).astype(np.int32))
          for _ in range(num_steps)]


def _init(module, x, labels):
  return module.init(jax.random.PRNGKey(0), x, train=False, labels=labels)


# ------------------------------------------------------------ the layers

def test_projection_logit_is_its_closed_form():
  # D(x, y) = w . phi(x) + b + <E[y], phi(x)> (Miyato & Koyama 2018, Eq. 3):
  # with E[y] = w the class term doubles the linear part, so
  # D(x, y) = 2 D(x, y') - b for a class y' whose embedding is 0.
  d = mlp2d.Discriminator(hidden=(16, 16), num_classes=3, conditioning='projection')
  x = jax.random.normal(jax.random.PRNGKey(1), (5, 2))
  params = _init(d, x, jnp.zeros(5, jnp.int32))['params']
  w, b = params['Dense_2']['kernel'][:, 0], params['Dense_2']['bias'][0]
  embedding = jnp.zeros((3, 16)).at[1].set(w)
  params = {**params, 'class_embedding': {'embedding': embedding}}
  apply = lambda y: d.apply({'params': params}, x, train=False,
                            labels=jnp.full(5, y, jnp.int32))
  np.testing.assert_allclose(apply(1), 2 * apply(0) - b, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(apply(0), apply(2))


def test_conditional_batch_norm_is_batch_norm_with_the_class_gain_and_bias():
  x = jax.random.normal(jax.random.PRNGKey(2), (6, 4)) * 3 + 1
  labels = jnp.array([0, 1, 2, 0, 1, 2])
  module = models.layers.ConditionalBatchNorm(3, use_running_average=False, epsilon=1e-5)
  variables = module.init(jax.random.PRNGKey(0), x, labels)
  gain = jax.random.normal(jax.random.PRNGKey(3), (3, 4))
  bias = jax.random.normal(jax.random.PRNGKey(4), (3, 4))
  params = {'gain': {'embedding': gain}, 'bias': {'embedding': bias}}
  out, _ = module.apply({'params': params, 'batch_stats': variables['batch_stats']},
                        x, labels, mutable=['batch_stats'])
  normalised = (x - x.mean(0)) / jnp.sqrt(x.var(0) + 1e-5)
  np.testing.assert_allclose(out, normalised * gain[labels] + bias[labels],
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('conditioning', ['cbn', 'concat'])
def test_labels_change_g_only_through_the_conditioning(conditioning):
  g = mlp2d.Generator(hidden=(16, 16), batch_norm=True, num_classes=4,
                      conditioning=conditioning)
  z = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
  variables = _init(g, z, jnp.zeros(8, jnp.int32))
  apply = lambda v, y: g.apply(v, z, train=False, labels=jnp.full(8, y, jnp.int32))
  params = variables['params']
  if conditioning == 'cbn':
    # At initialisation every class has gain 1 and bias 0: G ignores y.
    np.testing.assert_array_equal(apply(variables, 0), apply(variables, 3))
    key = 'ConditionalBatchNorm_0'
    gain = params[key]['gain']['embedding'].at[3].add(0.5)
    params = {**params, key: {**params[key], 'gain': {'embedding': gain}}}
  else:
    # The one-hot label's rows of the first kernel are all y changes.
    kernel = params['Dense_0']['kernel']
    assert kernel.shape == (2 + 4, 16)
    np.testing.assert_raises(AssertionError, np.testing.assert_array_equal,
                             apply(variables, 0), apply(variables, 3))
    params = {**params, 'Dense_0': {'kernel': kernel.at[2:].set(0.0)}}
  changed = {**variables, 'params': params}
  if conditioning == 'cbn':
    np.testing.assert_array_equal(apply(changed, 0), apply(variables, 0))
    assert np.abs(apply(changed, 3) - apply(variables, 3)).max() > 1e-3
  else:
    np.testing.assert_array_equal(apply(changed, 0), apply(changed, 3))


def test_label_maps_reach_d_only_through_their_kernel_rows():
  d = mlp2d.Discriminator(hidden=(16,), num_classes=4, conditioning='concat')
  x = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
  params = _init(d, x, jnp.zeros(8, jnp.int32))['params']
  apply = lambda p, y: d.apply({'params': p}, x, train=False,
                               labels=jnp.full(8, y, jnp.int32))
  assert np.abs(apply(params, 0) - apply(params, 1)).max() > 1e-4
  kernel = params['Dense_0']['kernel'].at[2:].set(0.0)
  params = {**params, 'Dense_0': {**params['Dense_0'], 'kernel': kernel}}
  np.testing.assert_array_equal(apply(params, 0), apply(params, 1))


def test_image_label_maps_are_constant_one_hot_channels():
  x = jnp.zeros((2, 3, 3, 1))
  out = models.layers.concat_labels(x, jnp.array([2, 0]), 4)
  assert out.shape == (2, 3, 3, 5)
  np.testing.assert_array_equal(out[0, :, :, 1:], np.broadcast_to([0, 0, 1, 0], (3, 3, 4)))
  np.testing.assert_array_equal(out[1, :, :, 1:], np.broadcast_to([1, 0, 0, 0], (3, 3, 4)))


def test_auxiliary_classifier_loss_is_the_cross_entropy():
  logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
  labels = jnp.array([0, 1])
  expected = np.mean([np.log(np.exp(logits[i]).sum()) - logits[i, labels[i]]
                      for i in range(2)])
  np.testing.assert_allclose(train_step.auxiliary_classifier_loss(logits, labels),
                             expected, rtol=1e-6)
  assert float(train_step.auxiliary_classifier_loss(None, labels)) == 0.0


@pytest.mark.parametrize('family', ['dcgan28', 'mlp'])
def test_image_families_take_labels(family):
  config = mog_ring.get_config()
  config.model.generator = config.model.discriminator = family
  config.model.latent_dim = 8
  for g_cond, d_cond in [('cbn', 'projection'), ('concat', 'concat'), ('cbn', 'acgan')]:
    config.model.num_classes, config.model.g_conditioning = 10, g_cond
    config.model.d_conditioning = d_cond
    g, d = models.build(config.model, (28, 28, 1))
    z, y = jnp.zeros((2, 8)), jnp.array([3, 7])
    images = jax.eval_shape(lambda: g.init_with_output(
        jax.random.PRNGKey(0), z, train=False, labels=y)[0])
    assert images.shape == (2, 28, 28, 1)
    out = jax.eval_shape(lambda: d.init_with_output(
        jax.random.PRNGKey(0), jnp.zeros((2, 28, 28, 1)), train=False, labels=y)[0])
    if d_cond == 'acgan':
      assert (out[0].shape, out[1].shape) == ((2,), (2, 10))
    else:
      assert out.shape == (2,)


# ------------------------------------------------------ batches and the step

def test_batches_carry_each_examples_label():
  examples = np.arange(40, dtype=np.float32).reshape(20, 2)
  labels = np.arange(20, dtype=np.int32) % 7
  x, y = next(batching.train_batches(examples, 8, 2, 4, seed=3, labels=labels))
  assert x.shape == (4, 2, 2, 2) and y.shape == (4, 2, 2)
  np.testing.assert_array_equal(y, (x[..., 0] // 2).astype(np.int32) % 7)
  plain = next(batching.train_batches(examples, 8, 2, 4, seed=3))
  np.testing.assert_array_equal(plain, x)


@pytest.mark.parametrize('g_cond,d_cond', [('cbn', 'projection'), ('concat', 'concat'),
                                           ('cbn', 'acgan')])
def test_one_and_four_devices_agree_with_labels(g_cond, d_cond, assert_devices_agree):
  config = conditional_ring(g_cond, d_cond)
  config.batch_size, config.n_critic, config.ema_decay = 16, 2, 0.9
  config.optimizer_g.name = config.optimizer_d.name = 'sgd'
  config.optimizer_g.learning_rate = config.optimizer_d.learning_rate = 0.05
  _, history1 = assert_devices_agree(config, labelled_points(config, 3))
  if d_cond == 'acgan':
    assert 'loss_class' in history1[0]


def test_the_step_reads_the_labels(run_steps):
  # D's score of the real batch in the step is D(x, y) for the batch's own
  # labels: recomputed by hand for the labels and for the labels shuffled.
  config = conditional_ring()
  config.batch_size = 16
  batches = labelled_points(config, 1)
  shuffled = [(x, np.roll(y, 1, axis=1)) for x, y in batches]
  gan = state_lib.build_gan(config, (2,))
  initial = state_lib.create_state(config, gan)
  scores = []
  for steps in (batches, shuffled):
    _, history = run_steps(config, 1, steps)
    (x, y), = steps
    logits = gan.discriminator.apply(
        {'params': initial.d_params, 'batch_stats': initial.d_batch_stats}, x[0],
        train=False, **gan.label_kwargs(y[0]))
    np.testing.assert_allclose(history[0]['d_real_logit'], np.mean(logits), rtol=1e-5)
    scores.append(history[0]['d_real_logit'])
  assert abs(scores[0] - scores[1]) > 1e-4


# ------------------------------------------------------------- the loop

def test_conditional_run_resumes_exactly_and_draws_a_row_per_class(
    ring_config, tmp_path):
  def config(steps):
    c = ring_config(steps)
    c.model.num_classes, c.model.g_conditioning = 8, 'cbn'
    c.model.g_batch_norm = True  # conditional batch norm's statistics resume too
    c.sample_every_steps, c.eval_every_steps = 2, 0
    return c

  straight = train.train_and_evaluate(config(4), str(tmp_path / 'a'))
  train.train_and_evaluate(config(2), str(tmp_path / 'b'))
  resumed = train.train_and_evaluate(config(4), str(tmp_path / 'b'))
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(x, y)
  labels, rows = runs_lib.grid_labels(1000, 100)
  assert rows == 10
  np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 10))
  points, _ = runs_lib.grid_labels(8, 2500, images=False)
  np.testing.assert_array_equal(np.bincount(points), [313] * 4 + [312] * 4)
  grid = np.asarray(Image.open(tmp_path / 'a' / 'samples' / 'step_0000004.png'))
  assert grid.ndim >= 2


def test_seeds_trained_together_with_labels_equal_their_solo_runs(
    ring_group_config, tmp_path, assert_trees_close):
  def config():
    c = ring_group_config(4)
    c.model.num_classes, c.model.g_conditioning = 8, 'concat'
    c.model.d_conditioning = 'acgan'
    return c

  finals = train.train_seeds(config(), {s: str(tmp_path / f'group{s}') for s in (3, 7)})
  for final, seed in zip(finals, (3, 7)):
    solo = config()
    solo.seed = seed
    assert_trees_close(final, train.train_and_evaluate(solo, str(tmp_path / f'solo{seed}')))


def test_acgan_weight_scales_the_class_loss_of_both_players(run_steps):
  # Both moves from the same state (simultaneous), whose losses are measured
  # before the moves: they are affine in loss.acgan_weight, with a positive
  # slope (cross-entropies).
  losses = []
  for weight in (0.0, 1.0, 2.0):
    config = conditional_ring('cbn', 'acgan')
    config.batch_size, config.loss.acgan_weight = 16, weight
    config.update_order, config.n_critic = 'simultaneous', 1
    _, history = run_steps(config, 1, labelled_points(config, 1))
    losses.append(history[0])
  loss_g = [m['loss_g'] for m in losses]
  assert loss_g[1] > loss_g[0]
  np.testing.assert_allclose(loss_g[2] - loss_g[1], loss_g[1] - loss_g[0], rtol=1e-4)
  # D's reported objective leaves the class term out; its class loss is the
  # same whatever the weight (both sum real and fake cross-entropies).
  np.testing.assert_allclose([m['loss_d'] for m in losses], losses[0]['loss_d'], rtol=1e-6)
  np.testing.assert_allclose([m['loss_class'] for m in losses], losses[0]['loss_class'],
                             rtol=1e-6)
  assert losses[0]['loss_class'] > 2 * np.log(8) * 0.5


def test_projection_discriminator_with_spectral_norm_builds_and_trains(run_steps):
  config = conditional_ring()
  config.model.spectral_norm = True
  config.batch_size = 16
  state, history = run_steps(config, 1, labelled_points(config, 2))
  assert np.isfinite(history[-1]['loss_d'])
  assert 'class_embedding' in state.d_params


# ------------------------------------------------------------- errors

@pytest.mark.parametrize('edit,message', [
    (dict(generator='dcgan64'), "'dcgan64' is not class-conditional"),
    (dict(pack=2), 'pack > 1 with class labels'),
    (dict(d_conditioning='aux'), "unknown config.model.d_conditioning 'aux'"),
    (dict(g_batch_norm=False), "mlp2d's G has none"),
])
def test_impossible_conditioning_gets_one_line(edit, message):
  config = conditional_ring()
  config.model.update(edit)
  with pytest.raises(ConfigError, match=message):
    validation.validate(config)


@pytest.mark.parametrize('num_classes', [5, 10])
def test_num_classes_must_be_the_datas(num_classes):
  config = conditional_ring()
  config.model.num_classes = num_classes  # the ring has 8 modes
  config.data.num_examples = 100
  with pytest.raises(ConfigError, match='has labels 0 .. 7; set --config.model.num_classes=8'):
    runs_lib.load_data(config)


# ------------------------------------------------------------ the metrics

def test_conditional_accuracy_reads_the_mixture_modes():
  config = conditional_ring()
  config.eval.metrics = 'auto'
  evaluator = evaluators.create(config)
  assert evaluator.metrics == ('modes', 'cond')
  points, modes = checkpoint_eval.real_samples(config, 2500, 0, with_labels=True)
  right = evaluator.score(points, modes)
  assert right['conditional_accuracy'] == 1.0 and right['classes_covered'] == 8
  wrong = evaluator.score(points, (modes + 1) % 8)
  assert wrong['conditional_accuracy'] == 0.0 and wrong['classes_covered'] == 0
  with pytest.raises(ValueError, match='need the samples'):
    evaluator.score(points)


def test_intra_fid_of_the_test_split_with_its_own_labels_is_zero(tfds_data_dir):
  config = mnist.get_config()
  config.data.data_dir = tfds_data_dir
  config.model.num_classes = 10
  evaluator = evaluators.create(config, metrics=('cond', 'intra_fid'))
  images, labels = tfds_images.load_split(config.data, 'test', with_labels=True)
  real = np.asarray(batching.preprocess(images))
  scores = evaluator.score(real, labels)
  assert scores['intra_fid'] < 1e-3
  assert scores['conditional_accuracy'] > 0.99  # the shipped classifier's accuracy
  assert scores['classes_covered'] == 10
  # Samples of the right kind but the wrong class: each class's FID is large.
  assert evaluator.score(real, (labels + 1) % 10)['intra_fid'] > 10.0


def test_conditional_metrics_need_samples_of_every_class():
  config = conditional_ring()
  config.eval.num_samples = 12  # the ring's 8 classes: cond needs 8, fine
  validation.validate(config)
  config.data.dataset, config.eval.metrics = 'mnist', 'fid,intra_fid'
  config.model.generator = config.model.discriminator = 'mlp'
  config.model.num_classes = 10
  with pytest.raises(ConfigError, match='too few samples for intra_fid .* at least 20'):
    validation.validate(config)


def test_unconditional_runs_refuse_conditional_metrics():
  config = mog_ring.get_config()
  config.eval.metrics = 'modes,cond'
  with pytest.raises(ConfigError, match='score a class-conditional G'):
    validation.validate(config)
  assert protocol_lib.resolve_metrics('mnist', 'auto') == ('fid', 'kid', 'is')
  assert protocol_lib.resolve_metrics('mnist', 'auto', True) == (
      'fid', 'kid', 'is', 'cond', 'intra_fid')


def test_training_evaluates_a_conditional_run(ring_config, tmp_path):
  config = ring_config(2)
  config.model.num_classes, config.model.g_conditioning = 8, 'concat'
  train.train_and_evaluate(config, str(tmp_path))
  evals = [r for r in metrics_log.read_metrics(str(tmp_path)) if 'conditional_accuracy' in r]
  assert [r['step'] for r in evals] == [2]
  # The loop's reading is the evaluator's reading of the saved checkpoint, on
  # the same latent draws and classes.
  report = checkpoint_eval.evaluate_checkpoint(str(tmp_path), 'latest',
                                               metrics=config.eval.metrics)
  for key in ('conditional_accuracy', 'classes_covered', 'modes_covered'):
    assert evals[-1][key] == pytest.approx(report['metrics'][key], abs=1e-6)
