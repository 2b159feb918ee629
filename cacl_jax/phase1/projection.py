"""Trainable projection head of §5.2 on top of frozen encoder embeddings.

Linear(D, 256) → ReLU → Dropout(0.3) → Linear(256, 128), L2-normalised so
that a dot product is the cosine similarity. Parameters start like PyTorch's
`nn.Linear` (weights and biases uniform in ±1/√fan_in), the initialisation
the original method trained from.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

_NORM_EPS = 1e-12  # same floor as torch.nn.functional.normalize


def _torch_linear_bias_init(fan_in: int):
  bound = 1.0 / np.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def _dense(features: int, fan_in: int, name: str) -> nn.Dense:
  return nn.Dense(
      features,
      kernel_init=nn.initializers.variance_scaling(1.0 / 3.0, "fan_in",
                                                   "uniform"),
      bias_init=_torch_linear_bias_init(fan_in),
      name=name)


def l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
  norm = jnp.linalg.norm(x, axis=axis, keepdims=True)
  return x / jnp.maximum(norm, _NORM_EPS)


class ProjectionHead(nn.Module):
  """Maps [..., D] encoder embeddings to L2-normalised [..., dim] vectors."""
  hidden: int = 256
  dim: int = 128
  dropout: float = 0.3

  @nn.compact
  def __call__(self, emb_xD: jax.Array, *, deterministic: bool) -> jax.Array:
    h = _dense(self.hidden, emb_xD.shape[-1], "hidden")(emb_xD)
    h = nn.relu(h)
    h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
    z = _dense(self.dim, self.hidden, "output")(h)
    return l2_normalize(z)


@functools.lru_cache(maxsize=None)
def _head(hidden: int, dim: int, dropout: float) -> ProjectionHead:
  return ProjectionHead(hidden=hidden, dim=dim, dropout=dropout)


def make_head(model_config: ml_collections.ConfigDict) -> ProjectionHead:
  """The head of `model_config`; one shared instance per configuration, so
  that its `apply` compares equal across runs and jitted code is reused."""
  return _head(model_config.hidden, model_config.dim, model_config.dropout)


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
            emb_NxD: np.ndarray, batch_size: int = 4096) -> np.ndarray:
  """Deterministic projection (dropout off) of many embeddings, in chunks.

  The last chunk is padded to `batch_size` rows so that one compiled function
  serves every chunk.
  """
  apply = _deterministic_apply(make_head(model_config))
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
