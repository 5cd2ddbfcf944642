"""The docs agree with the code: every relative link and figure of README.md
and docs/*.md resolves, every config file they name exists (its sweep()
expands when they run it as a sweep), and every command in their code
blocks uses flags its program defines and config keys the defaults have."""
import ast
import json
import os
import re
import shlex

import pytest

from gan_jax.config import defaults
from gan_jax.config import keys as config_keys
from gan_jax.experiments import sweep_plan

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PAGES = ['README.md'] + sorted(
    os.path.join('docs', name) for name in os.listdir(os.path.join(_REPO, 'docs'))
    if name.endswith('.md'))
# The file each command's flags are defined in.
_PROGRAMS = {
    'gan_jax.main': 'gan_jax/main.py', 'gan_jax.evaluate': 'gan_jax/evaluate.py',
    'gan_jax.generate': 'gan_jax/generate.py', 'gan_jax.report': 'gan_jax/report.py',
    'gan_jax.benchmark': 'gan_jax/benchmark.py',
    'gan_jax.evaluation.classifier': 'gan_jax/evaluation/classifier.py',
    'launch/sweep.py': 'launch/sweep.py',
}
# configs/my_*.py: the pages' example of a file a user adds.
_EXAMPLE = re.compile(r'configs/my_[a-z0-9_]*\.py')
# Flags absl defines for every program.
_ABSL_FLAGS = {'helpfull', 'help', 'logtostderr', 'alsologtostderr', 'v', 'verbosity'}


def _text(page):
  with open(os.path.join(_REPO, page)) as f:
    return f.read()


def links(page_text):
  """Relative link and image targets of a Markdown text, anchors dropped."""
  targets = re.findall(r'\]\(([^)\s]+)\)', page_text)
  return [t.split('#')[0] for t in targets
          if not re.match(r'[a-z]+:', t) and t.split('#')[0]]


def _words(command):
  """The words of a shell command; a block's prose or a quote left open by
  a line split at ' #' is split on spaces instead."""
  try:
    return shlex.split(command)
  except ValueError:
    return command.split()


def code_commands(page_text):
  """The commands of the text's fenced code blocks that run a gan_jax program
  or the sweep launcher: (program, [argument, ...]), continuation lines
  joined, comments dropped."""
  commands = []
  for block in re.findall(r'```(?:sh|bash|shell|console)?\n(.*?)```', page_text, re.S):
    joined = re.sub(r'\\\n', ' ', block)
    for line in joined.splitlines():
      line = line.split(' #')[0].strip()
      for part in re.split(r'&&|;', line):
        words = _words(part.strip())
        while words and '=' in words[0] and not words[0].startswith('-'):
          words = words[1:]   # VAR=value prefixes
        if len(words) >= 3 and words[0] == 'python' and words[1] == '-m':
          program, args = words[2], words[3:]
        elif len(words) >= 2 and words[0] == 'python' and words[1] == 'launch/sweep.py':
          program, args = 'launch/sweep.py', words[2:]
        else:
          continue
        if program in _PROGRAMS:
          commands.append((program, args))
  return commands


def defined_flags(path):
  """The flag names a program's source defines (absl and config_flags)."""
  tree = ast.parse(_text(path))
  names = set()
  for node in ast.walk(tree):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith('DEFINE_') and node.args
        and isinstance(node.args[0], ast.Constant)):
      names.add(node.args[0].value)
  return names


def _config_keys():
  config = defaults.get_config()
  return set(config_keys.flatten(json.loads(config.to_json_best_effort())))


def unknown_flags(program, args, keys):
  """The flags of one command its program does not define, or config keys
  (`--config.a.b`) the defaults lack (a key under a None default, such as
  data.mog's geometry, counts as the default's)."""
  defined = defined_flags(_PROGRAMS[program]) | _ABSL_FLAGS
  bad = []
  for arg in args:
    if not arg.startswith('--'):
      continue
    name = arg[2:].split('=')[0]
    if name.startswith('config.'):
      key = name[len('config.'):]
      if 'config' not in defined or not any(
          key == k or key.startswith(k + '.') for k in keys):
        bad.append(arg)
    elif name not in defined and not (name.startswith('no') and name[2:] in defined):
      bad.append(arg)
  return bad


@pytest.mark.parametrize('page', _PAGES)
def test_links_and_figures_resolve(page):
  base = os.path.dirname(os.path.join(_REPO, page))
  missing = [t for t in links(_text(page)) if not os.path.exists(os.path.join(base, t))]
  assert not missing, f'{page} links to missing files: {missing}'


@pytest.mark.parametrize('page', _PAGES)
def test_the_configs_named_exist(page):
  named = set(re.findall(r'configs/([a-z0-9_]+)\.py', _EXAMPLE.sub('', _text(page))))
  missing = sorted(n for n in named if not os.path.exists(
      os.path.join(_REPO, 'configs', f'{n}.py')))
  assert not missing, f'{page} names configs that do not exist: {missing}'


@pytest.mark.parametrize('page', _PAGES)
def test_commands_use_flags_and_keys_that_exist(page):
  keys = _config_keys()
  bad = {f'{program} {" ".join(args)}': unknown_flags(program, args, keys)
         for program, args in code_commands(_text(page))}
  assert not {k: v for k, v in bad.items() if v}, f'{page}: unknown flags {bad}'


def test_every_sweep_the_docs_launch_expands():
  launched = set()
  for page in _PAGES:
    for program, args in code_commands(_text(page)):
      if program == 'launch/sweep.py':
        launched |= {a.split('=', 1)[1] for a in args
                     if a.startswith('--config=') and not _EXAMPLE.search(a)}
  assert launched, 'the docs launch no sweep'
  for config_path in sorted(launched):
    runs = sweep_plan.expand(os.path.join(_REPO, config_path), '/tmp/sweep')
    assert runs, f'{config_path} expands to no run'


def test_the_checks_find_what_is_wrong():
  text = ('[a](docs/nowhere.md) ![b](docs/figures/none.png) [c](https://x.org/y)\n'
          '```sh\npython -m gan_jax.report --sweep_dir=d --no_such_flag=1 \\\n'
          '  --window_steps=3\npython launch/sweep.py --config=configs/mnist.py '
          '--parallel=2\npython -m gan_jax.main --config=configs/mnist.py '
          '--config.loss.nme=hinge --config.data.mog.std=1\n```\n')
  assert links(text) == ['docs/nowhere.md', 'docs/figures/none.png']
  commands = code_commands(text)
  assert [p for p, _ in commands] == ['gan_jax.report', 'launch/sweep.py', 'gan_jax.main']
  keys = _config_keys()
  assert unknown_flags(*commands[0], keys) == ['--no_such_flag=1']
  assert unknown_flags(*commands[1], keys) == []
  assert unknown_flags(*commands[2], keys) == ['--config.loss.nme=hinge']
