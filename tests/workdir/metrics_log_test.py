"""metrics.jsonl after crashes: a torn last record is dropped and reported,
an unreadable file is one line, never a traceback."""
import pytest

from gan_jax.errors import GanJaxError
from gan_jax.workdir import metrics_log


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


def test_a_record_cut_before_its_newline_does_not_glue_the_next_one(tmp_path):
  _write_lines(tmp_path / 'metrics.jsonl', ['{"step": 10}\n', '{"step": 20}'])
  writer = metrics_log.MetricWriter(str(tmp_path), resume_step=20)
  writer.write_scalars(30, {'loss_d': 0.5})
  writer.flush()
  assert [r['step'] for r in metrics_log.read_metrics(str(tmp_path))] == [10, 20, 30]
