"""Orbax checkpoints that keep the latest step and the best one(s) by a metric.

A training state (any pytree flax can serialise: a TrainState, nested dicts
of arrays) is saved as its flax state dict together with scalar metrics. The
latest checkpoint resumes an interrupted run; the best one (e.g. lowest
validation loss) is what evaluation and later phases load. Restoring needs a
target of the same structure — concrete or `jax.ShapeDtypeStruct` leaves —
and fails with a message naming the differing entries when the checkpoint
was written for another model.
"""

from __future__ import annotations

import pathlib
from typing import Any, Mapping

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp

PyTree = Any


class CheckpointError(RuntimeError):
  """A checkpoint is missing or does not match the model it is restored into."""


def _leaf_spec(x) -> tuple[tuple[int, ...], np.dtype]:
  """Shape and dtype of an array, a Python scalar or orbax array metadata."""
  shape = getattr(x, "shape", None)
  dtype = getattr(x, "dtype", None)
  return (tuple(np.shape(x) if shape is None else shape),
          np.dtype(np.result_type(x) if dtype is None else dtype))


def _flat_specs(tree) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(path): _leaf_spec(leaf) for path, leaf in flat}


def _abstract(state_dict: PyTree) -> PyTree:
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(*_leaf_spec(x)),
                      state_dict)


class Checkpoints:
  """Saves and restores training states under `directory`.

  Keeps the most recent checkpoint plus the `keep_best` best ones by
  `metrics[metric]` (`mode` "min" or "max"). Saving is synchronous, so a
  checkpoint that `save` returned from is complete on disk.
  """

  def __init__(self, directory: str | pathlib.Path, *, metric: str,
               mode: str = "min", keep_best: int = 1):
    if mode not in ("min", "max"):
      raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    self.directory = pathlib.Path(directory).absolute()
    self.metric = metric

    def best_fn(metrics):
      return metrics[metric]

    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=1),
        ocp.checkpoint_managers.BestN(get_metric_fn=best_fn,
                                      reverse=(mode == "min"), n=keep_best),
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

  def save(self, step: int, state: PyTree, metrics: Mapping[str, float]
           ) -> None:
    if self.metric not in metrics:
      raise ValueError(f"metrics lack {self.metric!r}: {sorted(metrics)}")
    tree = flax.serialization.to_state_dict(state)
    self._manager.save(int(step), args=ocp.args.StandardSave(tree),
                       metrics={k: float(v) for k, v in metrics.items()})

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    return self._manager.best_step()

  def metrics(self, step: int) -> dict[str, float]:
    return dict(self._manager.metrics(step) or {})

  def _check_matches(self, step: int, target_dict: PyTree) -> None:
    metadata = self._manager.item_metadata(step)
    saved = _flat_specs(getattr(metadata, "tree", metadata))
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
          f"checkpoint {self.directory / str(step)} does not match the model "
          f"(different config?): {shown}{more}")

  def restore(self, step: int, target: PyTree) -> PyTree:
    """The state saved at `step`, in the structure of `target`."""
    if step not in self.all_steps():
      raise CheckpointError(f"no checkpoint for step {step} in "
                            f"{self.directory}; saved: {self.all_steps()}")
    target_dict = flax.serialization.to_state_dict(target)
    self._check_matches(step, target_dict)
    restored = self._manager.restore(
        step, args=ocp.args.StandardRestore(_abstract(target_dict)))
    return flax.serialization.from_state_dict(target, restored)

  def restore_latest(self, target: PyTree) -> tuple[int, PyTree] | None:
    """(step, state) of the latest checkpoint, or None when there is none."""
    step = self.latest_step()
    if step is None:
      return None
    return step, self.restore(step, target)

  def restore_best(self, target: PyTree) -> tuple[int, PyTree]:
    """(step, state) of the best checkpoint; CheckpointError if none."""
    step = self.best_step()
    if step is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    return step, self.restore(step, target)
