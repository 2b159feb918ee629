"""Ontology-aware negatives with curriculum (§5.6), sampled inside jit.

For every anchor (a resume with its good-fit job) K negatives are drawn from
the split's pool of unique jobs. Candidates exclude the anchor's own job and
every other job the same resume is a good fit for. With the "ontology"
strategy, candidates fall into buckets by skill distance d = 1 − similarity
(hard d ≤ 0.3, medium ≤ 0.6, easy beyond) and each bucket contributes a share
of the K slots that moves linearly from 20/30/50 % (hard/medium/easy) at the
first epoch to 60/30/10 % at the last. Shares times K are rarely integers:
each anchor rounds them by systematic sampling, so the counts always sum to K
and their expectation is exactly share·K. A bucket with too few candidates
hands its slots to its neighbour (hard ↔ medium ↔ easy). Anchors whose resume
has no skill URIs, and every anchor under the "random" strategy (the vanilla
baseline), draw K candidates uniformly. A job without skill URIs has §4.4
similarity 0 to every resume, which would make it an easy negative for all;
like the original implementation, it is put at distance 0.5 (medium)
instead (`bucketing_similarity`, applied when a batch is gathered).
Everything is fixed-shape: fewer than K candidates leave masked slots.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

HARD, MEDIUM, EASY = 0, 1, 2
# Skill distance of a job without skill URIs to any resume.
URILESS_JOB_DISTANCE = 0.5


@dataclasses.dataclass(frozen=True)
class NegativeSettings:
  """Static (hashable) sampler settings taken from `config.negatives`."""
  num_negatives: int = 7
  ontology: bool = True
  hard_max_distance: float = 0.3
  medium_max_distance: float = 0.6


def curriculum_ratios(epoch: int, num_epochs: int, start_ratios,
                      end_ratios) -> np.ndarray:
  """(hard, medium, easy) shares at `epoch` ∈ [0, num_epochs).

  Linear from `start_ratios` at the first epoch to `end_ratios` at the last
  (progress epoch / (num_epochs − 1); a single epoch uses the start shares).
  """
  progress = epoch / (num_epochs - 1) if num_epochs > 1 else 0.0
  start = np.asarray(start_ratios, np.float64)
  end = np.asarray(end_ratios, np.float64)
  return ((1.0 - progress) * start + progress * end).astype(np.float32)


def validation_ratios(epoch_ratios, end_ratios, fixed: bool) -> np.ndarray:
  """Shares for validation negatives: the end of the curriculum when `fixed`.

  With the epoch's own shares, validation negatives get harder every epoch
  and the lowest validation loss falls on an early epoch whatever the model
  learned; fixed shares keep the losses of all epochs comparable.
  """
  return np.asarray(end_ratios if fixed else epoch_ratios, np.float32)


def bucketing_similarity(sim_BxP: jax.Array,
                         job_has_uris_P: jax.Array) -> jax.Array:
  """The similarity the buckets read: §4.4's, or 1 − `URILESS_JOB_DISTANCE`
  for a job without skill URIs."""
  return jnp.where(job_has_uris_P[None, :], sim_BxP,
                   1.0 - URILESS_JOB_DISTANCE)


def distance_buckets(sim_BxP: jax.Array, hard_max_distance: float,
                     medium_max_distance: float) -> jax.Array:
  """HARD / MEDIUM / EASY per candidate from d = 1 − similarity (NaN → EASY)."""
  d = 1.0 - sim_BxP
  return jnp.where(d <= hard_max_distance, HARD,
                   jnp.where(d <= medium_max_distance, MEDIUM,
                             EASY)).astype(jnp.int32)


def bucket_targets(key: jax.Array, ratios_3: jax.Array, num_anchors: int,
                   k: int) -> jax.Array:
  """[num_anchors, 3] integer counts summing to k with E[count] = ratio·k.

  Floors of ratio·k plus the remaining slots spread by systematic sampling
  over the fractional parts (one uniform offset per anchor).
  """
  target_3 = ratios_3 * k
  floor_3 = jnp.floor(target_3 + 1e-6)
  remaining = k - floor_3.sum()
  frac_3 = jnp.clip(target_3 - floor_3, 0.0, None)
  frac_3 = jnp.where(frac_3.sum() > 0,
                     frac_3 * remaining / jnp.maximum(frac_3.sum(), 1e-12),
                     0.0)
  cum_2 = jnp.cumsum(frac_3)[:2]
  u_B = jax.random.uniform(key, (num_anchors,), minval=1e-6, maxval=1.0)
  hits_Bx2 = jnp.ceil(cum_2[None, :] - u_B[:, None])  # points u + j below cum
  hits_Bx2 = jnp.clip(hits_Bx2, 0.0, remaining)
  extra_Bx3 = jnp.stack([hits_Bx2[:, 0], hits_Bx2[:, 1] - hits_Bx2[:, 0],
                         remaining - hits_Bx2[:, 1]], axis=1)
  return (floor_3[None, :] + jnp.clip(extra_Bx3, 0.0, None)).astype(jnp.int32)


def fill_from_neighbours(want_Bx3: jax.Array, avail_Bx3: jax.Array,
                         hard_first_B: jax.Array) -> jax.Array:
  """Per-bucket counts to take, moving shortfalls to neighbouring buckets.

  A short hard or easy bucket passes its missing slots to medium; a short
  medium (including what it received) passes them on to hard and easy, to the
  one that `hard_first_B` names first. Slots no bucket can fill are dropped
  (fewer candidates than K).
  """
  want_h, want_m, want_e = (want_Bx3[:, i] for i in range(3))
  avail_h, avail_m, avail_e = (avail_Bx3[:, i] for i in range(3))
  take_h = jnp.minimum(want_h, avail_h)
  take_e = jnp.minimum(want_e, avail_e)
  want_m = want_m + (want_h - take_h) + (want_e - take_e)
  take_m = jnp.minimum(want_m, avail_m)
  short = want_m - take_m
  spare_h, spare_e = avail_h - take_h, avail_e - take_e
  first_spare = jnp.where(hard_first_B, spare_h, spare_e)
  to_first = jnp.minimum(short, first_spare)
  second_spare = jnp.where(hard_first_B, spare_e, spare_h)
  to_second = jnp.minimum(short - to_first, second_spare)
  take_h = take_h + jnp.where(hard_first_B, to_first, to_second)
  take_e = take_e + jnp.where(hard_first_B, to_second, to_first)
  return jnp.stack([take_h, take_m, take_e], axis=1)


def sample_negatives(key: jax.Array, sim_BxP: jax.Array,
                     candidate_BxP: jax.Array, use_ontology_B: jax.Array,
                     ratios_3: jax.Array, settings: NegativeSettings):
  """Draws negatives for B anchors from a pool of P jobs.

  Args:
    key: PRNG key; the same key gives the same negatives.
    sim_BxP: ontology_set_similarity of each anchor's resume to each pool
      job, through `bucketing_similarity`.
    candidate_BxP: True where the job may serve as a negative for the anchor
      (not its own job, not another good fit of the same resume).
    use_ontology_B: False for anchors whose resume has no skill URIs.
    ratios_3: (hard, medium, easy) shares for this epoch.
    settings: static sampler settings.

  Returns:
    neg_idx_BxK (int32 pool indices), neg_mask_BxK (valid slots) and
    neg_bucket_BxK (distance bucket of each chosen negative).
  """
  num_anchors, pool_size = sim_BxP.shape
  k = settings.num_negatives
  k_pool = min(k, pool_size)
  key_counts, key_rank = jax.random.split(key)
  bucket_BxP = distance_buckets(sim_BxP, settings.hard_max_distance,
                                settings.medium_max_distance)
  ontology_B = use_ontology_B & settings.ontology
  # Uniform draws: one bucket holding every candidate, all K slots from it.
  draw_bucket_BxP = jnp.where(ontology_B[:, None], bucket_BxP, HARD)
  avail_Bx3 = jnp.stack([(candidate_BxP & (draw_bucket_BxP == b)).sum(axis=1)
                         for b in (HARD, MEDIUM, EASY)], axis=1)
  want_Bx3 = jnp.where(
      ontology_B[:, None],
      bucket_targets(key_counts, ratios_3, num_anchors, k),
      jnp.asarray([k, 0, 0], jnp.int32)[None, :])
  take_Bx3 = fill_from_neighbours(want_Bx3, avail_Bx3,
                                  jnp.broadcast_to(ratios_3[0] >= ratios_3[2],
                                                   (num_anchors,)))
  # Random order inside each bucket: the k_pool best uniform scores.
  u_BxP = jax.random.uniform(key_rank, (num_anchors, pool_size))
  ranked_Bx3xK = jnp.stack([
      jax.lax.top_k(jnp.where(candidate_BxP & (draw_bucket_BxP == b), u_BxP,
                              -1.0), k_pool)[1]
      for b in (HARD, MEDIUM, EASY)], axis=1)
  # Slot s reads bucket b at rank s − (slots of the buckets before b).
  slot_K = jnp.arange(k)
  end_Bx3 = jnp.cumsum(take_Bx3, axis=1)
  slot_bucket_BxK = (slot_K[None, :, None] >= end_Bx3[:, None, :]).sum(axis=2)
  neg_mask_BxK = slot_bucket_BxK < 3
  slot_bucket_BxK = jnp.minimum(slot_bucket_BxK, 2)
  start_Bx3 = end_Bx3 - take_Bx3
  rank_BxK = slot_K[None, :] - jnp.take_along_axis(start_Bx3, slot_bucket_BxK,
                                                   axis=1)
  rank_BxK = jnp.clip(rank_BxK, 0, k_pool - 1)
  flat_BxK = slot_bucket_BxK * k_pool + rank_BxK
  neg_idx_BxK = jnp.take_along_axis(
      ranked_Bx3xK.reshape(num_anchors, 3 * k_pool), flat_BxK, axis=1)
  neg_idx_BxK = jnp.where(neg_mask_BxK, neg_idx_BxK, 0).astype(jnp.int32)
  neg_bucket_BxK = jnp.take_along_axis(bucket_BxP, neg_idx_BxK, axis=1)
  return neg_idx_BxK, neg_mask_BxK, neg_bucket_BxK
