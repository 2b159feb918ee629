"""The epoch loop and the checkpoint layout that both training phases share.

A phase hands `train` its fresh state and three functions — a run of
training steps of an epoch, the validation after the epoch and the epoch's
summary scalars — and the loop does the rest the same way for both phases:
record the run (`run_manifest.check_run`, which refuses a workdir trained
with other data or settings) before restoring anything, resume from the
latest good checkpoint, then train each epoch in segments, log the step
metrics of each and stop at the first non-finite value
(`health.check_finite`) before saving anything.

An epoch is one segment when `checkpoint.every_steps` is 0 (the default);
otherwise segments end at every multiple of `every_steps` steps counted from
the epoch's start, and a checkpoint is saved after each segment that ends
inside the epoch. After the last segment come validation, the epoch summary
and the epoch-end checkpoint.

One checkpoint layout: an item {"state": the train state, "epoch": epochs
done} under `<workdir>/checkpoints`, keyed by the global step (batches
trained so far), so the position inside the epoch is the step minus
epochs done × steps per epoch. An epoch-end checkpoint carries the epoch's
losses as metrics; one inside an epoch carries no metrics (it has no
validation loss) but, as custom metadata under `PROGRESS_KEY`, the step
metrics and seconds of its epoch so far, so that the epoch summary after a
resume equals an uninterrupted run's. Orbax keeps the latest two (so that a
damaged latest one has a fallback) and the best epoch-end one by validation
loss. Every random draw of a phase derives from (seed, epoch, step), so a
run resumed from its latest checkpoint ends with the same parameters as an
uninterrupted one.

SIGTERM (what schedulers send before preempting a machine) does not kill a
run: the handler `train` installs makes it stop at the next segment
boundary, where the latest checkpoint holds its position (with every_steps
0, after the epoch's checkpoint), and raise `Preempted`;
scripts/train.py exits with `PREEMPTED_EXIT_CODE`, and the same command
resumes the run. The processes of a multi-process run agree at each
boundary, so that a SIGTERM to any of them stops all at the same step.

The state is replicated over the devices of `config.mesh`
(`common.distributed`) before anything is restored; in a multi-process run
only process 0 records the run and writes the logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import signal
import threading
import time
from typing import Any, Callable, Iterator, Mapping

from absl import logging
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import tqdm

from cacl_jax.common import checkpoints as checkpoints_lib
from cacl_jax.common import distributed, health, metrics_log, run_manifest

PyTree = Any
StepMetrics = Mapping[str, np.ndarray]

CHECKPOINT_DIR = run_manifest.CHECKPOINT_DIR
VAL_METRIC = "val_loss"
# Custom-metadata key of a checkpoint saved inside an epoch.
PROGRESS_KEY = "epoch_progress"
# Exit status of scripts/train.py after a SIGTERM stop: sysexits.h's
# EX_TEMPFAIL, "a temporary failure; the command may be retried".
PREEMPTED_EXIT_CODE = 75


class Preempted(Exception):
  """Training stopped on SIGTERM at global step `step`, where its latest
  checkpoint is (none when 0)."""

  def __init__(self, phase_name: str, step: int):
    super().__init__(f"{phase_name} preempted at step {step}; rerun the same "
                     "command to resume")
    self.step = step


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
  leaves); info = {"step", "epoch" (epochs done: for an epoch-end
  checkpoint, the 1-based epoch that produced it), **saved metrics}. Raises
  CheckpointError when the workdir holds no checkpoint that matches
  `target`.
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

  `run_steps(state, epoch, start, end)` trains steps start … end − 1
  (0-based, inside the epoch) of epoch `epoch` (0-based) and returns the
  new state and one host value per step for each step metric ([end − start]
  arrays, logged as "train/<name>"); the draws of a step must derive from
  (seed, epoch, step) alone, so that a run resumed at a segment boundary
  repeats them. `validate(state, epoch)` returns host scalars with "loss"
  among them; `summarize(epoch, step_metrics, val)` gets the [S] step
  metrics of the whole epoch and returns the epoch's scalars,
  "epoch/train_loss" and "epoch/val_loss" among them.
  """
  name: str  # "phase 1": progress bar, logs and divergence errors
  steps_per_epoch: int
  run_steps: Callable[[PyTree, int, int, int], tuple[PyTree, StepMetrics]]
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


