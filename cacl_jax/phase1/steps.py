"""Pure, jittable phase-1 steps: loss, train step, epoch scans, validation.

One step (§5.5–5.8): draw the anchors' negatives (§5.6), project the batch's
resumes and the split's whole job pool through the head, read the positive
and negative cosine similarities from the resumes × pool grid, and take the
weighted InfoNCE mean (§5.7); Adam on the clipped gradients. Projecting the
pool once per step costs P rows instead of B·(1 + K) and gives a job used
twice in a step the same dropout mask. An epoch is one `lax.scan` over its
batches, so the host dispatches once per epoch.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from cacl_jax.phase1 import batches as batches_lib
from cacl_jax.phase1 import losses, negatives

TrainState = train_state.TrainState


@dataclasses.dataclass(frozen=True)
class StepSettings:
  """Static numbers of a step, taken from the config."""
  temperature: float
  grad_clip_norm: float
  negatives: negatives.NegativeSettings


def batch_loss(params, apply_fn, batch: batches_lib.Batch, rng: jax.Array,
               settings: StepSettings, deterministic: bool):
  """(weighted mean InfoNCE, per-step statistics) of one batch.

  The mean and the statistics cover the anchors that drew at least one
  negative; `skipped_anchors` counts the good-fit pairs that drew none.
  """
  key_negatives, key_resume, key_pool = jax.random.split(rng, 3)
  neg_idx_BxK, neg_mask_BxK, neg_bucket_BxK = negatives.sample_negatives(
      key_negatives, batch.sim_BxP, batch.candidate_BxP, batch.has_uris_B,
      batch.ratios_3, settings.negatives)
  z_res_BxE = apply_fn({"params": params}, batch.resume_emb_BxD,
                       deterministic=deterministic,
                       rngs={"dropout": key_resume})
  z_pool_PxE = apply_fn({"params": params}, batch.pool_emb_PxD,
                        deterministic=deterministic,
                        rngs={"dropout": key_pool})
  sim_BxP = z_res_BxE @ z_pool_PxE.T
  pos_sim_B = jnp.take_along_axis(sim_BxP, batch.job_B[:, None], axis=1)[:, 0]
  neg_sim_BxK = jnp.take_along_axis(sim_BxP, neg_idx_BxK, axis=1)
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
               settings: StepSettings) -> tuple[TrainState, dict]:
  """One Adam update on `batch`; a batch without anchors (none, or none that
  drew a negative) leaves params as is.

  Metrics hold the loss, the gradient's global norm before clipping and
  whether clipping changed it.
  """
  (loss, stats), grads = jax.value_and_grad(batch_loss, has_aux=True)(
      state.params, state.apply_fn, batch, rng, settings, False)
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
def make_train_step(settings: StepSettings):
  """`train_step(state, batch, rng) -> (state, metrics)`, jitted (donates)."""
  return jax.jit(functools.partial(train_step, settings=settings),
                 donate_argnums=0)


def _train_epoch(state: TrainState, split: batches_lib.SplitTensors,
                 idx_SxB: jax.Array, mask_SxB: jax.Array, ratios_3: jax.Array,
                 key: jax.Array, settings: StepSettings):
  def body(state, xs):
    i, idx_B, mask_B = xs
    batch = batches_lib.gather_batch(split, idx_B, mask_B, ratios_3)
    return train_step(state, batch, jax.random.fold_in(key, i), settings)

  steps = jnp.arange(idx_SxB.shape[0])
  return jax.lax.scan(body, state, (steps, idx_SxB, mask_SxB))


@functools.lru_cache(maxsize=None)
def make_train_epoch(settings: StepSettings):
  """`train_epoch(state, split, idx_SxB, mask_SxB, ratios_3, key)`.

  Runs every batch of an epoch as one compiled scan (state donated); step i
  uses `fold_in(key, i)`, as the step-by-step loop does. Returns the new
  state and per-step metrics stacked along a leading axis.
  """
  return jax.jit(functools.partial(_train_epoch, settings=settings),
                 donate_argnums=0)


def _validation(params, split: batches_lib.SplitTensors, idx_SxB: jax.Array,
                mask_SxB: jax.Array, ratios_3: jax.Array, key: jax.Array,
                apply_fn, settings: StepSettings) -> dict:
  def body(totals, xs):
    i, idx_B, mask_B = xs
    batch = batches_lib.gather_batch(split, idx_B, mask_B, ratios_3)
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
def make_validation(apply_fn, settings: StepSettings):
  """`validation(params, split, idx_SxB, mask_SxB, ratios_3, key) -> metrics`.

  Same triplets and loss as training, dropout off, no update; the loss is
  the mean of w·InfoNCE over all anchors of the split that drew a negative.
  """
  return jax.jit(functools.partial(_validation, apply_fn=apply_fn,
                                   settings=settings))
