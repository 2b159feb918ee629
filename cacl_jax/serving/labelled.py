"""Metrics of scored pairs that carry labels, computed as Phase 2 does (§7.2).

Classification: accuracy, precision, recall, F1 and AUC-ROC at the bundle's
tuned threshold and at 0.5 (`evaluation.classification`). Rankings, with
resumes told apart by their §5.3 text and jobs by job_id as in the prepared
training arrays: resume ranking per job under both protocols, and job
ranking per resume over every job of the file and under the original's
protocol (the good-fit job among seeded random others), from the logits of
every resume × job combination (`evaluation.ranking`). On a run's test
split this gives the numbers of its `phase2_eval.json`.
"""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from cacl_jax.evaluation import classification, ranking


def unique_index(keys) -> tuple[np.ndarray, int]:
  """(index of each key among the distinct keys in order of first
  appearance [N], how many distinct keys)."""
  first: dict[Any, int] = {}
  index = np.asarray([first.setdefault(k, len(first)) for k in keys],
                     np.int32)
  return index, len(first)


def evaluate(label_N: np.ndarray, prob_N: np.ndarray, logit_N: np.ndarray,
             resume_N: np.ndarray, job_N: np.ndarray, logit_RxP: np.ndarray,
             threshold: float, eval_config: ml_collections.ConfigDict
             ) -> dict[str, Any]:
  """Classification and ranking metrics of labelled pairs.

  `label_N` holds binary labels (good_fit = 1), `resume_N` / `job_N` index
  the distinct resumes and jobs, and `logit_RxP` scores every distinct
  resume × job. `eval_config` is the bundle's Phase-2 `eval` config.
  """
  good_RxP = np.zeros(logit_RxP.shape, bool)
  good_RxP[resume_N[label_N == 1], job_N[label_N == 1]] = True
  num_jobs = logit_RxP.shape[1]
  return {
      "pairs": int(label_N.size), "positives": int(label_N.sum()),
      "at_tuned": classification.binary_metrics(label_N, prob_N, threshold),
      "at_default": classification.binary_metrics(label_N, prob_N, 0.5),
      "job_ranking": ranking.job_ranking(logit_RxP, good_RxP),
      "job_ranking_sampled": ranking.sampled_job_ranking(
          logit_RxP, good_RxP, eval_config.ranking_negatives,
          eval_config.ranking_seed),
      "resume_ranking": ranking.resume_ranking(
          logit_N, job_N, label_N, num_jobs,
          min_candidates=eval_config.min_resume_candidates),
      "resume_ranking_original": ranking.resume_ranking(
          logit_N, job_N, label_N, num_jobs, min_candidates=1,
          require_negative=True),
  }
