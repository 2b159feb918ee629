"""Orbax checkpoints that keep the latest steps and the best one(s) by a metric.

A training state (any pytree flax can serialise: a TrainState, nested dicts
of arrays) is saved as its flax state dict together with scalar metrics and,
optionally, JSON custom metadata (Orbax writes both into the step folder in
the same commit as the state). The latest checkpoint resumes an interrupted
run; the best one (e.g. lowest validation loss) is what evaluation and later
phases load. A checkpoint saved without metrics (e.g. one inside an epoch,
which has no validation loss) is never a best one and is kept only while it
is among the latest. Restoring needs a target of the same structure —
concrete or `jax.ShapeDtypeStruct` leaves — and fails with a message naming
the differing entries when the checkpoint was written for another model.

Damage is detected rather than resumed from: `save` refuses a state with NaN
or inf values, and records the SHA-256 and size of every file of the step
folder in `CHECKSUM_FILE` inside it (Orbax only reads sub-folders of a step
folder as items, so it ignores that file). A restore verifies those
checksums, treats any error Orbax raises while reading as damage and checks
that every restored floating value is finite. `restore_latest` and
`restore_best` move a damaged step folder out of Orbax's directory into
`<directory>.damaged/` (nothing is deleted, and the step number can be saved
again) with a WARNING, then fall back to the next checkpoint.

In a multi-process run (`common.distributed`) every process takes part in
each save and restore, and process 0 alone writes `CHECKSUM_FILE`, once all
have finished saving. A restored array is placed like the target's array
when that is on a mesh, else on this process's first device, whatever
devices the checkpoint was saved from.
"""

from __future__ import annotations

import contextlib
import json
import logging as std_logging
import pathlib
import shutil
from typing import Any, Callable, Mapping

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from cacl_jax.common import distributed, files

PyTree = Any

# Written into each step folder after Orbax finished it.
CHECKSUM_FILE = "cacl_checksums.json"
# The latest steps kept, so that a damaged latest one has a fallback.
KEEP_LATEST = 2


def _no_metrics_warning(record: std_logging.LogRecord) -> bool:
  """False for the WARNING Orbax logs at every save without metrics."""
  return not record.getMessage().startswith("Requested `tracked_metric`")


@contextlib.contextmanager
def _quiet_no_metrics_warning(active: bool):
  """Within the block (when `active`), that WARNING is dropped: a save
  without metrics is intended here (see `Checkpoints`)."""
  logger = logging.get_absl_logger()
  if active:
    logger.addFilter(_no_metrics_warning)
  try:
    yield
  finally:
    logger.removeFilter(_no_metrics_warning)


class CheckpointError(RuntimeError):
  """A checkpoint is missing, damaged or does not match the model."""


class NonFiniteStateError(CheckpointError):
  """`save` was given a state with NaN or inf values; nothing was written."""


class _Damaged(Exception):
  """A step folder that cannot be restored as saved; `slug` names the kind."""

  def __init__(self, slug: str, detail: str):
    super().__init__(detail)
    self.slug = slug
    self.detail = detail


def _leaf_spec(x) -> tuple[tuple[int, ...], np.dtype]:
  """Shape and dtype of an array, a Python scalar or orbax array metadata."""
  shape = getattr(x, "shape", None)
  dtype = getattr(x, "dtype", None)
  return (tuple(np.shape(x) if shape is None else shape),
          np.dtype(np.result_type(x) if dtype is None else dtype))


def _flat_specs(tree) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(path): _leaf_spec(leaf) for path, leaf in flat}


def _placement(x) -> jax.sharding.Sharding:
  """Where a restored leaf goes: a target array's mesh placement (e.g.
  replicated for training on several devices or processes), else this
  process's first device, whatever devices the checkpoint was saved from."""
  sharding = getattr(x, "sharding", None)
  if isinstance(sharding, jax.sharding.NamedSharding):
    return sharding
  return jax.sharding.SingleDeviceSharding(jax.local_devices()[0])


def _abstract(state_dict: PyTree) -> PyTree:
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(*_leaf_spec(x), sharding=_placement(x)),
      state_dict)


