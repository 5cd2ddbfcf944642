"""The reproduction configs' arguments (configs/repro_*.py:SETUP,BUDGET): what
reaches sweep() and names the sweep directory, and the budgets they refuse
with their own one-line hint (sweep_plan.whole_number)."""
import os

import pytest

from configs import repro_pacgan_2d, repro_parzen, repro_stacked_mnist
from gan_jax.experiments import sweep_plan
from gan_jax.config import keys as config_keys


def test_a_config_argument_reaches_sweep_and_names_the_sweep_dir():
  runs = sweep_plan.expand('configs/repro_pacgan_2d.py:ring,20000', 'sweep')
  assert [r.name for r in runs[:2]] == ['batch_size=100,model.pack=1,seed=0',
                                        'batch_size=100,model.pack=1,seed=1']
  assert {r.num_train_steps for r in runs} == {20_000} and len(runs) == 12
  assert sweep_plan.default_sweep_dir('configs/repro_pacgan_2d.py:ring,20000') == \
      os.path.join('runs', 'sweeps', 'repro_pacgan_2d_ring,20000')
  assert sweep_plan.default_sweep_dir('configs/ablation_mog.py') == \
      os.path.join('runs', 'sweeps', 'ablation_mog')
  unrolled = sweep_plan.expand('configs/repro_stacked_mnist.py:unrolled', 'sweep')
  assert len(unrolled) == 2 * 4 * 3
  assert unrolled[-1].overrides == {'model.d_width_ratio': 0.5, 'model.pack': 4,
                                    'batch_size': 512, 'seed': 2}
  assert {r.num_train_steps for r in unrolled} == {500_000}
  scaled = sweep_plan.expand('configs/repro_stacked_mnist.py:unrolled,10000', 'sweep')
  assert [r.name for r in scaled] == [r.name for r in unrolled]
  assert {r.num_train_steps for r in scaled} == {10_000}
  config = repro_stacked_mnist.get_config('unrolled,10000')
  assert (config.eval_every_steps, config.checkpoint_every_steps) == (1000, 1000)
  for bad in ('unrolled,1e4', 'unrolled,5', 'dcgan', 'unrolled,10²', 'unrolled,'):
    with pytest.raises(ValueError, match='bad argument'):
      repro_stacked_mnist.get_config(bad)


def test_reproduction_budgets_reject_what_int_cannot_read_with_their_hint():
  # '²' passes str.isdigit() but not int(): it must get the config's own
  # one-line hint, not int()'s ValueError.
  for bad in ('grid,2e4', 'grid,20²', 'grid,-5', 'square', 'grid,', 'grid,0'):
    with pytest.raises(ValueError, match="bad argument .* e.g. :grid,40000"):
      repro_pacgan_2d.get_config(bad)
  for bad in ('0', '2²', '1.5', ''):
    with pytest.raises(ValueError, match="bad argument .* e.g. :100"):
      repro_parzen.get_config(bad)
  assert repro_pacgan_2d.get_config('grid,300').num_train_steps == 300
  assert repro_parzen.get_config('3').num_train_steps == 1500


def test_whole_number_reads_decimal_digits_at_or_above_the_minimum():
  assert sweep_plan.whole_number('40000') == 40_000
  assert sweep_plan.whole_number('10', minimum=10) == 10
  # '٣' (Arabic-Indic three) is decimal to isdecimal() and int(), but would
  # name a sweep directory in another script.
  for bad in ('', '0', '-5', '+5', ' 5', '1e4', '1.0', '2²', '٣'):
    assert sweep_plan.whole_number(bad) is None, bad
  assert sweep_plan.whole_number('9', minimum=10) is None


