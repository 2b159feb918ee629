"""Tests of cacl_jax.data.pair_stats on hand-made pairs."""

import pytest

from cacl_jax.data import pair_stats
from cacl_jax.data import records

URI = "http://data.europa.eu/esco/skill/dddddddd-dddd-4ddd-8ddd-dddddddddddd"


def _pair(i, label, job_id, resume_uris=True, job_uris=True):
  return records.Pair(
      pair_id=f"p{i}",
      resume=records.Resume(role="r", experience_level="",
                            skill_uris=(URI,) if resume_uris else ()),
      job=records.Job(job_id=job_id, title="t", description="",
                      skill_uris=(URI,) if job_uris else ()),
      label=label)


PAIRS = [
    _pair(0, "good_fit", "j0"), _pair(1, "no_fit", "j1", resume_uris=False),
    _pair(2, "no_fit", "j0"), _pair(3, "potential_fit", "j2", job_uris=False),
    _pair(4, "good_fit", "j1"), _pair(5, "no_fit", "j3"),
    _pair(6, "no_fit", "j0"), _pair(7, "potential_fit", "j1"),
    _pair(8, "good_fit", "j4"),                      # val
    _pair(9, "no_fit", "j4", resume_uris=False),     # test
]


def test_counts_per_sequential_split():
  stats = pair_stats.PairStats(len(PAIRS))
  assert list(stats.track(iter(PAIRS))) == PAIRS
  train, val, test = (stats.splits[n] for n in ("train", "val", "test"))
  assert (train.pairs, val.pairs, test.pairs) == (8, 1, 1)
  assert dict(train.labels) == {"good_fit": 2, "no_fit": 4,
                                "potential_fit": 2}
  assert train.fraction("good_fit") == 0.25
  assert train.unique_jobs == 4
  assert train.uri_coverage == 6 / 8
  assert (val.unique_jobs, val.uri_coverage) == (1, 1.0)
  assert (test.unique_jobs, test.uri_coverage) == (1, 0.0)
  assert stats.total.pairs == 10
  assert stats.total.unique_jobs == 5
  assert stats.total.uri_coverage == 0.7
  assert stats.total.fraction("no_fit") == 0.5


def test_report_lists_each_split_and_the_mix():
  stats = pair_stats.PairStats(len(PAIRS))
  for pair in PAIRS:
    stats.add(pair)
  lines = stats.report().splitlines()
  assert lines[1].split() == ["train", "8", "2", "2", "4", "25.0", "4",
                              "75.0%"]
  assert lines[4].split() == ["all", "10", "3", "2", "5", "30.0", "5",
                              "70.0%"]
  assert lines[5] == "label mix (good / potential / no fit): 30.0% / 20.0% / 50.0%"


def test_empty_and_overfull_streams():
  stats = pair_stats.PairStats(1)
  assert stats.total.fraction("good_fit") == 0.0
  assert stats.total.uri_coverage == 0.0
  stats.add(PAIRS[0])
  with pytest.raises(ValueError, match="more pairs than the 1 announced"):
    stats.add(PAIRS[1])
