"""Runs that survive: kills, divergence, config clashes, full disks, bad input.

Each failure is produced the way users meet it (a real SIGKILL of a training
process, a NaN in the parameters, a full disk while saving) and the test
checks what the run did: what it said, what it kept, how it resumed.
"""
import importlib
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import mnist_mlp
from gan_jax import cli
from gan_jax.workdir import checkpoints
from gan_jax.experiments import run_results
from gan_jax.training import runs as runs_lib
from gan_jax.training import nonfinite
from gan_jax.training import train
from gan_jax.game import train_step
from gan_jax.game import state as state_lib
from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.config import keys as config_keys
from gan_jax.data import datasets
from gan_jax.workdir import divergence
from gan_jax.workdir import metrics_log
from gan_jax.workdir import ownership


def _restore_raw(workdir, step):
  path = os.path.join(workdir, 'checkpoints', str(step), 'default')
  return ocp.StandardCheckpointer().restore(path)


@pytest.mark.slow
def test_sigkill_mid_run_then_same_command_is_bit_identical(mnist_like_dir, repo_dir,
                                                            tmp_path):
  command = [sys.executable, '-m', 'gan_jax.main', '--config=configs/mnist_mlp.py',
             '--config.batch_size=16', '--config.n_critic=2',
             '--config.ema_decay=0.9', '--config.log_every_steps=3',
             '--config.checkpoint_every_steps=5', '--config.sample_every_steps=1000',
             '--config.eval_every_steps=0']
  env = {**os.environ, 'TFDS_DATA_DIR': mnist_like_dir,
         'XLA_FLAGS': '--xla_force_host_platform_device_count=2'}
  straight = tmp_path / 'straight'
  killed = tmp_path / 'killed'
  run = lambda workdir, steps: subprocess.run(
      command + [f'--workdir={workdir}', f'--config.num_train_steps={steps}'],
      cwd=repo_dir, env=env, capture_output=True, text=True, timeout=600)
  assert run(straight, 40).returncode == 0

  process = subprocess.Popen(
      command + [f'--workdir={killed}', '--config.num_train_steps=40'],
      cwd=repo_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not (killed / 'checkpoints' / '15').exists():
    assert process.poll() is None and time.time() < deadline, 'run ended too soon'
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)  # no handler, no clean-up: a crash
  process.wait()
  assert process.returncode == -signal.SIGKILL

  resumed = run(killed, 40)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'Resuming from the checkpoint at step' in resumed.stderr
  a, b = _restore_raw(straight, 40), _restore_raw(killed, 40)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert (run_results.without_timing(metrics_log.read_metrics(str(straight))) ==
          run_results.without_timing(metrics_log.read_metrics(str(killed))))


def test_nonfinite_parameters_stop_the_run_and_keep_good_checkpoints(
    tiny_config, poison_at, tmp_path, monkeypatch):
  monkeypatch.setattr(train_step, 'make_train_step', poison_at(5))
  config = tiny_config(12)
  config.log_every_steps = 3
  config.checkpoint_every_steps = 4
  with pytest.raises(nonfinite.DivergenceError) as error:
    train.train_and_evaluate(config, str(tmp_path))
  message = str(error.value)
  assert 'non-finite d_param_norm at step 5' in message and '\n' not in message
  assert 'checkpoints up to step 4' in message
  kept = sorted(int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit())
  assert kept == [4]  # the step-6 sync point found the NaN before any save
  restored = _restore_raw(str(tmp_path), 4)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(restored))
  assert [r['step'] for r in metrics_log.read_metrics(str(tmp_path))] == [3]
  # Recorded as the run's result for sweeps and reports; training the
  # workdir again (here without the poison) clears the record.
  assert divergence.read_divergence(str(tmp_path)) == {
      'step': 5, 'message': 'non-finite d_param_norm at step 5'}
  monkeypatch.undo()
  train.train_and_evaluate(config, str(tmp_path))
  assert divergence.read_divergence(str(tmp_path)) is None


def test_nonfinite_rollback_resumes_from_last_checkpoint_with_new_noise(
    tiny_config, poison_at, tmp_path, monkeypatch, caplog):
  monkeypatch.setattr(train_step, 'make_train_step', poison_at(5, only_first_rng=True))
  config = tiny_config(8)
  config.log_every_steps = 2
  config.checkpoint_every_steps = 4
  config.nonfinite = 'rollback'
  with caplog.at_level('WARNING'):
    final = train.train_and_evaluate(config, str(tmp_path))
  assert 'non-finite d_param_norm at step 5' in caplog.text
  assert 'rolled back to step 4 with new noise (1/3)' in caplog.text
  assert int(final.step) == 8
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(final))
  steps = [r['step'] for r in metrics_log.read_metrics(str(tmp_path))]
  assert steps == [2, 4, 6, 8]  # the poisoned interval's record is not kept
  assert divergence.read_divergence(str(tmp_path)) is None  # it recovered


