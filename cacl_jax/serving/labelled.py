"""Metrics of scored pairs that carry labels, computed as Phase 2 does (§7.2).

Classification: accuracy, precision, recall, F1 and AUC-ROC at the bundle's
tuned threshold and at 0.5 (`evaluation.classification`). Rankings: Phase
2's own `evaluate.rankings` (resume ranking per job under both protocols,
job ranking per resume over every job of the file and under the original's
protocol), with resumes told apart by their §5.3 text and jobs by job_id as
in the prepared training arrays. On a run's test split this gives the
numbers of its `phase2_eval.json`.
"""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from cacl_jax.evaluation import classification
from cacl_jax.phase2 import evaluate as phase2_evaluate


def unique_index(keys) -> tuple[np.ndarray, int]:
  """(index of each key among the distinct keys in order of first
  appearance [N], how many distinct keys)."""
  first: dict[Any, int] = {}
  index = np.asarray([first.setdefault(k, len(first)) for k in keys],
                     np.int32)
  return index, len(first)


def evaluate(label_N: np.ndarray, prob_N: np.ndarray, logit_N: np.ndarray,
             pairs: phase2_evaluate.RankedPairs, emb_TxE: np.ndarray,
             model_config: ml_collections.ConfigDict, params,
             threshold: float, eval_config: ml_collections.ConfigDict
             ) -> dict[str, Any]:
  """Classification and ranking metrics of labelled pairs.

  `label_N` holds binary labels (good_fit = 1); `pairs` places the pairs'
  distinct resumes and jobs in `emb_TxE`, the classifier inputs that the
  Phase-2 head (`model_config`, `params`) scores for the rankings.
  `eval_config` is the bundle's Phase-2 `eval` config.
  """
  return {
      "pairs": int(label_N.size), "positives": int(label_N.sum()),
      "at_tuned": classification.binary_metrics(label_N, prob_N, threshold),
      "at_default": classification.binary_metrics(label_N, prob_N, 0.5),
      **phase2_evaluate.rankings(
          model_config, params, emb_TxE, logit_N, pairs,
          eval_config.min_resume_candidates, eval_config.ranking_negatives,
          eval_config.ranking_seed),
  }
