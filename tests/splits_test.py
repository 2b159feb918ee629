"""Tests of cacl_jax.data.splits: sequential 80/10/10 split, unique jobs."""

import pytest

from cacl_jax.data import records
from cacl_jax.data import splits


def _pair(i: int, job_id: str, title: str = "") -> records.Pair:
  return records.Pair(
      pair_id=f"p{i}", resume=records.Resume(role="r", experience_level=""),
      job=records.Job(job_id=job_id, title=title or job_id, description=""),
      label="no_fit")


def test_split_sizes_match_section_3_2():
  assert splits.split_sizes(5179) == (4143, 517, 519)


@pytest.mark.parametrize("n, expected", [
    (0, (0, 0, 0)), (1, (0, 0, 1)), (9, (7, 0, 2)), (10, (8, 1, 1)),
    (1_000_000, (800_000, 100_000, 100_000)),
])
def test_split_sizes_small_and_large(n, expected):
  assert splits.split_sizes(n) == expected


def test_split_sizes_are_floors_that_sum_to_n():
  for n in range(0, 20_000, 7):
    n_train, n_val, n_test = splits.split_sizes(n)
    assert (n_train, n_val) == (n * 8 // 10, n // 10)
    assert n_train + n_val + n_test == n


def test_sequential_split_keeps_file_order_without_overlap():
  pairs = [_pair(i, f"j{i}") for i in range(20)]
  result = splits.sequential_split(pairs)
  assert [p.pair_id for p in result.train] == [f"p{i}" for i in range(16)]
  assert [p.pair_id for p in result.val] == ["p16", "p17"]
  assert [p.pair_id for p in result.test] == ["p18", "p19"]
  assert [name for name, _ in result.items()] == ["train", "val", "test"]
  assert [len(part) for _, part in result.items()] == [16, 2, 2]


def test_unique_jobs_dedupes_by_id_in_order_of_first_appearance():
  pairs = [_pair(0, "b", "first b"), _pair(1, "a"), _pair(2, "b", "later b"),
           _pair(3, "c"), _pair(4, "a")]
  jobs = splits.unique_jobs(pairs)
  assert [j.job_id for j in jobs] == ["b", "a", "c"]
  assert jobs[0].title == "first b"
  assert splits.unique_jobs([]) == []


def _labelled(labels):
  return [records.Pair(
      pair_id=f"p{i}", resume=records.Resume(role="r", experience_level=""),
      job=records.Job(job_id=f"j{i}", title="t", description=""),
      label=label) for i, label in enumerate(labels)]


def test_check_splits_accepts_both_classes_everywhere():
  labels = ["good_fit", "no_fit"] * 10
  splits.check_splits(splits.sequential_split(_labelled(labels)), "f.jsonl")


def test_check_splits_names_the_split_without_a_class_and_the_fix():
  # 20 pairs → train 16, val 2, test 2; the test tenth is all no_fit.
  labels = ["good_fit", "no_fit"] * 9 + ["no_fit", "potential_fit"]
  with pytest.raises(ValueError) as e:
    splits.check_splits(splits.sequential_split(_labelled(labels)),
                        "f.jsonl")
  message = str(e.value)
  assert message.startswith("f.jsonl: the test split (pairs 19–20 of 20 in "
                            "file order, pair_id 'p18' to 'p19') has no "
                            "good_fit pair")
  assert "shuffle the input" in message
  labels = ["good_fit", "no_fit"] * 8 + ["good_fit"] * 2 + ["no_fit"] * 2
  with pytest.raises(ValueError, match="the val split .* has no "
                     "potential_fit or no_fit pair"):
    splits.check_splits(splits.sequential_split(_labelled(labels)),
                        "f.jsonl")


def test_check_splits_one_class_or_too_few_pairs():
  with pytest.raises(ValueError, match="none of the 12 pairs is "
                     "potential_fit or no_fit"):
    splits.check_splits(splits.sequential_split(_labelled(["good_fit"] * 12)),
                        "all_good.jsonl")
  with pytest.raises(ValueError, match="9 pairs; .* at least 10 pairs"):
    splits.check_splits(
        splits.sequential_split(_labelled(["good_fit", "no_fit"] * 4
                                          + ["no_fit"])), "tiny.jsonl")


def _warning(name, n, positives, short):
  return (f"the {name} split has {n} pairs ({positives} good_fit, "
          f"{n - positives} other): {short}, so its AUC, F1 and rankings are "
          "too noisy to compare runs and may be degenerate (a constant "
          "P(match), F1 0). The sequential split (§3.2) gives val and test a "
          "tenth each: 500 pairs or more give each 50")


def test_small_split_warnings_for_150_pairs():
  # 150 alternating pairs → val = pairs 120–134 (8 good_fit), test =
  # pairs 135–149 (7 good_fit).
  parts = splits.sequential_split(_labelled(["good_fit", "no_fit"] * 75))
  assert splits.small_split_warnings(parts) == [
      _warning("val", 15, 8, "under 50 pairs, under 10 good_fit, under 10 "
               "other"),
      _warning("test", 15, 7, "under 50 pairs, under 10 good_fit, under 10 "
               "other"),
  ]


def test_small_split_warnings_name_only_the_short_class():
  # 600 pairs → val 60 (pairs 480–539), test 60 (540–599).
  labels = ["good_fit", "no_fit"] * 240 + ["no_fit"] * 51 + ["good_fit"] * 9
  labels += ["good_fit"] * 55 + ["no_fit"] * 5
  parts = splits.sequential_split(_labelled(labels))
  assert [len(p) for _, p in parts.items()] == [480, 60, 60]
  assert splits.small_split_warnings(parts) == [
      _warning("val", 60, 9, "under 10 good_fit"),
      _warning("test", 60, 55, "under 10 other"),
  ]


def test_no_small_split_warnings_at_the_limits():
  # 500 pairs → val and test 50 each, 25 of each class.
  parts = splits.sequential_split(_labelled(["good_fit", "no_fit"] * 250))
  assert [len(p) for _, p in parts.items()] == [400, 50, 50]
  assert splits.small_split_warnings(parts) == []
  # 499 pairs leave val at 49 (the old pairs 400–448, 25 of them good_fit)
  # and test at 51.
  labels = (["good_fit", "no_fit"] * 250)[1:]
  parts = splits.sequential_split(_labelled(labels))
  assert [len(p) for _, p in parts.items()] == [399, 49, 51]
  assert splits.small_split_warnings(parts) == [
      _warning("val", 49, 25, "under 50 pairs")]