def test_when_the_rollbacks_run_out_the_error_says_so(tiny_config, poison_at, tmp_path,
                                                      monkeypatch, caplog):
  # Every attempt diverges at step 5 (the poison ignores the fresh noise).
  monkeypatch.setattr(train_step, 'make_train_step', poison_at(5))
  config = tiny_config(8)
  config.checkpoint_every_steps = 4
  config.nonfinite = 'rollback'
  config.max_rollbacks = 1
  with caplog.at_level('WARNING'), pytest.raises(nonfinite.DivergenceError) as error:
    train.train_and_evaluate(config, str(tmp_path))
  assert 'rolled back to step 4 with new noise (1/1)' in caplog.text
  message = str(error.value)
  assert 'non-finite d_param_norm at step 5' in message and '\n' not in message
  assert 'All 1 rollbacks (config.max_rollbacks) are used up' in message
  assert 'set --config.nonfinite=rollback' not in message
  assert 'checkpoints up to step 4' in message
  assert divergence.read_divergence(str(tmp_path))['step'] == 5


@pytest.mark.slow  # ~2 min: four short runs
def test_workdir_of_another_config_is_refused_then_moved_aside(tiny_config, tmp_path):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(tiny_config(2), workdir)
  other = tiny_config(2)
  other.loss.name = 'hinge'
  with pytest.raises(ownership.WorkdirConfigMismatch,
                     match=r"loss.name: 'non_saturating' -> 'hinge'.*--config.overwrite=True"):
    train.train_and_evaluate(other, workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2']

  # How long to run and where things go may change on resume.
  longer = tiny_config(4)
  longer.log_every_steps = 1
  assert int(train.train_and_evaluate(longer, workdir).step) == 4

  other.overwrite = True
  train.train_and_evaluate(other, workdir)
  aside = [d for d in os.listdir(tmp_path) if d.startswith('run.replaced-')]
  assert len(aside) == 1
  assert sorted(os.listdir(tmp_path / aside[0] / 'checkpoints')) == ['2', '4']
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2']


@pytest.mark.slow  # ~2 min: three short runs
def test_disk_full_while_saving_keeps_previous_checkpoints(tiny_config, tmp_path,
                                                           small_filesystem):
  # A real full disk: the workdir on a 4 MB tmpfs, filled after step 2's
  # checkpoint so that step 4's logging fits but its checkpoint does not.
  config = tiny_config(6)
  workdir = str(small_filesystem(4096) / 'run')
  config.num_train_steps = 2
  train.train_and_evaluate(config, workdir)
  small_filesystem.fill(os.path.dirname(workdir), leave_bytes=48 * 1024)
  config.num_train_steps = 6
  with pytest.raises(checkpoints.CheckpointSaveError) as error:
    train.train_and_evaluate(config, workdir)
  message = str(error.value)
  assert message.startswith('could not save the checkpoint of step 4 ')
  assert '(No space left on device: it needs about ' in message and '\n' not in message
  assert "the checkpoints of steps [2] are intact" in message
  assert sorted(d for d in os.listdir(os.path.join(workdir, 'checkpoints'))
                if d.isdigit()) == ['2']
  os.remove(os.path.join(os.path.dirname(workdir), 'filler'))
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  resumed = train.train_and_evaluate(config, workdir)
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize('flag,message', [
    ('--config.loss.nmae=x', 'error: unknown config key (nmae'),
    # The config file's own error, without the traceback ml_collections adds.
    ('--config=configs/repro_pacgan_2d.py:bogus',
     "error: flag --config=configs/repro_pacgan_2d.py:bogus: Error whilst parsing "
     "config file: ValueError: bad argument 'bogus'; use configs/repro_pacgan_2d.py:ring"),
    pytest.param('--config.batch_size=abc',
                 'error: flag --config.batch_size=abc: invalid literal',
                 marks=pytest.mark.slow),  # a fresh process
])
def test_bad_flags_get_one_line(flag, message, repo_dir, tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/mnist.py',
       f'--workdir={tmp_path}', flag], cwd=repo_dir, capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 1
  lines = [l for l in result.stderr.strip().splitlines() if l.startswith('error:')]
  assert len(lines) == 1 and lines[0].startswith(message), result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1] == lines[0]
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('key,value,message', [
    ('n_critic', 0, 'config.n_critic must be >= 1, got 0'),
    ('model.generator', 'foo', "unknown config.model.generator 'foo'; valid names: biggan, dcgan28"),
    ('data.dataset', 'nope', "unknown config.data.dataset 'nope'"),
    ('nonfinite', 'ignore', "config.nonfinite must be 'stop' or 'rollback'"),
    ('loss.penalty', 'r3', "unknown config.loss.penalty 'r3'; valid names: none, dragan"),
    ('eval.bn_stats', 'train', "config.eval.bn_stats must be 'batch' or 'running'"),
])
def test_bad_values_get_one_line_and_write_nothing(key, value, message, tiny_config,
                                                   tmp_path):
  config = tiny_config(2)
  config.update_from_flattened_dict({key: value})
  with pytest.raises(GanJaxError) as error:
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert str(error.value).startswith(message) and '\n' not in str(error.value)
  assert not os.path.exists(tmp_path / 'run' / 'checkpoints')


