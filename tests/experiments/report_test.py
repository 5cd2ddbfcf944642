"""The sweep report: seeds grouped into mean ± std per variant, unfinished
and missing runs listed, the runs and overrides of sweep.json, the CSV, the
plot and the command line."""
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from gan_jax import report
from gan_jax.experiments import sweep_plan
from gan_jax.errors import GanJaxError
from gan_jax.workdir import divergence


def test_report_groups_seeds_into_mean_and_std(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  text = report.report(str(tmp_path))
  lines = text.splitlines()
  assert lines[0] == '| variant | n | fid | kid | loss_d | loss_g | train_minutes |'
  # hinge: fid 10, 14, 12 -> mean 12, sample std 2; kid = fid / 10;
  # loss_d at step 10: 10, 11, 12 -> 11 ± 1; 10 steps at 9 steps/s = 1/54 min.
  assert lines[2] == ('| loss.name=hinge | 3 | 12 ± 2 | 1.2 ± 0.2 | 11 ± 1 | 2 ± 0 '
                      '| 0.01852 ± 0 |')
  assert lines[3] == '| loss.name=minimax | 1 | 20 | 2 | 10 | 2 | 0.01852 |'
  assert '- b1: unfinished: step 5/10' in lines
  assert '- b2: no metrics.jsonl (not started?)' in lines
  with open(tmp_path / 'report.csv') as f:
    rows = list(csv.DictReader(f))
  assert rows[0]['variant'] == 'loss.name=hinge' and rows[0]['loss.name'] == 'hinge'
  assert rows[0]['n_seeds'] == '3' and rows[0]['seeds'] == '0,1,2'
  assert float(rows[0]['fid_mean']) == 12.0 and float(rows[0]['fid_std']) == 2.0
  assert math.isnan(float(rows[1]['fid_std']))
  assert (tmp_path / 'report.md').read_text() == text
  if _has_matplotlib():
    assert (tmp_path / 'report.png').stat().st_size > 0


def test_diverged_runs_count_in_n_and_their_own_column_not_in_the_means(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  # a1 stopped on a NaN at step 8: its records end at step 5 (the last sync
  # before), short of the budget, yet it is a result, not an unfinished run.
  a1 = tmp_path / 'a1' / 'metrics.jsonl'
  a1.write_text(''.join(json.dumps(r) + '\n' for r in fake_runs.records([(5, 40.0)], 1.0, steps=5)))
  divergence.record_divergence(str(tmp_path / 'a1'), 8, 'non-finite loss_d at step 8')
  lines = report.report(str(tmp_path), metrics=['fid']).splitlines()
  assert lines[0] == '| variant | n | diverged (steps) | fid |'
  assert lines[2] == '| loss.name=hinge | 3 | 1 (8) | 11 ± 1.4 |'  # fid 10, 12
  assert lines[3] == '| loss.name=minimax | 1 | 0 | 20 |'
  assert not any(line.startswith('- a1:') for line in lines)
  with open(tmp_path / 'report.csv') as f:
    assert [r['n_diverged'] for r in csv.DictReader(f)] == ['1', '0']
  # As at step 5 the run had not diverged yet: its step-5 fid counts.
  lines = report.report(str(tmp_path), metrics=['fid'], at_step=5).splitlines()
  assert lines[0] == '| variant | n | fid |'
  assert lines[2] == '| loss.name=hinge | 3 | 40 ± 10 |'


def test_a_diverged_seeds_protocol_and_later_divergence_do_not_count(tmp_path, fake_runs):
  base = dict(num_train_steps=10, log_every_steps=5)
  for seed, evaluator in enumerate(['A', 'A', 'B']):
    records = [dict(r, protocol={'evaluator': evaluator}) if 'fid' in r else r
               for r in fake_runs.records([(10, 10.0 + seed)], 0.0)]
    fake_runs.run(str(tmp_path), f's{seed}', dict(base, seed=seed), records)
  # s2, under another protocol, diverged: none of its numbers are shown, so
  # the variant is not refused for mixing protocols.
  divergence.record_divergence(str(tmp_path / 's2'), 8, 'non-finite loss_d at step 8')
  lines = report.report(str(tmp_path), metrics=['fid']).splitlines()
  assert lines[2] == '| base | 3 | 1 (8) | 10.5 ± 0.71 |'
  assert 'Protocol: evaluator A' in lines
  # A divergence after the budget tabulated (a longer run, read at step 10)
  # is not this budget's result.
  divergence.record_divergence(str(tmp_path / 's2'), 12, 'non-finite loss_d at step 12')
  with pytest.raises(GanJaxError, match='different protocols'):
    report.report(str(tmp_path), metrics=['fid'])


def test_split_by_gives_a_table_per_value_named_by_what_varies_in_it(tmp_path, fake_runs):
  runs = [  # name, dataset, loss, width, seed, final fid
      ('r0', 'ring', 'hinge', 128, 0, 10.0), ('r1', 'ring', 'hinge', 128, 1, 12.0),
      ('r2', 'ring', 'minimax', 128, 0, 30.0), ('g0', 'grid', 'hinge', 256, 0, 5.0)]
  for name, dataset, loss, width, seed, fid in runs:
    config = dict(num_train_steps=10, seed=seed, loss=dict(name=loss),
                  model=dict(width=width), data=dict(dataset=dataset, seed=seed))
    fake_runs.run(str(tmp_path), name, config, fake_runs.records([(10, fid)], 0.0))
  text = report.report(str(tmp_path), metrics=['fid'], split_by='data.dataset')
  # The grid's model.width is constant within its table: not in its names.
  assert text.splitlines() == [
      '### data.dataset=grid', '', '| variant | n | fid |', '|---|---:|---:|',
      '| base | 1 | 5 |', '',
      '### data.dataset=ring', '', '| variant | n | fid |', '|---|---:|---:|',
      '| loss.name=hinge | 2 | 11 ± 1.4 |', '| loss.name=minimax | 1 | 30 |']
  with pytest.raises(GanJaxError, match='--split_by=data.sed: no run of the sweep '
                     'sets it; its keys: data.dataset, loss.name, model.width'):
    report.report(str(tmp_path), split_by='data.sed')


def _has_matplotlib():
  return importlib.util.find_spec('matplotlib') is not None


def test_report_reads_the_runs_and_overrides_of_sweep_json(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  runs = [sweep_plan.Run(n, {'loss.name': l, 'seed': s}, str(tmp_path / n), 10)
          for n, l, s in [('a0', 'hinge', 0), ('a1', 'hinge', 1), ('b0', 'minimax', 0),
                          ('b1', 'minimax', 1), ('gone', 'minimax', 9)]]
  sweep_plan.write_sweep_file(str(tmp_path), 'x.py', runs, {})
  text = report.report(str(tmp_path), metrics=['fid'], plot_metric='loss_d')
  assert text.splitlines()[2:4] == ['| loss.name=hinge | 2 | 12 ± 2.8 |',
                                    '| loss.name=minimax | 1 | 20 |']
  assert '- gone: no metrics.jsonl (not started?)' in text


def test_report_command_prints_the_table(tmp_path, repo_dir, fake_runs):
  fake_runs.sweep(str(tmp_path))
  result = subprocess.run([sys.executable, '-m', 'gan_jax.report',
                           f'--sweep_dir={tmp_path}', '--metrics=kid'],
                          cwd=repo_dir, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.splitlines()[2] == '| loss.name=hinge | 3 | 1.2 ± 0.2 |'


def test_at_step_tabulates_the_runs_as_they_were_then(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  text = report.report(str(tmp_path), metrics=['fid', 'loss_d'], at_step=5)
  lines = text.splitlines()
  # hinge at step 5: fid 50, 40, 30; loss_d 5, 6, 7. b1 reached step 5, so
  # minimax has 2 seeds; b2 never started.
  assert lines[2] == '| loss.name=hinge | 3 | 40 ± 10 | 6 ± 1 |'
  assert lines[3] == '| loss.name=minimax | 2 | 30.5 ± 42 | 5 ± 0 |'   # fid 60, 1
  assert '- b2: no metrics.jsonl (not started?)' in lines
  assert (tmp_path / 'report_step5.md').read_text() == text
  assert not (tmp_path / 'report.md').exists()
  # Past every run's last step there is nothing to tabulate: one line, below.


def test_at_step_groups_seeds_resumed_to_a_longer_budget(tmp_path, fake_runs):
  # Seed 2 went on to step 15 (config.json keeps the budget it last ran
  # with): at its end it is another variant, at step 10 a seed like the others.
  for seed, steps in ((0, 10), (1, 10), (2, 15)):
    fake_runs.run(str(tmp_path), f's{seed}', dict(num_train_steps=steps, seed=seed),
              fake_runs.records([(5, 10.0 * seed), (10, 2.0 + seed), (15, 1.0)][:steps // 5], 0.0,
                       steps=steps))
  at_10 = report.report(str(tmp_path), metrics=['fid'], at_step=10).splitlines()
  assert at_10[2] == '| base | 3 | 3 ± 1 |'
  at_end = report.report(str(tmp_path), metrics=['fid']).splitlines()
  assert at_end[2:4] == ['| num_train_steps=10 | 2 | 2.5 ± 0.71 |',
                         '| num_train_steps=15 | 1 | 1 |']
  # Merged runs must be scored at the same step. Seed 3 (budget 15) has no
  # evaluation at 10, so at step 10 it would be scored at 5: not averaged.
  fake_runs.run(str(tmp_path), 's3', dict(num_train_steps=15, seed=3),
            fake_runs.records([(5, 1.0), (15, 1.0)], 0.0, steps=15))
  with pytest.raises(GanJaxError, match='run s3 is scored at step 5 and s0 at step 10'):
    report.report(str(tmp_path), metrics=['fid'], at_step=10)


def test_runs_saved_before_a_key_existed_are_seeds_of_the_runs_with_its_old_value(
    tmp_path, fake_runs):
  # s0 predates update_order and shared_fake_batch (config_keys.ADDED_KEYS): it
  # ran alternating, without a shared batch, as s1 and s2 say they did.
  for seed in range(3):
    config = dict(seed=seed, loss=dict(name='hinge'))
    if seed:
      config.update(update_order='alternating', shared_fake_batch=False)
    fake_runs.run(str(tmp_path), f's{seed}', config, fake_runs.records([(10, 2.0 * seed)], 0.0))
  assert report.report(str(tmp_path), metrics=['fid']).splitlines()[2] == '| base | 3 | 2 ± 2 |'
  # A value other than the old one is another variant.
  fake_runs.run(str(tmp_path), 's3', dict(seed=3, loss=dict(name='hinge'),
                                      update_order='simultaneous', shared_fake_batch=True),
            fake_runs.records([(10, 9.0)], 0.0))
  lines = report.report(str(tmp_path), metrics=['fid']).splitlines()
  assert lines[2:4] == ['| shared_fake_batch=False,update_order=alternating | 3 | 2 ± 2 |',
                        '| shared_fake_batch=True,update_order=simultaneous | 1 | 9 |']


def test_runs_evaluated_under_different_protocols_are_not_averaged(tmp_path, fake_runs):
  def protocol(evaluator, seed):
    return dict(evaluator=evaluator, num_samples=10000, params='ema',
                bn_stats='batch', latent_seed=seed, reference_split='test',
                reference_size=10000)
  base = dict(num_train_steps=10, loss=dict(name='hinge'))
  for name, seed, evaluator in (('s0', 0, 'mnist-cnn-v1-aaa'), ('s1', 1, 'mnist-cnn-v1-aaa')):
    records = fake_runs.records([(10, 5.0 + seed)], 0.0)
    records[-1]['protocol'] = protocol(evaluator, seed)
    fake_runs.run(str(tmp_path), name, dict(base, seed=seed, data=dict(seed=seed)), records)
  # Seeds differ in their latent seed only: averaged, the protocol listed.
  text = report.report(str(tmp_path), metrics=['fid'])
  assert '| base | 2 | 5.5 ± 0.71 |' in text
  assert ('Protocol: bn_stats batch, evaluator mnist-cnn-v1-aaa, num_samples 10000, '
          'params ema, reference_size 10000, reference_split test') in text
  records = fake_runs.records([(10, 9.0)], 0.0)
  records[-1]['protocol'] = protocol('mnist-cnn-v1-bbb', 2)
  fake_runs.run(str(tmp_path), 's2', dict(base, seed=2, data=dict(seed=2)), records)
  with pytest.raises(GanJaxError, match=r'runs s0 and s2 were evaluated under '
                     r'different protocols \(.*mnist-cnn-v1-aaa.* vs .*mnist-cnn-v1-bbb'):
    report.report(str(tmp_path), metrics=['fid'])


def test_runs_evaluated_before_protocols_were_recorded_still_average(tmp_path, fake_runs):
  base = dict(num_train_steps=10, loss=dict(name='hinge'))
  for name, seed in (('old', 0), ('new', 1)):
    records = fake_runs.records([(10, 5.0 + seed)], 0.0)
    if name == 'new':
      records[-1]['protocol'] = dict(evaluator='mnist-cnn-v1-aaa', latent_seed=seed)
    fake_runs.run(str(tmp_path), name, dict(base, seed=seed, data=dict(seed=seed)), records)
  text = report.report(str(tmp_path), metrics=['fid'])
  assert '| base | 2 | 5.5 ± 0.71 |' in text
  assert 'Protocol: evaluator mnist-cnn-v1-aaa' in text
  assert ('Protocol unrecorded (evaluated before gan_jax recorded protocols): old'
          in text)


def test_at_step_beyond_every_run_is_one_line_and_writes_nothing(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  with pytest.raises(GanJaxError, match=r'--at_step=50 is beyond every run \(the furthest '
                     r'is at step 10\)'):
    report.report(str(tmp_path), at_step=50)
  assert not [n for n in os.listdir(tmp_path) if n.startswith('report')]


def test_a_damaged_sweep_json_is_one_line(tmp_path, fake_runs):
  fake_runs.sweep(str(tmp_path))
  (tmp_path / 'sweep.json').write_text('{"config": "x", "runs": [{"na')
  with pytest.raises(GanJaxError, match=r'sweep\.json is unreadable .*move it aside'):
    report.report(str(tmp_path))
