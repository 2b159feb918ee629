"""Fast batched sentence encoding with the frozen MPNet (§5.2).

Texts are tokenised once (`TOKENIZE_BATCH` at a time), sorted by token count
within their batch and packed: each forward
pass takes a fixed budget of `batch_tokens` token slots, filled with the
longest texts left and topped up with the shortest, back to back. The dense
layers, ~97 % of the work, run on those packed tokens, so almost no FLOPs go
to padding (right-padded batches waste 7-12 % on the demo texts, and
sentence-transformers, which sorts by characters, ~12 %). Attention gathers
each text into its own row of a [rows, length] grid, length rounded up to
`LENGTH_BUCKET` and rows to `ROW_MULTIPLE`, so that jit compiles a handful of
shapes for a data set, not one per batch.

On CPU, a model with heads of 64 or more (all-mpnet-base-v2) sends its dots
to XLA's plain (Eigen) matmul rather than the YNNPACK library fusion that
jax 0.10 uses by default: on its shapes YNNPACK ran 15-25 % slower when
first measured, ~7 % slower in a later check (2-core Cascade Lake Xeon);
XNNPACK and oneDNN fusions were no faster than Eigen. Narrow heads (the
random test encoder's 8) keep YNNPACK, whose batched attention matmuls ran
the whole tiny forward pass ~1.6x faster than Eigen's.
With more than one local device, each device encodes its own pack.
"""

from __future__ import annotations

from concurrent import futures
import dataclasses
import functools
import os
import pathlib
from typing import Any, Iterator, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np
from safetensors.numpy import load_file
import tokenizers
import tqdm

from cacl_jax.encoder import mpnet
from cacl_jax.encoder import tokenizer as tokenizer_lib
from cacl_jax.encoder import weights

LENGTH_BUCKET = 32
ROW_MULTIPLE = 4
# Texts tokenised per batch (the tokenizer releases the GIL, so a worker
# thread tokenises the next batch while the encoder runs).
TOKENIZE_BATCH = 4096
# XLA:CPU debug options: no library fusion for dots (plain Eigen matmuls),
# and 512-bit vectors for the elementwise fusions (GELU, softmax, LayerNorm).
_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "",
                "xla_cpu_prefer_vector_width": 512}


def _round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


# Head width from which the plain dots are used on CPU (module docstring).
PLAIN_DOTS_MIN_HEAD_DIM = 64


@functools.cache
def cpu_compiler_options(head_dim: int = PLAIN_DOTS_MIN_HEAD_DIM
                         ) -> dict[str, Any] | None:
  """Plain-dot compile options on CPU for heads of `head_dim`; None for
  narrower heads, other backends, or a jaxlib that lacks them."""
  if jax.default_backend() != "cpu" or head_dim < PLAIN_DOTS_MIN_HEAD_DIM:
    return None
  try:
    jax.jit(lambda x: x @ x, compiler_options=_CPU_OPTIONS).lower(
        jnp.ones((2, 2))).compile()
  except jax.errors.JaxRuntimeError:
    return None
  return _CPU_OPTIONS


@dataclasses.dataclass(frozen=True)
class PackGroup:
  """One forward pass: a pack of texts per device, all of the same shape.

  Attributes:
    packs: per device, the indices of the texts it encodes (maybe none).
    tokens: packed token slots per device (N).
    rows, length: attention grid per device (B, T).
  """
  packs: tuple[np.ndarray, ...]
  tokens: int
  rows: int
  length: int


def plan_packs(lengths: Sequence[int], batch_tokens: int, batch_size: int,
               devices: int = 1) -> list[PackGroup]:
  """Packs texts of the given token counts into forward passes.

  Each pack holds at most `batch_size` texts and max(batch_tokens, its
  longest text) tokens: the longest texts not yet packed, then the shortest
  ones while they fit. Consecutive packs go to `devices` devices together.
  A pass has `batch_tokens` slots (its longest text rounded up to
  LENGTH_BUCKET if that is longer), except when its packs are at most half
  full (the last one): then the smallest power of two that holds them.
  """
  lengths = np.asarray(lengths, np.int64)
  order = np.argsort(-lengths, kind="stable")
  packs = []
  lo, hi = 0, len(order) - 1
  while lo <= hi:
    cap = max(batch_tokens, int(lengths[order[lo]]))
    taken, total = [], 0
    for from_back in (False, True):
      while lo <= hi and len(taken) < batch_size:
        i = order[hi] if from_back else order[lo]
        if total + lengths[i] > cap:
          break
        taken.append(i)
        total += int(lengths[i])
        if from_back:
          hi -= 1
        else:
          lo += 1
    packs.append(np.asarray(taken, np.int64))
  groups = []
  for start in range(0, len(packs), devices):
    group = packs[start:start + devices]
    group += [np.zeros(0, np.int64)] * (devices - len(group))
    most = max(int(lengths[p].sum()) for p in group)
    longest = max(int(lengths[p].max()) for p in group if len(p))
    length = _round_up(longest, LENGTH_BUCKET)
    tokens = batch_tokens if longest <= batch_tokens else length
    if 2 * most <= tokens:
      tokens = min(tokens, max(1 << (most - 1).bit_length(), LENGTH_BUCKET))
    rows = _round_up(max(len(p) for p in group), ROW_MULTIPLE)
    groups.append(PackGroup(tuple(group), tokens, rows, length))
  return groups


