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


def check_splits(parts: Splits, source: str) -> None:
  """Raises ValueError unless every split has good_fit and other pairs.

  Phase 1 needs good_fit anchors in train and validation, Phase 2's test
  metrics (AUC, F1, rankings) need both classes in every split, so data that
  cannot provide them is refused before any expensive step.
  """
  pairs = [p for _, part in parts.items() for p in part]
  positives = sum(p.binary_label for p in pairs)
  if len(pairs) < 10:
    raise ValueError(f"{source}: {len(pairs)} pairs; the sequential 80/10/10 "
                     "split (§3.2) needs at least 10 pairs")
  if positives in (0, len(pairs)):
    missing = ("good_fit" if positives == 0
               else "potential_fit or no_fit")
    raise ValueError(f"{source}: none of the {len(pairs)} pairs is "
                     f"{missing}; the method needs both good_fit and other "
                     "pairs (§3.1)")
  start = 0
  for name, part in parts.items():
    part_positives = sum(p.binary_label for p in part)
    if part_positives in (0, len(part)):
      missing = ("good_fit" if part_positives == 0
                 else "potential_fit or no_fit")
      raise ValueError(
          f"{source}: the {name} split (pairs {start + 1}–{start + len(part)} "
          f"of {len(pairs)} in file order, pair_id {part[0].pair_id!r} to "
          f"{part[-1].pair_id!r}) has no {missing} pair; every split needs "
          "both classes. The split is sequential 80/10/10 (§3.2): shuffle "
          "the input (e.g. `shuf pairs.jsonl -o shuffled.jsonl`) or reorder "
          "it so that every tenth holds both classes")
    start += len(part)


def unique_jobs(pairs: Sequence[records.Pair]) -> list[records.Job]:
  """Jobs deduplicated by job_id, in order of first appearance."""
  seen: dict[str, records.Job] = {}
  for pair in pairs:
    seen.setdefault(pair.job.job_id, pair.job)
  return list(seen.values())
