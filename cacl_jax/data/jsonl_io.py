"""Streaming JSON-lines reader and atomic writer for `Pair` records.

The reader rejects the whole file on the first bad line (malformed JSON,
missing or mistyped field, unknown label, duplicate pair_id) with an error
that names the file, the line and the field: a training set with silently
dropped pairs is worse than no training set. Blank lines are allowed.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Iterable, Iterator

from cacl_jax.data import records

PathLike = str | os.PathLike


def iter_pairs(path: PathLike) -> Iterator[records.Pair]:
  """Yields validated pairs from a JSONL file, in file order."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such data file")
  seen: dict[str, int] = {}
  with path.open("r", encoding="utf-8") as f:
    for line_no, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        obj = json.loads(line)
      except json.JSONDecodeError as e:
        raise records.RecordError(f"malformed JSON ({e.msg} at column "
                                  f"{e.colno})", source=str(path),
                                  line=line_no) from None
      pair = records.pair_from_dict(obj, source=str(path), line=line_no)
      if pair.pair_id in seen:
        raise records.RecordError(
            f"duplicate pair_id {pair.pair_id!r} (first seen on line "
            f"{seen[pair.pair_id]})", source=str(path), line=line_no,
            field="pair_id")
      seen[pair.pair_id] = line_no
      yield pair


def read_pairs(path: PathLike) -> list[records.Pair]:
  """Reads a whole JSONL file of pairs (see `iter_pairs`)."""
  return list(iter_pairs(path))


def write_pairs(path: PathLike, pairs: Iterable[records.Pair]) -> int:
  """Streams pairs to `path` atomically; returns how many were written.

  The file appears under its final name only once complete, so an
  interrupted write never leaves a truncated data file behind.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp",
                             dir=path.parent)
  count = 0
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      for pair in pairs:
        f.write(json.dumps(records.pair_to_dict(pair), ensure_ascii=False))
        f.write("\n")
        count += 1
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise
  return count
