"""Phase-1 train state and its checkpoints: create, save layout, load.

A checkpoint item is {"state": TrainState, "epoch": epochs done} under
`<workdir>/checkpoints`, keeping the latest two steps and the best by
validation loss. `load_params` is how evaluation and phase 2 read the
trained head.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cacl_jax.common import checkpoints as checkpoints_lib
from cacl_jax.phase1 import projection, steps

CHECKPOINT_DIR = "checkpoints"
VAL_METRIC = "val_loss"


@functools.lru_cache(maxsize=None)
def _jitted_init(tx):
  return jax.jit(tx.init)


def create_state(config: ml_collections.ConfigDict, input_dim: int,
                 key: jax.Array) -> steps.TrainState:
  """Fresh head parameters and Adam state; `step` counts batches."""
  params = projection.init_params(config.model, input_dim, key)
  tx = steps.make_optimizer(config.train.learning_rate,
                            config.train.grad_clip_norm)
  return steps.TrainState(
      step=jnp.zeros((), jnp.int32),
      apply_fn=projection.make_head(config.model).apply, params=params,
      tx=tx, opt_state=_jitted_init(tx)(params))


def checkpoint_item(state: steps.TrainState, epochs_done: int) -> dict:
  """What a checkpoint holds: the state after `epochs_done` epochs."""
  return {"state": state, "epoch": np.int32(epochs_done)}


def open_checkpoints(config: ml_collections.ConfigDict,
                     workdir: str | pathlib.Path
                     ) -> checkpoints_lib.Checkpoints:
  return checkpoints_lib.Checkpoints(
      pathlib.Path(workdir) / CHECKPOINT_DIR, metric=VAL_METRIC, mode="min",
      keep_best=config.checkpoint.max_to_keep)


def load_params(config: ml_collections.ConfigDict,
                workdir: str | pathlib.Path, input_dim: int,
                which: str = "best") -> tuple[Any, dict]:
  """Projection-head params of the best (or latest) phase-1 checkpoint.

  Returns (params, info) with info = {"step", "epoch" (1-based, the epoch
  that produced the checkpoint), **saved metrics}.
  Raises CheckpointError when the workdir holds no matching checkpoint.
  """
  if which not in ("best", "latest"):
    raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
  abstract_state = jax.eval_shape(
      lambda key: create_state(config, input_dim, key), jax.random.key(0))
  target = checkpoint_item(abstract_state, 0)
  with open_checkpoints(config, workdir) as ckpts:
    if which == "best":
      step, item = ckpts.restore_best(target)
    else:
      restored = ckpts.restore_latest(target)
      if restored is None:
        raise checkpoints_lib.CheckpointError(
            f"no checkpoint in {ckpts.directory}")
      step, item = restored
    info = dict(ckpts.metrics(step), step=step, epoch=int(item["epoch"]))
  return item["state"].params, info
