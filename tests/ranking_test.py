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
  assert out["skipped_no_negative"] == 0
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


# Sampled job ranking (the original protocol). Resume 0 has good-fit jobs 0
# and 3, resume 1 none, resume 2 job 1.
GOOD_3x6 = np.array([[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0],
                     [0, 1, 0, 0, 0, 0]], bool)


def _expected_candidates(good, num_negatives, seed):
  """Recomputes the draw with the same Generator call, one query at a time."""
  resume_q, job_q = np.nonzero(good)
  key = np.random.default_rng(seed).random((resume_q.size, good.shape[1]))
  lists = []
  for q, (r, j) in enumerate(zip(resume_q, job_q)):
    others = [p for p in range(good.shape[1]) if not good[r, p]]
    lists.append([j] + sorted(others, key=lambda p: key[q, p])[:num_negatives])
  return resume_q, lists


def test_sampled_candidates_are_the_seeded_draw():
  resume_q, job_qxk, valid_qxk = ranking.sample_job_candidates(
      GOOD_3x6, num_negatives=3, seed=7)
  want_resume, want_lists = _expected_candidates(GOOD_3x6, 3, 7)
  np.testing.assert_array_equal(resume_q, [0, 0, 2])
  np.testing.assert_array_equal(resume_q, want_resume)
  np.testing.assert_array_equal(job_qxk, want_lists)
  assert valid_qxk.all()
  for r, jobs in zip(resume_q, job_qxk):
    assert not GOOD_3x6[r, jobs[1:]].any() and len(set(jobs)) == 4
  # Another seed draws other candidates; the same seed the same ones.
  assert not np.array_equal(
      ranking.sample_job_candidates(GOOD_3x6, 3, seed=8)[1], job_qxk)
  np.testing.assert_array_equal(
      ranking.sample_job_candidates(GOOD_3x6, 3, seed=7)[1], job_qxk)


def test_sampled_job_ranking_matches_sklearn_per_query():
  rng = np.random.default_rng(4)
  good = rng.random((30, 80)) < 0.03
  good[:25, 0] |= ~good[:25].any(axis=1)
  scores = rng.normal(size=good.shape)
  out = ranking.sampled_job_ranking(scores, good, num_negatives=10, seed=5)
  resume_q, lists = _expected_candidates(good, 10, 5)
  ap, rr, ndcg = [], [], []
  for r, jobs in zip(resume_q, lists):
    relevant, s = np.arange(len(jobs)) == 0, scores[r, jobs]
    ap.append(metrics.average_precision_score(relevant, s))
    rr.append(1 / (1 + (s > s[0]).sum()))
    ndcg.append(metrics.ndcg_score(relevant[None].astype(int), s[None]))
  assert out["num_queries"] == len(lists) == good.sum()
  assert out["map"] == pytest.approx(np.mean(ap))
  assert out["mrr"] == pytest.approx(np.mean(rr))
  assert out["ndcg"] == pytest.approx(np.mean(ndcg))
  assert out["mean_candidates"] == 11.0 and out["mean_relevant"] == 1.0
  assert out["skipped_no_relevant"] == int((~good.any(axis=1)).sum())
  assert out["short_pool_queries"] == 0
  assert (out["num_negatives"], out["seed"]) == (10, 5)


def test_sampled_job_ranking_small_pool_hand_computed():
  # 3 jobs, 49 negatives asked: every query takes all the jobs its resume is
  # not a good fit for. Resume 1's other good-fit job never competes.
  good = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], bool)
  scores = np.array([[0.5, 0.9, 0.1], [0.2, 0.4, 0.8], [0.3, 0.2, 0.1]])
  out = ranking.sampled_job_ranking(scores, good)
  # (0, job 0): 0.5 below 0.9 → rank 2. (1, job 1): 0.4 vs job 0's 0.2 →
  # rank 1. (1, job 2): 0.8 vs 0.2 → rank 1.
  assert out["map"] == pytest.approx((1 / 2 + 1 + 1) / 3)
  assert out["mrr"] == pytest.approx((1 / 2 + 1 + 1) / 3)
  assert out["ndcg"] == pytest.approx((1 / LOG2_3 + 1 + 1) / 3)
  assert out["num_queries"] == 3 and out["short_pool_queries"] == 3
  assert out["mean_candidates"] == pytest.approx((3 + 2 + 2) / 3)
  assert out["skipped_no_relevant"] == 1


def test_sampled_job_ranking_without_good_fit():
  out = ranking.sampled_job_ranking(np.zeros((2, 3)), np.zeros((2, 3), bool))
  assert out["num_queries"] == 0 and np.isnan(out["map"])
  assert out["skipped_no_relevant"] == 2


def test_resume_ranking_original_filter():
  # The pairs of test_resume_ranking_groups_pairs_by_job. The original keeps
  # only jobs with a good-fit and another candidate: job 0 (AP = RR = 1/3,
  # NDCG = 1/2). Job 2 (both good) and job 3 (one good pair) lack a negative.
  job = np.array([2, 0, 1, 0, 3, 2, 0, 1])
  label = np.array([1, 1, 0, 0, 1, 1, 0, 0])
  scores = np.array([0.3, 0.2, 0.6, 0.9, 0.7, 0.8, 0.5, 0.4])
  out = ranking.resume_ranking(scores, job, label, num_jobs=5,
                               min_candidates=1, require_negative=True)
  assert out["num_queries"] == 1
  assert (out["map"], out["mrr"]) == (pytest.approx(1 / 3),
                                      pytest.approx(1 / 3))
  assert out["ndcg"] == pytest.approx(1 / 2)
  assert out["skipped_no_relevant"] == 1 and out["skipped_too_few"] == 0
  assert out["skipped_no_negative"] == 2


def test_sampled_candidates_in_chunks_are_the_same_draw():
  rng = np.random.default_rng(9)
  good = rng.random((40, 30)) < 0.1
  good[3] = True  # a resume that fits the whole pool: short lists
  whole = ranking.sample_job_candidates(good, num_negatives=5, seed=2)
  for chunk in (1, 3, 1000):
    parts = ranking.sample_job_candidates_of(*np.nonzero(good), 30, 5, 2,
                                             chunk=chunk)
    for got, want in zip(parts, whole):
      np.testing.assert_array_equal(got, want)
  want_resume, want_lists = _expected_candidates(good, 5, 2)
  np.testing.assert_array_equal(whole[0], want_resume)
  for jobs, valid, want in zip(whole[1], whole[2], want_lists):
    np.testing.assert_array_equal(jobs[valid], want)


def test_combined_groups_of_queries_equal_all_queries():
  rng = np.random.default_rng(6)
  scores = rng.normal(size=(30, 12))
  relevant = rng.random((30, 12)) < 0.2
  relevant[:, 0] = True
  valid = rng.random((30, 12)) < 0.9
  valid[:, 0] = True
  whole = ranking.ranking_metrics(relevant, scores, valid)
  parts = [ranking.ranking_metrics(relevant[s], scores[s], valid[s])
           for s in (slice(0, 7), slice(7, 7), slice(7, 30))]
  combined = ranking.combine_rankings(parts)
  assert combined.keys() == whole.keys()
  for name, value in whole.items():
    assert combined[name] == pytest.approx(value, rel=1e-12)
  assert math.isnan(ranking.combine_rankings([])["map"])
