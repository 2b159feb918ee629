"""Scalar metrics to TensorBoard event files and `<workdir>/metrics.jsonl`.

Each `write` appends one JSON line {"step": …, <fields>, <scalars>} and one
TensorBoard scalar per value (under `<workdir>/tensorboard`). A run resumed
from a checkpoint at step S first drops what an interrupted run logged after
S — JSON lines are rewritten, TensorBoard events purged — so the history
reads like that of an uninterrupted run. `read_history` and `series` read
the JSON lines back, e.g. for loss-curve plots. In a multi-process run only
process 0 writes (`distributed.is_main_process`); the others' logs are
no-ops.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Mapping

import numpy as np
import tensorboardX

from cacl_jax.common import distributed, files

JSONL_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def read_history(workdir: str | pathlib.Path) -> list[dict[str, Any]]:
  """All records of `<workdir>/metrics.jsonl` in order ([] when absent)."""
  path = pathlib.Path(workdir) / JSONL_NAME
  if not path.exists():
    return []
  history = []
  with path.open() as f:
    for line_no, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        history.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{line_no}: not a JSON record: {e}") from e
  return history


def series(history: list[Mapping[str, Any]], name: str,
           x: str = "step") -> tuple[np.ndarray, np.ndarray]:
  """(x values, values) of every record holding `name` (null → NaN)."""
  rows = [(r[x], r[name]) for r in history if name in r and x in r]
  xs = np.asarray([row[0] for row in rows], np.float64)
  ys = np.asarray([np.nan if row[1] is None else row[1] for row in rows],
                  np.float64)
  return xs, ys


class MetricsLog:
  """Append-only scalar log of one run, continuing after `start_step`."""

  def __init__(self, workdir: str | pathlib.Path, start_step: int = 0):
    self.workdir = pathlib.Path(workdir)
    self.path = self.workdir / JSONL_NAME
    self._file = self._writer = None
    if not distributed.is_main_process():
      return
    self.workdir.mkdir(parents=True, exist_ok=True)
    kept = [r for r in read_history(self.workdir) if r["step"] <= start_step]
    text = "".join(json.dumps(r) + "\n" for r in kept).encode("utf-8")
    files.atomic_write(self.path, lambda f: f.write(text))
    self._file = self.path.open("a")
    self._writer = tensorboardX.SummaryWriter(
        str(self.workdir / TENSORBOARD_DIR), purge_step=start_step + 1)

  def __enter__(self) -> "MetricsLog":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def write(self, step: int, scalars: Mapping[str, Any], **fields: Any
            ) -> None:
    """Logs `scalars` at `step`; `fields` (e.g. epoch) go to JSON only."""
    if self._file is None:
      return
    record = {"step": int(step)}
    record.update({k: files.jsonable(v) for k, v in fields.items()})
    record.update({k: files.jsonable(v) for k, v in scalars.items()})
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()
    for name, value in scalars.items():
      self._writer.add_scalar(name, float(value), int(step))

  def flush(self) -> None:
    if self._file is not None:
      self._file.flush()
      self._writer.flush()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._writer.close()
