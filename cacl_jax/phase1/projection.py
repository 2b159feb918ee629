"""Trainable projection head of §5.2 on top of frozen encoder embeddings.

Linear(D, 256) → ReLU → Dropout(0.3) → Linear(256, 128), L2-normalised so
that a dot product is the cosine similarity. Weights start xavier-uniform
(±√(6/(fan_in + fan_out))) and biases at zero, as in the original method.
Phase 2 may read the head's output before the final normalisation, as the
original classifier does (`project(..., normalize=False)`).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

_NORM_EPS = 1e-12  # same floor as torch.nn.functional.normalize


def xavier_dense(features: int, name: str) -> nn.Dense:
  """A dense layer with xavier-uniform weights and zero biases, the
  initialisation of both heads in the original method."""
  return nn.Dense(features, kernel_init=nn.initializers.xavier_uniform(),
                  bias_init=nn.initializers.zeros, name=name)


def l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
  norm = jnp.linalg.norm(x, axis=axis, keepdims=True)
  return x / jnp.maximum(norm, _NORM_EPS)


class ProjectionHead(nn.Module):
  """Maps [..., D] encoder embeddings to [..., dim] vectors.

  The vectors are L2-normalised unless `normalize` is False; the parameters
  are the same either way.
  """
  hidden: int = 256
  dim: int = 128
  dropout: float = 0.3
  normalize: bool = True

  @nn.compact
  def __call__(self, emb_xD: jax.Array, *, deterministic: bool) -> jax.Array:
    h = xavier_dense(self.hidden, "hidden")(emb_xD)
    h = nn.relu(h)
    h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
    z = xavier_dense(self.dim, "output")(h)
    return l2_normalize(z) if self.normalize else z


@functools.lru_cache(maxsize=None)
def _head(hidden: int, dim: int, dropout: float,
          normalize: bool) -> ProjectionHead:
  return ProjectionHead(hidden=hidden, dim=dim, dropout=dropout,
                        normalize=normalize)


def make_head(model_config: ml_collections.ConfigDict,
              normalize: bool = True) -> ProjectionHead:
  """The head of `model_config`; one shared instance per configuration, so
  that its `apply` compares equal across runs and jitted code is reused."""
  return _head(model_config.hidden, model_config.dim, model_config.dropout,
               normalize)


@functools.lru_cache(maxsize=None)
def _jitted_init(head: ProjectionHead, input_dim: int):
  return jax.jit(lambda key: head.init(key, jnp.zeros((1, input_dim),
                                                      jnp.float32),
                                       deterministic=True)["params"])


def init_params(model_config: ml_collections.ConfigDict, input_dim: int,
                key: jax.Array):
  """Fresh parameters for a head reading `input_dim`-d embeddings."""
  return _jitted_init(make_head(model_config), input_dim)(key)


@functools.lru_cache(maxsize=None)
def _deterministic_apply(head: ProjectionHead):
  return jax.jit(lambda params, x: head.apply({"params": params}, x,
                                              deterministic=True))


def project(model_config: ml_collections.ConfigDict, params,
            emb_NxD: np.ndarray, batch_size: int = 4096,
            normalize: bool = True) -> np.ndarray:
  """Deterministic projection (dropout off) of many embeddings, in chunks.

  With `normalize` False the rows are the head's output before its final L2
  normalisation. The last chunk is padded to `batch_size` rows so that one
  compiled function serves every chunk.
  """
  apply = _deterministic_apply(make_head(model_config, normalize))
  emb_NxD = np.asarray(emb_NxD, np.float32)
  n = emb_NxD.shape[0]
  size = max(1, min(batch_size, n))
  out = np.zeros((n, model_config.dim), np.float32)
  for start in range(0, n, size):
    chunk = emb_NxD[start:start + size]
    padded = np.zeros((size, emb_NxD.shape[1]), np.float32)
    padded[:len(chunk)] = chunk
    out[start:start + len(chunk)] = np.asarray(apply(params, padded))[
        :len(chunk)]
  return out