def _non_finite_leaves(tree: PyTree) -> list[str]:
  """Paths of the floating leaves of `tree` that hold a NaN or an inf."""
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return [jax.tree_util.keystr(path) for path, leaf in flat
          if jnp.issubdtype(_leaf_spec(leaf)[1], jnp.inexact)
          and not np.isfinite(np.asarray(leaf)).all()]


def _listing(items: list[str], limit: int = 4) -> str:
  more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
  return "; ".join(items[:limit]) + more


def _short(error: BaseException, limit: int = 200) -> str:
  """Type and first line of an exception (tensorstore's run to pages)."""
  lines = str(error).strip().splitlines()
  text = lines[0] if lines else ""
  text = text if len(text) <= limit else text[:limit] + "…"
  return f"{type(error).__name__}: {text}"


def _step_files(step_dir: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in step_dir.rglob("*")
                if p.is_file() and p.name != CHECKSUM_FILE)


def _write_checksums(step_dir: pathlib.Path) -> pathlib.Path:
  """Records SHA-256 and size of every file under `step_dir`, atomically."""
  recorded = {p.relative_to(step_dir).as_posix():
              {"sha256": files.sha256_file(p), "size": p.stat().st_size}
              for p in _step_files(step_dir)}
  return files.write_json(step_dir / CHECKSUM_FILE, {"files": recorded})


def _read_checksums(path: pathlib.Path) -> dict[str, tuple[int, str]]:
  """{relative path: (size, sha256)} of a checksum file; _Damaged if bad."""
  try:
    recorded = json.loads(path.read_text())["files"]
    return {rel: (int(entry["size"]), str(entry["sha256"]))
            for rel, entry in recorded.items()}
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    raise _Damaged("unreadable-checksums",
                   f"{CHECKSUM_FILE} is unreadable ({_short(e)})") from e


def _verify_checksums(step_dir: pathlib.Path) -> None:
  """Raises _Damaged when a file recorded at save time is missing or differs.

  A step folder without `CHECKSUM_FILE` (saved before checksums were
  recorded) passes: only the restore itself can tell whether it is damaged.
  """
  path = step_dir / CHECKSUM_FILE
  if not path.exists():
    return
  problems = []
  for rel, (size, sha256) in sorted(_read_checksums(path).items()):
    file = step_dir / rel
    if not file.is_file():
      problems.append(("missing-file", f"{rel} is missing"))
    elif file.stat().st_size != size:
      problems.append(("size-mismatch", f"{rel} has {file.stat().st_size} "
                       f"bytes instead of {size}"))
    elif files.sha256_file(file) != sha256:
      problems.append(("hash-mismatch", f"{rel} differs from the file saved "
                       "(SHA-256 mismatch)"))
  if problems:
    raise _Damaged(problems[0][0], _listing([text for _, text in problems]))


