"""The FID Inception weights: pytorch-fid's file
`pt_inception-2015-12-05-6726825d.pth` (the TensorFlow graph's weights,
ported by pytorch-fid), converted once into gan_jax's own format.

Where they come from, in order:
  1. `config.eval.inception_weights`, a path: pytorch-fid's `.pth` or a file
     this module converted (`.msgpack`). A file whose hash is not the
     published one is used as asked, under an evaluator id that names its
     hash, with a warning that its numbers are not the papers'.
  2. The cache, `<$GAN_JAX_CACHE or ~/.cache/gan_jax>/inception/`: the
     converted `fid_inception_v3.msgpack` (with `fid_inception_v3.json`, its
     source's sha256), else the `.pth` put there by hand, converted on first
     use.
  3. Online: the `.pth` from pytorch-fid's release URL, checked, converted.
Offline without the file, one line says where to put it. Converting needs
no PyTorch (`torch_files.py` reads the file).

The published file's sha256 begins with 6726825d, the hash its name carries
(torch.hub's convention: the name holds the first 8 hex digits of the
file's sha256); a `.pth` named so whose hash differs is refused.
"""
import hashlib
import json
import os
import socket
import tempfile
import urllib.parse
import urllib.request
from typing import Any, Dict, Optional, Tuple

from absl import logging
import jax
import numpy as np
from flax import serialization, traverse_util

from gan_jax.errors import GanJaxError
from gan_jax.evaluation import cache
from gan_jax.evaluation.inception import network, torch_files
from gan_jax.workdir import atomic

FID_WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/'
                   'fid_weights/pt_inception-2015-12-05-6726825d.pth')
FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
PUBLISHED_SHA256_PREFIX = '6726825d'
CONVERTED_FILE = 'fid_inception_v3.msgpack'
_INFO_FILE = 'fid_inception_v3.json'
# Bump when the conversion changes: a cache of another version is redone.
FORMAT_VERSION = 1

Variables = Dict[str, Any]


class InceptionWeightsError(GanJaxError):
  """The FID Inception weights are missing, unreadable or not the published ones."""


def cache_dir(root: Optional[str] = None) -> str:
  """<root or $GAN_JAX_CACHE or ~/.cache/gan_jax>/inception."""
  return os.path.join(cache.root(root), 'inception')


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def from_state_dict(state_dict: Dict[str, np.ndarray]) -> Variables:
  """Flax variables of `network.FIDInceptionV3` from the state dict of
  pytorch-fid's `fid_inception_v3()` (names `Mixed_5b.branch1x1.conv.weight`
  ...; conv kernels OIHW -> HWIO, the fc weight transposed). Raises
  InceptionWeightsError naming any missing, unexpected or misshaped entry."""
  flat = {}
  for name, value in state_dict.items():
    *module, leaf = name.split('.')
    if leaf == 'num_batches_tracked':
      continue
    value = np.asarray(value, np.float32)
    if leaf == 'weight' and module[-1] == 'conv':
      flat[('params', *module, 'kernel')] = value.transpose(2, 3, 1, 0)
    elif leaf == 'weight' and module[-1] == 'fc':
      flat[('params', *module, 'kernel')] = value.T
    elif leaf == 'weight':
      flat[('params', *module, 'scale')] = value
    elif leaf == 'bias':
      flat[('params', *module, 'bias')] = value
    elif leaf == 'running_mean':
      flat[('batch_stats', *module, 'mean')] = value
    elif leaf == 'running_var':
      flat[('batch_stats', *module, 'var')] = value
    else:
      raise InceptionWeightsError(f"unexpected entry '{name}' in the Inception state dict")
  expected = dict(network.parameter_shapes())
  found = {'/'.join(k): v.shape for k, v in flat.items()}
  missing = sorted(set(expected) - set(found))
  extra = sorted(set(found) - set(expected))
  wrong = sorted(k for k in expected if k in found and found[k] != expected[k])
  if missing or extra or wrong:
    raise InceptionWeightsError(
        'the state dict is not the FID Inception network: '
        f'missing {missing[:3]}, unexpected {extra[:3]}, misshaped '
        f'{[(k, found[k], expected[k]) for k in wrong[:3]]}')
  return traverse_util.unflatten_dict(flat)


def _template() -> Variables:
  return jax.tree.map(lambda s: np.zeros(s.shape, np.float32), network.variable_shapes())


def read_converted(path: str) -> Variables:
  """The variables of a file written by `write_converted`."""
  with open(path, 'rb') as f:
    data = f.read()
  template = _template()
  try:
    variables = serialization.from_bytes(template, data)
  except (ValueError, KeyError, TypeError) as e:
    raise InceptionWeightsError(f'{path} is not a converted FID Inception file '
                                f'({type(e).__name__}: {str(e)[:120]})') from None
  shapes = [np.shape(x) for x in jax.tree.leaves(variables)]
  if shapes != [np.shape(x) for x in jax.tree.leaves(template)]:
    raise InceptionWeightsError(f'{path} holds arrays of other shapes than the '
                                'FID Inception network')
  return variables


def write_converted(path: str, variables: Variables, source_sha256: str) -> None:
  """Writes `variables` to `path` and their source's hash beside it
  (`fid_inception_v3.json`), each atomically."""
  with atomic.replace(path, 'wb') as f:
    f.write(serialization.to_bytes(variables))
  atomic.write_json(os.path.join(os.path.dirname(path), _INFO_FILE),
                    dict(format_version=FORMAT_VERSION, source_sha256=source_sha256,
                         converted_sha256=sha256_of(path)))


