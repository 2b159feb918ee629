"""Binary classification metrics shared by Phase 1 (cosine similarity) and Phase 2 (probability).

Thin, checked wrappers around scikit-learn so that both phases report the same
quantities the same way (§7.1, §7.2). A pair is predicted positive when its
score is at least the threshold, the convention of
`sklearn.metrics.precision_recall_curve`, so a threshold tuned with
`f1_optimal_threshold` reproduces its F1 exactly in `binary_metrics`.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics


def _check(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
  y_true = np.asarray(y_true)
  scores = np.asarray(scores, np.float64)
  if y_true.ndim != 1 or y_true.shape != scores.shape:
    raise ValueError(f"y_true {y_true.shape} and scores {scores.shape} must be "
                     "1-D arrays of the same length")
  if y_true.size == 0:
    raise ValueError("no samples to evaluate")
  if not np.isin(y_true, (0, 1)).all():
    raise ValueError(f"y_true must hold only 0 and 1, got values "
                     f"{np.unique(y_true).tolist()}")
  if not np.isfinite(scores).all():
    raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are not "
                     "finite")
  return y_true.astype(np.int32), scores


def binary_metrics(y_true, scores, threshold: float) -> dict[str, float]:
  """Accuracy, precision, recall, F1 (predicting `scores >= threshold`) and AUC-ROC.

  AUC-ROC is threshold-free and NaN when only one class is present; precision
  and F1 are 0 when nothing is predicted positive. The confusion counts come
  along so that reports can show where the errors are.
  """
  y_true, scores = _check(y_true, scores)
  y_pred = (scores >= threshold).astype(np.int32)
  both_classes = np.unique(y_true).size == 2
  tn, fp, fn, tp = metrics.confusion_matrix(y_true, y_pred,
                                            labels=[0, 1]).ravel()
  return {
      "threshold": float(threshold),
      "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
      "precision": float(metrics.precision_score(y_true, y_pred,
                                                 zero_division=0)),
      "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0)),
      "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0)),
      "auc_roc": (float(metrics.roc_auc_score(y_true, scores))
                  if both_classes else float("nan")),
      "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
  }


def f1_optimal_threshold(y_true, scores) -> tuple[float, float]:
  """The score threshold with the highest F1, and that F1.

  Every distinct score is a candidate (`precision_recall_curve` without
  dropping points), so the optimum is exact on the given data; among equal
  F1s the lowest threshold wins.
  """
  y_true, scores = _check(y_true, scores)
  if not y_true.any():
    raise ValueError("cannot tune a threshold for F1 without positive samples")
  precision, recall, thresholds = metrics.precision_recall_curve(
      y_true, scores, drop_intermediate=False)
  # The last (precision, recall) point is (1, 0) and has no threshold.
  precision, recall = precision[:-1], recall[:-1]
  denom = precision + recall
  f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom),
                 where=denom > 0)
  best = int(np.argmax(f1))
  return float(thresholds[best]), float(f1[best])


def score_separation(y_true, scores) -> dict[str, float]:
  """Mean score of positives and of negatives, and their difference (§7.1)."""
  y_true, scores = _check(y_true, scores)
  if y_true.all() or not y_true.any():
    raise ValueError("score separation needs both positive and negative "
                     "samples")
  pos_mean = float(scores[y_true == 1].mean())
  neg_mean = float(scores[y_true == 0].mean())
  return {"pos_mean": pos_mean, "neg_mean": neg_mean,
          "separation": pos_mean - neg_mean}
