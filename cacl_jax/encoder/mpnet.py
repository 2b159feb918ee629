"""Frozen MPNet sentence encoder in flax linen (§5.2).

Numerically the same network as transformers' torch `MPNetModel` followed by
sentence-transformers' mean pooling and L2 normalisation:

* embeddings: word + position embedding, LayerNorm (eps 1e-5). Position ids
  are numbered over the tokens that are not `pad_token_id` (`position_ids`),
  as transformers' `create_position_ids_from_input_ids` numbers them: a
  literal "<pad>" inside a text gets position `pad_token_id` and does not
  advance the count, though the attention mask still covers it;
* one T5-style bidirectional relative-position bias ([buckets, heads]) computed
  once per forward pass and shared by every layer;
* post-LayerNorm transformer layers with exact (erf) GELU; the query, key and
  value projections are fused into one [D, 3D] matmul, and the layers run
  under `nn.scan` so XLA compiles one layer body instead of twelve.

Inputs are either right-padded batches (token ids and an attention mask, 1 =
text, 0 = padding, of shape [B, T]) or packed tokens with a `Packing` that
says where each text's tokens sit (see `MPNetModel`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
from typing import Any, Mapping, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Params = Mapping[str, Any]

# Added to the attention scores of padding keys. Finite, so an all-padding row
# gets a uniform softmax instead of NaN; exp() of it underflows to exactly 0
# next to any real score.
_MASKED_SCORE = -1e30


@dataclasses.dataclass(frozen=True)
class MPNetConfig:
  """Shape of an MPNet encoder; field names follow transformers' config.json."""
  vocab_size: int = 30527
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  max_position_embeddings: int = 514
  relative_attention_num_buckets: int = 32
  layer_norm_eps: float = 1e-5
  pad_token_id: int = 1
  hidden_act: str = "gelu"

  def __post_init__(self):
    if self.hidden_size % self.num_attention_heads:
      raise ValueError(
          f"hidden_size {self.hidden_size} is not a multiple of "
          f"num_attention_heads {self.num_attention_heads}")
    if self.hidden_act != "gelu":
      raise ValueError(f"hidden_act {self.hidden_act!r} is not supported; "
                       "MPNet uses exact 'gelu'")

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_attention_heads

  @property
  def max_text_tokens(self) -> int:
    """Longest text the position table can hold (positions start at pad+1)."""
    return self.max_position_embeddings - self.pad_token_id - 1

  @classmethod
  def from_json(cls, path: str | os.PathLike) -> "MPNetConfig":
    """Reads a transformers `config.json`, keeping the fields MPNet uses."""
    path = pathlib.Path(path)
    try:
      raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
      raise ValueError(f"{path}: cannot read model config: {e}") from None
    if raw.get("model_type", "mpnet") != "mpnet":
      raise ValueError(f"{path}: field 'model_type' is "
                       f"{raw['model_type']!r}, expected 'mpnet'")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in raw.items() if k in names}
    try:
      return cls(**kwargs)
    except (TypeError, ValueError) as e:
      raise ValueError(f"{path}: {e}") from None


def relative_position_buckets(seq_len: int, num_buckets: int = 32,
                              max_distance: int = 128) -> np.ndarray:
  """Bucket of key j relative to query i, int32 [seq_len, seq_len].

  T5's bidirectional scheme as in `MPNetEncoder.relative_position_bucket`:
  half the buckets per direction, exact buckets for small distances, then
  logarithmic up to `max_distance`. Computed in float32 like torch so
  truncation lands in the same bucket at every boundary.
  """
  pos = np.arange(seq_len)
  n = pos[:, None] - pos[None, :]
  half = num_buckets // 2
  bucket = (n < 0).astype(np.int64) * half
  n = np.abs(n)
  max_exact = half // 2
  ratio = np.maximum(n, 1).astype(np.float32) / np.float32(max_exact)
  large = max_exact + (
      np.log(ratio) / np.float32(math.log(max_distance / max_exact)) *
      np.float32(half - max_exact)).astype(np.int64)
  large = np.minimum(large, half - 1)
  bucket += np.where(n < max_exact, n, large)
  return bucket.astype(np.int32)


def gelu(x):
  """Exact GELU as torch computes it: x/2 · (1 + erf(x/√2)).

  jax.nn.gelu(approximate=False) goes through erfc, which XLA expands into
  two rational approximations plus an exp and two divides per element; erf
  is one polynomial. The erfc form is more accurate only where GELU is ~0.
  """
  return x * (0.5 + 0.5 * jax.lax.erf(x * np.float32(1 / math.sqrt(2))))


