"""A run's saved config read back (gan_jax/config/keys.py): completed from the
one source of defaults, and compared with the config it resumes as."""
import json

from configs import mnist, mog_grid, mog_ring
from gan_jax.config import defaults
from gan_jax.config import keys as config_keys


def _saved(config):
  return json.loads(config.to_json_best_effort())


def test_a_saved_config_is_completed_with_the_defaults_it_lacks():
  saved = _saved(mog_ring.get_config())
  del saved['model']['init_std'], saved['shared_fake_batch'], saved['loss']['real_label']
  saved['removed_key'] = 3  # a key the defaults no longer have stays
  full = config_keys.complete(saved)
  default = defaults.get_config()
  assert full['model']['init_std'] == default.model.init_std == 0.0
  assert full['shared_fake_batch'] is False and full['loss']['real_label'] == 1.0
  assert full['removed_key'] == 3
  # The run's own values win; its data.mog subtree replaces the default None.
  assert full['batch_size'] == 512 and full['data']['dataset'] == 'mog_ring'
  assert full['data']['mog'] == {'num_modes': 8, 'radius': 2.0, 'std': 0.02}
  assert set(config_keys.flatten(full)) >= set(config_keys.flatten(_saved(default))) - {
      'data.mog'}


def test_a_run_saved_before_keys_existed_resumes_as_todays_config():
  # Each key absent from the saved run at the value the run computed with
  # then: the defaults' (the mixtures have always saved data.mog, the grid
  # its g_hidden).
  default = _saved(defaults.get_config())
  for get_config in (mnist.get_config, mog_ring.get_config, mog_grid.get_config):
    saved = _saved(get_config())
    for subtree, key in (('model', 'g_hidden'), ('model', 'pack'), ('data', 'mog'),
                         ('optimizer_d', 'schedule'), ('', 'ema_warmup')):
      node, default_node = ((saved[subtree], default[subtree]) if subtree
                            else (saved, default))
      if node[key] == default_node[key]:
        del node[key]
    assert 'pack' not in saved['model']
    assert config_keys.config_differences(saved, get_config()) == []


def test_a_changed_key_is_a_difference_and_a_resumable_one_is_not():
  saved = _saved(mog_ring.get_config())
  config = mog_ring.get_config()
  config.model.bn_momentum = 0.95
  config.num_train_steps = 99  # a budget may change on resume
  assert config_keys.config_differences(saved, config) == [
      'model.bn_momentum: 0.9 -> 0.95']
