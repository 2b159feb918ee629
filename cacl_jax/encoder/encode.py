"""Fast batched sentence encoding with the frozen MPNet (§5.2).

Texts are tokenised once and sorted by token count, longest first. Each
batch takes the next texts in that order and pads them to the longest one's
length rounded up to a multiple of `LENGTH_BUCKET` (16), holding at most
`batch_size` texts and `batch_tokens` tokens. Neighbours in the sorted order
have nearly equal lengths, so padding stays small (sentence-transformers
sorts by characters, which pads more), attention runs over each text's own
length, and jit compiles one shape per bucket length in use plus the last
batch (rounded up to a power of two rows) — a handful for a data set. (One
text per row beats packing several texts into long rows here: attention over
a packed row costs its full length squared.)

On CPU the dots go to XLA's plain (Eigen) matmul rather than the YNNPACK
library fusion that jax 0.10 uses by default: on this model's shapes YNNPACK
ran ~20 % slower (2-core Cascade Lake Xeon; 85-89 vs 107-109 GFLOP/s for
[2048, 768] x [768, 3072]).
With more than one local device each batch is split across them by rows.
"""

from __future__ import annotations

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

LENGTH_BUCKET = 16
# XLA:CPU debug options: no library fusion for dots (plain Eigen matmuls),
# and 512-bit vectors for the elementwise fusions (GELU, softmax, LayerNorm).
_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "",
                "xla_cpu_prefer_vector_width": 512}


def _round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


@functools.cache
def cpu_compiler_options() -> dict[str, Any] | None:
  """Plain-dot compile options on CPU; None elsewhere or if jaxlib lacks them."""
  if jax.default_backend() != "cpu":
    return None
  try:
    jax.jit(lambda x: x @ x, compiler_options=_CPU_OPTIONS).lower(
        jnp.ones((2, 2))).compile()
  except jax.errors.JaxRuntimeError:
    return None
  return _CPU_OPTIONS


def plan_batches(lengths: Sequence[int], batch_size: int, batch_tokens: int,
                 multiple: int = 1) -> list[tuple[np.ndarray, int, int]]:
  """Splits texts into padded batches: [(text indices, rows, length)].

  Longest texts first; a batch's length is its longest text rounded up to
  LENGTH_BUCKET, its rows min(batch_size, batch_tokens // length) rounded
  down to `multiple` (at least `multiple`). Only the last batch may hold
  fewer texts than rows; its rows are rounded up to a power of two.
  """
  lengths = np.asarray(lengths)
  order = np.argsort(-lengths, kind="stable")
  batches = []
  start = 0
  while start < len(order):
    length = _round_up(int(lengths[order[start]]), LENGTH_BUCKET)
    rows = min(batch_size, batch_tokens // length) // multiple * multiple
    rows = max(rows, multiple)
    chunk = order[start:start + rows]
    if len(chunk) < rows:
      pow2 = 1 << (len(chunk) - 1).bit_length()
      rows = min(rows, _round_up(pow2, multiple))
    batches.append((chunk, rows, length))
    start += len(chunk)
  return batches


def pad_batch(ids: Sequence[np.ndarray], indices: Sequence[int], rows: int,
              length: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
  """[rows, length] input ids and attention mask of texts `indices`.

  Rows beyond len(indices) are all padding.
  """
  input_ids = np.full((rows, length), pad_id, np.int32)
  mask = np.zeros((rows, length), np.int32)
  for r, i in enumerate(indices):
    input_ids[r, :len(ids[i])] = ids[i]
    mask[r, :len(ids[i])] = 1
  return input_ids, mask


def _embed_rows(model: mpnet.MPNetModel, params, input_ids_BxT,
                attention_mask_BxT):
  """Frozen forward pass: [B, D] L2-normalised mean-pooled embeddings."""
  params = jax.lax.stop_gradient(params)
  hidden = model.apply({"params": params}, input_ids_BxT, attention_mask_BxT)
  return mpnet.masked_mean_l2(hidden, attention_mask_BxT)


class TextEncoder:
  """Frozen MPNet sentence encoder: texts → L2-normalised [N, D] float32.

  Attributes:
    identity: names the model, its weights, max length and dtype; embedding
      caches key on it.
    dim: embedding width.
    max_len: tokens per text after truncation (special tokens included).
    batch_size, batch_tokens: most texts / padded tokens per forward pass.
  """

  def __init__(self, config: mpnet.MPNetConfig, params: Any,
               tokenizer: tokenizers.Tokenizer, max_len: int, identity: str,
               dtype: Any = jnp.float32, batch_size: int = 32,
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
    self._mesh = Mesh(np.array(devices), ("rows",))
    cast = lambda x: jnp.asarray(x, self.dtype)
    self._params = jax.device_put(jax.tree.map(cast, params),
                                  NamedSharding(self._mesh, PartitionSpec()))
    self._forward = jax.jit(functools.partial(_embed_rows, self._model),
                            compiler_options=cpu_compiler_options())

  @classmethod
  def from_pretrained(cls, model_dir: str | os.PathLike, dtype=jnp.float32,
                      batch_size: int = 32, batch_tokens: int = 2048,
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
    digest = weights.weights_sha256(model_dir)[:16]
    identity = (f"{model_dir.name}:sha256={digest}:max_len={max_len}:"
                f"dtype={jnp.dtype(dtype).name}")
    return cls(config, params, tok, max_len, identity, dtype, batch_size,
               batch_tokens)

  @classmethod
  def random(cls, seed: int = 0, hidden: int = 32, layers: int = 2,
             heads: int = 4, intermediate: int | None = None,
             max_len: int = 128, dtype=jnp.float32, batch_size: int = 32,
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
           ) -> Iterator[tuple[np.ndarray, jax.Array]]:
    """Dispatches every batch; yields (text indices, device embeddings)."""
    sharding = NamedSharding(self._mesh, PartitionSpec("rows"))
    plan = plan_batches([len(x) for x in ids], self.batch_size,
                        self.batch_tokens, multiple=self._mesh.size)
    for indices, rows, length in plan:
      inputs = pad_batch(ids, indices, rows, length, self.config.pad_token_id)
      yield indices, self._forward(self._params,
                                   *jax.device_put(inputs, sharding))

  def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
    """L2-normalised embeddings [len(texts), dim] float32, in input order.

    Repeated texts are encoded once. `progress` shows a tqdm bar (texts/s).
    """
    texts = list(texts)
    unique = list(dict.fromkeys(texts))
    emb = np.zeros((len(unique), self.dim), np.float32)
    ids = tokenizer_lib.token_ids(self._unpadded_tokenizer, unique)
    with tqdm.tqdm(total=len(unique), unit=" texts", desc="encode",
                   disable=not progress) as bar:

      def collect(indices: np.ndarray, result: jax.Array) -> None:
        emb[indices] = np.asarray(result)[:len(indices)]
        bar.update(len(indices))

      pending = None
      # Dispatch is asynchronous: pad the next batch while this one runs.
      for item in self._run(ids):
        if pending is not None:
          collect(*pending)
        pending = item
      if pending is not None:
        collect(*pending)
    if len(unique) == len(texts):
      return emb
    index = {text: i for i, text in enumerate(unique)}
    return emb[[index[t] for t in texts]]
