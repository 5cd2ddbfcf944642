"""metrics.jsonl and config.json after crashes: a torn last record is dropped
and reported, an unreadable file is one line, never a traceback."""
import json
import os

import pytest

from configs import mog_ring
from gan_jax.errors import GanJaxError
from gan_jax.workdir import metrics_log
from gan_jax.workdir import ownership


def _write_lines(path, lines):
  with open(path, 'w') as f:
    f.write(''.join(lines))


def test_a_torn_last_record_is_dropped_and_reported(tmp_path, caplog):
  path = tmp_path / 'metrics.jsonl'
  _write_lines(path, ['{"step": 10, "loss_d": 1.0}\n', '{"step": 20, "loss_d": 0.9}\n',
                      '{"step": 25, "loss_d": 1.2'])  # kill -9 mid-write
  assert [r['step'] for r in metrics_log.read_metrics(str(tmp_path))] == [10, 20]
  with caplog.at_level('WARNING'):
    writer = metrics_log.MetricWriter(str(tmp_path), resume_step=20)
  assert 'torn last record' in caplog.text
  writer.write_scalars(30, {'loss_d': 0.8})
  writer.flush()
  assert [r['step'] for r in metrics_log.read_metrics(str(tmp_path))] == [10, 20, 30]


def test_an_unreadable_record_before_the_last_is_one_line(tmp_path):
  _write_lines(tmp_path / 'metrics.jsonl', ['{"step": 10}\n', 'garbage\n', '{"step": 30}\n'])
  with pytest.raises(GanJaxError) as error:
    metrics_log.MetricWriter(str(tmp_path), resume_step=30)
  assert 'line 2 is not a JSON record' in str(error.value)
  assert '\n' not in str(error.value)


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


def test_a_record_cut_before_its_newline_does_not_glue_the_next_one(tmp_path):
  _write_lines(tmp_path / 'metrics.jsonl', ['{"step": 10}\n', '{"step": 20}'])
  writer = metrics_log.MetricWriter(str(tmp_path), resume_step=20)
  writer.write_scalars(30, {'loss_d': 0.5})
  writer.flush()
  assert [r['step'] for r in metrics_log.read_metrics(str(tmp_path))] == [10, 20, 30]


def test_evaluate_reports_an_unreadable_config_json_in_one_line(tmp_path):
  from gan_jax.evaluation import checkpoint_eval
  (tmp_path / 'config.json').write_text('{"seed": ')
  with pytest.raises(GanJaxError, match='config.json is unreadable') as error:
    checkpoint_eval.evaluate_checkpoint(str(tmp_path))
  assert '\n' not in str(error.value)