def test_corrupt_data_gets_one_line_saying_how_to_provide_it(mnist_like_dir, tmp_path):
  import shutil
  from gan_jax.errors import DataNotFoundError
  copy = tmp_path / 'tfds' / 'mnist'
  shutil.copytree(os.path.join(mnist_like_dir, 'mnist'), copy)
  for root, _, files in os.walk(copy):
    for name in files:
      os.chmod(os.path.join(root, name), 0o644)
  train_file = next(copy.glob('*/mnist-train.tfrecord*'))
  data = train_file.read_bytes()
  train_file.write_bytes(data[:len(data) // 2 + 100])  # a download cut short, mid-record
  config = mnist_mlp.get_config()
  config.data.data_dir = str(tmp_path / 'tfds')
  with pytest.raises(DataNotFoundError) as error:
    datasets.load(config.data)
  message = str(error.value)
  assert 'mnist' in message and 'is unreadable (DataLossError' in message
  assert 'delete that directory and set --config.data.data_dir' in message
  assert '\n' not in message


def test_runs_saved_before_a_key_existed_resume_with_its_old_value(tiny_config):
  config = tiny_config(2)
  config.data.data_dir = '/nonexistent'
  saved = json.loads(config.to_json_best_effort())
  del saved['model']['compute_dtype']  # as written by older gan_jax
  del saved['steps_per_dispatch'], saved['xla_cpu_tuning']
  for key in ('update_order', 'n_generator', 'shared_fake_batch'):
    del saved[key]
  for key in ('pack', 'latent_distribution', 'bn_momentum', 'init_std'):
    del saved['model'][key]
  for key in ('schedule', 'decay_rate', 'b1_final', 'b1_ramp_steps'):
    del saved['optimizer_d'][key]
  assert config_keys.config_differences(saved, config) == []
  config.model.pack = 2
  assert config_keys.config_differences(saved, config) == ["model.pack: 1 -> 2"]
  config.model.pack = 1
  config.model.compute_dtype = 'bfloat16'  # not what that run computed
  assert config_keys.config_differences(saved, config) == [
      "model.compute_dtype: 'float32' -> 'bfloat16'"]


def test_runs_saved_before_the_stabilisation_tricks_resume(tiny_config):
  config = tiny_config(2)
  saved = json.loads(config.to_json_best_effort())
  del saved['loss']['real_label'], saved['diffaugment'], saved['instance_noise']
  assert config_keys.config_differences(saved, config) == []
  config.instance_noise.std = 0.1  # not what that run computed
  assert config_keys.config_differences(saved, config) == ['instance_noise.std: 0.0 -> 0.1']


@pytest.mark.parametrize('config_name,batch_norm', [
    ('mnist', 'generator'), ('mnist_dcgan64', 'generator and discriminator')])
def test_a_batch_norm_over_one_example_is_refused(config_name, batch_norm, tmp_path):
  config = importlib.import_module(f'configs.{config_name}').get_config()
  config.batch_size, config.num_devices = 1, 1
  state = state_lib.create_state(config, state_lib.build_gan(
      config, (config.data.image_size or 28,) * 2 + (1,)))
  with pytest.raises(ConfigError) as error:
    runs_lib.check_batch_norm_batch(config, state)
  message = str(error.value)
  assert message.startswith('config.batch_size=1: batch norm in the ' + batch_norm)
  assert '\n' not in message
  config.batch_size = 2
  runs_lib.check_batch_norm_batch(config, state)


def test_a_batch_of_one_with_batch_norm_writes_nothing(tiny_config, tmp_path):
  config = tiny_config(2)  # batch norm in G
  config.batch_size, config.num_devices = 1, 1
  with pytest.raises(ConfigError, match='config.batch_size=1: batch norm in the generator'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run')


def test_batch_of_one_without_batch_norm_trains(ring_config, tmp_path):
  config = ring_config(2)  # the ring's MLPs have no batch norm
  config.batch_size, config.num_devices, config.eval_every_steps = 1, 1, 0
  final = train.train_and_evaluate(config, str(tmp_path))
  assert int(final.step) == 2
  # Both players moved, to finite parameters, and the steps were logged.
  initial = state_lib.create_state(config, state_lib.build_gan(config, (2,)))
  for before, after in ((initial.g_params, final.g_params),
                        (initial.d_params, final.d_params)):
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(after))
    assert any(not np.array_equal(a, b) for a, b in
               zip(jax.tree.leaves(before), jax.tree.leaves(after)))
  records = metrics_log.read_metrics(str(tmp_path))
  assert [r['step'] for r in records] == [2] and np.isfinite(records[0]['loss_d'])


def test_a_run_begun_before_the_evaluators_shipped_keeps_its_classifier(tiny_config, tmp_path):
  config = tiny_config(2)
  saved = json.loads(config.to_json_best_effort())
  del saved['eval']['classifier']   # as written by older gan_jax
  old, new = tmp_path / 'old', tmp_path / 'new'
  old.mkdir()
  (old / 'config.json').write_text(json.dumps(saved))
  assert runs_lib._keep_feature_space(config, {0: str(old)}).eval.classifier == 'trained'
  assert runs_lib._keep_feature_space(config, {0: str(new)}).eval.classifier == 'shipped'
  assert config.eval.classifier == 'shipped'   # the caller's config is not changed


def _parse_config_flags(monkeypatch, *argv):
  # gan_jax.cli.parse_flags in this process, on fresh flag values holding
  # only --config (absl's global FLAGS parse once); ml_collections reads the
  # --config.* overrides from sys_argv.
  from absl import flags
  from ml_collections import config_flags
  argv = ['main', *argv]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', flag_values=values, sys_argv=argv)
  monkeypatch.setattr(flags, 'FLAGS', values)
  with pytest.raises(SystemExit) as stop:
    cli.parse_flags(argv)
  return str(stop.value.code)


def test_a_config_files_own_error_is_not_called_an_unknown_key(monkeypatch, tmp_path):
  config_file = tmp_path / 'lookup.py'
  config_file.write_text("import os\n\ndef get_config():\n"
                         "  return os.environ['GAN_JAX_NO_SUCH_VARIABLE']\n")
  # The file's own line, not the os module's frame the KeyError came from.
  assert _parse_config_flags(monkeypatch, f'--config={config_file}') == (
      f'error: the config file raised KeyError: GAN_JAX_NO_SUCH_VARIABLE ({config_file}:4)')
  assert _parse_config_flags(
      monkeypatch, '--config=configs/mnist.py', '--config.loss.nmae=x') == (
      'error: unknown config key (nmae; Did you mean name instead of nmae?); the '
      'valid keys are those of gan_jax/config/defaults.py and the config file')
  missing = tmp_path / 'missing.py'
  assert _parse_config_flags(monkeypatch, f'--config={missing}') == (
      f"error: --config: [Errno 2] No such file or directory: '{missing}'")
  listed = tmp_path / 'listed.py'
  listed.write_text("import ml_collections\n\ndef get_config():\n"
                    "  return ml_collections.ConfigDict(dict(sizes=[1, 2]))\n")
  assert _parse_config_flags(monkeypatch, f'--config={listed}', '--config.sizes[5]=3') == (
      'error: --config.sizes[5]: list index out of range')
  # Below a str (TypeError) and below an int (KeyError): the same line.
  for override in ('--config.loss.name.x', '--config.num_train_steps.x'):
    assert _parse_config_flags(
        monkeypatch, '--config=configs/mnist.py', f'{override}=1').startswith(
        f'error: {override} goes below a value that is not a config dict (')


def test_a_budget_below_the_latest_checkpoint_is_refused_and_changes_nothing(
    tiny_config, tmp_path):
  config = tiny_config(4)
  train.train_and_evaluate(config, str(tmp_path))
  before = (tmp_path / 'config.json').read_text()
  config.num_train_steps = 2
  with pytest.raises(ConfigError) as error:
    train.train_and_evaluate(config, str(tmp_path))
  assert str(error.value) == (
      f'config.num_train_steps=2 is below the latest checkpoint of {tmp_path} (step 4); '
      'set it to 4 or more to go on, or read the run at an earlier step with '
      'gan_jax.report --at_step or gan_jax.evaluate --checkpoint')
  assert (tmp_path / 'config.json').read_text() == before


def test_a_config_file_given_by_path_loads_from_any_directory(repo_dir, tmp_path):
  # configs/mog_ring.py imports `from configs import ...`: its configs/ root
  # is found from the file's path, not the working directory.
  config = os.path.join(repo_dir, 'configs', 'mog_ring.py')
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', f'--config={config}',
       f'--workdir={tmp_path / "run"}', '--config.num_train_steps=-1'],
      cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
      env={k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', 'PYTHONPATH')})
  assert result.returncode == 1
  # The config loaded: the run stops at its own validation, in one line.
  assert result.stderr.strip().splitlines()[-1] == (
      'error: config.num_train_steps must be >= 0, got -1')
  assert not (tmp_path / 'run').exists()
