"""Every config key's range and name, checked in one pass
(gan_jax.config.validation): one line naming the key and what is allowed."""
import math

import jax
import jax.numpy as jnp

import pytest

from configs import mnist, mog_ring
from gan_jax.config import defaults
from gan_jax.config import validation
from gan_jax.game import augment
from gan_jax.game import losses
from gan_jax.errors import ConfigError


def _config():
  # The ring's config has every key of the table (data.seed, num_examples).
  return mog_ring.get_config()


def _outside_and_inside(low, high, low_in, high_in, integer):
  """(values that must be refused, values that must pass) of an interval."""
  step = 1 if integer else 1e-3
  outside = [low - step if low_in else low]
  inside = [low if low_in else low + step]
  if high != math.inf:
    outside.append(high if not high_in else high + step)
    inside.append(high - step if not high_in else high)
  else:
    inside.append(10 ** 6)
  if not integer:
    outside.append(math.nan)
  return outside, inside


def test_every_key_of_the_table_is_a_config_key():
  config = _config()
  for key in validation.RANGES:
    node = config
    for part in key.split('.'):
      assert part in node, key
      node = node[part]


def test_every_numeric_default_key_has_a_range():
  flat = defaults.get_config().to_dict()

  def numeric_keys(tree, prefix=''):
    for k, v in tree.items():
      if isinstance(v, dict):
        yield from numeric_keys(v, f'{prefix}{k}.')
      elif isinstance(v, (int, float)) and not isinstance(v, bool):
        yield prefix + k

  assert set(numeric_keys(flat)) <= set(validation.RANGES)


@pytest.mark.parametrize('key', sorted(validation.RANGES))
def test_each_range_refuses_outside_and_accepts_inside(key):
  low, high, low_in, high_in, integer = validation.RANGES[key]
  outside, inside = _outside_and_inside(low, high, low_in, high_in, integer)
  # The ring's data.seed follows seed (a reference): either may be named.
  named = ('config.seed ', 'config.data.seed ') if key == 'data.seed' else (f'config.{key} ',)
  for value in inside:
    config = _config()
    if key == 'steps_per_dispatch':  # the intervals must be its multiples
      config.log_every_steps = config.sample_every_steps = 0
      config.checkpoint_every_steps = config.eval_every_steps = 0
    if key == 'model.pack':  # the batch must split into packs
      config.batch_size = value
    if key == 'ema_start_step':  # it starts an EMA
      config.ema_decay = 0.999
    if key == 'g_batch_size':  # the ring's objective pairs no real scores with G's
      config.g_batch_size = value
    if key == 'model.num_classes':  # the ring's G has no batch norm to condition,
      config.model.g_conditioning = 'concat'  # and its 2,500 evaluation samples
      config.eval_every_steps = 0             # would not cover a million classes
    config.update_from_flattened_dict({key: value})
    if key == 'data.crop' and value:  # in range: refused only as the ring's crop
      with pytest.raises(ConfigError, match="crops TFDS image sets as they are read, "
                                            "not 'mog_ring'"):
        validation.validate(config)
      continue
    validation.validate(config)
  for value in outside:
    config = _config()
    config.update_from_flattened_dict({key: value})
    with pytest.raises(ConfigError) as error:
      validation.validate(config)
    message = str(error.value)
    assert message.startswith(named) and ' must be ' in message and '\n' not in message


@pytest.mark.parametrize('key,value,message', [
    ('loss.weight_clip', -0.01, 'config.loss.weight_clip must be >= 0.0, got -0.01'),
    ('ema_decay', 1.0, 'config.ema_decay must be in [0.0, 1.0), got 1.0'),
    ('eval.num_samples', -5, 'config.eval.num_samples must be >= 0, got -5'),
    ('nonfinite', 'ignore', "config.nonfinite must be 'stop' or 'rollback', got 'ignore'"),
    ('optimizer_d.name', 'adamw', "unknown config.optimizer_d.name 'adamw'; valid names: "),
    ('model.discriminator', 'dcgan32', "unknown config.model.discriminator 'dcgan32'"),
    ('data.dataset', 'mnits', "unknown config.data.dataset 'mnits'"),
    ('eval.metrics', 'fid', 'unknown eval metric(s) fid'),
    ('model.g_output_bias', 'mean', "config.model.g_output_bias must be 'zeros' or "
                                    "'data_marginals', got 'mean'"),
    ('model.g_output_bias', 'data_marginals',
     "config.model.g_output_bias='data_marginals' sets the bias of a sigmoid output"),
])
def test_bad_values_are_named_in_one_line(key, value, message):
  config = _config()
  config.update_from_flattened_dict({key: value})
  with pytest.raises(ConfigError) as error:
    validation.validate(config)
  assert str(error.value).startswith(message), str(error.value)


def test_ema_warmup_needs_an_ema():
  config = _config()
  config.ema_warmup = True
  with pytest.raises(ConfigError, match=r'^config.ema_warmup warms up the EMA of G, '
                     r'which is off \(ema_decay=0\); set config.ema_decay'):
    validation.validate(config)
  config.ema_decay = 0.999
  validation.validate(config)


