"""The package's imports flow one way: no cycle between gan_jax's modules, no
gan_jax import hidden inside a function (where one would dodge a cycle), and
the folders' direction of the README's code map: the programs on top, then
experiments, training, evaluation, sampling and workdir, with the game, the
models and the data at the bottom.

Also a command: `python tests/imports_test.py` prints the module graph and
any cycle.
"""
import ast
import os
import sys
from typing import Dict, List, Set

_PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            'gan_jax')


def _module_name(path: str) -> str:
  relative = os.path.relpath(path, os.path.dirname(_PACKAGE_DIR))[:-len('.py')]
  parts = relative.split(os.sep)
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _modules() -> Dict[str, str]:
  found = {}
  for root, _, files in os.walk(_PACKAGE_DIR):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(root, name)
        found[_module_name(path)] = path
  return found


def _imported(node: ast.AST, modules: Dict[str, str]) -> List[str]:
  """The gan_jax modules an import statement names."""
  names = []
  if isinstance(node, ast.Import):
    names = [alias.name for alias in node.names]
  elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
    # `from gan_jax import x` imports the module gan_jax.x when there is one.
    names = [f'{node.module}.{alias.name}' if f'{node.module}.{alias.name}' in modules
             else node.module for alias in node.names]
  return [n for n in names if n in modules]


def import_graph():
  """({module: set of gan_jax modules it imports at module level},
  [(module, imported module, line) of imports inside functions])."""
  modules = _modules()
  graph: Dict[str, Set[str]] = {}
  nested = []
  for name, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read(), path)
    graph[name] = {m for node in tree.body for m in _imported(node, modules)}
    for node in ast.walk(tree):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for inner in ast.walk(node):
          nested += [(name, m, inner.lineno) for m in _imported(inner, modules)]
    # A package imports its own submodules; that is not a cycle.
    graph[name] -= {name}
  return graph, nested


def find_cycle(graph: Dict[str, Set[str]]):
  """One import cycle as a list of modules (first == last), or None."""
  state = {}  # 1: on the current path, 2: done

  def visit(node, path):
    state[node] = 1
    for child in sorted(graph.get(node, ())):
      if state.get(child) == 1:
        return path[path.index(child):] + [child]
      if child not in state:
        cycle = visit(child, path + [child])
        if cycle:
          return cycle
    state[node] = 2
    return None

  for start in sorted(graph):
    if start not in state:
      cycle = visit(start, [start])
      if cycle:
        return cycle
  return None


PROGRAMS = ('gan_jax.main', 'gan_jax.evaluate', 'gan_jax.generate',
            'gan_jax.report', 'gan_jax.benchmark')
# folder -> the folders (or modules) it never imports.
_NEVER = {
    'data': ('training', 'experiments', 'sampling', 'evaluation', 'workdir', 'game'),
    'models': ('training', 'experiments', 'sampling', 'evaluation', 'workdir',
               'game', 'data'),
    'game': ('training', 'experiments', 'sampling', 'evaluation', 'workdir'),
    'workdir': ('training', 'experiments', 'evaluation', 'game'),
    'sampling': ('training', 'experiments'),
    'evaluation': ('training', 'experiments'),
    'training': ('experiments',),
}
# What sampling may read of evaluation: the protocol's names (no JAX).
_SAMPLING_READS = ('gan_jax.evaluation.protocol',)


def _folder(module: str) -> str:
  parts = module.split('.')
  return parts[1] if len(parts) > 2 else ''


def folder_violations(graph) -> List[str]:
  """'a -> b' for each import against the folders' direction."""
  found = []
  for module, imported in graph.items():
    for other in imported:
      never = _NEVER.get(_folder(module), ())
      if (_folder(other) in never or other in PROGRAMS
          or (_folder(module) == 'sampling' and _folder(other) == 'evaluation'
              and other not in _SAMPLING_READS)):
        found.append(f'{module} -> {other}')
  return sorted(found)


def test_the_graph_sees_the_packages_imports():
  graph, _ = import_graph()
  assert 'gan_jax.evaluation.protocol' in graph['gan_jax.evaluation.evaluator']
  assert 'gan_jax.game.train_step' in graph['gan_jax.training.dispatch']


def test_the_folders_import_one_way():
  graph, _ = import_graph()
  assert folder_violations(graph) == []


def test_a_wrong_way_import_is_found():
  graph = {'gan_jax.data.datasets': {'gan_jax.training.train'},
           'gan_jax.sampling.sampler': {'gan_jax.evaluation.protocol'},
           'gan_jax.sampling.restore': {'gan_jax.evaluation.metrics'},
           'gan_jax.training.train': {'gan_jax.main'}}
  assert folder_violations(graph) == [
      'gan_jax.data.datasets -> gan_jax.training.train',
      'gan_jax.sampling.restore -> gan_jax.evaluation.metrics',
      'gan_jax.training.train -> gan_jax.main']


def test_no_import_cycle():
  graph, _ = import_graph()
  assert find_cycle(graph) is None


def test_a_cycle_is_found():
  graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
  assert find_cycle(graph) == ['a', 'b', 'c', 'a']
  assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_no_gan_jax_import_inside_a_function():
  _, nested = import_graph()
  assert nested == []


if __name__ == '__main__':
  graph, nested = import_graph()
  for name in sorted(graph):
    print(f"{name} -> {', '.join(sorted(graph[name])) or '-'}")
  cycle, ok = find_cycle(graph), not nested
  print('cycle:', ' -> '.join(cycle) if cycle else 'none')
  print('imports inside functions:', nested or 'none')
  wrong_way = folder_violations(graph)
  print('against the folders\' direction:', ', '.join(wrong_way) or 'none')
  sys.exit(0 if ok and not cycle and not wrong_way else 1)