class Packing(NamedTuple):
  """Where the tokens of a batch of texts sit in a packed token array.

  Dense layers run on the packed [N] tokens (texts back to back, padding
  only at the end); attention gathers them into a [B, T] grid, one text per
  row. Every index is in range: grid cells past a text's end and packed
  rows past the last text point at row 0 and are masked or never read.

  Attributes:
    position_N: MPNet position id of each packed token, `position_ids` of
      its own text's ids.
    token_BxT: packed row of text b's t-th token.
    mask_BxT: 1 where token_BxT is a token of the text, 0 elsewhere.
    row_N: grid cell b * T + t of each packed token.
  """
  position_N: jax.Array
  token_BxT: jax.Array
  mask_BxT: jax.Array
  row_N: jax.Array


def position_ids(input_ids, pad_token_id: int):
  """MPNet position ids along the last axis of numpy or jax `input_ids`.

  transformers' `create_position_ids_from_input_ids`: tokens that are not
  `pad_token_id` are numbered pad_token_id + 1, pad_token_id + 2, …; every
  pad id, padding or a literal "<pad>" in a text, gets `pad_token_id`.
  """
  not_pad = input_ids != pad_token_id
  return (not_pad.cumsum(axis=-1) * not_pad + pad_token_id).astype(np.int32)


def _gather_rows(x, index):
  return x.at[index].get(mode="promise_in_bounds")


class MPNetLayer(nn.Module):
  """Post-LN transformer layer: fused-QKV attention, then a GELU MLP.

  Runs on packed tokens h [N, D]; `token_BxT` / `row_N` move them to the
  attention grid and back (None: h is the grid itself, flattened). A
  `nn.scan` body: returns `(h, None)`.
  """
  config: MPNetConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h_NxD, rel_bias_HxTxT, mask_bias_BxT, token_BxT, row_N):
    cfg = self.config
    dense = lambda n, name: nn.Dense(n, dtype=self.dtype, name=name)
    norm = lambda name: nn.LayerNorm(epsilon=cfg.layer_norm_eps,
                                     dtype=self.dtype, name=name)
    b, t = mask_bias_BxT.shape
    qkv_NxE = dense(3 * cfg.hidden_size, "qkv")(h_NxD)
    qkv = (qkv_NxE if token_BxT is None else
           _gather_rows(qkv_NxE, token_BxT.reshape(-1)))
    # Head-major [3, B, H, T, d]: batched matmuls over (B, H) run faster on
    # CPU than einsums that leave the head axis inside.
    qkv = qkv.reshape(b, t, 3, cfg.num_attention_heads, cfg.head_dim)
    q, k, v = jnp.transpose(qkv, (2, 0, 3, 1, 4))
    q = q * jnp.asarray(1.0 / math.sqrt(cfg.head_dim), self.dtype)
    scores = jnp.einsum("bhqd,bhkd->bhqk", q, k,
                        preferred_element_type=jnp.float32)
    scores = scores + rel_bias_HxTxT[None] + mask_bias_BxT[:, None, None]
    probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
    ctx = jnp.einsum("bhqk,bhkd->bhqd", probs, v)
    ctx = jnp.transpose(ctx, (0, 2, 1, 3)).reshape(b * t, -1)
    if row_N is not None:
      ctx = _gather_rows(ctx, row_N)
    h = norm("attention_norm")(dense(cfg.hidden_size, "attention_out")(ctx) +
                               h_NxD)
    mlp = gelu(dense(cfg.intermediate_size, "intermediate")(h))
    h = norm("output_norm")(dense(cfg.hidden_size, "output")(mlp) + h)
    return h, None


class MPNetModel(nn.Module):
  """MPNet encoder returning the last hidden state.

  Two input layouts, the same network:
    model(input_ids_BxT, attention_mask_BxT) -> [B, T, D]: right-padded rows;
    model(input_ids_N, packing=Packing(...)) -> [N, D]: packed tokens, so
      the dense layers (~97 % of the FLOPs) skip padding entirely.

  Attributes:
    config: network shape.
    dtype: compute dtype (float32, or bfloat16 on accelerators); parameters
      stay float32 and softmax runs in float32.
  """
  config: MPNetConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, input_ids, attention_mask_BxT=None,
               packing: Packing | None = None):
    cfg = self.config
    if packing is None:
      mask_BxT = attention_mask_BxT.astype(jnp.int32)
      position_N = position_ids(input_ids, cfg.pad_token_id).reshape(-1)
      grid_shape = input_ids.shape
      input_ids = input_ids.reshape(-1)
      token_BxT = row_N = None
    else:
      mask_BxT = packing.mask_BxT.astype(jnp.int32)
      position_N, token_BxT, row_N = (packing.position_N, packing.token_BxT,
                                      packing.row_N)
    word = nn.Embed(cfg.vocab_size, cfg.hidden_size, name="word_embeddings")
    pos = nn.Embed(cfg.max_position_embeddings, cfg.hidden_size,
                   name="position_embeddings")
    h_NxD = nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=self.dtype,
                         name="embeddings_norm")(
                             word(input_ids) + pos(position_N))

    rel_table = self.param("relative_attention_bias",
                           nn.initializers.normal(0.02),
                           (cfg.relative_attention_num_buckets,
                            cfg.num_attention_heads))
    buckets_TxT = relative_position_buckets(
        mask_BxT.shape[1], cfg.relative_attention_num_buckets)
    rel_bias_HxTxT = jnp.transpose(rel_table[buckets_TxT],
                                   (2, 0, 1)).astype(jnp.float32)
    mask_bias_BxT = jnp.where(mask_BxT > 0, 0.0, _MASKED_SCORE)
    layers = nn.scan(MPNetLayer, variable_axes={"params": 0},
                     split_rngs={"params": True},
                     in_axes=(nn.broadcast,) * 4,
                     length=cfg.num_hidden_layers)
    h_NxD, _ = layers(cfg, self.dtype, name="layers")(
        h_NxD, rel_bias_HxTxT, mask_bias_BxT, token_BxT, row_N)
    if packing is None:
      return h_NxD.reshape(*grid_shape, -1)
    return h_NxD