@dataclasses.dataclass(frozen=True)
class _EpochProgress:
  """The steps of epoch `epoch` (0-based) trained so far: their metrics
  ([steps done] arrays) and the seconds the epoch has taken."""
  epoch: int
  step_metrics: Mapping[str, np.ndarray] = dataclasses.field(
      default_factory=dict)
  seconds: float = 0.0

  @property
  def steps(self) -> int:
    return min((len(v) for v in self.step_metrics.values()), default=0)

  def extended(self, step_metrics: StepMetrics, seconds: float
               ) -> "_EpochProgress":
    """Progress after `step_metrics`' steps; `seconds` in the epoch so far."""
    merged = {k: np.concatenate([self.step_metrics[k], v])
              if self.step_metrics else np.asarray(v)
              for k, v in step_metrics.items()}
    return _EpochProgress(self.epoch, merged, seconds)

  def to_json(self) -> dict[str, Any]:
    """JSON values that `from_json` turns back into equal arrays."""
    return {"seconds": self.seconds,
            "step_metrics": {k: {"dtype": v.dtype.name, "values": v.tolist()}
                             for k, v in self.step_metrics.items()}}

  @classmethod
  def from_json(cls, epoch: int, saved: Mapping[str, Any]
                ) -> "_EpochProgress":
    return cls(epoch, {k: np.asarray(v["values"], np.dtype(v["dtype"]))
                       for k, v in saved["step_metrics"].items()},
               float(saved["seconds"]))


