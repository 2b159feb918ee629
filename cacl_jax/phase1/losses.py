"""InfoNCE with sample-level ontology weights (§5.7), as pure jnp functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cacl_jax.data import records

OT_DISTANCE_SCALE = 10.0  # ot_distance's no-path cost (§4.5): 1 - d/10 ∈ [0, 1]


def info_nce(pos_sim_B: jax.Array, neg_sim_BxK: jax.Array,
             neg_mask_BxK: jax.Array, temperature: float) -> jax.Array:
  """Per-anchor InfoNCE: -log(e^{s⁺/τ} / (e^{s⁺/τ} + Σ_valid e^{s⁻/τ})).

  `pos_sim_B` and `neg_sim_BxK` are cosine similarities; negatives where
  `neg_mask_BxK` is False take no part. Computed as logsumexp(logits) - s⁺/τ,
  stable for any τ. An anchor without valid negatives gets loss 0; callers
  leave such anchors out of the mean (`weighted_mean_loss`'s mask), as the
  original method does.
  """
  pos_logit_B = pos_sim_B / temperature
  neg_logit_BxK = jnp.where(neg_mask_BxK, neg_sim_BxK / temperature, -jnp.inf)
  logits_Bx1K = jnp.concatenate([pos_logit_B[:, None], neg_logit_BxK], axis=1)
  return jax.nn.logsumexp(logits_Bx1K, axis=1) - pos_logit_B


def tier_base_array(weighting: ml_collections.ConfigDict) -> np.ndarray:
  """Base weights indexed like `records.QUALITY_TIERS` (A, B, C, D, F)."""
  return np.asarray([weighting.tier_base[t] for t in records.QUALITY_TIERS],
                    np.float32)


@jax.jit
def sample_weights(tier_N: jax.Array, ontology_similarity_N: jax.Array,
                   ot_distance_N: jax.Array, tier_base_5: jax.Array,
                   strength: float = 0.3, w_min: float = 0.5,
                   w_max: float = 1.5) -> jax.Array:
  """Per-sample weight w ∈ [w_min, w_max] of §5.7.

  signal = mean of the available ontology_similarity and 1 - ot_distance/10
  (NaN marks a missing score); w = base·(1 + strength·(2·signal - 1)),
  clamped. Without either score, w is the tier base alone.
  """
  scores_Nx2 = jnp.stack(
      [ontology_similarity_N, 1.0 - ot_distance_N / OT_DISTANCE_SCALE], axis=1)
  present_Nx2 = ~jnp.isnan(scores_Nx2)
  count_N = present_Nx2.sum(axis=1)
  signal_N = (jnp.where(present_Nx2, scores_Nx2, 0.0).sum(axis=1)
              / jnp.maximum(count_N, 1))
  base_N = jnp.asarray(tier_base_5)[tier_N]
  weighted_N = jnp.clip(base_N * (1.0 + strength * (2.0 * signal_N - 1.0)),
                        w_min, w_max)
  return jnp.where(count_N > 0, weighted_N, base_N)


def config_sample_weights(weighting: ml_collections.ConfigDict, tier_N,
                          ontology_similarity_N, ot_distance_N) -> jax.Array:
  """`sample_weights` with the config's numbers; all ones when disabled."""
  if not weighting.enabled:
    return jnp.ones(np.shape(tier_N), jnp.float32)
  return sample_weights(
      jnp.asarray(tier_N), jnp.asarray(ontology_similarity_N),
      jnp.asarray(ot_distance_N), tier_base_array(weighting),
      weighting.strength, weighting.min, weighting.max)


def weighted_mean_loss(loss_B: jax.Array, weight_B: jax.Array,
                       mask_B: jax.Array) -> jax.Array:
  """Mean of w·loss over the anchors in `mask_B` (0 when there are none)."""
  total = jnp.sum(jnp.where(mask_B, weight_B * loss_B, 0.0))
  return total / jnp.maximum(mask_B.sum(), 1)
