"""Phase-1 evaluation (§7.1): how well cosine similarity separates the labels.

With the best checkpoint, every pair of the validation split is scored by the
cosine similarity of its projected resume and job; against the binary label
this gives AUC-ROC, the mean positive and negative similarity and their
separation, and the F1-optimal threshold with its F1. The frozen encoder's
own cosine similarity is scored the same way as a reference. Results go to
`<workdir>/phase1_eval.json` (with a warning when every pair gets the same
score), plots to `<workdir>/plots/`.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import ml_collections
import numpy as np

from cacl_jax.common import distributed, files, health, metrics_log
from cacl_jax.data import prepared
from cacl_jax.evaluation import classification, plots
from cacl_jax.phase1 import projection, state as state_lib

EVAL_FILE = "phase1_eval.json"
PLOT_DIR = "plots"


def pair_similarities(model_config: ml_collections.ConfigDict, params,
                      data: prepared.PreparedData, split_name: str
                      ) -> np.ndarray:
  """Cosine similarity of each pair's projected resume and job, [N]."""
  split = data.split(split_name)
  z_res_RxE = projection.project(model_config, params,
                                 data.emb_TxD[split.resume_row_R])
  z_job_PxE = projection.project(model_config, params,
                                 data.emb_TxD[split.job_row_P])
  return np.einsum("ne,ne->n", z_res_RxE[split.resume_N],
                   z_job_PxE[split.job_N])


def encoder_similarities(data: prepared.PreparedData, split_name: str
                         ) -> np.ndarray:
  """Cosine similarity of each pair's frozen encoder embeddings, [N]."""
  split = data.split(split_name)
  emb = data.emb_TxD / np.maximum(
      np.linalg.norm(data.emb_TxD, axis=1, keepdims=True), 1e-12)
  return np.einsum("nd,nd->n", emb[split.resume_row_R[split.resume_N]],
                   emb[split.job_row_P[split.job_N]])


def similarity_metrics(label_N: np.ndarray, scores_N: np.ndarray
                       ) -> dict[str, float]:
  """AUC-ROC, separation and the F1-optimal threshold of one score vector."""
  threshold, f1 = classification.f1_optimal_threshold(label_N, scores_N)
  at_threshold = classification.binary_metrics(label_N, scores_N, threshold)
  return {
      "auc_roc": at_threshold["auc_roc"],
      **classification.score_separation(label_N, scores_N),
      "threshold": threshold,
      "f1": f1,
      "accuracy": at_threshold["accuracy"],
      "precision": at_threshold["precision"],
      "recall": at_threshold["recall"],
  }


def evaluate_phase1(config: ml_collections.ConfigDict,
                    data: prepared.PreparedData,
                    workdir: str | pathlib.Path,
                    split_name: str = "val") -> dict[str, Any]:
  """Scores `split_name` with the best checkpoint; writes the JSON and plots."""
  workdir = pathlib.Path(workdir)
  params, checkpoint = state_lib.load_params(config, workdir,
                                             data.emb_TxD.shape[1])
  label_N = data.split(split_name).label_N
  scores_N = pair_similarities(config.model, params, data, split_name)
  plot_dir = workdir / PLOT_DIR
  history = metrics_log.read_history(workdir)
  plot_paths = {
      "roc": plots.plot_roc(plot_dir / "phase1_roc.png", label_N, scores_N,
                            f"Phase 1 ROC ({split_name})"),
      "similarity_histograms": plots.plot_score_histograms(
          plot_dir / "phase1_similarity_hist.png",
          {"good fit (label 1)": scores_N[label_N == 1],
           "not a good fit (label 0)": scores_N[label_N == 0]},
          f"Phase 1 cosine similarity ({split_name})", "cosine similarity"),
      "loss_curves": plots.plot_loss_curves(
          plot_dir / "phase1_loss_curves.png",
          {"train": metrics_log.series(history, "epoch/train_loss", "epoch"),
           "validation": metrics_log.series(history, "epoch/val_loss",
                                            "epoch")},
          "Phase 1 InfoNCE loss"),
  }
  results = {
      "split": split_name,
      "num_pairs": int(label_N.size),
      "num_positive": int(label_N.sum()),
      "checkpoint": checkpoint,
      **similarity_metrics(label_N, scores_N),
      "encoder_baseline": similarity_metrics(
          label_N, encoder_similarities(data, split_name)),
      "plots": {k: str(p.relative_to(workdir)) for k, p in plot_paths.items()},
      "warnings": [w for w in (health.collapse_warning(
          f"phase 1: {split_name} cosine similarity", scores_N),) if w],
  }
  path = workdir / EVAL_FILE
  text = (json.dumps(results, indent=2) + "\n").encode("utf-8")
  if distributed.is_main_process():
    files.atomic_write(path, lambda f: f.write(text))
  return dict(results, eval_path=str(path))