def packed_mean_l2(hidden_NxD, packing: Packing):
  """Each text's mean-pooled, L2-normalised embedding: [B, D] float32."""
  return masked_mean_l2(_gather_rows(hidden_NxD, packing.token_BxT),
                        packing.mask_BxT)


def masked_mean_l2(hidden_BxTxD, attention_mask_BxT):
  """Mean over each row's unmasked tokens, then L2 normalised: [B, D] f32.

  sentence-transformers' mean pooling followed by its Normalize module.
  """
  mask_BxT = attention_mask_BxT.astype(jnp.float32)
  summed = jnp.einsum("bt,btd->bd", mask_BxT, hidden_BxTxD.astype(jnp.float32))
  mean = summed / jnp.maximum(mask_BxT.sum(-1, keepdims=True), 1.0)
  norm = jnp.sqrt(jnp.sum(mean * mean, axis=-1, keepdims=True))
  return mean / jnp.maximum(norm, 1e-12)


def params_from_state_dict(state: Mapping[str, np.ndarray],
                           config: MPNetConfig, source: str = "<state>"
                           ) -> dict:
  """Maps a torch `MPNetModel` state dict (numpy arrays) to flax params.

  Accepts keys with or without the `mpnet.` prefix. The pooler is not
  used by sentence embeddings and is ignored. Missing or mis-shaped tensors
  raise ValueError naming `source` and the key.
  """
  prefix = "mpnet." if any(k.startswith("mpnet.") for k in state) else ""

  def get(key: str, shape: tuple[int, ...]) -> np.ndarray:
    full = prefix + key
    if full not in state:
      raise ValueError(f"{source}: tensor '{full}' is missing")
    value = np.asarray(state[full], dtype=np.float32)
    if value.shape != shape:
      raise ValueError(f"{source}: tensor '{full}' has shape {value.shape}, "
                       f"expected {shape}")
    return value

  d, f = config.hidden_size, config.intermediate_size

  def dense(key: str, n_in: int, n_out: int) -> dict:
    return {"kernel": get(f"{key}.weight", (n_out, n_in)).T,
            "bias": get(f"{key}.bias", (n_out,))}

  def norm(key: str) -> dict:
    return {"scale": get(f"{key}.weight", (d,)), "bias": get(f"{key}.bias",
                                                             (d,))}

  params = {
      "word_embeddings": {"embedding": get(
          "embeddings.word_embeddings.weight", (config.vocab_size, d))},
      "position_embeddings": {"embedding": get(
          "embeddings.position_embeddings.weight",
          (config.max_position_embeddings, d))},
      "embeddings_norm": norm("embeddings.LayerNorm"),
      "relative_attention_bias": get(
          "encoder.relative_attention_bias.weight",
          (config.relative_attention_num_buckets,
           config.num_attention_heads)),
  }
  layers = []
  for i in range(config.num_hidden_layers):
    layer = f"encoder.layer.{i}"
    q, k, v = (dense(f"{layer}.attention.attn.{n}", d, d) for n in "qkv")
    layers.append({
        "qkv": {"kernel": np.concatenate(
                    [q["kernel"], k["kernel"], v["kernel"]], axis=1),
                "bias": np.concatenate([q["bias"], k["bias"], v["bias"]])},
        "attention_out": dense(f"{layer}.attention.attn.o", d, d),
        "attention_norm": norm(f"{layer}.attention.LayerNorm"),
        "intermediate": dense(f"{layer}.intermediate.dense", d, f),
        "output": dense(f"{layer}.output.dense", f, d),
        "output_norm": norm(f"{layer}.output.LayerNorm"),
    })
  params["layers"] = jax.tree.map(lambda *xs: np.stack(xs), *layers)
  return params
