"""Ranking metrics (§7.2): MAP, MRR and NDCG with binary relevance, over padded query lists.

A query (a resume ranking jobs, or a job ranking resumes) is a row of a
Q × K grid: candidate scores, binary relevance and a validity mask for
padding. Average precision and NDCG come from scikit-learn
(`label_ranking_average_precision_score`, which equals average precision for
binary relevance, and `ndcg_score` over the full list); reciprocal rank has no
scikit-learn counterpart and is computed here. Padding is made harmless for
scikit-learn by giving padded candidates no relevance and a score below every
real one, so they rank last and change neither AP nor DCG.

Ties: AP and reciprocal rank place a relevant candidate after every
irrelevant candidate that ties with it (as scikit-learn's LRAP does); NDCG
averages over the orders of tied candidates (`ndcg_score`'s default).

Job ranking comes in two protocols: `job_ranking` ranks every job of the
split for each resume (ours, the stricter one); `sampled_job_ranking` ranks
each good-fit job among a seeded random sample of 49 other jobs, the original
implementation's protocol behind the §7.3 figures. Resume ranking keeps, by
default, every job with a good fit and at least two candidates (ours);
`require_negative=True` adds the original's condition of at least one
candidate that is not a good fit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn import metrics

_METRICS = ("map", "mrr", "ndcg")


def _checked(relevant_QxK, scores_QxK, valid_QxK):
  relevant = np.asarray(relevant_QxK).astype(bool)
  scores = np.asarray(scores_QxK, np.float64)
  valid = (np.ones(relevant.shape, bool) if valid_QxK is None
           else np.asarray(valid_QxK, bool))
  if relevant.ndim != 2 or relevant.shape != scores.shape or (
      relevant.shape != valid.shape):
    raise ValueError(f"relevant {relevant.shape}, scores {scores.shape} and "
                     f"valid {valid.shape} must be equal 2-D shapes")
  if not np.isfinite(scores[valid]).all():
    raise ValueError("candidate scores must be finite")
  relevant = relevant & valid
  empty = np.flatnonzero(~relevant.any(axis=1))
  if empty.size:
    raise ValueError(f"{empty.size} queries (rows {empty[:5].tolist()}…) have "
                     "no relevant candidate; leave them out before ranking")
  return relevant, scores, valid


def _sklearn_ready(relevant, scores, valid):
  """Pads to ≥ 2 columns (ndcg_score's minimum) with scores below all real ones."""
  floor = scores[valid].min() - 1.0
  scores = np.where(valid, scores, floor)
  if scores.shape[1] < 2:
    pad = ((0, 0), (0, 2 - scores.shape[1]))
    scores = np.pad(scores, pad, constant_values=floor)
    relevant = np.pad(relevant, pad)
  return relevant.astype(np.int32), scores


def _sklearn_mean(score_fn, relevant_QxK, scores_QxK, valid_QxK) -> float:
  """A scikit-learn ranking score over the queries (NaN without queries)."""
  relevant, scores, valid = _checked(relevant_QxK, scores_QxK, valid_QxK)
  if relevant.shape[0] == 0:
    return float("nan")
  return float(score_fn(*_sklearn_ready(relevant, scores, valid)))


def mean_average_precision(relevant_QxK, scores_QxK, valid_QxK=None) -> float:
  """Mean over queries of AP = (1/|rel|) Σ_{relevant i} precision@rank(i).

  All-relevant rows have AP 1, which scikit-learn returns for them as well.
  """
  return _sklearn_mean(metrics.label_ranking_average_precision_score,
                       relevant_QxK, scores_QxK, valid_QxK)


def mean_reciprocal_rank(relevant_QxK, scores_QxK, valid_QxK=None) -> float:
  """Mean over queries of 1 / rank of the first relevant candidate."""
  relevant, scores, valid = _checked(relevant_QxK, scores_QxK, valid_QxK)
  if relevant.shape[0] == 0:
    return float("nan")
  best_relevant_Q = np.where(relevant, scores, -np.inf).max(axis=1)
  rank_Q = 1 + (valid & ~relevant
                & (scores >= best_relevant_Q[:, None])).sum(axis=1)
  return float(np.mean(1.0 / rank_Q))


def mean_ndcg(relevant_QxK, scores_QxK, valid_QxK=None) -> float:
  """Mean over queries of DCG / ideal DCG, DCG = Σ_i rel_i / log2(rank_i + 1)."""
  return _sklearn_mean(metrics.ndcg_score, relevant_QxK, scores_QxK,
                       valid_QxK)


def ranking_metrics(relevant_QxK, scores_QxK, valid_QxK=None) -> dict:
  """MAP, MRR and NDCG of the queries, with their count and mean list sizes."""
  relevant, _, valid = _checked(relevant_QxK, scores_QxK, valid_QxK)
  out = {"map": mean_average_precision(relevant_QxK, scores_QxK, valid_QxK),
         "mrr": mean_reciprocal_rank(relevant_QxK, scores_QxK, valid_QxK),
         "ndcg": mean_ndcg(relevant_QxK, scores_QxK, valid_QxK),
         "num_queries": int(relevant.shape[0])}
  out["mean_candidates"] = (float(valid.sum(axis=1).mean())
                            if relevant.shape[0] else float("nan"))
  out["mean_relevant"] = (float(relevant.sum(axis=1).mean())
                          if relevant.shape[0] else float("nan"))
  return out


def _checked_grid(scores_RxP, good_RxP):
  scores = np.asarray(scores_RxP, np.float64)
  good = np.asarray(good_RxP, bool)
  if scores.shape != good.shape or scores.ndim != 2:
    raise ValueError(f"scores {scores.shape} and good {good.shape} must be "
                     "equal 2-D shapes")
  return scores, good


def job_ranking(scores_RxP, good_RxP) -> dict:
  """For each resume with a good-fit job, ranks every job of the pool.

  `scores_RxP` scores every (unique resume, pool job) combination of a split;
  the relevant jobs of a resume are its good-fit pairs (`good_RxP`). Resumes
  without one are skipped and counted in `skipped_no_relevant`.
  """
  scores, good = _checked_grid(scores_RxP, good_RxP)
  keep_R = good.any(axis=1)
  out = ranking_metrics(good[keep_R], scores[keep_R])
  out["skipped_no_relevant"] = int((~keep_R).sum())
  return out


def combine_rankings(parts: Sequence[dict]) -> dict:
  """`ranking_metrics` of disjoint groups of queries merged into those of
  all of them: means weighted by the queries of each group."""
  parts = [p for p in parts if p["num_queries"]]
  total = sum(p["num_queries"] for p in parts)
  out = {"num_queries": int(total)}
  for name in (*_METRICS, "mean_candidates", "mean_relevant"):
    out[name] = (float(sum(p[name] * p["num_queries"] for p in parts) / total)
                 if total else float("nan"))
  return out


def sample_job_candidates(good_RxP, num_negatives: int, seed: int):
  """The candidate lists of `sampled_job_ranking`, one per good-fit pair.

  Queries are the good-fit (resume, job) pairs in row-major order of
  `good_RxP`. A query's candidates are its good-fit job (column 0) and up to
  `num_negatives` distinct jobs drawn uniformly without replacement from the
  jobs that are not a good fit for its resume; where fewer exist, all of
  them are taken and the remaining slots are padding.

  The draw is one `numpy.random.default_rng(seed).random((Q, P))` call: each
  query orders the pool by these keys, with its resume's good-fit jobs moved
  last, and takes the first `num_negatives` jobs. Independent uniform keys
  make that order a uniformly random permutation, so the taken jobs are a
  uniform sample without replacement.

  Returns `resume_Q`, `job_QxK` and `valid_QxK`, K = 1 + min(num_negatives,
  P).
  """
  good = np.asarray(good_RxP, bool)
  if good.ndim != 2:
    raise ValueError(f"good must be 2-D, got shape {good.shape}")
  return sample_job_candidates_of(*np.nonzero(good), good.shape[1],
                                  num_negatives, seed)


def sample_job_candidates_of(good_resume_G, good_job_G, num_jobs: int,
                             num_negatives: int, seed: int,
                             chunk: int = 1024):
  """`sample_job_candidates` from the good-fit (resume, job) pairs, sorted
  by resume then job, instead of a resumes × jobs mask: the same draw, its
  keys made `chunk` queries at a time (memory chunk × P)."""
  if num_negatives < 0:
    raise ValueError(f"num_negatives must be ≥ 0, got {num_negatives}")
  resume_Q = np.asarray(good_resume_G, np.int64)
  job_Q = np.asarray(good_job_G, np.int64)
  rng = np.random.default_rng(seed)
  negative_parts, open_parts = [], []
  for start in range(0, resume_Q.size, chunk):
    rows_c = resume_Q[start:start + chunk]
    first, last = np.searchsorted(resume_Q, [rows_c[0], rows_c[-1] + 1])
    good_uxP = np.zeros((rows_c[-1] - rows_c[0] + 1, num_jobs), bool)
    good_uxP[resume_Q[first:last] - rows_c[0], job_Q[first:last]] = True
    good_cxP = good_uxP[rows_c - rows_c[0]]
    key_cxP = rng.random(good_cxP.shape)
    key_cxP[good_cxP] = np.inf
    negative_cxM = np.argsort(key_cxP, axis=1, kind="stable")[:, :num_negatives]
    negative_parts.append(negative_cxM)
    open_parts.append(~np.take_along_axis(good_cxP, negative_cxM, axis=1))
  width = min(num_negatives, num_jobs)
  negative_QxM = (np.concatenate(negative_parts) if negative_parts
                  else np.zeros((0, width), np.int64))
  open_QxM = (np.concatenate(open_parts) if open_parts
              else np.zeros((0, width), bool))
  job_QxK = np.concatenate([job_Q[:, None], negative_QxM], axis=1)
  valid_QxK = np.concatenate([np.ones((job_Q.size, 1), bool), open_QxM],
                             axis=1)
  return resume_Q, job_QxK, valid_QxK


def sampled_job_ranking(scores_RxP, good_RxP, num_negatives: int = 49,
                        seed: int = 0) -> dict:
  """Ranks each good-fit job among `num_negatives` random other jobs.

  The original implementation's job ranking (the good-fit job and 49 random
  other jobs of the split, 50 candidates), made reproducible by `seed`; the
  candidates are those of `sample_job_candidates`. Besides the metrics, the
  result counts `skipped_no_relevant` (resumes without a good fit, which
  have no query) and `short_pool_queries` (queries whose resume had fewer
  than `num_negatives` other jobs to draw from).
  """
  scores, good = _checked_grid(scores_RxP, good_RxP)
  resume_Q, job_QxK, valid_QxK = sample_job_candidates(good, num_negatives,
                                                       seed)
  return sampled_ranking_metrics(scores[resume_Q[:, None], job_QxK],
                                 valid_QxK, int((~good.any(axis=1)).sum()),
                                 num_negatives, seed)


def sampled_ranking_metrics(scores_QxK, valid_QxK, skipped_no_relevant: int,
                            num_negatives: int, seed: int) -> dict:
  """`sampled_job_ranking`'s result from the scores of the candidates of
  `sample_job_candidates` (the good-fit job in column 0)."""
  valid_QxK = np.asarray(valid_QxK, bool)
  relevant_QxK = np.zeros(valid_QxK.shape, bool)
  relevant_QxK[:, 0] = True
  out = ranking_metrics(relevant_QxK, scores_QxK, valid_QxK)
  out["skipped_no_relevant"] = int(skipped_no_relevant)
  out["short_pool_queries"] = int(
      (valid_QxK.sum(axis=1) < 1 + num_negatives).sum())
  out["num_negatives"] = int(num_negatives)
  out["seed"] = int(seed)
  return out


def group_pairs(group_N, num_groups: int):
  """Scatters pairs into a (group × position) layout, vectorised.

  Returns `index_GxK` (the pair index at each slot, 0 where padded) and
  `valid_GxK`; K is the largest group (at least 1).
  """
  group_N = np.asarray(group_N, np.int64)
  if group_N.size and (group_N.min() < 0 or group_N.max() >= num_groups):
    raise ValueError(f"group ids must lie in [0, {num_groups})")
  order_N = np.argsort(group_N, kind="stable")
  counts_G = np.bincount(group_N, minlength=num_groups)
  start_G = np.concatenate([[0], np.cumsum(counts_G)[:-1]])
  sorted_group = group_N[order_N]
  position_N = np.arange(group_N.size) - start_G[sorted_group]
  width = max(int(counts_G.max(initial=0)), 1)
  index = np.zeros((num_groups, width), np.int64)
  valid = np.zeros((num_groups, width), bool)
  index[sorted_group, position_N] = order_N
  valid[sorted_group, position_N] = True
  return index, valid


def resume_ranking(scores_N, job_N, label_N, num_jobs: int,
                   min_candidates: int = 2, require_negative: bool = False
                   ) -> dict:
  """For each job, ranks the resumes paired with it; relevant = good-fit pairs.

  Jobs without a good-fit pair, with fewer than `min_candidates` pairs or,
  when `require_negative` (the original implementation's filter), without a
  pair that is not a good fit are skipped and counted
  (`skipped_no_relevant`, `skipped_too_few`, `skipped_no_negative`).
  """
  scores_N = np.asarray(scores_N, np.float64)
  label_N = np.asarray(label_N)
  if not scores_N.shape == label_N.shape == np.shape(job_N):
    raise ValueError("scores, job ids and labels must have one entry per pair")
  index, valid = group_pairs(job_N, num_jobs)
  relevant = valid & (label_N[index] == 1)
  has_relevant = relevant.any(axis=1)
  enough = valid.sum(axis=1) >= min_candidates
  has_negative = (valid & ~relevant).any(axis=1) | (not require_negative)
  present = valid.any(axis=1)
  keep = has_relevant & enough & has_negative
  out = ranking_metrics(relevant[keep], scores_N[index][keep], valid[keep])
  out["skipped_no_relevant"] = int((present & ~has_relevant).sum())
  out["skipped_too_few"] = int((has_relevant & ~enough).sum())
  out["skipped_no_negative"] = int((has_relevant & enough & ~has_negative)
                                   .sum())
  return out
