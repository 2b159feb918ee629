r"""Encodes every unique serialized text of a pair file into the cache.

Reads a JSON-lines pair file, serializes resumes and jobs as §5.3 and encodes
the texts the cache does not hold yet (§5.4), with a progress bar; later
phases and runs then find them there.

  python scripts/embed.py --data=FILE [--model=DIR_OR_HUB_ID] \
      [--cache_dir=DIR] [--batch_tokens=2048] [--dtype=float32]

`--model=random` uses the tiny random encoder (no weights; smoke runs).
Compiled XLA programs are kept in `jax/` beside the embedding cache folder
($JAX_COMPILATION_CACHE_DIR wins), so a later run skips compilation.
"""

import pathlib
import time

from absl import app
from absl import flags
import jax.numpy as jnp

from cacl_jax import pipeline
from cacl_jax.data import jsonl_io
from cacl_jax.data import serialize
from cacl_jax.encoder import embedding_cache
from cacl_jax.encoder import encode
from cacl_jax.encoder import weights

_DATA = flags.DEFINE_string("data", None, "JSON-lines pair file.",
                            required=True)
_MODEL = flags.DEFINE_string(
    "model", None, "Model folder or hub id (default: $CACL_MPNET_DIR, else "
    "all-mpnet-base-v2 via the resolver); 'random' for the tiny random "
    "encoder.")
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", None, "Embedding cache folder (default: "
    "$CACL_CACHE_DIR/embeddings, else ~/.cache/cacl_jax/embeddings).")
_BATCH_TOKENS = flags.DEFINE_integer(
    "batch_tokens", 2048, "Token slots per forward pass: texts are packed "
    "back to back (raise to ~32768 on a GPU).")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"],
                           "Compute dtype (bfloat16 for GPU/TPU).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cache_dir = pathlib.Path(_CACHE_DIR.value or
                           embedding_cache.default_cache_dir()).expanduser()
  pipeline.enable_compilation_cache(cache_dir.parent)
  texts: dict[str, None] = {}
  pairs = 0
  for pair in jsonl_io.iter_pairs(_DATA.value):
    texts[serialize.serialize_resume(pair.resume)] = None
    texts[serialize.serialize_job(pair.job)] = None
    pairs += 1
  dtype = jnp.dtype(_DTYPE.value)
  if _MODEL.value == "random":
    encoder = encode.TextEncoder.random(dtype=dtype,
                                        batch_tokens=_BATCH_TOKENS.value)
  else:
    encoder = encode.TextEncoder.from_pretrained(
        weights.resolve_model_dir(_MODEL.value), dtype=dtype,
        batch_tokens=_BATCH_TOKENS.value)
  cache = embedding_cache.EmbeddingCache(cache_dir, encoder)
  print(f"{_DATA.value}: {pairs} pairs, {len(texts)} unique texts; "
        f"encoder {encoder.identity}; cache {cache.folder} holds {len(cache)}")
  start = time.perf_counter()
  cache.get(list(texts), progress=True)
  seconds = time.perf_counter() - start
  stats = cache.stats
  rate = (f"{stats['encoded'] / seconds:.2f} texts/s incl. compilation"
          if stats["encoded"] else "nothing to encode")
  print(f"hits {stats['hits']}, encoded {stats['encoded']} in {seconds:.1f} s "
        f"({rate}); cache size {stats['size']}")


if __name__ == "__main__":
  app.run(main)
