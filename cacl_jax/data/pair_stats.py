"""Running statistics of a pair stream per sequential split (§3.1–§3.3).

Counts labels, unique jobs and URI coverage while pairs stream past, so a
million generated pairs can be summarised without holding them.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Iterator

from cacl_jax.data import records
from cacl_jax.data import splits

SPLIT_NAMES = ("train", "val", "test")


@dataclasses.dataclass
class SplitStats:
  pairs: int = 0
  labels: collections.Counter = dataclasses.field(
      default_factory=collections.Counter)
  job_ids: set[str] = dataclasses.field(default_factory=set)
  both_uris: int = 0

  def add(self, pair: records.Pair) -> None:
    self.pairs += 1
    self.labels[pair.label] += 1
    self.job_ids.add(pair.job.job_id)
    self.both_uris += bool(pair.resume.skill_uris and pair.job.skill_uris)

  def fraction(self, label: str) -> float:
    return self.labels[label] / self.pairs if self.pairs else 0.0

  @property
  def uri_coverage(self) -> float:
    """Share of pairs with at least one skill URI on both sides."""
    return self.both_uris / self.pairs if self.pairs else 0.0

  @property
  def unique_jobs(self) -> int:
    return len(self.job_ids)


class PairStats:
  """Statistics of the train/val/test splits of a stream of `num_pairs`."""

  def __init__(self, num_pairs: int):
    self.num_pairs = num_pairs
    n_train, n_val, _ = splits.split_sizes(num_pairs)
    self._bounds = (n_train, n_train + n_val)
    self.splits = {name: SplitStats() for name in SPLIT_NAMES}
    self.total = SplitStats()
    self._seen = 0

  def add(self, pair: records.Pair) -> None:
    if self._seen >= self.num_pairs:
      raise ValueError(f"more pairs than the {self.num_pairs} announced")
    split = (0 if self._seen < self._bounds[0]
             else 1 if self._seen < self._bounds[1] else 2)
    self.splits[SPLIT_NAMES[split]].add(pair)
    self.total.add(pair)
    self._seen += 1

  def track(self, pairs: Iterable[records.Pair]) -> Iterator[records.Pair]:
    """Passes `pairs` through, counting each one."""
    for pair in pairs:
      self.add(pair)
      yield pair

  def report(self) -> str:
    """A table like §3.1/§3.2: labels, positive share, unique jobs, URIs."""
    lines = [f"{'split':<6} {'pairs':>8} {'good':>7} {'potential':>9} "
             f"{'no_fit':>7} {'pos %':>6} {'jobs':>7} {'URIs both':>9}"]
    for name, s in (*self.splits.items(), ("all", self.total)):
      lines.append(
          f"{name:<6} {s.pairs:>8} {s.labels['good_fit']:>7} "
          f"{s.labels['potential_fit']:>9} {s.labels['no_fit']:>7} "
          f"{100 * s.fraction('good_fit'):>6.1f} {s.unique_jobs:>7} "
          f"{100 * s.uri_coverage:>8.1f}%")
    mix = " / ".join(f"{100 * self.total.fraction(label):.1f}%"
                     for label in records.LABELS)
    lines.append(f"label mix (good / potential / no fit): {mix}")
    return "\n".join(lines)