class Checkpoints:
  """Saves and restores training states under `directory`.

  Keeps the `KEEP_LATEST` most recent checkpoints plus the `keep_best` best
  ones by `metrics[metric]` (`mode` "min" or "max") among those saved with
  metrics; one saved without goes once `KEEP_LATEST` newer ones exist, so
  it never displaces a best one. Saving is synchronous,
  so a checkpoint that `save` returned from is complete on disk, checksums
  included. Damaged checkpoints that `restore_latest` or `restore_best` come
  across are moved to `damaged_directory`.
  """

  def __init__(self, directory: str | pathlib.Path, *, metric: str,
               mode: str = "min", keep_best: int = 1):
    if mode not in ("min", "max"):
      raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    self.directory = pathlib.Path(directory).absolute()
    self.damaged_directory = self.directory.with_name(
        self.directory.name + ".damaged")
    self.metric = metric

    def best_fn(metrics):
      return metrics[metric]

    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=KEEP_LATEST),
        ocp.checkpoint_managers.BestN(get_metric_fn=best_fn,
                                      reverse=(mode == "min"), n=keep_best,
                                      keep_checkpoints_without_metrics=False),
    ])
    self._manager = ocp.CheckpointManager(
        self.directory,
        item_handlers=ocp.StandardCheckpointHandler(),
        options=ocp.CheckpointManagerOptions(
            best_fn=best_fn, best_mode=mode, preservation_policy=policy,
            enable_async_checkpointing=False, create=True))

  def __enter__(self) -> "Checkpoints":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def close(self) -> None:
    self._manager.close()

  def step_dir(self, step: int) -> pathlib.Path:
    """The folder Orbax writes `step` to."""
    return self.directory / str(step)

  def save(self, step: int, state: PyTree,
           metrics: Mapping[str, float] | None,
           custom_metadata: Mapping[str, Any] | None = None) -> None:
    """Saves `state` as `step`, then records the checksums of its files.

    `metrics` None saves a checkpoint that is never a best one (see the
    class docstring); `custom_metadata`, JSON values, is read back with
    `custom_metadata(step)`. Raises NonFiniteStateError, before writing
    anything, when a floating leaf of `state` holds a NaN or an inf, so that
    a diverged run cannot replace good checkpoints with a state it could not
    resume from.
    """
    if metrics is not None and self.metric not in metrics:
      raise ValueError(f"metrics lack {self.metric!r}: {sorted(metrics)}")
    tree = flax.serialization.to_state_dict(state)
    bad = _non_finite_leaves(tree)
    if bad:
      raise NonFiniteStateError(
          f"refusing to save step {step} to {self.directory}: NaN or inf in "
          f"{_listing(bad)}; the checkpoints already there are unchanged")
    with _quiet_no_metrics_warning(metrics is None):
      saved = self._manager.save(
          int(step), args=ocp.args.StandardSave(tree),
          metrics=(None if metrics is None
                   else {k: float(v) for k, v in metrics.items()}),
          custom_metadata=dict(custom_metadata or {}))
    self._manager.wait_until_finished()
    # In a multi-process run every process writes its part; process 0
    # records the checksums once all are done, and the others wait for them.
    distributed.barrier(f"checkpoint {step} saved")
    if saved and distributed.is_main_process():
      _write_checksums(self.step_dir(step))
    distributed.barrier(f"checkpoint {step} checksums")

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    return self._manager.best_step()

  def metrics(self, step: int) -> dict[str, float]:
    """The metrics saved with `step`; {} for one saved without."""
    return dict(self._manager.metrics(step) or {})

  def custom_metadata(self, step: int) -> dict[str, Any]:
    """The custom metadata saved with `step` ({} when none was).

    Raises CheckpointError when the step's metadata cannot be read.
    """
    try:
      return dict(self._manager.metadata(step).custom_metadata or {})
    except Exception as e:  # Orbax raises many kinds.
      raise CheckpointError(f"the metadata of checkpoint {self.step_dir(step)}"
                            f" is unreadable ({_short(e)})") from e

  def _saved_specs(self, step: int) -> dict:
    """Shapes and dtypes the checkpoint holds; _Damaged if unreadable."""
    try:
      metadata = self._manager.item_metadata(step)
    except Exception as e:  # Orbax and tensorstore raise many kinds.
      raise _Damaged("unreadable",
                     f"its metadata is unreadable ({_short(e)})") from e
    if metadata is None:
      raise _Damaged("unreadable", "its item metadata is missing")
    return _flat_specs(getattr(metadata, "tree", metadata))

  def _check_matches(self, step: int, target_dict: PyTree) -> None:
    saved = self._saved_specs(step)
    wanted = _flat_specs(target_dict)
    problems = [f"missing in checkpoint: {k}" for k in wanted
                if k not in saved]
    problems += [f"not in model: {k}" for k in saved if k not in wanted]
    problems += [f"{k}: checkpoint shape {saved[k][0]}, model shape "
                 f"{wanted[k][0]}" for k in wanted
                 if k in saved and saved[k][0] != wanted[k][0]]
    if problems:
      shown = "; ".join(problems[:8])
      more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
      raise CheckpointError(
          f"checkpoint {self.step_dir(step)} does not match the model "
          f"(different config?): {shown}{more}")

  def _restore_checked(self, step: int, target: PyTree) -> PyTree:
    """The state of `step`; _Damaged if it is damaged, CheckpointError if
    it holds another model."""
    _verify_checksums(self.step_dir(step))
    target_dict = flax.serialization.to_state_dict(target)
    self._check_matches(step, target_dict)
    try:
      restored = self._manager.restore(
          step, args=ocp.args.StandardRestore(_abstract(target_dict)))
    except Exception as e:  # Orbax and tensorstore raise many kinds.
      raise _Damaged("unreadable",
                     f"Orbax could not read it ({_short(e)})") from e
    bad = _non_finite_leaves(restored)
    if bad:
      raise _Damaged("non-finite", f"NaN or inf in {_listing(bad)}")
    return flax.serialization.from_state_dict(target, restored)

  def restore(self, step: int, target: PyTree) -> PyTree:
    """The state saved at `step`, in the structure of `target`.

    A damaged checkpoint raises CheckpointError and stays where it is.
    """
    if step not in self.all_steps():
      raise CheckpointError(f"no checkpoint for step {step} in "
                            f"{self.directory}; saved: {self.all_steps()}")
    try:
      return self._restore_checked(step, target)
    except _Damaged as e:
      raise CheckpointError(f"checkpoint {self.step_dir(step)} is damaged: "
                            f"{e.detail}") from e

  def _aside_path(self, step: int, slug: str) -> pathlib.Path:
    name = f"{step}-{slug}"
    path, n = self.damaged_directory / name, 2
    while path.exists():
      path, n = self.damaged_directory / f"{name}-{n}", n + 1
    return path

  def _set_aside(self, step: int, damage: _Damaged,
                 next_step: Callable[[], int | None]) -> pathlib.Path:
    """Moves the damaged `step` out of Orbax's directory and warns (process
    0 moves it; every process of a multi-process run waits for the move)."""
    source, target = self.step_dir(step), self._aside_path(step, damage.slug)
    distributed.barrier(f"checkpoint {step} found damaged")
    if distributed.is_main_process():
      try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
      except OSError as e:
        raise CheckpointError(
            f"checkpoint {source} is damaged ({damage.detail}) and could not "
            f"be moved to {target}: {e}") from e
    distributed.barrier(f"checkpoint {step} set aside")
    self._manager.reload()
    following = next_step()
    then = ("no other checkpoint is left" if following is None
            else f"trying step {following} instead")
    logging.warning("Checkpoint %s is damaged: %s. Moved it to %s; %s.",
                    source, damage.detail, target, then)
    return target

  def _first_good(self, next_step, target: PyTree
                  ) -> tuple[tuple[int, PyTree] | None, int]:
    """(step, state) of the first checkpoint `next_step()` names that
    restores, moving damaged ones aside; and how many were moved."""
    moved = 0
    while (step := next_step()) is not None:
      try:
        return (step, self._restore_checked(step, target)), moved
      except _Damaged as e:
        self._set_aside(step, e, next_step)
        moved += 1
    return None, moved

  def restore_latest(self, target: PyTree) -> tuple[int, PyTree] | None:
    """(step, state) of the latest good checkpoint, or None when none is.

    Damaged checkpoints are moved aside, newest first, until one restores.
    When all were damaged the run starts afresh: a WARNING says so and
    where they went.
    """
    restored, moved = self._first_good(self.latest_step, target)
    if restored is None and moved:
      logging.warning(
          "All %d checkpoints in %s were damaged and have been moved to %s; "
          "starting from scratch.", moved, self.directory,
          self.damaged_directory)
    return restored

  def restore_best(self, target: PyTree) -> tuple[int, PyTree]:
    """(step, state) of the best good checkpoint; CheckpointError if none.

    Damaged checkpoints are moved aside, best first, until one restores.
    """
    restored, moved = self._first_good(self.best_step, target)
    if restored is not None:
      return restored
    if moved:
      raise CheckpointError(
          f"no good checkpoint in {self.directory}: all {moved} were damaged "
          f"and have been moved to {self.damaged_directory}")
    if self.all_steps():
      raise CheckpointError(
          f"no checkpoint in {self.directory} has a {self.metric!r}: steps "
          f"{self.all_steps()} were saved without metrics")
    raise CheckpointError(f"no checkpoint in {self.directory}")