def _segments(first: int, steps_per_epoch: int, every_steps: int
              ) -> list[tuple[int, int]]:
  """(start, end) step ranges of an epoch from step `first` on, cut at the
  multiples of `every_steps` (one range when 0)."""
  every = every_steps or steps_per_epoch
  bounds = [first, *range((first // every + 1) * every, steps_per_epoch,
                          every), steps_per_epoch]
  return list(zip(bounds[:-1], bounds[1:]))


def _resume(ckpts: checkpoints_lib.Checkpoints, state: PyTree, phase: Phase
            ) -> tuple[PyTree, int, _EpochProgress]:
  """(state, global step, progress of its epoch) of the latest good
  checkpoint; (state, 0, nothing done) without one."""
  restored = ckpts.restore_latest(checkpoint_item(state, 0))
  if restored is None:
    return state, 0, _EpochProgress(0)
  step, item = restored
  epoch = int(item["epoch"])
  in_epoch = step - epoch * phase.steps_per_epoch
  progress = _EpochProgress(epoch)
  if in_epoch:
    saved = ckpts.custom_metadata(step).get(PROGRESS_KEY)
    progress = (_EpochProgress.from_json(epoch, saved) if saved
                else progress)
    if progress.steps != in_epoch:
      raise checkpoints_lib.CheckpointError(
          f"checkpoint {ckpts.step_dir(step)} lies {in_epoch} steps into "
          f"epoch {epoch + 1} but records the metrics of {progress.steps}; "
          "move it out of the way to resume from the one before")
  logging.info("Resuming %s from step %d (%d epochs and %d steps done)",
               phase.name, step, epoch, in_epoch)
  return item["state"], step, progress


@contextlib.contextmanager
def _sigterm_sets(event: threading.Event) -> Iterator[None]:
  """Within the block, SIGTERM sets `event` instead of ending the process;
  the previous handler is restored after. Python runs signal handlers in
  the main thread only, so elsewhere this changes nothing."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  previous = signal.signal(signal.SIGTERM, lambda *_: event.set())
  try:
    yield
  finally:
    # None: a handler not installed from Python; the default is closest.
    signal.signal(signal.SIGTERM,
                  signal.SIG_DFL if previous is None else previous)


def _any_process(flag: bool) -> bool:
  """Whether `flag` is set in any process of the run, so that all processes
  of a multi-process run stop at the same segment boundary."""
  if jax.process_count() == 1:
    return flag
  return bool(np.asarray(
      multihost_utils.process_allgather(np.int32(flag))).any())


def _check_finite(phase: Phase, epoch: int, step_metrics: StepMetrics
                  ) -> None:
  """Raises `health.TrainingDiverged` at the first non-finite step metric
  of epoch `epoch` ([steps done] arrays)."""
  valid_S = (None if phase.valid_steps is None
             else phase.valid_steps(step_metrics))
  health.check_finite(
      phase.name, {name: step_metrics[key] for key, name in phase.checked},
      first_step=epoch * phase.steps_per_epoch + 1, epoch=epoch + 1,
      settings=phase.settings, valid_S=valid_S)


def _run_epoch(phase: Phase, state: PyTree, progress: _EpochProgress,
               ckpts: checkpoints_lib.Checkpoints,
               log: metrics_log.MetricsLog, config: ml_collections.ConfigDict,
               stop_point: Callable[[int], None]
               ) -> tuple[PyTree, dict[str, float]]:
  """Trains the rest of epoch `progress.epoch` segment by segment, then
  validates and logs it; returns its summary.

  Before each segment `stop_point(global step)` may raise `Preempted`;
  after each segment its step metrics are logged and checked, and one that
  ends inside the epoch is checkpointed.
  """
  epoch, steps_per_epoch = progress.epoch, phase.steps_per_epoch
  first_step = epoch * steps_per_epoch
  started = time.perf_counter() - progress.seconds
  for start, end in _segments(progress.steps, steps_per_epoch,
                              config.checkpoint.every_steps):
    stop_point(first_step + start)
    state, step_metrics = phase.run_steps(state, epoch, start, end)
    progress = progress.extended(step_metrics,
                                 time.perf_counter() - started)
    for i in range(end - start):
      step = first_step + start + i + 1
      if step % config.train.log_every == 0:
        log.write(step, {f"train/{k}": v[i] for k, v in step_metrics.items()},
                  epoch=epoch + 1)
    _check_finite(phase, epoch, progress.step_metrics)
    if end < steps_per_epoch:
      ckpts.save(first_step + end, checkpoint_item(state, epoch), None,
                 {PROGRESS_KEY: progress.to_json()})
  val = phase.validate(state, epoch)
  health.check_finite(
      phase.name, {"validation loss": [val["loss"]]},
      first_step=first_step + steps_per_epoch, epoch=epoch + 1,
      settings=phase.settings)
  summary = phase.summarize(epoch, progress.step_metrics, val)
  summary["epoch/seconds"] = time.perf_counter() - started
  # Logged before saving: what a crash leaves in between is dropped when
  # the run resumes from the previous checkpoint.
  log.write(first_step + steps_per_epoch, summary, epoch=epoch + 1)
  return state, summary


def train(workdir: str | pathlib.Path, config: ml_collections.ConfigDict,
          state: PyTree, phase: Phase, data_fingerprint: str,
          links: Mapping[str, str] | None = None) -> Result:
  """Trains (or resumes) `config.train.epochs` epochs of `phase` from `state`.

  `config` is the phase's config (recorded in config.json; its
  `train.epochs`, `train.log_every`, `checkpoint.max_to_keep` and
  `checkpoint.every_steps` are read); `data_fingerprint` and `links`
  (earlier runs this one builds on) go to run.json. Raises `Preempted` when
  SIGTERM arrived (see the module docstring), also after the last epoch,
  so that a process asked to end does not go on to evaluate.
  """
  workdir = pathlib.Path(workdir)
  epochs = config.train.epochs
  # Every process checks the workdir; once all have, process 0 records it.
  run = run_manifest.check_run(workdir, config, data_fingerprint, links)
  distributed.barrier("run checked")
  if distributed.is_main_process():
    run_manifest.write_run(workdir, config, run)
  shown = ("train_loss", VAL_METRIC, *phase.extra_metrics)
  sigterm = threading.Event()

  def stop_point(step):
    if _any_process(sigterm.is_set()):
      logging.warning("%s: SIGTERM received; stopping at step %d, the latest "
                      "checkpoint. Rerun the same command to resume.",
                      phase.name, step)
      raise Preempted(phase.name, step)

  with open_checkpoints(workdir, config.checkpoint.max_to_keep) as ckpts, \
      _sigterm_sets(sigterm):
    # Replicated over the training mesh before restoring, so that a restored
    # state is placed alike and both share one compiled epoch.
    state = distributed.replicate(state, distributed.mesh_from_config(config))
    state, start_step, progress = _resume(ckpts, state, phase)
    with metrics_log.MetricsLog(workdir, start_step) as log:
      bar = tqdm.trange(progress.epoch, epochs, initial=progress.epoch,
                        total=epochs, desc=phase.name, unit="epoch",
                        disable=not distributed.is_main_process())
      for epoch in bar:
        state, summary = _run_epoch(phase, state, progress, ckpts, log,
                                    config, stop_point)
        saved = {name: summary[f"epoch/{name}"] for name in shown}
        ckpts.save((epoch + 1) * phase.steps_per_epoch,
                   checkpoint_item(state, epoch + 1),
                   dict(saved, epoch=epoch + 1))
        bar.set_postfix({name: f"{value:.4f}"
                         for name, value in saved.items()})
        progress = _EpochProgress(epoch + 1)
      stop_point(epochs * phase.steps_per_epoch)
    best_step = ckpts.best_step()
    best = ckpts.metrics(best_step)
  return Result(state=state, resumed_from_step=start_step,
                best_step=best_step, best=best)
