"""Tests for gan_jax.run_results: a run's numbers read back from its workdir."""
import pytest

from gan_jax.experiments import run_results


def test_train_minutes_add_the_logged_intervals():
  records = [dict(step=100, loss_d=0.0, steps_per_s=50.0),   # 2 s
             dict(step=300, loss_d=0.0, steps_per_s=20.0),   # 10 s
             dict(step=360, loss_d=0.0, steps_per_s=1.0)]    # 60 s
  assert run_results.train_minutes(records) == pytest.approx(72 / 60)
  # Logged interval lengths win: after a resume at step 350 the interval to
  # 360 timed 10 steps, not the 60 since the previous record.
  records[2]['interval_seconds'] = 10.0
  assert run_results.train_minutes(records) == pytest.approx(22 / 60)


@pytest.mark.parametrize('damage,problem', [
    # A garbled line in the middle (the file was edited or damaged).
    (lambda lines: lines[:1] + ['garbage\n'] + lines[1:],
     "damaged metrics.jsonl: {path} line 2 is not a JSON record ('garbage')"),
    # A last record cut short: the run stopped mid-write.
    (lambda lines: lines[:-1] + [lines[-1][:20]],
     'damaged metrics.jsonl: its last record is cut short'),
])
def test_a_damaged_record_is_reported_never_read_around(damage, problem, tmp_path,
                                                        fake_runs):
  records = fake_runs.records([(5, 30.0), (10, 12.0)], loss_d=0.0)
  fake_runs.run(str(tmp_path), 'r', dict(num_train_steps=10, seed=0), records)
  path = tmp_path / 'r' / 'metrics.jsonl'
  intact = run_results.read_run('r', str(tmp_path / 'r'), {})
  assert intact.problem == '' and intact.final['fid'] == 12.0
  path.write_text(''.join(damage(path.read_text().splitlines(keepends=True))))
  damaged = run_results.read_run('r', str(tmp_path / 'r'), {})
  assert damaged.problem.startswith(problem.format(path=path))
  assert damaged.final == {} and '\n' not in damaged.problem