def test_also_params_names_the_other_generator_and_needs_an_ema():
  config = _config()
  config.eval.also_params = 'raw'   # beside the EMA the loop scores: accepted
  config.ema_decay = 0.999
  validation.validate(config)
  config.eval.also_params = 'ema'
  with pytest.raises(ConfigError, match=r"^config.eval.also_params='ema' repeats "
                     r"config.eval.params; set it to 'raw' or ''$"):
    validation.validate(config)
  config.eval.params = 'raw'
  validation.validate(config)
  config.ema_decay = 0.0
  with pytest.raises(ConfigError, match=r'^config.eval.also_params scores the EMA of G '
                     r'beside raw G, and the EMA is off \(ema_decay=0\)'):
    validation.validate(config)
  config.eval.also_params = 'both'
  with pytest.raises(ConfigError, match=r"^config.eval.also_params must be one of '', "
                     r"'ema', 'raw', got 'both'$"):
    validation.validate(config)


def test_a_generator_batch_of_its_own_is_checked():
  config = _config()
  config.loss.name = 'hinge'
  config.batch_size, config.g_batch_size = 30, 64
  validation.validate(config, num_devices=2)
  with pytest.raises(ConfigError, match=r'^config.g_batch_size=64 must be a multiple of '
                                        r'the device count \(3\)'):
    validation.validate(config, num_devices=3)
  config.loss.name = 'rsgan'
  with pytest.raises(ConfigError, match=r"^config.g_batch_size=64 differs from "
                                        r"batch_size=30, which config.loss.name='rsgan'"):
    validation.validate(config)
  config.loss.name = 'hinge'
  config.ema_start_step = 10
  with pytest.raises(ConfigError, match=r'^config.ema_start_step starts the EMA of G, '
                                        r'which is off'):
    validation.validate(config)


def test_the_batch_must_divide_over_the_devices():
  config = _config()
  config.batch_size = 30
  validation.validate(config, num_devices=2)
  with pytest.raises(ConfigError, match='multiple of the device count'):
    validation.validate(config, num_devices=4)


@pytest.mark.parametrize('metrics,num_samples,message', [
    ('is', 5, 'config.eval.num_samples=5 is too few samples for is (it needs at least 10)'),
    ('fid,pr', 3, 'config.eval.num_samples=3 is too few samples for pr (it needs at least 4)'),
    ('dc', 5, 'config.eval.num_samples=5 is too few samples for dc (it needs at least 6)'),
])
def test_too_few_evaluation_samples_are_refused_before_training(metrics, num_samples,
                                                                 message):
  config = mnist.get_config()
  config.eval.metrics, config.eval.num_samples = metrics, num_samples
  with pytest.raises(ConfigError) as error:
    validation.validate(config)
  assert str(error.value).startswith(message)
  config.eval.num_samples = 10
  validation.validate(config)
  config.eval_every_steps, config.eval.num_samples = 0, 1  # evaluation off
  validation.validate(config)


@pytest.mark.parametrize('key,value,match', [
    ('loss.real_label', 0.9, "config.loss.real_label=0.9: one-sided label smoothing has "
                             "no standard form for config.loss.name 'hinge'; set it to 1.0"),
    ('diffaugment', 'color', "config.diffaugment='color' transforms images, but "
                             "'mog_ring' examples are 2-D points; set it to ''"),
    ('diffaugment', 'color,flip', "unknown augmentation 'flip' in config.diffaugment="),
])
def test_stabilisation_tricks_refused_where_undefined(key, value, match):
  config = _config()
  config.loss.name = 'hinge'
  config.update_from_flattened_dict({key: value})
  with pytest.raises(ConfigError) as error:
    validation.validate(config)
  assert str(error.value).startswith(match) and '\n' not in str(error.value)


def _real_target_gradient(config):
  """d loss_d / d D(x) at a real example whose score is the smoothed target
  (logit(real_label) for BCE objectives, real_label itself for least
  squares): 0 when the objective the config builds has that target."""
  objective = losses.get_objective(config.loss.name, config.loss.real_label)
  target = config.loss.real_label
  score = target if config.loss.name == 'least_squares' else math.log(target / (1 - target))
  return float(jax.grad(lambda r: objective(r[None], jnp.zeros(1), None)[0])(score))


def test_stabilisation_tricks_accepted_where_defined():
  config = _config()  # non-saturating on 2-D points
  config.loss.real_label = 0.9
  config.instance_noise.std, config.instance_noise.anneal_steps = 0.1, 1000
  assert validation.validate(config) is None
  assert _real_target_gradient(config) == pytest.approx(0.0, abs=1e-6)
  config = mnist.get_config()  # grayscale: 'color' is brightness and contrast
  config.loss.name, config.loss.real_label = 'least_squares', 0.8
  config.diffaugment = 'color,translation,cutout'
  assert validation.validate(config) is None
  assert _real_target_gradient(config) == pytest.approx(0.0, abs=1e-6)
  assert augment.parse_policy(config.diffaugment) == ('color', 'translation', 'cutout')
