"""A run's `gan_jax.evaluate` reports (workdir/eval_reports.py) read back as
evaluation records for `run_results`: `--eval_reports=run` reads
eval/<step>.json, settings such as `params=raw` the reports made with them."""
import json
import os
import re
from typing import Dict, List, Optional, Tuple

from gan_jax.errors import GanJaxError
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.experiments import sweep_plan
from gan_jax.workdir import eval_reports as eval_reports_files

# The values gan_jax.evaluate's --params and --bn_stats take.
_SETTING_VALUES = {'params': protocol_lib.GENERATOR_PARAMS, 'bn_stats': protocol_lib.BN_STATS}


def parse_eval_reports(settings: str) -> Optional[Dict[str, str]]:
  """--eval_reports as {setting: value}: None for 'run' (the run's own
  evaluation, eval/<step>.json), else e.g. {'params': 'raw'} for 'params=raw'.
  Raises GanJaxError for a setting gan_jax.evaluate does not have
  (protocol.EVAL_SETTINGS) or a value it does not take."""
  if settings == 'run':
    return None
  hint = (f"--eval_reports={settings}: use 'run' or settings of gan_jax.evaluate, "
          f"{', '.join(protocol_lib.EVAL_SETTINGS)}, e.g. params=raw or params=raw,seed=3")
  wanted = {}
  for item in settings.split(','):
    key, equals, value = item.partition('=')
    allowed = _SETTING_VALUES.get(key)
    if (not equals or key not in protocol_lib.EVAL_SETTINGS or key in wanted or
        (value not in allowed if allowed else sweep_plan.whole_number(value, 0) is None)):
      raise GanJaxError(hint)
    wanted[key] = value
  return wanted


def eval_reports_text(settings: str) -> str:
  """Which reports --eval_reports reads, in words."""
  if settings == 'run':
    return 'gan_jax.evaluate reports under the run\'s own settings (eval/<step>.json)'
  return f'gan_jax.evaluate reports with {settings} (eval/<step>[,...].json)'


def read_eval_reports(workdir: str, settings: str) -> List[dict]:
  """The run's `gan_jax.evaluate` reports under `settings` (`parse_eval_reports`)
  as metrics.jsonl-like evaluation records {step, <metrics>..., protocol}, by
  step. 'run' reads eval/<step>.json; otherwise a report matches when its
  fields equal the settings given (the file name leaves out a setting equal
  to the run's own, so it cannot be matched on). Raises GanJaxError for an
  unreadable report, or for two reports of one step that both match (name
  more settings)."""
  wanted = parse_eval_reports(settings)
  directory = eval_reports_files.reports_dir(workdir)
  names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
  pattern = r'\d+\.json' if wanted is None else r'\d+(,[^/]*)?\.json'
  by_step: Dict[int, Tuple[str, dict]] = {}
  for name in names:
    if not re.fullmatch(pattern, name):
      continue
    path = os.path.join(directory, name)
    try:
      with open(path) as f:
        report = json.load(f)
      # A report's step is required; metrics and protocol may be absent
      # (a report being filled, one written before protocols were recorded).
      step, metrics = int(report['step']), dict(report.get('metrics', {}))
    except (ValueError, KeyError, TypeError) as e:
      raise GanJaxError(f'{path} is not a gan_jax.evaluate report ({e}); '
                        'run gan_jax.evaluate for that checkpoint again') from None
    if wanted and any(str(report.get(k)) != v for k, v in wanted.items()):
      continue
    if step in by_step:
      raise GanJaxError(f'--eval_reports={settings}: {by_step[step][0]} and {name} in '
                        f'{directory} both match; name the setting they differ in')
    by_step[step] = (name, dict(step=step, **metrics, protocol=report.get('protocol')))
  return [record for _, (_, record) in sorted(by_step.items())]


def evaluate_command(workdir: str, step: int, settings: str) -> str:
  wanted = parse_eval_reports(settings) or {}
  flags = ''.join(f' --{k}={v}' for k, v in wanted.items())
  return f'python -m gan_jax.evaluate --workdir={workdir} --checkpoint={step}{flags}'
