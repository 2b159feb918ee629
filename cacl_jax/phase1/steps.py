"""Pure, jittable phase-1 steps: loss, train step, epoch scans, validation.

One step (§5.5–5.8): draw the anchors' negatives (§5.6) from their resumes'
candidate lists, project the batch's resumes and jobs through the head, read
the positive and negative cosine similarities, and take the weighted InfoNCE
mean (§5.7); Adam on the clipped gradients. A pool of at most 1,024 jobs is
projected whole once per step, which gives a job used twice in a step the
same dropout mask; a larger pool only in the B·(1 + K) rows the step reads.
An epoch is one `lax.scan` over its batches, so the host dispatches once per
epoch.

Given a mesh (`common.distributed`), every step splits its batch over the
devices of the data axis along the batch dimension (the job pool and the
curriculum shares stay whole on each device), with the state replicated;
the epoch's [S, B] batch grid arrives with its columns split the same way.
Without one, nothing is constrained.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state
from jax.sharding import Mesh

from cacl_jax.common import distributed
from cacl_jax.phase1 import batches as batches_lib
from cacl_jax.phase1 import losses, negatives

TrainState = train_state.TrainState


@dataclasses.dataclass(frozen=True)
class StepSettings:
  """Static numbers of a step, taken from the config."""
  temperature: float
  grad_clip_norm: float
  negatives: negatives.NegativeSettings


# Batch fields with a leading batch dimension, split over the data axis.
_PER_PAIR_FIELDS = ("resume_emb_BxD", "job_B", "anchor_mask_B", "weight_B",
                    "candidate_job_BxM", "sim_BxM", "candidate_BxM",
                    "uniform_candidate_BxM", "has_uris_B")


def shard_batch(batch: batches_lib.Batch, mesh: Mesh | None
                ) -> batches_lib.Batch:
  """Inside jit: the batch's per-pair fields split over `mesh`'s data axis."""
  if mesh is None:
    return batch
  return batch.replace(**{name: distributed.shard_batch(getattr(batch, name),
                                                        mesh)
                          for name in _PER_PAIR_FIELDS})


# Pools up to this many jobs are projected whole in every step.
WHOLE_POOL_MAX = 1024


def _job_similarities(project, batch: batches_lib.Batch, z_res_BxE,
                      neg_idx_BxK) -> tuple[jax.Array, jax.Array]:
  """Cosine similarity of each resume to its positive job and negatives.

  A pool of at most `WHOLE_POOL_MAX` jobs (or B · (1 + K), if more) is
  projected whole (a job used twice in the step gets one dropout mask); a
  larger one only in the B · (1 + K) rows the step reads, so a step costs
  the same whatever the pool's size.
  """
  (b, k), pool_size = neg_idx_BxK.shape, batch.pool_emb_PxD.shape[0]
  if pool_size <= max(WHOLE_POOL_MAX, b * (1 + k)):
    sim_BxP = z_res_BxE @ project(batch.pool_emb_PxD).T
    return (jnp.take_along_axis(sim_BxP, batch.job_B[:, None], axis=1)[:, 0],
            jnp.take_along_axis(sim_BxP, neg_idx_BxK, axis=1))
  job_BxL = jnp.concatenate([batch.job_B[:, None], neg_idx_BxK], axis=1)
  z_job_BLxE = project(batch.pool_emb_PxD[job_BxL.reshape(-1)])
  sim_BxL = jnp.einsum("be,ble->bl", z_res_BxE,
                       z_job_BLxE.reshape(b, 1 + k, -1))
  return sim_BxL[:, 0], sim_BxL[:, 1:]


def batch_loss(params, apply_fn, batch: batches_lib.Batch, rng: jax.Array,
               settings: StepSettings, deterministic: bool):
  """(weighted mean InfoNCE, per-step statistics) of one batch.

  The mean and the statistics cover the anchors that drew at least one
  negative; `skipped_anchors` counts the good-fit pairs that drew none.
  """
  key_negatives, key_resume, key_pool = jax.random.split(rng, 3)
  neg_col_BxK, neg_mask_BxK, neg_bucket_BxK = negatives.sample_negatives(
      key_negatives, batch.sim_BxM, batch.candidate_BxM,
      batch.uniform_candidate_BxM, batch.has_uris_B, batch.ratios_3,
      settings.negatives)
  neg_idx_BxK = jnp.take_along_axis(batch.candidate_job_BxM, neg_col_BxK,
                                    axis=1)
  z_res_BxE = apply_fn({"params": params}, batch.resume_emb_BxD,
                       deterministic=deterministic,
                       rngs={"dropout": key_resume})
  pos_sim_B, neg_sim_BxK = _job_similarities(
      lambda emb: apply_fn({"params": params}, emb,
                           deterministic=deterministic,
                           rngs={"dropout": key_pool}),
      batch, z_res_BxE, neg_idx_BxK)
  # An anchor without a usable negative (its resume fits the whole pool)
  # has no contrast: it is skipped, not counted as loss 0 in the mean.
  has_negative_B = neg_mask_BxK.any(axis=1)
  anchor_B = batch.anchor_mask_B & has_negative_B
  loss_B = losses.info_nce(pos_sim_B, neg_sim_BxK, neg_mask_BxK,
                           settings.temperature)
  loss = losses.weighted_mean_loss(loss_B, batch.weight_B, anchor_B)

  num_anchors = anchor_B.sum()
  num_skipped = (batch.anchor_mask_B & ~has_negative_B).sum()
  used_BxK = neg_mask_BxK & anchor_B[:, None]
  num_neg = used_BxK.sum()

  def anchor_mean(x_B):
    return jnp.where(anchor_B, x_B, 0.0).sum() / jnp.maximum(num_anchors, 1)

  def negative_fraction(bucket):
    return (used_BxK & (neg_bucket_BxK == bucket)).sum() / jnp.maximum(
        num_neg, 1)

  stats = {
      "num_anchors": num_anchors.astype(jnp.float32),
      "skipped_anchors": num_skipped.astype(jnp.float32),
      "loss_sum": jnp.where(anchor_B, batch.weight_B * loss_B, 0.0).sum(),
      "mean_weight": anchor_mean(batch.weight_B),
      "pos_sim": anchor_mean(pos_sim_B),
      "neg_sim": jnp.where(used_BxK, neg_sim_BxK, 0.0).sum()
                 / jnp.maximum(num_neg, 1),
      "num_negatives": num_neg.astype(jnp.float32),
      "negatives_per_anchor": num_neg / jnp.maximum(num_anchors, 1),
      "hard_fraction": negative_fraction(negatives.HARD),
      "medium_fraction": negative_fraction(negatives.MEDIUM),
      "easy_fraction": negative_fraction(negatives.EASY),
  }
  return loss, stats


@functools.lru_cache(maxsize=None)
def make_optimizer(learning_rate: float, grad_clip_norm: float
                   ) -> optax.GradientTransformation:
  """Adam (PyTorch defaults) after global-norm clipping (§5.8).

  Like the `make_*` functions below, cached: equal settings give the same
  object, so train states of repeated runs share one pytree structure and
  compiled functions are reused.
  """
  return optax.chain(optax.clip_by_global_norm(grad_clip_norm),
                     optax.adam(learning_rate))


def train_step(state: TrainState, batch: batches_lib.Batch, rng: jax.Array,
               settings: StepSettings, mesh: Mesh | None = None
               ) -> tuple[TrainState, dict]:
  """One Adam update on `batch` (split over `mesh`); a batch without anchors
  (none, or none that drew a negative) leaves params as is.

  Metrics hold the loss, the gradient's global norm before clipping and
  whether clipping changed it.
  """
  (loss, stats), grads = jax.value_and_grad(batch_loss, has_aux=True)(
      state.params, state.apply_fn, shard_batch(batch, mesh), rng, settings,
      False)
  grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g))
                           for g in jax.tree.leaves(grads)))
  updated = state.apply_gradients(grads=grads)
  has_anchors = stats["num_anchors"] > 0
  keep = functools.partial(jax.tree.map,
                           lambda new, old: jnp.where(has_anchors, new, old))
  state = updated.replace(params=keep(updated.params, state.params),
                          opt_state=keep(updated.opt_state, state.opt_state))
  metrics = dict(stats, loss=loss, grad_norm=grad_norm,
                 clipped=(grad_norm > settings.grad_clip_norm).astype(
                     jnp.float32))
  return state, metrics


@functools.lru_cache(maxsize=None)
def make_train_step(settings: StepSettings, mesh: Mesh | None = None):
  """`train_step(state, batch, rng) -> (state, metrics)`, jitted (donates);
  the batch is split over `mesh`."""
  return jax.jit(functools.partial(train_step, settings=settings, mesh=mesh),
                 donate_argnums=0)


def _train_epoch(state: TrainState, split: batches_lib.SplitTensors,
                 idx_SxB: jax.Array, mask_SxB: jax.Array, ratios_3: jax.Array,
                 key: jax.Array, first_step=0, *, settings: StepSettings,
                 mesh: Mesh | None):
  def body(state, xs):
    i, idx_B, mask_B = xs
    batch = batches_lib.gather_batch(split, idx_B, mask_B, ratios_3)
    return train_step(state, batch, jax.random.fold_in(key, i), settings,
                      mesh)

  steps = first_step + jnp.arange(idx_SxB.shape[0])
  return jax.lax.scan(body, state, (steps, idx_SxB, mask_SxB))


@functools.lru_cache(maxsize=None)
def make_train_epoch(settings: StepSettings, mesh: Mesh | None = None):
  """`train_epoch(state, split, idx_SxB, mask_SxB, ratios_3, key,
  first_step=0)`.

  Runs the batches of an epoch's steps first_step … first_step + S − 1 as
  one compiled scan (state donated), each batch split over `mesh`; step i
  of the epoch uses `fold_in(key, i)`, as the step-by-step loop does, so a
  run of the epoch cut into segments draws what one scan over it draws.
  Returns the new state and per-step metrics stacked along a leading axis.
  """
  return distributed.feeding_grids(
      jax.jit(functools.partial(_train_epoch, settings=settings, mesh=mesh),
              donate_argnums=0), mesh)


def _validation(params, split: batches_lib.SplitTensors, idx_SxB: jax.Array,
                mask_SxB: jax.Array, ratios_3: jax.Array, key: jax.Array,
                apply_fn, settings: StepSettings, mesh: Mesh | None) -> dict:
  def body(totals, xs):
    i, idx_B, mask_B = xs
    batch = shard_batch(
        batches_lib.gather_batch(split, idx_B, mask_B, ratios_3), mesh)
    _, stats = batch_loss(params, apply_fn, batch, jax.random.fold_in(key, i),
                          settings, True)
    n, k = stats["num_anchors"], stats["num_negatives"]
    return {
        "loss_sum": totals["loss_sum"] + stats["loss_sum"],
        "num_anchors": totals["num_anchors"] + n,
        "skipped_anchors": totals["skipped_anchors"]
                           + stats["skipped_anchors"],
        "num_negatives": totals["num_negatives"] + k,
        "pos_sim_sum": totals["pos_sim_sum"] + stats["pos_sim"] * n,
        "neg_sim_sum": totals["neg_sim_sum"] + stats["neg_sim"] * k,
    }, None

  zero = jnp.zeros((), jnp.float32)
  totals, _ = jax.lax.scan(
      body, {"loss_sum": zero, "num_anchors": zero, "skipped_anchors": zero,
             "num_negatives": zero, "pos_sim_sum": zero, "neg_sim_sum": zero},
      (jnp.arange(idx_SxB.shape[0]), idx_SxB, mask_SxB))
  n = jnp.maximum(totals["num_anchors"], 1)
  return {"loss": totals["loss_sum"] / n, "num_anchors": totals["num_anchors"],
          "skipped_anchors": totals["skipped_anchors"],
          "pos_sim": totals["pos_sim_sum"] / n,
          "neg_sim": totals["neg_sim_sum"]
                     / jnp.maximum(totals["num_negatives"], 1)}


@functools.lru_cache(maxsize=None)
def make_validation(apply_fn, settings: StepSettings,
                    mesh: Mesh | None = None):
  """`validation(params, split, idx_SxB, mask_SxB, ratios_3, key) -> metrics`.

  Same triplets and loss as training (batches split over `mesh`), dropout
  off, no update; the loss is the mean of w·InfoNCE over all anchors of the
  split that drew a negative.
  """
  return distributed.feeding_grids(
      jax.jit(functools.partial(_validation, apply_fn=apply_fn,
                                settings=settings, mesh=mesh)), mesh)
