"""Phase-1 train state: create it, and read the trained head back.

Checkpoints follow the layout both phases share (`common.training_loop`);
`load_params` is how evaluation and Phase 2 read the trained head.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from cacl_jax.common import training_loop
from cacl_jax.phase1 import projection, steps


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


def load_params(config: ml_collections.ConfigDict,
                workdir: str | pathlib.Path, input_dim: int,
                which: str = "best") -> tuple[Any, dict]:
  """Projection-head params of the best (or latest) phase-1 checkpoint.

  Returns (params, info) with info = {"step", "epoch" (1-based, the epoch
  that produced the checkpoint), **saved metrics}.
  Raises CheckpointError when the workdir holds no matching checkpoint.
  """
  abstract_state = jax.eval_shape(
      lambda key: create_state(config, input_dim, key), jax.random.key(0))
  state, info = training_loop.restore(workdir, abstract_state, which)
  return state.params, info
