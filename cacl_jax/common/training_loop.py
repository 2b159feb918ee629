"""The epoch loop and the checkpoint layout that both training phases share.

A phase hands `train` its fresh state and three functions — one training
epoch, the validation after it and the epoch's summary scalars — and the
loop does the rest the same way for both phases: record the run
(`run_manifest.start_run`, which refuses a workdir trained with other data
or settings) before restoring anything, resume from the latest good
checkpoint, then after every epoch log the step and epoch metrics, stop at
the first non-finite loss (`health.check_finite`) and only then save.

One checkpoint layout: an item {"state": the train state, "epoch": epochs
done} under `<workdir>/checkpoints`, keyed by the global step (batches
trained so far), with the epoch's losses as metrics. Orbax keeps the latest
two (so that a damaged latest one has a fallback) and the best by
validation loss. Every random draw of a phase derives from (seed, epoch,
step), so a run resumed from its latest checkpoint ends with the same
parameters as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any, Callable, Mapping

from absl import logging
import jax
import ml_collections
import numpy as np
import tqdm

from cacl_jax.common import checkpoints as checkpoints_lib
from cacl_jax.common import health, metrics_log, run_manifest

PyTree = Any
StepMetrics = Mapping[str, np.ndarray]

CHECKPOINT_DIR = run_manifest.CHECKPOINT_DIR
VAL_METRIC = "val_loss"


def checkpoint_item(state: PyTree, epochs_done: int) -> dict:
  """What a checkpoint holds: the state after `epochs_done` epochs."""
  return {"state": state, "epoch": np.int32(epochs_done)}


def open_checkpoints(workdir: str | pathlib.Path, keep_best: int = 1
                     ) -> checkpoints_lib.Checkpoints:
  """The checkpoints of a phase workdir: latest two and `keep_best` best."""
  return checkpoints_lib.Checkpoints(
      pathlib.Path(workdir) / CHECKPOINT_DIR, metric=VAL_METRIC, mode="min",
      keep_best=keep_best)


def restore(workdir: str | pathlib.Path, target: PyTree,
            which: str = "best") -> tuple[PyTree, dict[str, Any]]:
  """(state, info) of the best (or latest) checkpoint of a phase workdir.

  `target` gives the state's structure (concrete or `jax.ShapeDtypeStruct`
  leaves); info = {"step", "epoch" (1-based, the epoch that produced it),
  **saved metrics}. Raises CheckpointError when the workdir holds no
  checkpoint that matches `target`.
  """
  if which not in ("best", "latest"):
    raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
  with open_checkpoints(workdir) as ckpts:
    if which == "best":
      step, item = ckpts.restore_best(checkpoint_item(target, 0))
    else:
      restored = ckpts.restore_latest(checkpoint_item(target, 0))
      if restored is None:
        raise checkpoints_lib.CheckpointError(
            f"no checkpoint in {ckpts.directory}")
      step, item = restored
    info = dict(ckpts.metrics(step), step=step, epoch=int(item["epoch"]))
  return item["state"], info


@dataclasses.dataclass(frozen=True)
class Phase:
  """What a phase plugs into `train`.

  `run_epoch(state, epoch)` trains epoch `epoch` (0-based) and returns the
  new state and one host value per step for each step metric ([S] arrays,
  logged as "train/<name>"); `validate(state, epoch)` returns host scalars
  with "loss" among them; `summarize(epoch, step_metrics, val)` returns the
  epoch's scalars, "epoch/train_loss" and "epoch/val_loss" among them.
  """
  name: str  # "phase 1": progress bar, logs and divergence errors
  steps_per_epoch: int
  run_epoch: Callable[[PyTree, int], tuple[PyTree, StepMetrics]]
  validate: Callable[[PyTree, int], Mapping[str, Any]]
  summarize: Callable[[int, StepMetrics, Mapping[str, Any]],
                      dict[str, float]]
  # Settings a divergence error names as likely causes (health.likely_causes).
  settings: Mapping[str, float]
  # (step metric, name in errors) pairs that must stay finite.
  checked: tuple[tuple[str, str], ...] = (("loss", "training loss"),)
  # The steps whose metrics are checked (all when None), e.g. those that
  # trained on something.
  valid_steps: Callable[[StepMetrics], np.ndarray] | None = None
  # Summary scalars ("epoch/<name>") that checkpoints record and the progress
  # bar shows besides val_loss and train_loss.
  extra_metrics: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Result:
  state: PyTree  # after the last epoch
  resumed_from_step: int  # 0 for a fresh run
  best_step: int
  best: dict[str, float]  # metrics saved with the best checkpoint


def _check_finite(phase: Phase, epoch: int, step_metrics: StepMetrics,
                  val: Mapping[str, Any]) -> None:
  """Raises `health.TrainingDiverged` at the first non-finite value."""
  first_step = epoch * phase.steps_per_epoch + 1
  valid_S = (None if phase.valid_steps is None
             else phase.valid_steps(step_metrics))
  health.check_finite(
      phase.name, {name: step_metrics[key] for key, name in phase.checked},
      first_step=first_step, epoch=epoch + 1, settings=phase.settings,
      valid_S=valid_S)
  health.check_finite(
      phase.name, {"validation loss": [val["loss"]]},
      first_step=first_step + phase.steps_per_epoch - 1, epoch=epoch + 1,
      settings=phase.settings)


def _run_epoch(phase: Phase, state: PyTree, epoch: int,
               log: metrics_log.MetricsLog, log_every: int
               ) -> tuple[PyTree, dict[str, float]]:
  """Trains, validates and logs epoch `epoch`; returns its summary."""
  started = time.perf_counter()
  state, step_metrics = phase.run_epoch(state, epoch)
  val = phase.validate(state, epoch)
  for i in range(phase.steps_per_epoch):
    step = epoch * phase.steps_per_epoch + i + 1
    if step % log_every == 0:
      log.write(step, {f"train/{k}": v[i] for k, v in step_metrics.items()},
                epoch=epoch + 1)
  _check_finite(phase, epoch, step_metrics, val)
  summary = phase.summarize(epoch, step_metrics, val)
  summary["epoch/seconds"] = time.perf_counter() - started
  # Logged before saving: what a crash leaves in between is dropped when
  # the run resumes from the previous checkpoint.
  log.write((epoch + 1) * phase.steps_per_epoch, summary, epoch=epoch + 1)
  return state, summary


def train(workdir: str | pathlib.Path, config: ml_collections.ConfigDict,
          state: PyTree, phase: Phase, data_fingerprint: str,
          links: Mapping[str, str] | None = None) -> Result:
  """Trains (or resumes) `config.train.epochs` epochs of `phase` from `state`.

  `config` is the phase's config (recorded in config.json; its
  `train.epochs`, `train.log_every` and `checkpoint.max_to_keep` are read);
  `data_fingerprint` and `links` (earlier runs this one builds on) go to
  run.json.
  """
  workdir = pathlib.Path(workdir)
  epochs = config.train.epochs
  run_manifest.start_run(workdir, config, data_fingerprint, links)
  shown = ("train_loss", VAL_METRIC, *phase.extra_metrics)
  with open_checkpoints(workdir, config.checkpoint.max_to_keep) as ckpts:
    start_step, start_epoch = 0, 0
    restored = ckpts.restore_latest(checkpoint_item(state, 0))
    if restored is not None:
      start_step, item = restored
      state, start_epoch = item["state"], int(item["epoch"])
      logging.info("Resuming %s from step %d (%d epochs done)", phase.name,
                   start_step, start_epoch)
    # Restored arrays are committed to a device; commit fresh ones too so
    # that both runs share one compiled epoch.
    state = jax.device_put(state, jax.devices()[0])
    with metrics_log.MetricsLog(workdir, start_step) as log:
      bar = tqdm.trange(start_epoch, epochs, initial=start_epoch,
                        total=epochs, desc=phase.name, unit="epoch")
      for epoch in bar:
        state, summary = _run_epoch(phase, state, epoch, log,
                                    config.train.log_every)
        saved = {name: summary[f"epoch/{name}"] for name in shown}
        ckpts.save((epoch + 1) * phase.steps_per_epoch,
                   checkpoint_item(state, epoch + 1),
                   dict(saved, epoch=epoch + 1))
        bar.set_postfix({name: f"{value:.4f}"
                         for name, value in saved.items()})
    best_step = ckpts.best_step()
    best = ckpts.metrics(best_step)
  return Result(state=state, resumed_from_step=start_step,
                best_step=best_step, best=best)