def pack_inputs(ids: Sequence[np.ndarray], texts: np.ndarray, tokens: int,
                rows: int, length: int, pad_id: int
                ) -> tuple[np.ndarray, mpnet.Packing]:
  """Packed token ids [tokens] and their `mpnet.Packing` for texts `texts`.

  Positions are numbered within each text (`mpnet.position_ids`). Slots
  past the last text hold `pad_id`; grid cells past a text's end and the
  grid rows past the last text point at slot 0 with mask 0.
  """
  input_ids = np.full(tokens, pad_id, np.int32)
  position = np.full(tokens, pad_id, np.int32)
  token = np.zeros((rows, length), np.int32)
  mask = np.zeros((rows, length), np.int32)
  row = np.zeros(tokens, np.int32)
  start = 0
  for r, i in enumerate(texts):
    n = len(ids[i])
    span = np.arange(start, start + n, dtype=np.int32)
    input_ids[span] = ids[i]
    position[span] = mpnet.position_ids(ids[i], pad_id)
    token[r, :n] = span
    mask[r, :n] = 1
    row[span] = r * length + np.arange(n)
    start += n
  return input_ids, mpnet.Packing(position, token, mask, row)


def _embed_packs(model: mpnet.MPNetModel, params, input_ids_PxN,
                 packing: mpnet.Packing):
  """Frozen forward pass of P packs: [P, B, D] L2-normalised embeddings."""
  params = jax.lax.stop_gradient(params)

  def one_pack(input_ids_N, pack):
    hidden = model.apply({"params": params}, input_ids_N, packing=pack)
    return mpnet.packed_mean_l2(hidden, pack)

  return jax.vmap(one_pack)(input_ids_PxN, packing)


def pretrained_identity(model_dir: str | os.PathLike, dtype=jnp.float32,
                        max_len: int | None = None) -> str:
  """The identity `TextEncoder.from_pretrained` gives a model folder, found
  without loading its weights (the weights hash is read from the folder's
  verified marker when there is one)."""
  model_dir = pathlib.Path(model_dir)
  max_len = max_len or tokenizer_lib.read_max_seq_length(model_dir)
  digest = weights.weights_sha256(model_dir)[:16]
  return (f"{model_dir.name}:sha256={digest}:max_len={max_len}:"
          f"dtype={jnp.dtype(dtype).name}")


