"""Sequential 80/10/10 split (§3.2) and the per-split unique job pool (§5.9)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from cacl_jax.data import records

TRAIN_FRACTION = 0.8
VAL_FRACTION = 0.1
# Below these a validation or test split's metrics are too noisy to use.
MIN_EVAL_PAIRS = 50
MIN_EVAL_CLASS = 10


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


def small_split_warnings(parts: Splits) -> list[str]:
  """A message for each of val and test with under `MIN_EVAL_PAIRS` pairs
  or under `MIN_EVAL_CLASS` good_fit or other pairs; [] if none.

  Such a split still trains and evaluates, but its metrics say little: an
  AUC near 0.8 measured on 10 good_fit and 40 other pairs has a
  Hanley–McNeil standard error of about 0.09, over twice the ±0.04 that
  separates the original authors' own runs, and a 15-pair test split gave a
  constant P(match) and F1 0 without any message. Callers log these at
  WARNING.
  """
  messages = []
  for name, part in (("val", parts.val), ("test", parts.test)):
    positives = sum(p.binary_label for p in part)
    others = len(part) - positives
    counts = (("pairs", len(part), MIN_EVAL_PAIRS),
              ("good_fit", positives, MIN_EVAL_CLASS),
              ("other", others, MIN_EVAL_CLASS))
    short = [f"under {limit} {kind}" for kind, n, limit in counts if n < limit]
    if short:
      messages.append(
          f"the {name} split has {len(part)} pairs ({positives} good_fit, "
          f"{others} other): {', '.join(short)}, so its AUC, F1 and "
          "rankings are too noisy to compare runs and may be degenerate (a "
          "constant P(match), F1 0). The sequential split (§3.2) gives val "
          f"and test a tenth each: {_pairs_for_eval()} pairs or more give "
          f"each {MIN_EVAL_PAIRS}")
  return messages


def _pairs_for_eval() -> int:
  """The fewest pairs whose val and test splits both reach MIN_EVAL_PAIRS."""
  n = MIN_EVAL_PAIRS
  while min(split_sizes(n)[1:]) < MIN_EVAL_PAIRS:
    n += 1
  return n


def unique_jobs(pairs: Sequence[records.Pair]) -> list[records.Job]:
  """Jobs deduplicated by job_id, in order of first appearance."""
  seen: dict[str, records.Job] = {}
  for pair in pairs:
    seen.setdefault(pair.job.job_id, pair.job)
  return list(seen.values())
