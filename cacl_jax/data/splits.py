"""Sequential 80/10/10 split (§3.2) and the per-split unique job pool (§5.9)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from cacl_jax.data import records

TRAIN_FRACTION = 0.8
VAL_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class Splits:
  train: list[records.Pair]
  val: list[records.Pair]
  test: list[records.Pair]

  def items(self):
    return (("train", self.train), ("val", self.val), ("test", self.test))


def split_sizes(n: int) -> tuple[int, int, int]:
  """Train/val/test counts: floor(80%), floor(10%), the rest (5179 → 4143/517/519)."""
  n_train = int(n * TRAIN_FRACTION)
  n_val = int(n * VAL_FRACTION)
  return n_train, n_val, n - n_train - n_val


def sequential_split(pairs: Sequence[records.Pair]) -> Splits:
  """Splits in file order, without shuffling, to avoid temporal leakage."""
  n_train, n_val, _ = split_sizes(len(pairs))
  pairs = list(pairs)
  return Splits(train=pairs[:n_train], val=pairs[n_train:n_train + n_val],
                test=pairs[n_train + n_val:])


def unique_jobs(pairs: Sequence[records.Pair]) -> list[records.Job]:
  """Jobs deduplicated by job_id, in order of first appearance."""
  seen: dict[str, records.Job] = {}
  for pair in pairs:
    seen.setdefault(pair.job.job_id, pair.job)
  return list(seen.values())
