"""Weighted binary cross-entropy of §6.3, computed from logits.

L = (1/N) Σᵢ wᵢ · [−yᵢ log σ(xᵢ) − (1−yᵢ) log(1−σ(xᵢ))], wᵢ = pos_weight if
yᵢ = 1 else 1, the same as PyTorch's `BCEWithLogitsLoss(pos_weight=…)`.
With log σ(x) = −softplus(−x) and log(1−σ(x)) = −softplus(x) it stays finite
for any finite logit, unlike taking the log of a saturated probability.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def weighted_bce_per_example(logits_N: jax.Array, labels_N: jax.Array,
                             pos_weight: float) -> jax.Array:
  """wᵢ · BCE(σ(xᵢ), yᵢ) for each example."""
  logits_N = jnp.asarray(logits_N, jnp.float32)
  labels_N = jnp.asarray(labels_N, jnp.float32)
  loss = (labels_N * jax.nn.softplus(-logits_N)
          + (1.0 - labels_N) * jax.nn.softplus(logits_N))
  weight = jnp.where(labels_N > 0.5, pos_weight, 1.0)
  return weight * loss


def weighted_bce(logits_N: jax.Array, labels_N: jax.Array, pos_weight: float,
                 mask_N: jax.Array | None = None) -> jax.Array:
  """Mean weighted BCE over the examples where `mask_N` is true (all if None).

  The mean divides by the number of examples, not by the sum of weights, as
  in §6.3; padded examples (mask false) contribute nothing.
  """
  per_example = weighted_bce_per_example(logits_N, labels_N, pos_weight)
  if mask_N is None:
    return per_example.mean()
  mask_N = jnp.asarray(mask_N, jnp.float32)
  return (per_example * mask_N).sum() / jnp.maximum(mask_N.sum(), 1.0)


def accuracy(logits_N: jax.Array, labels_N: jax.Array,
             mask_N: jax.Array | None = None) -> jax.Array:
  """Share of examples with (logit ≥ 0) == label, i.e. probability ≥ 0.5."""
  correct = ((logits_N >= 0).astype(jnp.int32)
             == jnp.asarray(labels_N, jnp.int32)).astype(jnp.float32)
  if mask_N is None:
    return correct.mean()
  mask_N = jnp.asarray(mask_N, jnp.float32)
  return (correct * mask_N).sum() / jnp.maximum(mask_N.sum(), 1.0)
