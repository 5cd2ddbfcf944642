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
