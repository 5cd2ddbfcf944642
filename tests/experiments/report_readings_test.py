"""The report's readings of a run other than its last evaluation:
--window_steps (a mean over the final stretch), --eval_reports (gan_jax.evaluate
reports instead of the loop's) and --select_by (the best evaluation by a
validation score). The runs are conftest's fake_runs."""
import json
import math
import os

import pytest

from gan_jax import report
from gan_jax.errors import GanJaxError
from gan_jax.workdir import divergence


def test_window_steps_average_each_runs_last_evaluations(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  # a0 evaluated at steps 5 and 10 (fid 50, 10): a 5-step window holds both
  # ends, mean 30; a1: (40 + 14) / 2 = 27; a2: (30 + 12) / 2 = 21.
  text = report.report(str(tmp_path), metrics=['fid', 'loss_d'], window_steps=5)
  lines = text.splitlines()
  assert lines[0] == ("Evaluation metrics: the training loop's evaluations, each run's "
                      'mean over the 5 steps up to its last step (2 evaluations per '
                      'run, both ends included); the losses are the last logged.')
  assert lines[4] == '| loss.name=hinge | 3 | 26 ± 4.6 | 11 ± 1 |'   # losses at step 10
  assert lines[5] == '| loss.name=minimax | 1 | 40 | 10 |'
  assert (tmp_path / 'report_window5.md').read_text() == text
  # A window shorter than the evaluation interval is the last evaluation.
  text = report.report(str(tmp_path), metrics=['fid', 'loss_d'], window_steps=4)
  assert '| loss.name=hinge | 3 | 12 ± 2 | 11 ± 1 |' in text
  assert '(1 evaluation per run,' in text
  # With --at_step the window ends there: step 5 alone.
  text = report.report(str(tmp_path), metrics=['fid'], at_step=5, window_steps=4)
  assert '| loss.name=hinge | 3 | 40 ± 10 |' in text
  assert 'the 4 steps up to step 5 (1 to 1' not in text and 'up to step 5 (' in text
  assert (tmp_path / 'report_step5_window4.md').read_text() == text
  with pytest.raises(GanJaxError, match='use a positive number of steps'):
    report.report(str(tmp_path), window_steps=0)


def test_a_window_without_evaluations_or_mixing_protocols_leaves_the_run_out(tmp_path, fake_runs):
  records = fake_runs.records([(5, 1.0), (10, 2.0)], 0.0)
  records[1]['protocol'], records[-1]['protocol'] = {'params': 'raw'}, {'params': 'ema'}
  fake_runs.run(str(tmp_path), 'r', dict(num_train_steps=10, seed=0), records)
  fake_runs.run(str(tmp_path), 's', dict(num_train_steps=10, seed=1),
            fake_runs.records([(5, 3.0)], 0.0))   # evaluated at step 5 only
  text = report.report(str(tmp_path), metrics=['fid'], window_steps=5)
  assert '- r: its evaluations at steps 5-10 differ in protocol' in text
  assert '| base | 1 | 3 |' in text     # s's step-5 evaluation
  text = report.report(str(tmp_path), metrics=['fid'], window_steps=4)
  assert '| base | 1 | 2 |' in text     # r at step 10 alone
  assert '- s: no evaluation at steps 6-10 (its last at 5); widen --window_steps' in text


def test_a_window_ignores_a_diverged_run_and_averages_the_others(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  a1 = tmp_path / 'a1' / 'metrics.jsonl'
  a1.write_text(''.join(json.dumps(r) + '\n' for r in fake_runs.records([(5, 40.0)], 1.0, steps=5)))
  divergence.record_divergence(str(tmp_path / 'a1'), 8, 'non-finite loss_d at step 8')
  lines = report.report(str(tmp_path), metrics=['fid'], window_steps=5).splitlines()
  assert '(2 evaluations per run,' in lines[0]
  assert '| loss.name=hinge | 3 | 1 (8) | 25.5 ± 6.4 |' in lines   # 30 and 21


def _eval_report(workdir, name, step, fid, params='raw', seed=0):
  os.makedirs(os.path.join(workdir, 'eval'), exist_ok=True)
  with open(os.path.join(workdir, 'eval', f'{name}.json'), 'w') as f:
    json.dump(dict(step=step, params=params, bn_stats='batch', num_samples=100,
                   seed=seed, metrics=dict(fid=fid),
                   protocol=dict(evaluator='e', params=params)), f)


def test_eval_reports_tabulate_gan_jax_evaluate_files_instead_of_the_loops(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  for name, fids in (('a0', (7.0, 3.0)), ('a1', (8.0, 5.0)), ('a2', (9.0, 4.0))):
    _eval_report(tmp_path / name, '5,params=raw', 5, fids[0])
    _eval_report(tmp_path / name, '10,params=raw', 10, fids[1])
    _eval_report(tmp_path / name, '10', 10, 100.0, params='ema')   # the run's own
  text = report.report(str(tmp_path), metrics=['fid'], eval_reports='params=raw')
  lines = text.splitlines()
  assert lines[0] == ('Evaluation metrics: gan_jax.evaluate reports with params=raw '
                      "(eval/<step>[,...].json), each run's at its last step.")
  assert lines[4] == '| loss.name=hinge | 3 | 4 ± 1 |'
  assert 'Protocol: evaluator e, params raw' in lines
  # b0 finished but was never scored this way: left out, with the command.
  assert ('- b0: no gan_jax.evaluate report (params=raw) at its step 10; run '
          f'python -m gan_jax.evaluate --workdir={tmp_path / "b0"} --checkpoint=10 '
          '--params=raw') in lines
  assert (tmp_path / 'report_params=raw.md').read_text() == text
  # Windows and steps combine: (7 + 3) / 2, (8 + 5) / 2, (9 + 4) / 2 = 5, 6.5, 6.5.
  assert '| loss.name=hinge | 3 | 6 ± 0.87 |' in report.report(
      str(tmp_path), metrics=['fid'], eval_reports='params=raw', window_steps=5)
  assert '| loss.name=hinge | 3 | 8 ± 1 |' in report.report(
      str(tmp_path), metrics=['fid'], eval_reports='params=raw', at_step=5)
  assert '| loss.name=hinge | 3 | 100 ± 0 |' in report.report(
      str(tmp_path), metrics=['fid'], eval_reports='run')
  assert '| loss.name=hinge | 3 | 100 ± 0 |' in report.report(
      str(tmp_path), metrics=['fid'], eval_reports='params=ema')


def test_eval_reports_match_on_the_reports_fields_not_their_file_names(tmp_path, fake_runs):
  # A run whose own evaluation is raw: gan_jax.evaluate --params=raw writes
  # eval/10.json, and --seed=7 eval/10,seed=7.json, which is raw too.
  fake_runs.run(str(tmp_path), 'r', dict(num_train_steps=10, seed=0), fake_runs.records([(10, 1.0)], 0.0))
  _eval_report(tmp_path / 'r', '10', 10, 2.0)
  text = report.report(str(tmp_path), metrics=['fid'], eval_reports='params=raw,seed=0')
  assert '| base | 1 | 2 |' in text
  _eval_report(tmp_path / 'r', '10,seed=7', 10, 3.0, seed=7)
  assert '| base | 1 | 3 |' in report.report(str(tmp_path), metrics=['fid'],
                                              eval_reports='seed=7')
  with pytest.raises(GanJaxError, match=r'10,seed=7.json and 10.json in .* both match; '
                     'name the setting they differ in'):
    report.report(str(tmp_path), eval_reports='params=raw')
  (tmp_path / 'r' / 'eval' / '10,seed=7.json').write_text('{"step": ')
  with pytest.raises(GanJaxError, match=r'10,seed=7.json is not a gan_jax.evaluate report'):
    report.report(str(tmp_path), eval_reports='seed=7')


@pytest.mark.parametrize('bad', ['raw', 'foo=bar', 'params=RAW', 'params=raw,params=ema',
                                 'seed=-1', 'num_samples=1e4', ','])
def test_eval_reports_refuse_settings_gan_jax_evaluate_does_not_have(tmp_path, bad, fake_runs):
  fake_runs.sweep(str(tmp_path))
  with pytest.raises(GanJaxError, match=f"--eval_reports={bad}: use 'run' or settings "
                     'of gan_jax.evaluate, params, bn_stats, num_samples, seed'):
    report.report(str(tmp_path), eval_reports=bad)


def test_select_by_picks_each_runs_best_validation_evaluation(tmp_path, fake_runs):
  """The 2014 paper's model selection: each seed at its evaluation with the
  highest validation score, finished or not, and the test score there."""
  protocol = {'num_samples': 10000}
  def run(name, seed, curve, steps):
    records = [dict(step=s, loss_d=1.0, loss_g=2.0, steps_per_s=9.0)
               for s in range(5, steps + 1, 5)]
    records += [dict(step=s, parzen=test, parzen_validation=val, protocol=protocol)
                for s, test, val in curve]
    # Not picks: a NaN first (max() would keep it), and a higher score
    # measured under another protocol.
    records.append(dict(step=1, parzen=math.nan, parzen_validation=math.nan,
                        protocol=protocol))
    records.append(dict(step=2, parzen=300.0, parzen_validation=300.0,
                        protocol={'num_samples': 100}))
    fake_runs.run(str(tmp_path), name, dict(num_train_steps=20, seed=seed),
              sorted(records, key=lambda r: r['step']))
  run('s0', 0, [(5, 200.0, 190.0), (10, 230.0, 199.0), (15, 220.0, 199.0),
                (20, math.nan, math.nan)], 20)
  run('s1', 1, [(5, 210.0, 195.0), (10, 205.0, 194.0)], 10)   # stopped at 10 of 20
  text = report.report(str(tmp_path), metrics=['parzen', 'selected_step'],
                       select_by='parzen_validation')
  lines = text.splitlines()
  # s0's best validation (199) first at step 10 (the earliest of equals; the
  # NaN at 20 is no pick); s1's at step 5, though it stopped short.
  assert lines[0] == ("Evaluation metrics: the training loop's evaluations, each run's "
                      'evaluation with the highest parzen_validation up to its last '
                      'step (its step: selected_step); the losses are the last logged. '
                      'Runs stopped short of their budget: s1 (10 of 20).')
  assert lines[4] == '| base | 2 | 220 ± 14 | 7.5 ± 3.5 |'
  assert lines[-3:] == ["Each run's pick:",
                        '- s0: step 10 (parzen_validation 199 of 20 steps run)',
                        '- s1: step 5 (parzen_validation 195 of 10 steps run)']
  assert (tmp_path / 'report_by_parzen_validation.md').read_text() == text
  report.report(str(tmp_path), select_by='parzen_validation:max')
  assert not (tmp_path / 'report_by_parzen_validation_max.md').exists()
  # :min picks s0's step 5 and s1's step 10; --at_step bounds the history.
  text = report.report(str(tmp_path), metrics=['parzen', 'selected_step'],
                       select_by='parzen_validation:min')
  assert '| base | 2 | 202.5 ± 3.5 | 7.5 ± 3.5 |' in text
  assert (tmp_path / 'report_by_parzen_validation_min.md').read_text() == text
  text = report.report(str(tmp_path), metrics=['parzen', 'selected_step'],
                       select_by='parzen_validation', at_step=5)
  assert '| base | 2 | 205 ± 7.1 | 5 ± 0 |' in text
  with pytest.raises(GanJaxError, match='no run evaluated fid; the runs. metrics: '
                     'parzen, parzen_validation'):
    report.report(str(tmp_path), select_by='fid')
  with pytest.raises(GanJaxError, match='use one of them'):
    report.report(str(tmp_path), select_by='parzen_validation', window_steps=5)
  with pytest.raises(GanJaxError, match=':max .the default. or :min'):
    report.report(str(tmp_path), select_by='parzen_validation:best')
