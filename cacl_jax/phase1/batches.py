"""Fixed-shape epoch batches and what one phase-1 step reads (§5.5).

A split lives on the device once (`SplitTensors`); an epoch is an [S, B]
grid of pair indices with a validity mask (the last partial batch is padded
and masked), drawn from (seed, epoch) alone so that a resumed run sees the
same order. `gather_batch` turns one row of the grid into a `Batch`: the
resume embeddings, the positive job, the anchor mask (valid good-fit pairs),
sample weights and the rows of the resumes' candidate lists the negative
sampler needs (their pool jobs, the similarity with jobs without skill URIs
at the sampler's fixed distance, `negatives.bucketing_similarity`, and which
slots ontology and uniform draws may take, the anchor's own job left out).
"""

from __future__ import annotations

import functools
import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from cacl_jax.data import prepared
from cacl_jax.phase1 import negatives


@flax.struct.dataclass
class SplitTensors:
  """One split's arrays on the device; N pairs, R resumes, pool of P jobs."""
  resume_emb_RxD: jax.Array
  pool_emb_PxD: jax.Array
  resume_N: jax.Array
  job_N: jax.Array
  label_N: jax.Array
  weight_N: jax.Array
  cand_job_RxM: jax.Array
  cand_sim_RxM: jax.Array
  cand_ontology_RxM: jax.Array
  cand_uniform_RxM: jax.Array
  has_uris_R: jax.Array
  job_has_uris_P: jax.Array

  @property
  def num_pairs(self) -> int:
    return self.resume_N.shape[0]


@flax.struct.dataclass
class Batch:
  """Inputs of one step: B pair slots, each with M candidate negatives from
  the split's pool of P jobs."""
  resume_emb_BxD: jax.Array
  pool_emb_PxD: jax.Array
  job_B: jax.Array  # positive: the pair's own job, index into the pool
  anchor_mask_B: jax.Array  # valid slot holding a good-fit pair
  weight_B: jax.Array
  candidate_job_BxM: jax.Array  # pool index of each candidate
  sim_BxM: jax.Array  # negatives.bucketing_similarity of the candidates
  candidate_BxM: jax.Array  # may serve as an ontology-drawn negative
  uniform_candidate_BxM: jax.Array  # may serve as a uniform negative
  has_uris_B: jax.Array
  ratios_3: jax.Array  # curriculum (hard, medium, easy) shares


def split_tensors(split: prepared.SplitArrays, emb_TxD: np.ndarray,
                  weight_N) -> SplitTensors:
  """Moves a split to the device; `weight_N` are its per-pair loss weights."""
  if split.num_pairs == 0:
    raise ValueError("split has no pairs")
  if len(split.job_row_P) == 0:
    raise ValueError("split has an empty job pool")
  return SplitTensors(
      resume_emb_RxD=jnp.asarray(emb_TxD[split.resume_row_R], jnp.float32),
      pool_emb_PxD=jnp.asarray(emb_TxD[split.job_row_P], jnp.float32),
      resume_N=jnp.asarray(split.resume_N, jnp.int32),
      job_N=jnp.asarray(split.job_N, jnp.int32),
      label_N=jnp.asarray(split.label_N, jnp.int32),
      weight_N=jnp.asarray(weight_N, jnp.float32),
      cand_job_RxM=jnp.asarray(split.cand_job_RxM, jnp.int32),
      cand_sim_RxM=jnp.asarray(split.cand_sim_RxM, jnp.float32),
      cand_ontology_RxM=jnp.asarray(split.cand_ontology_RxM, bool),
      cand_uniform_RxM=jnp.asarray(split.cand_uniform_RxM, bool),
      has_uris_R=jnp.asarray(split.resume_has_uris_R, bool),
      job_has_uris_P=jnp.asarray(split.job_has_uris_P, bool))


def num_batches(num_items: int, batch_size: int) -> int:
  return math.ceil(num_items / batch_size)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def epoch_batches(key: jax.Array, num_items: int, batch_size: int,
                  shuffle: bool) -> tuple[jax.Array, jax.Array]:
  """[S, B] item indices and validity mask covering every item once.

  With `shuffle`, the order is a permutation drawn from `key`; otherwise the
  file order. Padding slots of the last batch point at item 0 and are masked.
  """
  steps = num_batches(num_items, batch_size)
  order = (jax.random.permutation(key, num_items) if shuffle
           else jnp.arange(num_items))
  pad = steps * batch_size - num_items
  idx_SxB = jnp.concatenate([order, jnp.zeros((pad,), order.dtype)])
  mask_SxB = jnp.arange(steps * batch_size) < num_items
  return (idx_SxB.reshape(steps, batch_size).astype(jnp.int32),
          mask_SxB.reshape(steps, batch_size))


@jax.jit
def gather_batch(split: SplitTensors, idx_B: jax.Array, mask_B: jax.Array,
                 ratios_3: jax.Array) -> Batch:
  """The pairs `idx_B` (valid where `mask_B`) of a split as one `Batch`."""
  resume_B = split.resume_N[idx_B]
  job_B = split.job_N[idx_B]
  candidate_job_BxM = split.cand_job_RxM[resume_B]
  not_own_BxM = candidate_job_BxM != job_B[:, None]
  return Batch(
      resume_emb_BxD=split.resume_emb_RxD[resume_B],
      pool_emb_PxD=split.pool_emb_PxD,
      job_B=job_B,
      anchor_mask_B=mask_B & (split.label_N[idx_B] == 1),
      weight_B=split.weight_N[idx_B],
      candidate_job_BxM=candidate_job_BxM,
      sim_BxM=negatives.bucketing_similarity(
          split.cand_sim_RxM[resume_B],
          split.job_has_uris_P[candidate_job_BxM]),
      candidate_BxM=split.cand_ontology_RxM[resume_B] & not_own_BxM,
      uniform_candidate_BxM=split.cand_uniform_RxM[resume_B] & not_own_BxM,
      has_uris_B=split.has_uris_R[resume_B],
      ratios_3=jnp.asarray(ratios_3, jnp.float32))
