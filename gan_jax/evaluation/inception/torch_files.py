"""Reads the tensors of a PyTorch `torch.save` file (a state dict) into numpy,
without PyTorch: the zip format (PyTorch >= 1.6) and the legacy one that
pytorch-fid's Inception weights were saved in.

Only what state dicts hold is accepted (dicts, lists, tuples, numbers,
strings, tensors); any other class in the pickle is refused, so loading a
file runs no code from it.
"""
import collections
import io
import pickle
import zipfile
from typing import Any, BinaryIO, Callable, Dict

import numpy as np

# PyTorch's typed storages by the name the pickle gives them.
_STORAGE_DTYPES = {
    'DoubleStorage': np.float64, 'FloatStorage': np.float32,
    'HalfStorage': np.float16, 'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8, 'ByteStorage': np.uint8,
    'BoolStorage': np.bool_,
}
# The first object of a legacy file (torch/serialization.py MAGIC_NUMBER).
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


class TorchFileError(ValueError):
  """The file is not a PyTorch state dict this reader understands."""


class _Storage:
  """A storage's dtype and (once read) its flat data."""

  def __init__(self, dtype, numel: int):
    self.dtype, self.numel, self.data = np.dtype(dtype), numel, None


def _rebuild_tensor(storage: _Storage, offset: int, size, stride, *unused) -> '_Tensor':
  return _Tensor(storage, offset, tuple(size), tuple(stride))


class _Tensor:
  """A view of a storage, materialised once the storages are read."""

  def __init__(self, storage: _Storage, offset: int, shape, stride):
    self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

  def to_numpy(self) -> np.ndarray:
    flat = self.storage.data
    itemsize = flat.dtype.itemsize
    # A view must lie inside its storage: as_strided does not check.
    last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride) if n)
    if self.offset < 0 or min(self.stride, default=0) < 0 or (
        all(self.shape) and last >= len(flat)):
      raise TorchFileError(f'a tensor of shape {self.shape} reaches outside its '
                           f'storage of {len(flat)} elements: a damaged file')
    view = np.lib.stride_tricks.as_strided(
        flat[self.offset:], self.shape, [s * itemsize for s in self.stride])
    return np.array(view)   # a contiguous copy that owns its memory


_ALLOWED = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
}


class _Unpickler(pickle.Unpickler):

  def __init__(self, file: BinaryIO, storage_fn: Callable[[tuple], _Storage]):
    super().__init__(file)
    self._storage_fn = storage_fn

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _STORAGE_DTYPES[name]
    raise TorchFileError(f'the file holds a {module}.{name}, not only tensors; '
                         'only state dicts are read')

  def persistent_load(self, saved_id: tuple) -> _Storage:
    if not (isinstance(saved_id, tuple) and saved_id[0] == 'storage'):
      raise TorchFileError(f'unknown persistent id {saved_id!r:.80}')
    return self._storage_fn(saved_id)


def _materialise(tree: Any) -> Any:
  if isinstance(tree, _Tensor):
    return tree.to_numpy()
  if isinstance(tree, dict):
    return {k: _materialise(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return type(tree)(_materialise(v) for v in tree)
  return tree


def _load_zip(archive: zipfile.ZipFile) -> Any:
  (pickle_name,) = [n for n in archive.namelist() if n.endswith('/data.pkl')] or [None]
  if pickle_name is None:
    raise TorchFileError('a zip without data.pkl is not a torch.save file')
  prefix = pickle_name[:-len('data.pkl')]

  def storage(saved_id):
    _, dtype, key, _, numel = saved_id[:5]
    result = _Storage(dtype, numel)
    result.data = np.frombuffer(archive.read(f'{prefix}data/{key}'), dtype=result.dtype)
    return result

  return _Unpickler(io.BytesIO(archive.read(pickle_name)), storage).load()


def _load_legacy(file: BinaryIO) -> Any:
  # torch/serialization.py _legacy_save: magic number, protocol version,
  # system info, the pickled object, the storage keys, then each storage as
  # an int64 element count and its raw little-endian bytes.
  if pickle.load(file) != _LEGACY_MAGIC:
    raise TorchFileError('not a torch.save file: no magic number')
  pickle.load(file)   # protocol version
  pickle.load(file)   # system info
  storages: Dict[str, _Storage] = {}

  def storage(saved_id):
    _, dtype, key, _, numel = saved_id[:5]
    if len(saved_id) > 5 and saved_id[5] is not None:
      raise TorchFileError('the file holds storage views (PyTorch < 1.0); '
                           'save the state dict again with a newer PyTorch')
    if key not in storages:
      storages[key] = _Storage(dtype, numel)
    return storages[key]

  result = _Unpickler(file, storage).load()
  for key in pickle.load(file):
    header = file.read(8)
    target = storages[key]
    count = int(np.frombuffer(header, '<i8')[0]) if len(header) == 8 else -1
    data = file.read(max(count, 0) * target.dtype.itemsize)
    if count < 0 or len(data) != count * target.dtype.itemsize:
      raise TorchFileError(f'the file ends inside storage {key}: truncated')
    target.data = np.frombuffer(data, dtype=target.dtype)
  return result


def load_state_dict(path: str) -> Dict[str, np.ndarray]:
  """{name: numpy array} of the state dict saved at `path` by `torch.save`.
  Raises TorchFileError for a file that is not one, OSError when unreadable."""
  try:
    if zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as archive:
        tree = _load_zip(archive)
    else:
      with open(path, 'rb') as file:
        tree = _load_legacy(file)
  except TorchFileError as e:
    raise TorchFileError(f'{path}: {e}') from None
  except (pickle.UnpicklingError, EOFError, KeyError, ValueError,
          zipfile.BadZipFile) as e:
    raise TorchFileError(f'{path} is not a torch.save file: '
                         f'{type(e).__name__}: {str(e)[:120]}') from None
  if not isinstance(tree, dict):
    raise TorchFileError(f'{path} holds a {type(tree).__name__}, not a state dict')
  try:
    return _materialise(tree)
  except TorchFileError as e:
    raise TorchFileError(f'{path}: {e}') from None
