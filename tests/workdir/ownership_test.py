"""workdir/ownership.py: a workdir belongs to one config. The same command
resumes, a resumable change (the budget, evaluation) is accepted, a config
that computes something else is refused with its differences or, with
config.overwrite, the old run is moved aside, never deleted."""
import json
import os

import pytest

from configs import mog_ring
from gan_jax.errors import ConfigError
from gan_jax.workdir import ownership


def test_a_claim_writes_the_config_and_reads_back_flat(tmp_path):
  workdir = str(tmp_path / 'run')
  config = mog_ring.get_config()
  ownership.claim(workdir, config)
  assert json.loads((tmp_path / 'run' / ownership.CONFIG_FILE).read_text()) == \
      json.loads(config.to_json_best_effort())
  saved = ownership.saved_config(workdir)
  assert saved['loss.name'] == config.loss.name and saved['seed'] == config.seed
  assert ownership.saved_config(str(tmp_path / 'none')) is None


def test_the_same_config_and_a_resumable_change_are_accepted(tmp_path):
  workdir = str(tmp_path / 'run')
  config = mog_ring.get_config()
  ownership.claim(workdir, config)
  (tmp_path / 'run' / 'metrics.jsonl').write_text('{"step": 1}\n')
  ownership.claim(workdir, config)
  config.num_train_steps *= 2    # a longer budget resumes the same run
  config.eval.num_samples = 100
  ownership.claim(workdir, config)
  assert ownership.saved_config(workdir)['num_train_steps'] == config.num_train_steps
  assert (tmp_path / 'run' / 'metrics.jsonl').exists()


def test_another_config_is_refused_with_its_differences_then_moved_aside(tmp_path):
  workdir = str(tmp_path / 'run')
  ownership.claim(workdir, mog_ring.get_config())
  (tmp_path / 'run' / 'metrics.jsonl').write_text('{"step": 1}\n')
  config = mog_ring.get_config()
  config.loss.name = 'hinge'
  with pytest.raises(ownership.WorkdirConfigMismatch) as error:
    ownership.claim(workdir, config)
  message = str(error.value)
  assert "loss.name: 'non_saturating' -> 'hinge'" in message
  assert '--config.overwrite=True' in message and '\n' not in message
  config.overwrite = True
  ownership.claim(workdir, config)
  aside = [p for p in os.listdir(tmp_path) if p.startswith('run.replaced-')]
  assert len(aside) == 1 and (tmp_path / aside[0] / 'metrics.jsonl').exists()
  assert ownership.saved_config(workdir)['loss.name'] == 'hinge'


@pytest.mark.parametrize('content', ['', '{"seed": 0, "batch'])
def test_an_unreadable_config_json_is_one_line_or_moved_aside(content, tmp_path):
  workdir = tmp_path / 'run'
  workdir.mkdir()
  (workdir / 'config.json').write_text(content)
  (workdir / 'metrics.jsonl').write_text('{"step": 1}\n')
  config = mog_ring.get_config()
  with pytest.raises(ownership.WorkdirConfigMismatch) as error:
    ownership.claim(str(workdir), config)
  message = str(error.value)
  assert 'config.json is unreadable' in message and '--config.overwrite=True' in message
  assert '\n' not in message
  config.overwrite = True
  ownership.claim(str(workdir), config)
  aside = [p for p in os.listdir(tmp_path) if p.startswith('run.replaced-')]
  assert len(aside) == 1 and (tmp_path / aside[0] / 'metrics.jsonl').exists()
  assert json.loads((workdir / 'config.json').read_text())['overwrite'] is True


def test_for_seeds_fills_the_template_and_refuses_bad_seeds():
  assert ownership.for_seeds('runs/ring/seed={seed}', ['0', '3']) == {
      0: 'runs/ring/seed=0', 3: 'runs/ring/seed=3'}
  for seeds, template, match in ((['0', 'x'], 'r/{seed}', 'must be integers'),
                                 (['1', '1'], 'r/{seed}', 'repeats a seed'),
                                 (['1'], 'r/run', "must contain '{seed}'")):
    with pytest.raises(ConfigError, match=match):
      ownership.for_seeds(template, seeds)
