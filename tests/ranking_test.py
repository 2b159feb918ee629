"""Ranking metrics against hand-computed cases and a per-query reference."""

import math

import numpy as np
import pytest
from sklearn import metrics

from cacl_jax.evaluation import ranking

LOG2_3 = math.log2(3)

# Query 0 ranks relevant, irrelevant, relevant; query 1 puts its only relevant
# candidate last.
REL = np.array([[1, 0, 1], [1, 0, 0]])
SCORES = np.array([[0.9, 0.8, 0.7], [0.1, 0.5, 0.3]])
AP = (((1 + 2 / 3) / 2), 1 / 3)
RR = (1.0, 1 / 3)
NDCG = ((1 + 1 / 2) / (1 + 1 / LOG2_3), 1 / 2)


def test_hand_computed_map_mrr_ndcg():
  assert ranking.mean_average_precision(REL, SCORES) == pytest.approx(
      np.mean(AP))
  assert ranking.mean_reciprocal_rank(REL, SCORES) == pytest.approx(
      np.mean(RR))
  assert ranking.mean_ndcg(REL, SCORES) == pytest.approx(np.mean(NDCG))


def test_padding_is_ignored():
  # Row 2 has two real candidates (relevant one second); the padded slot
  # claims relevance and the best score and must change nothing.
  rel = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1]])
  scores = np.array([[0.9, 0.8, 0.7], [0.1, 0.5, 0.3], [0.4, 0.2, 99.0]])
  valid = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0]], bool)
  out = ranking.ranking_metrics(rel, scores, valid)
  assert out["map"] == pytest.approx(np.mean(AP + (1 / 2,)))
  assert out["mrr"] == pytest.approx(np.mean(RR + (1 / 2,)))
  assert out["ndcg"] == pytest.approx(np.mean(NDCG + (1 / LOG2_3,)))
  assert out["num_queries"] == 3
  assert out["mean_candidates"] == pytest.approx(8 / 3)
  assert out["mean_relevant"] == pytest.approx(4 / 3)


def test_ties():
  # A relevant and an irrelevant candidate tie at the top: AP and RR count
  # the relevant one second; NDCG averages both orders.
  rel, scores = [[1, 0, 0]], [[0.5, 0.5, 0.1]]
  assert ranking.mean_average_precision(rel, scores) == pytest.approx(0.5)
  assert ranking.mean_reciprocal_rank(rel, scores) == pytest.approx(0.5)
  assert ranking.mean_ndcg(rel, scores) == pytest.approx(
      (1 + 1 / LOG2_3) / 2)
  # Two relevant candidates tied at the top: both count as found first.
  rel, scores = [[1, 1, 0]], [[0.5, 0.5, 0.1]]
  assert ranking.mean_average_precision(rel, scores) == pytest.approx(1.0)
  assert ranking.mean_reciprocal_rank(rel, scores) == pytest.approx(1.0)
  assert ranking.mean_ndcg(rel, scores) == pytest.approx(1.0)


def test_single_candidate_lists():
  assert ranking.ranking_metrics([[1]], [[0.3]])["ndcg"] == 1.0
  assert ranking.ranking_metrics([[1]], [[0.3]])["map"] == 1.0


def test_matches_per_query_reference():
  rng = np.random.default_rng(1)
  rel = rng.random((40, 25)) < 0.2
  rel[:, 0] = True
  scores = rng.normal(size=(40, 25))
  valid = np.ones_like(rel)
  valid[::3, 20:] = False
  rel[:, 20:] &= valid[:, 20:]
  ap, rr, ndcg = [], [], []
  for r, s, v in zip(rel, scores, valid):
    r, s = r[v], s[v]
    ap.append(metrics.average_precision_score(r, s))
    order = np.argsort(-s)
    rr.append(1 / (1 + np.flatnonzero(r[order])[0]))
    ndcg.append(metrics.ndcg_score(r[None].astype(int), s[None]))
  out = ranking.ranking_metrics(rel, scores, valid)
  assert out["map"] == pytest.approx(np.mean(ap))
  assert out["mrr"] == pytest.approx(np.mean(rr))
  assert out["ndcg"] == pytest.approx(np.mean(ndcg))


def test_query_without_relevant_candidate_is_an_error():
  with pytest.raises(ValueError, match="no relevant candidate"):
    ranking.mean_average_precision([[0, 0], [1, 0]], [[0.1, 0.2], [0.3, 0.4]])


def test_job_ranking_skips_resumes_without_good_fit():
  scores = np.array([[0.9, 0.8, 0.7], [0.1, 0.5, 0.3], [0.3, 0.2, 0.1]])
  good = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 0]], bool)
  out = ranking.job_ranking(scores, good)
  assert out["num_queries"] == 2 and out["skipped_no_relevant"] == 1
  assert out["map"] == pytest.approx(np.mean(AP))
  assert out["mrr"] == pytest.approx(np.mean(RR))
  assert out["ndcg"] == pytest.approx(np.mean(NDCG))


def test_resume_ranking_groups_pairs_by_job():
  # job 0: scores 0.2 (good), 0.9, 0.5 → relevant ranked 3rd: AP = RR = 1/3,
  #   NDCG = 1/log2(4) = 1/2.
  # job 1: no good fit (skipped). job 2: both good → 1, 1, 1.
  # job 3: one candidate (skipped). job 4: no pairs at all (not counted).
  job = np.array([2, 0, 1, 0, 3, 2, 0, 1])
  label = np.array([1, 1, 0, 0, 1, 1, 0, 0])
  scores = np.array([0.3, 0.2, 0.6, 0.9, 0.7, 0.8, 0.5, 0.4])
  out = ranking.resume_ranking(scores, job, label, num_jobs=5)
  assert out["num_queries"] == 2
  assert out["skipped_no_relevant"] == 1 and out["skipped_too_few"] == 1
  assert out["map"] == pytest.approx((1 / 3 + 1) / 2)
  assert out["mrr"] == pytest.approx((1 / 3 + 1) / 2)
  assert out["ndcg"] == pytest.approx((1 / 2 + 1) / 2)
  assert out["mean_candidates"] == pytest.approx(2.5)


def test_group_pairs_layout():
  index, valid = ranking.group_pairs([1, 0, 1, 1], 3)
  np.testing.assert_array_equal(index, [[1, 0, 0], [0, 2, 3], [0, 0, 0]])
  np.testing.assert_array_equal(valid, [[1, 0, 0], [1, 1, 1], [0, 0, 0]])


def test_no_queries_gives_nan():
  out = ranking.job_ranking(np.zeros((2, 3)), np.zeros((2, 3), bool))
  assert out["num_queries"] == 0 and np.isnan(out["map"])
