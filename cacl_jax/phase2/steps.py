"""Pure, jittable Phase-2 steps: optimiser, train step, epoch scan, validation.

One step (§6.3, §6.4): the classification head scores a batch of (resume,
job) pairs of frozen Phase-1 projections with dropout on, the weighted BCE
over the batch's valid slots is the loss, and Adam with coupled L2 after
global-norm clipping updates the head. An epoch is one `lax.scan` over its
batches with the state donated, so the host dispatches once per epoch, as in
Phase 1 (`phase1/steps.py`), and like there, given a mesh
(`common.distributed`) every batch is split over the devices of its data
axis with the state replicated, the epoch's batch grid arriving with its
columns split the same way.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import Mesh

from cacl_jax.common import distributed
from cacl_jax.data import prepared
from cacl_jax.phase2 import losses

TrainState = train_state.TrainState


@flax.struct.dataclass
class PairTensors:
  """One split's pairs on the device: R resumes, P jobs, N pairs; E is the
  size of the frozen Phase-1 projection."""
  resume_emb_RxE: jax.Array
  job_emb_PxE: jax.Array
  resume_N: jax.Array
  job_N: jax.Array
  label_N: jax.Array

  @property
  def num_pairs(self) -> int:
    return self.resume_N.shape[0]


@flax.struct.dataclass
class Batch:
  """Inputs of one step: B pair slots, the last batch's padding masked."""
  resume_emb_BxE: jax.Array
  job_emb_BxE: jax.Array
  label_B: jax.Array
  mask_B: jax.Array


def pair_tensors(split: prepared.SplitArrays, emb_TxE: np.ndarray
                 ) -> PairTensors:
  """Moves a split to the device; `emb_TxE` is the projection of every text."""
  emb_TxE = np.asarray(emb_TxE, np.float32)
  return PairTensors(
      resume_emb_RxE=jnp.asarray(emb_TxE[split.resume_row_R]),
      job_emb_PxE=jnp.asarray(emb_TxE[split.job_row_P]),
      resume_N=jnp.asarray(split.resume_N, jnp.int32),
      job_N=jnp.asarray(split.job_N, jnp.int32),
      label_N=jnp.asarray(split.label_N, jnp.int32))


@jax.jit
def gather_batch(pairs: PairTensors, idx_B: jax.Array, mask_B: jax.Array
                 ) -> Batch:
  """The pairs `idx_B` (valid where `mask_B`) of a split as one `Batch`."""
  return Batch(resume_emb_BxE=pairs.resume_emb_RxE[pairs.resume_N[idx_B]],
               job_emb_BxE=pairs.job_emb_PxE[pairs.job_N[idx_B]],
               label_B=pairs.label_N[idx_B], mask_B=mask_B)


@functools.lru_cache(maxsize=None)
def make_optimizer(learning_rate: float, weight_decay: float,
                   grad_clip_norm: float) -> optax.GradientTransformation:
  """Adam with coupled L2 (§6.4) after global-norm clipping, as in torch.

  The order is that of the original's step: `clip_grad_norm_` on the raw
  gradients, then `Adam(weight_decay=wd)`, which adds wd·param to the
  clipped gradient before its moments (β = 0.9, 0.999; ε = 1e-8). Decay
  applies to every parameter, biases included. Cached, so that train states
  of equal settings share one pytree structure and compiled functions.
  """
  return optax.chain(optax.clip_by_global_norm(grad_clip_norm),
                     optax.add_decayed_weights(weight_decay),
                     optax.adam(learning_rate))


def batch_loss(params, apply_fn, batch: Batch, rng: jax.Array,
               pos_weight: float) -> jax.Array:
  """Weighted BCE (§6.3) of a batch's valid slots, dropout on."""
  logits_B = apply_fn({"params": params}, batch.resume_emb_BxE,
                      batch.job_emb_BxE, deterministic=False,
                      rngs={"dropout": rng})
  return losses.weighted_bce(logits_B, batch.label_B, pos_weight,
                             batch.mask_B)


def shard_batch(batch: Batch, mesh: Mesh | None) -> Batch:
  """Inside jit: every field of the batch split over `mesh`'s data axis."""
  return jax.tree.map(lambda x_B: distributed.shard_batch(x_B, mesh), batch)


def train_step(state: TrainState, batch: Batch, rng: jax.Array,
               pos_weight: float, mesh: Mesh | None = None
               ) -> tuple[TrainState, dict]:
  """One optimiser update on `batch` (split over `mesh`; dropout masks from
  `rng`); metrics hold its loss."""
  loss, grads = jax.value_and_grad(batch_loss)(
      state.params, state.apply_fn, shard_batch(batch, mesh), rng,
      pos_weight)
  return state.apply_gradients(grads=grads), {"loss": loss}


@functools.lru_cache(maxsize=None)
def make_train_step(pos_weight: float):
  """`train_step(state, batch, rng) -> (state, metrics)`, jitted (donates)."""
  return jax.jit(functools.partial(train_step, pos_weight=pos_weight),
                 donate_argnums=0)


def _train_epoch(state: TrainState, pairs: PairTensors, idx_SxB: jax.Array,
                 mask_SxB: jax.Array, key: jax.Array, pos_weight: float,
                 mesh: Mesh | None):
  def body(state, xs):
    idx_B, mask_B = xs
    batch = gather_batch(pairs, idx_B, mask_B)
    return train_step(state, batch, jax.random.fold_in(key, state.step),
                      pos_weight, mesh)

  return jax.lax.scan(body, state, (idx_SxB, mask_SxB))


@functools.lru_cache(maxsize=None)
def make_train_epoch(pos_weight: float, mesh: Mesh | None = None):
  """`train_epoch(state, pairs, idx_SxB, mask_SxB, key)`.

  Runs every batch of an epoch as one compiled scan (state donated), each
  batch split over `mesh`; the step that starts at global step s uses
  dropout masks from `fold_in(key, s)`, so one key serves the whole run.
  Returns the new state and per-step metrics stacked along a leading axis.
  """
  return distributed.feeding_grids(
      jax.jit(functools.partial(_train_epoch, pos_weight=pos_weight,
                                mesh=mesh), donate_argnums=0), mesh)


def _validation(params, pairs: PairTensors, apply_fn, pos_weight: float
                ) -> dict[str, jax.Array]:
  logits_N = apply_fn({"params": params},
                      pairs.resume_emb_RxE[pairs.resume_N],
                      pairs.job_emb_PxE[pairs.job_N], deterministic=True)
  return {"loss": losses.weighted_bce(logits_N, pairs.label_N, pos_weight),
          "accuracy": losses.accuracy(logits_N, pairs.label_N)}


@functools.lru_cache(maxsize=None)
def make_validation(apply_fn, pos_weight: float):
  """`validation(params, pairs) -> {"loss", "accuracy"}`, jitted.

  Weighted BCE and accuracy at probability 0.5 over every pair of a split,
  dropout off.
  """
  return jax.jit(functools.partial(_validation, apply_fn=apply_fn,
                                   pos_weight=pos_weight))
