"""docs/configuration.md against the code it documents: its tables list
exactly the leaf keys of gan_jax/config/defaults.py, each with the code's
default, and every key that gan_jax/config/validation.py checks (RANGES,
_CHOICES) with its allowed values."""
import ast
import json
import pathlib
import re
from typing import Dict, Iterable, List, Mapping, NamedTuple

from gan_jax.config import defaults
from gan_jax.config import keys as config_keys

PAGE = pathlib.Path(__file__).resolve().parents[2] / 'docs' / 'configuration.md'
_HEADER = ('key', 'default', 'allowed', 'meaning')


class Row(NamedTuple):
  """A documented key's cells: its default (a Python literal) and what is allowed."""
  default: str
  allowed: str


def _cells(line: str) -> List[str]:
  """The cells of a Markdown table row, stripped ('\\|' does not split)."""
  return [cell.strip() for cell in re.split(r'(?<!\\)\|', line.strip())[1:-1]]


def parse_page(text: str) -> Dict[str, Row]:
  """The keys documented in the `key | default | allowed | meaning` tables of
  a page.

  Args:
    text: the page's Markdown.

  Returns:
    {dotted key: Row}: each backticked name in a row's first cell, with that
    row's default and allowed cells.

  Raises:
    ValueError: a row without four cells, or a key listed twice.
  """
  rows = {}
  in_table = False
  for number, line in enumerate(text.splitlines(), 1):
    if not line.startswith('|'):
      in_table = False
      continue
    cells = _cells(line)
    if tuple(cell.lower() for cell in cells) == _HEADER:
      in_table = True
      continue
    if not in_table or not ''.join(cells).strip('-: '):
      continue
    if len(cells) != len(_HEADER):
      raise ValueError(f'line {number}: {len(cells)} cells, not {len(_HEADER)}')
    for key in re.findall(r'`([^`]+)`', cells[0]):
      if key in rows:
        raise ValueError(f'line {number}: `{key}` is listed twice')
      rows[key] = Row(default=cells[1], allowed=cells[2])
  return rows


def code_defaults() -> Dict[str, object]:
  """{dotted key: default} of every leaf of `defaults.get_config()`, as a
  run's config.json saves it (tuples as lists, placeholders as None)."""
  return config_keys.flatten(json.loads(defaults.get_config().to_json_best_effort()))


def parse_default(cell: str) -> object:
  """The Python literal of a default cell, e.g. "`(128, 128)`" -> (128, 128)."""
  cell = cell.strip()
  if len(cell) >= 2 and cell[0] == cell[-1] == '`':
    cell = cell[1:-1]
  return ast.literal_eval(cell)


def same_value(documented: object, code: object) -> bool:
  """Equal values of the same type; tuples and lists as equal sequences."""
  if isinstance(documented, (list, tuple)) and isinstance(code, (list, tuple)):
    return len(documented) == len(code) and all(
        same_value(d, c) for d, c in zip(documented, code))
  return type(documented) is type(code) and documented == code


def key_differences(rows: Mapping[str, Row], code: Mapping[str, object]) -> List[str]:
  """Problems of the documented key set: code keys missing, unknown keys."""
  problems = []
  missing, unknown = sorted(set(code) - set(rows)), sorted(set(rows) - set(code))
  if missing:
    problems.append(f'missing from {PAGE.name}: {", ".join(missing)}')
  if unknown:
    problems.append(f'documented but not in defaults.get_config(): {", ".join(unknown)}')
  return problems


def default_differences(rows: Mapping[str, Row], code: Mapping[str, object]) -> List[str]:
  """'key: documented != code' for each documented default that is not the code's."""
  problems = []
  for key in sorted(set(rows) & set(code)):
    cell = rows[key].default
    try:
      documented = parse_default(cell)
    except (ValueError, SyntaxError):
      problems.append(f'{key}: default cell {cell!r} is not a Python literal')
      continue
    if not same_value(documented, code[key]):
      problems.append(f'{key}: documented {documented!r} != code {code[key]!r}')
  return problems


def keys_without_allowed(rows: Mapping[str, Row], validated: Iterable[str]) -> List[str]:
  """The validated keys whose allowed cell is empty (or which have no row)."""
  return sorted(key for key in validated
                if key not in rows or not rows[key].allowed.strip())


def _validated_keys(code: Mapping[str, object]) -> List[str]:
  """The keys of validation.RANGES and validation._CHOICES that the defaults have."""
  # Imported here: validation imports the models and data modules, which the
  # other tests of this file do not need.
  from gan_jax.config import validation  # pylint: disable=g-import-not-at-top
  choices = validation._CHOICES  # pylint: disable=protected-access
  return sorted((set(validation.RANGES) | set(choices)) & set(code))


def test_the_page_lists_exactly_the_keys_of_the_defaults():
  problems = key_differences(parse_page(PAGE.read_text()), code_defaults())
  assert not problems, '; '.join(problems)


def test_each_documented_default_is_the_code_default():
  problems = default_differences(parse_page(PAGE.read_text()), code_defaults())
  assert not problems, '; '.join(problems)


def test_every_validated_key_says_what_is_allowed():
  code = code_defaults()
  validated = _validated_keys(code)
  assert validated, 'no key of validation.RANGES or _CHOICES is in the defaults'
  empty = keys_without_allowed(parse_page(PAGE.read_text()), validated)
  assert not empty, f'validated keys without an allowed cell: {", ".join(empty)}'
