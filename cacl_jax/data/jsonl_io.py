"""Streaming JSON-lines reader and atomic writer for `Pair` records.

The reader rejects the whole file on the first bad line (malformed JSON,
missing or mistyped field, unknown label, duplicate pair_id, a job_id whose
job differs from its first line) with a `RecordError` that names the file,
the line and the field, or a `TextDecodeError` naming the line and column of
bytes that are not UTF-8: a training set with silently dropped pairs or
jobs is worse than no training set. Blank lines are allowed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Iterable, Iterator

from cacl_jax.common import files, textfile
from cacl_jax.data import records

PathLike = str | os.PathLike


def iter_pairs(path: PathLike) -> Iterator[records.Pair]:
  """Yields validated pairs from a JSONL file, in file order.

  Pairs that share a job_id must carry the same job (title, description,
  required_skills and skill_uris), since downstream code keeps one job per
  job_id; the first job of each job_id is held in memory for the check.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such data file")
  seen: dict[str, int] = {}
  jobs: dict[str, tuple[int, records.Job]] = {}
  for line_no, line in enumerate(textfile.iter_lines(path), start=1):
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
    first_line, first_job = jobs.setdefault(pair.job.job_id,
                                            (line_no, pair.job))
    if first_job != pair.job:
      raise _job_conflict(path, line_no, first_line, first_job, pair.job)
    yield pair


def _job_conflict(path: pathlib.Path, line: int, first_line: int,
                  first: records.Job, job: records.Job) -> records.RecordError:
  """The error for `job`, whose job_id names the different job `first`."""
  field = next(f.name for f in dataclasses.fields(records.Job)
               if getattr(first, f.name) != getattr(job, f.name))
  return records.RecordError(
      f"job_id {job.job_id!r} first appears on line {first_line} with a "
      f"different job.{field}; one job_id must name one job (give different "
      "jobs different ids)", source=str(path), line=line,
      field=f"job.{field}")


def read_pairs(path: PathLike) -> list[records.Pair]:
  """Reads a whole JSONL file of pairs (see `iter_pairs`)."""
  return list(iter_pairs(path))


def write_pairs(path: PathLike, pairs: Iterable[records.Pair]) -> int:
  """Streams pairs to `path` atomically; returns how many were written.

  The file appears under its final name only once complete, so an
  interrupted write never leaves a truncated data file behind.
  """
  count = 0

  def write(f) -> None:
    nonlocal count
    for pair in pairs:
      line = json.dumps(records.pair_to_dict(pair), ensure_ascii=False)
      f.write(line.encode("utf-8") + b"\n")
      count += 1

  files.atomic_write(path, write)
  return count