class TextEncoder:
  """Frozen MPNet sentence encoder: texts → L2-normalised [N, D] float32.

  Attributes:
    identity: names the model, its weights, max length and dtype; embedding
      caches key on it.
    dim: embedding width.
    max_len: tokens per text after truncation (special tokens included).
    batch_size, batch_tokens: most texts / token slots per pack (one pack
      per device and forward pass).
  """

  def __init__(self, config: mpnet.MPNetConfig, params: Any,
               tokenizer: tokenizers.Tokenizer, max_len: int, identity: str,
               dtype: Any = jnp.float32, batch_size: int = 128,
               batch_tokens: int = 2048):
    if not 2 <= max_len <= config.max_text_tokens:
      raise ValueError(f"max_len {max_len} outside [2, "
                       f"{config.max_text_tokens}] for this position table")
    if batch_size < 1 or batch_tokens < 1:
      raise ValueError(f"batch_size ({batch_size}) and batch_tokens "
                       f"({batch_tokens}) must be >= 1")
    self.config = config
    self.max_len = max_len
    self.dtype = jnp.dtype(dtype)
    self.identity = identity
    self.dim = config.hidden_size
    self.batch_size = batch_size
    self.batch_tokens = batch_tokens
    self.tokenizer = tokenizer
    self._unpadded_tokenizer = tokenizer_lib.unpadded(tokenizer)
    self._model = mpnet.MPNetModel(config, dtype=self.dtype)
    devices = jax.local_devices()
    self._mesh = Mesh(np.array(devices), ("packs",))
    cast = lambda x: jnp.asarray(x, self.dtype)
    self._params = jax.device_put(jax.tree.map(cast, params),
                                  NamedSharding(self._mesh, PartitionSpec()))
    self._forward = jax.jit(functools.partial(_embed_packs, self._model),
                            compiler_options=cpu_compiler_options(
                                config.head_dim))

  @classmethod
  def from_pretrained(cls, model_dir: str | os.PathLike, dtype=jnp.float32,
                      batch_size: int = 128, batch_tokens: int = 2048,
                      max_len: int | None = None) -> "TextEncoder":
    """Loads a sentence-transformers folder (see `weights.resolve_model_dir`).

    `max_len` defaults to the folder's max_seq_length (384 for
    all-mpnet-base-v2). On accelerators raise `batch_tokens` (e.g. 32768).
    """
    model_dir = weights.check_model_dir(pathlib.Path(model_dir))
    config = mpnet.MPNetConfig.from_json(model_dir / "config.json")
    max_len = max_len or tokenizer_lib.read_max_seq_length(model_dir)
    tok = tokenizer_lib.load_tokenizer(model_dir, max_len)
    pad_id = tok.token_to_id(tokenizer_lib.PAD_TOKEN)
    if pad_id != config.pad_token_id:
      raise ValueError(f"{model_dir}: tokenizer pad id {pad_id} differs from "
                       f"config.json field 'pad_token_id' "
                       f"{config.pad_token_id}")
    source = model_dir / "model.safetensors"
    params = mpnet.params_from_state_dict(load_file(source), config,
                                          source=str(source))
    return cls(config, params, tok, max_len,
               pretrained_identity(model_dir, dtype, max_len), dtype,
               batch_size, batch_tokens)

  @classmethod
  def random(cls, seed: int = 0, hidden: int = 32, layers: int = 2,
             heads: int = 4, intermediate: int | None = None,
             max_len: int = 128, dtype=jnp.float32, batch_size: int = 128,
             batch_tokens: int = 2048) -> "TextEncoder":
    """A small randomly initialised MPNet with `tokenizer.tiny_tokenizer`.

    Needs no download; for tests and smoke runs. The same arguments give
    the same weights and the same identity.
    """
    tok = tokenizer_lib.tiny_tokenizer(max_len)
    intermediate = intermediate or 4 * hidden
    config = mpnet.MPNetConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden,
        num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_len + 2,
        pad_token_id=tok.token_to_id(tokenizer_lib.PAD_TOKEN))
    dummy = jnp.ones((1, 4), jnp.int32)
    params = mpnet.MPNetModel(config).init(jax.random.PRNGKey(seed), dummy,
                                           dummy)["params"]
    identity = (f"random-mpnet:seed={seed}:hidden={hidden}:layers={layers}:"
                f"heads={heads}:intermediate={intermediate}:"
                f"vocab={config.vocab_size}:max_len={max_len}:"
                f"dtype={jnp.dtype(dtype).name}")
    return cls(config, params, tok, max_len, identity, dtype, batch_size,
               batch_tokens)

  def _run(self, ids: list[np.ndarray]
           ) -> Iterator[tuple[list[np.ndarray], jax.Array]]:
    """Dispatches every pass; yields (texts per pack, device embeddings)."""
    sharding = NamedSharding(self._mesh, PartitionSpec("packs"))
    plan = plan_packs([len(x) for x in ids], self.batch_tokens,
                      self.batch_size, devices=self._mesh.size)
    for group in plan:
      packs = [pack_inputs(ids, texts, group.tokens, group.rows, group.length,
                           self.config.pad_token_id) for texts in group.packs]
      inputs = jax.tree.map(lambda *xs: np.stack(xs), *packs)
      yield list(group.packs), self._forward(
          self._params, *jax.device_put(inputs, sharding))

  def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
    """L2-normalised embeddings [len(texts), dim] float32, in input order.

    Repeated texts are encoded once. `progress` shows a tqdm bar (texts/s).
    Texts are tokenised `TOKENIZE_BATCH` at a time, the next batch on a
    worker thread while the passes of this one run.
    """
    texts = list(texts)
    unique = list(dict.fromkeys(texts))
    emb = np.zeros((len(unique), self.dim), np.float32)
    with tqdm.tqdm(total=len(unique), unit=" texts", desc="encode",
                   disable=not progress) as bar, \
        futures.ThreadPoolExecutor(1) as worker:

      def collect(packs: list[np.ndarray], result: jax.Array) -> None:
        result = np.asarray(result)
        for members, rows in zip(packs, result):
          emb[members] = rows[:len(members)]
          bar.update(len(members))

      def tokenize(start: int) -> futures.Future:
        return worker.submit(tokenizer_lib.token_ids, self._unpadded_tokenizer,
                             unique[start:start + TOKENIZE_BATCH])

      pending, batch = None, tokenize(0) if unique else None
      for start in range(0, len(unique), TOKENIZE_BATCH):
        ids = batch.result()
        if start + TOKENIZE_BATCH < len(unique):
          batch = tokenize(start + TOKENIZE_BATCH)
        # Dispatch is asynchronous: pack the next pass while this one runs.
        for packs, result in self._run(ids):
          if pending is not None:
            collect(*pending)
          pending = [start + p for p in packs], result
      if pending is not None:
        collect(*pending)
    if len(unique) == len(texts):
      return emb
    index = {text: i for i, text in enumerate(unique)}
    return emb[[index[t] for t in texts]]