def test_the_stacked_recipe_is_the_unrolled_setup_with_its_stated_changes():
  from configs import study_stacked_recipe
  from gan_jax.config import validation
  recipe = config_keys.flatten(study_stacked_recipe.get_config().to_dict())
  base = config_keys.flatten(repro_stacked_mnist.get_config('unrolled,20000').to_dict())
  # batch_size is 128 in both: 128 packs of 1 there, 64 packs of 2 here.
  assert sorted(k for k in recipe if recipe[k] != base.get(k)) == [
      'ema_decay', 'ema_warmup', 'eval.also_params', 'eval.params',
      'model.d_width_ratio', 'model.g_width_ratio', 'model.pack', 'num_train_steps']
  # Evaluations and checkpoints stay every 2,000 steps, the tables' grid.
  assert recipe['eval_every_steps'] == recipe['checkpoint_every_steps'] == 2_000
  assert (recipe['model.pack'], recipe['batch_size']) == (2, 128)
  assert (recipe['model.d_width_ratio'], recipe['num_train_steps']) == (4.0, 30_000)
  # ':d1', the first recipe: only D's width and the budget differ.
  first = config_keys.flatten(study_stacked_recipe.get_config('d1').to_dict())
  assert sorted(k for k in recipe if recipe[k] != first[k]) == [
      'model.d_width_ratio', 'num_train_steps']
  assert (first['model.d_width_ratio'], first['num_train_steps']) == (1.0, 40_000)
  for argument in ('', 'd1'):
    validation.validate(study_stacked_recipe.get_config(argument))
    path = 'configs/study_stacked_recipe.py' + (f':{argument}' if argument else '')
    runs = sweep_plan.expand(path, 'sweep')
    assert [(r.overrides['model.pack'], r.overrides['batch_size']) for r in runs] == \
        [(1, 64)] * 3 + [(2, 128)] * 3
  with pytest.raises(ValueError, match="takes no argument or 'd1'"):
    study_stacked_recipe.get_config('d4')


def test_the_parzen_recipe_is_the_papers_setup_with_its_stated_changes():
  from configs import repro_parzen, study_parzen_recipe
  from gan_jax.config import validation
  recipe = config_keys.flatten(study_parzen_recipe.get_config().to_dict())
  base = config_keys.flatten(repro_parzen.get_config().to_dict())
  assert sorted(k for k in recipe if recipe[k] != base.get(k)) == [
      'ema_decay', 'eval.also_params', 'eval.params', 'num_train_steps']
  assert (recipe['ema_decay'], recipe['eval.params'], recipe['eval.also_params'],
          recipe['model.g_output_bias']) == (0.9999, 'ema', 'raw', 'zeros')
  # 1,000 epochs of 500 updates; the argument scales it as repro_parzen's does,
  # and only the budget: the momentum ramp stays 250 epochs.
  assert recipe['num_train_steps'] == 500_000
  paper = lambda epochs: config_keys.flatten(repro_parzen.get_config(epochs).to_dict())
  ours = lambda arg: config_keys.flatten(study_parzen_recipe.get_config(arg).to_dict())
  changes = {'ema_decay': 0.9999, 'eval.also_params': 'raw', 'eval.params': 'ema'}
  for epochs in ('100', '1000'):
    assert {k: v for k, v in ours(epochs).items() if paper(epochs)[k] != v} == changes
    # 'marginals' is the paper's own output-bias init, in either order.
    for arg in (f'marginals,{epochs}', f'{epochs},marginals'):
      assert {k: v for k, v in ours(arg).items() if paper(epochs)[k] != v} == {
          **changes, 'model.g_output_bias': 'data_marginals'}
  assert ours('marginals')['num_train_steps'] == 500_000
  assert ours('100')['optimizer_g.b1_ramp_steps'] == 125_000
  for arg in ('', 'marginals'):
    validation.validate(study_parzen_recipe.get_config(arg))
  for arg in ('zeros', 'marginals,x', '0', '100,200', 'marginals,marginals'):
    with pytest.raises(ValueError, match="takes 'marginals', a whole number of epochs"):
      study_parzen_recipe.get_config(arg)
  runs = sweep_plan.expand('configs/study_parzen_recipe.py', 'sweep')
  assert [r.overrides for r in runs] == [{'seed': s} for s in (0, 1, 2)]
  # Each variant has its own sweep directory, so their runs never meet.
  assert sweep_plan.default_sweep_dir('configs/study_parzen_recipe.py:marginals').endswith(
      'study_parzen_recipe_marginals')
