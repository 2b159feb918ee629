"""PNG plots for the evaluation reports (matplotlib, headless Agg backend).

Each function writes one figure to `path` (parent folders are created) and
closes it, so they can be called in loops without leaking figures. In a
multi-process run only process 0 writes; every process gets the path.
"""

from __future__ import annotations

import pathlib
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import ticker  # pylint: disable=g-import-not-at-top
import numpy as np
from sklearn import metrics

from cacl_jax.common import distributed


def _save(fig, path) -> pathlib.Path:
  path = pathlib.Path(path)
  if distributed.is_main_process():
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_roc(path, y_true, scores, title: str) -> pathlib.Path:
  """ROC curve with its AUC and the chance diagonal."""
  fpr, tpr, _ = metrics.roc_curve(y_true, scores)
  auc = metrics.auc(fpr, tpr)
  fig, ax = plt.subplots(figsize=(5, 5))
  ax.plot(fpr, tpr, lw=2, label=f"AUC = {auc:.3f}")
  ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="chance")
  ax.set(xlabel="False positive rate", ylabel="True positive rate",
         title=title, xlim=(0, 1), ylim=(0, 1.01))
  ax.legend(loc="lower right")
  return _save(fig, path)


def plot_pr(path, y_true, scores, title: str) -> pathlib.Path:
  """Precision–recall curve with average precision and the base rate."""
  precision, recall, _ = metrics.precision_recall_curve(y_true, scores)
  ap = metrics.average_precision_score(y_true, scores)
  base_rate = float(np.mean(y_true))
  fig, ax = plt.subplots(figsize=(5, 5))
  ax.step(recall, precision, where="post", lw=2, label=f"AP = {ap:.3f}")
  ax.axhline(base_rate, ls="--", color="grey", lw=1,
             label=f"positive rate = {base_rate:.3f}")
  ax.set(xlabel="Recall", ylabel="Precision", title=title, xlim=(0, 1),
         ylim=(0, 1.01))
  ax.legend(loc="upper right")
  return _save(fig, path)


def plot_score_histograms(path, groups: Mapping[str, np.ndarray], title: str,
                          xlabel: str) -> pathlib.Path:
  """Overlaid, density-normalised histograms of scores, one per named group."""
  nonempty = {k: np.asarray(v, np.float64) for k, v in groups.items()
              if np.size(v)}
  fig, ax = plt.subplots(figsize=(6, 4))
  if nonempty:
    values = np.concatenate(list(nonempty.values()))
    bins = np.linspace(values.min(), values.max() + 1e-9, 31)
    for name, v in nonempty.items():
      ax.hist(v, bins=bins, density=True, alpha=0.45,
              label=f"{name} (n={v.size})")
    ax.legend()
  ax.set(xlabel=xlabel, ylabel="Density", title=title)
  return _save(fig, path)


def plot_loss_curves(path, curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
                     title: str) -> pathlib.Path:
  """Named (x, loss) curves on one axis, e.g. train and validation per epoch."""
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, (x, y) in curves.items():
    x, y = np.asarray(x), np.asarray(y)
    ax.plot(x, y, marker="o" if x.size <= 30 else None, ms=3, label=name)
  ax.set(xlabel="Epoch", ylabel="Loss", title=title)
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  if curves:
    ax.legend()
  ax.grid(alpha=0.3)
  return _save(fig, path)
