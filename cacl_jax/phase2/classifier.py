"""Classification head of §6.2 on top of the frozen Phase-1 embeddings.

concat[resume_emb, job_emb] → Linear(2E, 128) → ReLU → Dropout(0.3)
→ Linear(128, 64) → ReLU → Dropout(0.3) → Linear(64, 1), returning the logit;
σ(logit) is P(match). Weights start xavier-uniform and biases at zero, as in
the original method (the projection head's `xavier_dense`).
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cacl_jax.phase1 import projection


class ClassificationHead(nn.Module):
  """Maps a resume and a job embedding ([N, E] each) to match logits [N]."""
  hidden: Sequence[int] = (128, 64)
  dropout: float = 0.3

  @nn.compact
  def __call__(self, resume_NxE: jax.Array, job_NxE: jax.Array, *,
               deterministic: bool) -> jax.Array:
    h = jnp.concatenate([resume_NxE, job_NxE], axis=-1)
    for i, features in enumerate(self.hidden):
      h = projection.xavier_dense(features, f"hidden_{i}")(h)
      h = nn.relu(h)
      h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
    return projection.xavier_dense(1, "output")(h)[..., 0]


def make_head(model_config: ml_collections.ConfigDict) -> ClassificationHead:
  return ClassificationHead(hidden=tuple(model_config.hidden),
                            dropout=model_config.dropout)


def init_params(model_config: ml_collections.ConfigDict, emb_dim: int,
                key: jax.Array):
  """Fresh parameters for a head reading two `emb_dim`-d embeddings.

  Initialisation runs as one compiled function instead of one per layer.
  """
  head = make_head(model_config)
  dummy = jnp.zeros((1, emb_dim), jnp.float32)
  init = jax.jit(lambda k: head.init(k, dummy, dummy,
                                     deterministic=True)["params"])
  return init(key)


def num_params(params) -> int:
  return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _apply(hidden: tuple[int, ...], dropout: float, params, resume_NxE,
           job_NxE):
  head = ClassificationHead(hidden=hidden, dropout=dropout)
  return head.apply({"params": params}, resume_NxE, job_NxE,
                    deterministic=True)


def predict_logits(model_config: ml_collections.ConfigDict, params,
                   emb_TxE, resume_row_N, job_row_N,
                   chunk: int = 4096) -> np.ndarray:
  """Deterministic logits (dropout off) of the pairs (resume_row, job_row).

  Rows index `emb_TxE`, the projected embedding of every text. Pairs are
  gathered and scored `chunk` at a time, the last chunk padded, so memory
  stays bounded (the test ranking grid scores every resume × job) and one
  compiled function serves validation, test pairs and the grid alike.
  """
  emb_TxE = np.asarray(emb_TxE, np.float32)
  resume_row_N = np.asarray(resume_row_N, np.int64)
  job_row_N = np.asarray(job_row_N, np.int64)
  if resume_row_N.shape != job_row_N.shape or resume_row_N.ndim != 1:
    raise ValueError(f"resume rows {resume_row_N.shape} and job rows "
                     f"{job_row_N.shape} must be 1-D and of equal length")
  hidden = tuple(int(h) for h in model_config.hidden)
  dropout = float(model_config.dropout)
  n = resume_row_N.size
  out = np.zeros((n,), np.float32)
  for start in range(0, n, chunk):
    stop = min(start + chunk, n)
    r = np.zeros((chunk,), np.int64)
    j = np.zeros((chunk,), np.int64)
    r[:stop - start] = resume_row_N[start:stop]
    j[:stop - start] = job_row_N[start:stop]
    logits = _apply(hidden, dropout, params, emb_TxE[r], emb_TxE[j])
    out[start:stop] = np.asarray(logits)[:stop - start]
  return out