def evaluator_id(source_sha256: str) -> str:
  """'fid-inception-v3-<first 8 hex digits of the source .pth's sha256>':
  'fid-inception-v3-6726825d' for the published weights."""
  return f'fid-inception-v3-{source_sha256[:8]}'


def _check_published(path: str, digest: str) -> None:
  if digest.startswith(PUBLISHED_SHA256_PREFIX):
    return
  if os.path.basename(path) == FID_WEIGHTS_FILE:
    raise InceptionWeightsError(
        f'{path} has sha256 {digest[:16]}..., not the published '
        f'{PUBLISHED_SHA256_PREFIX}...: a damaged or different file; '
        f'delete it and download {FID_WEIGHTS_URL} again')
  logging.warning('The Inception weights %s (sha256 %s...) are not pytorch-fid\'s '
                  'published ones: FID/IS on them do not compare with papers\'.',
                  path, digest[:8])


def _from_pth(path: str) -> Tuple[Variables, str]:
  digest = sha256_of(path)
  _check_published(path, digest)
  try:
    state_dict = torch_files.load_state_dict(path)
  except torch_files.TorchFileError as e:
    raise InceptionWeightsError(str(e)) from None
  return from_state_dict(state_dict), digest


def _from_given(path: str) -> Tuple[Variables, str]:
  if not os.path.isfile(path):
    raise InceptionWeightsError(f'config.eval.inception_weights={path} is not a file')
  if path.endswith('.pth'):
    return _from_pth(path)
  # The sidecar names the source .pth only when it describes this very file.
  info = _read_info(os.path.join(os.path.dirname(path), _INFO_FILE))
  own = sha256_of(path)
  source = info.get('source_sha256') if info.get('converted_sha256') == own else None
  if source is None:
    source = own
    logging.warning('The Inception weights %s (sha256 %s...) carry no record of '
                    "their source: FID/IS on them are named by the file's own hash and "
                    "do not compare with papers'.", path, own[:8])
  return read_converted(path), source


def _read_info(path: str) -> Dict[str, Any]:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def _cached(directory: str) -> Optional[Tuple[Variables, str]]:
  converted = os.path.join(directory, CONVERTED_FILE)
  info = _read_info(os.path.join(directory, _INFO_FILE))
  if (not os.path.isfile(converted) or info.get('format_version') != FORMAT_VERSION
      or info.get('converted_sha256') != sha256_of(converted)):
    return None   # absent, of another version or damaged: converted again
  return read_converted(converted), info['source_sha256']


def _check_online(directory: str) -> None:
  host = urllib.parse.urlparse(FID_WEIGHTS_URL).hostname
  try:
    socket.getaddrinfo(host, 443)
  except OSError:
    raise InceptionWeightsError(
        f'the FID Inception weights are not in {directory} and this machine is '
        f'offline: download {FID_WEIGHTS_URL} into that folder (or set '
        '--config.eval.inception_weights=PATH to the file); gan_jax converts '
        'it on first use') from None


def check_available(path: Optional[str] = None, root: Optional[str] = None) -> None:
  """Raises InceptionWeightsError, without reading any weights, where `load`
  would find none: `path` is not a file, or the cache holds neither file
  and the machine is offline. For a run's checks before it writes anything."""
  if path:
    if not os.path.isfile(os.path.expanduser(path)):
      raise InceptionWeightsError(f'config.eval.inception_weights={path} is not a file')
    return
  directory = cache_dir(root)
  if not any(os.path.isfile(os.path.join(directory, name))
             for name in (CONVERTED_FILE, FID_WEIGHTS_FILE)):
    _check_online(directory)


def _download(directory: str) -> str:
  target = os.path.join(directory, FID_WEIGHTS_FILE)
  _check_online(directory)
  logging.info('Downloading the FID Inception weights from %s', FID_WEIGHTS_URL)
  os.makedirs(directory, exist_ok=True)
  handle, partial = tempfile.mkstemp(prefix=f'.{FID_WEIGHTS_FILE}.', dir=directory)
  try:
    with os.fdopen(handle, 'wb') as out, urllib.request.urlopen(FID_WEIGHTS_URL,
                                                                 timeout=60) as response:
      while block := response.read(1 << 20):
        out.write(block)
    os.replace(partial, target)
  except OSError as e:   # URLError, HTTPError, timeouts: a line, not a traceback
    if os.path.exists(partial):
      os.remove(partial)
    raise InceptionWeightsError(
        f'could not download {FID_WEIGHTS_URL} into {directory} ({e}); download it '
        'there by hand, or set --config.eval.inception_weights=PATH to the file') from None
  except BaseException:
    if os.path.exists(partial):
      os.remove(partial)
    raise
  return target


def load(path: Optional[str] = None, root: Optional[str] = None) -> Tuple[Variables, str]:
  """(variables of `network.FIDInceptionV3`, sha256 of the source `.pth`),
  from `path` when given, else from the cache (`cache_dir(root)`),
  converting and downloading as the module docstring says. Raises
  InceptionWeightsError."""
  if path:
    return _from_given(os.path.expanduser(path))
  directory = cache_dir(root)
  cached = _cached(directory)
  if cached is not None:
    return cached
  source = os.path.join(directory, FID_WEIGHTS_FILE)
  if not os.path.isfile(source):
    source = _download(directory)
  variables, digest = _from_pth(source)
  write_converted(os.path.join(directory, CONVERTED_FILE), variables, digest)
  logging.info('Converted %s into %s', source, os.path.join(directory, CONVERTED_FILE))
  return variables, digest
