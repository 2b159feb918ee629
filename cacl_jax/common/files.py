"""File helpers every cache and output writer shares: where caches live,
hashing, strict JSON, atomic writes and locks.

A file written with `atomic_write` appears under its final name only once it
is complete and flushed to disk, so a crash or a full disk never leaves a
truncated file that looks valid. A failed write (e.g. no space left) raises
`WriteError`, which names the file, the free space on its file system and,
when the caller knows it, the space the file needs. `locked` holds an
advisory lock on a file, so that processes sharing a cache folder take turns.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import pathlib
import shutil
import tempfile
from typing import Any, BinaryIO, Callable, Iterator, Mapping

PathLike = str | os.PathLike


class WriteError(OSError):
  """A file could not be written; the message says which and why."""


def sha256_file(path: PathLike, block_bytes: int = 1 << 22) -> str:
  """Hex SHA-256 of a file's bytes, read in blocks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    while block := f.read(block_bytes):
      digest.update(block)
  return digest.hexdigest()


def _size(num_bytes: float) -> str:
  """`num_bytes` in the largest binary unit that keeps it at least 1."""
  for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
    if num_bytes >= scale:
      return f"{num_bytes / scale:,.1f} {unit}"
  return f"{int(num_bytes)} bytes"


def free_bytes(path: PathLike) -> int | None:
  """Free bytes on the file system holding `path` (None if unknown)."""
  path = pathlib.Path(path)
  for candidate in (path, *path.parents):
    if candidate.exists():
      try:
        return shutil.disk_usage(candidate).free
      except OSError:
        return None
  return None


# Errors that most likely mean the file system has no room left: ENOSPC,
# EDQUOT, and numpy's short write, a bare OSError("10240 requested and 2016
# written") without errno.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, None)


def write_error(path: PathLike, error: OSError,
                needed_bytes: int | None = None) -> WriteError:
  """A `WriteError` for `path` that says what failed and how much space is
  free; it keeps `error.errno`."""
  free = free_bytes(pathlib.Path(path).parent)
  parts = [f"{path}: could not write the file ({error})"]
  if free is not None:
    parts.append(f"{_size(free)} free on its file system")
  if needed_bytes is not None:
    parts.append(f"the file needs about {_size(needed_bytes)}")
  message = "; ".join(parts) + "."
  if error.errno in _NO_SPACE:
    message += (" Free some space, or write elsewhere (caches: "
                "$CACL_CACHE_DIR or --config.data.cache_dir).")
  result = WriteError(message)
  result.errno = error.errno
  return result


def _fsync_folder(folder: pathlib.Path) -> None:
  """Flushes a rename in `folder` to disk where the platform allows it."""
  try:
    fd = os.open(folder, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], Any], *,
                 needed_bytes: int | None = None) -> pathlib.Path:
  """Calls `write(binary file)` on a temporary file in the same folder,
  fsyncs it and renames it to `path`; the folder is created if needed.

  Returns `path`. Any OSError (from `write` too) becomes a `WriteError`
  naming `path`, and the temporary file is removed.
  """
  path = pathlib.Path(path)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                               dir=path.parent)
  except OSError as e:
    raise write_error(path, e, needed_bytes) from e
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except OSError as e:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise write_error(path, e, needed_bytes) from e
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise
  _fsync_folder(path.parent)
  return path


def cache_root(configured: PathLike | None = None) -> pathlib.Path:
  """The folder every cache lives under: `configured` (a config's
  `data.cache_dir`) when given, else $CACL_CACHE_DIR, else ~/.cache/cacl_jax."""
  root = (configured or os.environ.get("CACL_CACHE_DIR")
          or pathlib.Path.home() / ".cache" / "cacl_jax")
  return pathlib.Path(root).expanduser()


def jsonable(value: Any) -> Any:
  """`value` with strict-JSON leaves: mappings and sequences converted
  recursively, numpy scalars as Python numbers, NaN and inf as None."""
  if isinstance(value, Mapping):
    return {str(k): jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [jsonable(v) for v in value]
  if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def write_json(path: PathLike, obj: Any) -> pathlib.Path:
  """Writes `obj` as indented strict JSON (see `jsonable`), atomically."""
  data = json.dumps(jsonable(obj), indent=2, sort_keys=True,
                    ensure_ascii=False).encode("utf-8")
  return atomic_write(path, lambda f: f.write(data), needed_bytes=len(data))


@contextlib.contextmanager
def locked(path: PathLike, *, shared: bool = False) -> Iterator[None]:
  """Holds an exclusive (or `shared`) `fcntl.flock` on `path` for the body.

  The lock file is created if needed; callers should never delete it, since
  that would let two processes lock different files of one name. The lock is
  advisory: it orders only code that takes it too. Each call opens the file
  anew, so an exclusive call nested in another call on the same path, in one
  process, waits forever.
  """
  fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
  try:
    fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)
