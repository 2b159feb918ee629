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
"""

from __future__ import annotations

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


def mean_average_precision(relevant_QxK, scores_QxK, valid_QxK=None) -> float:
  """Mean over queries of AP = (1/|rel|) Σ_{relevant i} precision@rank(i)."""
  relevant, scores, valid = _checked(relevant_QxK, scores_QxK, valid_QxK)
  if relevant.shape[0] == 0:
    return float("nan")
  relevant, scores = _sklearn_ready(relevant, scores, valid)
  # All-relevant rows have AP 1, which scikit-learn returns for them as well.
  return float(metrics.label_ranking_average_precision_score(relevant, scores))


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
  relevant, scores, valid = _checked(relevant_QxK, scores_QxK, valid_QxK)
  if relevant.shape[0] == 0:
    return float("nan")
  relevant, scores = _sklearn_ready(relevant, scores, valid)
  return float(metrics.ndcg_score(relevant, scores))


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


def job_ranking(scores_RxP, good_RxP) -> dict:
  """For each resume with a good-fit job, ranks every job of the pool.

  `scores_RxP` scores every (unique resume, pool job) combination of a split;
  the relevant jobs of a resume are its good-fit pairs (`good_RxP`). Resumes
  without one are skipped and counted in `skipped_no_relevant`.
  """
  scores = np.asarray(scores_RxP, np.float64)
  good = np.asarray(good_RxP, bool)
  if scores.shape != good.shape or scores.ndim != 2:
    raise ValueError(f"scores {scores.shape} and good {good.shape} must be "
                     "equal 2-D shapes")
  keep_R = good.any(axis=1)
  out = ranking_metrics(good[keep_R], scores[keep_R])
  out["skipped_no_relevant"] = int((~keep_R).sum())
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
                   min_candidates: int = 2) -> dict:
  """For each job, ranks the resumes paired with it; relevant = good-fit pairs.

  Jobs without a good-fit pair or with fewer than `min_candidates` pairs are
  skipped and counted (`skipped_no_relevant`, `skipped_too_few`).
  """
  scores_N = np.asarray(scores_N, np.float64)
  label_N = np.asarray(label_N)
  if not scores_N.shape == label_N.shape == np.shape(job_N):
    raise ValueError("scores, job ids and labels must have one entry per pair")
  index, valid = group_pairs(job_N, num_jobs)
  relevant = valid & (label_N[index] == 1)
  has_relevant = relevant.any(axis=1)
  enough = valid.sum(axis=1) >= min_candidates
  present = valid.any(axis=1)
  keep = has_relevant & enough
  out = ranking_metrics(relevant[keep], scores_N[index][keep], valid[keep])
  out["skipped_no_relevant"] = int((present & ~has_relevant).sum())
  out["skipped_too_few"] = int((has_relevant & ~enough).sum())
  return out
