"""The frozen Phase-1 side of Phase 2: restore its best head, project, summarise.

Phase 2 reads a Phase-1 workdir: the run's `config.json` gives the head's
shape, the best checkpoint by validation loss supplies its parameters
(frozen), and `phase1_eval.json` and the metrics log supply the Phase-1
column of the report. A workdir without checkpoints, or with checkpoints
that do not match the recorded head, raises `CheckpointError`; one without
a readable `config.json` raises `RunMismatch`; both say what to do.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import ml_collections
import numpy as np

from cacl_jax.common import checkpoints as checkpoints_lib
from cacl_jax.common import metrics_log, run_manifest, training_loop
from cacl_jax.evaluation import report
from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase1 import evaluate as phase1_evaluate
from cacl_jax.phase1 import projection, state as phase1_state


@dataclasses.dataclass(frozen=True)
class FrozenProjection:
  """A restored Phase-1 projection head and what its checkpoint recorded."""
  model_config: ml_collections.ConfigDict
  params: Any
  info: dict[str, Any]  # step, epoch and saved metrics of the checkpoint
  # Whether the classifier reads the head's L2-normalised output or, as in
  # the original, its output before the final normalisation.
  normalized: bool = False

  def project(self, emb_NxD: np.ndarray) -> np.ndarray:
    """Deterministic projection (dropout off), [N, dim]: the classifier's input.

    L2-normalised only when `normalized` is True.
    """
    return projection.project(self.model_config, self.params, emb_NxD,
                              normalize=self.normalized)


def _retrain_hint(workdir: pathlib.Path) -> str:
  return ("train Phase 1 again, e.g. python scripts/train.py "
          f"--config=configs/phase1.py --workdir={workdir} --overwrite")


def checkpoint_dir(phase1_workdir: str | pathlib.Path) -> pathlib.Path:
  """The Phase-1 checkpoint folder; CheckpointError when it does not exist."""
  workdir = pathlib.Path(phase1_workdir)
  ckpt_dir = workdir / training_loop.CHECKPOINT_DIR
  if not ckpt_dir.is_dir():
    raise checkpoints_lib.CheckpointError(
        f"no Phase-1 checkpoints at {ckpt_dir} (phase1_workdir="
        f"{str(phase1_workdir)!r}): run phase 1 first, e.g. python "
        f"scripts/train.py --config=configs/phase1.py --workdir={workdir}, "
        "or point --config.phase2.phase1_workdir at its workdir")
  return ckpt_dir


def recorded_model(phase1_workdir: str | pathlib.Path
                   ) -> ml_collections.ConfigDict:
  """The head shape (`model` fields) the Phase-1 run recorded in config.json.

  Raises CheckpointError when the workdir holds no checkpoints and
  `run_manifest.RunMismatch` when its config.json is missing, unreadable or
  names no projection head.
  """
  workdir = checkpoint_dir(phase1_workdir).parent
  path = workdir / run_manifest.CONFIG_FILE
  if not path.is_file():
    raise run_manifest.RunMismatch(
        f"the Phase-1 run {workdir} has no {run_manifest.CONFIG_FILE} (made "
        "by an older version?), so the shape of its head is unknown: "
        + _retrain_hint(workdir))
  try:
    model = json.loads(path.read_text(encoding="utf-8"))["model"]
    fields = {name: model[name] for name in phase1_config.model_fields()}
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise run_manifest.RunMismatch(
        f"{path} records no Phase-1 head shape ({e!r}): point "
        "--config.phase2.phase1_workdir at a Phase-1 workdir, or "
        + _retrain_hint(workdir)) from e
  return ml_collections.ConfigDict(fields)


def load(config: ml_collections.ConfigDict, input_dim: int
         ) -> FrozenProjection:
  """Restores the best Phase-1 head of `config.phase1_workdir`.

  The head's shape comes from the Phase-1 run's config.json, `input_dim` is
  the encoder embedding size it must read and
  `config.phase1_normalized_input` whether its projections are
  L2-normalised. Raises CheckpointError when the workdir holds no
  checkpoint matching that head, RunMismatch when it has no usable
  config.json (`recorded_model`).
  """
  workdir = pathlib.Path(config.phase1_workdir)
  p1 = phase1_config.phase1_fields()
  p1.model = recorded_model(workdir)
  try:
    params, info = phase1_state.load_params(p1, workdir, input_dim)
  except checkpoints_lib.CheckpointError as e:
    raise checkpoints_lib.CheckpointError(
        f"cannot use the Phase-1 checkpoint of {workdir} for phase 2: {e}. "
        f"Its config.json records a head {p1.model.to_dict()}; phase 2 "
        f"reads it on {input_dim}-d embeddings of "
        f"config.encoder.model={config.encoder.model!r}. If the checkpoint "
        "does not match them, " + _retrain_hint(workdir)) from e
  return FrozenProjection(model_config=p1.model, params=params, info=info,
                          normalized=bool(config.phase1_normalized_input))


def _phase1_eval(workdir: pathlib.Path) -> dict[str, Any] | None:
  path = workdir / phase1_evaluate.EVAL_FILE
  if not path.exists():
    return None
  try:
    return json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: not valid JSON: {e}") from e


def phase1_plots(phase1_workdir: str | pathlib.Path) -> dict[str, pathlib.Path]:
  """Plots the Phase-1 evaluation listed in `phase1_eval.json` and that exist."""
  workdir = pathlib.Path(phase1_workdir)
  ev = _phase1_eval(workdir) or {}
  plots = {name: workdir / rel for name, rel in ev.get("plots", {}).items()}
  return {f"Phase 1: {name.replace('_', ' ')}": path
          for name, path in plots.items() if path.exists()}


def _last(history, name):
  _, values = metrics_log.series(history, name, x="epoch")
  return float(values[-1]) if values.size else None


def phase1_summary(phase1_workdir: str | pathlib.Path
                   ) -> report.PhaseSummary | None:
  """The Phase-1 column of the §7.3 table, or None without `phase1_eval.json`.

  Similarities and F1 come from the Phase-1 evaluation (validation split,
  §7.1), losses and timing from its metrics log.
  """
  workdir = pathlib.Path(phase1_workdir)
  ev = _phase1_eval(workdir)
  if ev is None:
    return None
  history = [r for r in metrics_log.read_history(workdir) if "epoch" in r]
  checkpoint = ev.get("checkpoint", {})
  _, seconds = metrics_log.series(history, "epoch/seconds", x="epoch")
  return report.PhaseSummary(
      auc_roc=ev.get("auc_roc"), f1=ev.get("f1"),
      separation=ev.get("separation"), pos_mean=ev.get("pos_mean"),
      neg_mean=ev.get("neg_mean"),
      train_loss_final=_last(history, "epoch/train_loss"),
      val_loss_final=_last(history, "epoch/val_loss"),
      best_val_loss=checkpoint.get(training_loop.VAL_METRIC),
      best_epoch=checkpoint.get("epoch"),
      training_time_s=float(np.nansum(seconds)) if seconds.size else None,
      score_kind="cosine")
