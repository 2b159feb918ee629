"""Config fields shared by every phase: where the data, ontology and encoder come from."""

from __future__ import annotations

import ml_collections

DEFAULT_ENCODER = "sentence-transformers/all-mpnet-base-v2"
RANDOM_TINY_ENCODER = "random-tiny"


def data_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # JSONL of pairs (records.py format). Empty: generate the built-in demo data.
  c.input = ""
  # "builtin" (the demo ontology shipped in the package) or an ESCO CSV folder.
  c.ontology = "builtin"
  # Demo data generation, used only when `input` is empty.
  c.num_pairs = 5179
  c.seed = 0
  c.noise_rate = 0.05
  # Distance matrices and embeddings. Empty: $CACL_CACHE_DIR or ~/.cache/cacl_jax.
  c.cache_dir = ""
  return c


def encoder_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Local sentence-transformers folder, a hub id, or "random-tiny" (tests).
  c.model = DEFAULT_ENCODER
  # Token slots per forward pass (packed texts); raise on GPU/TPU.
  c.batch_tokens = 2048
  c.dtype = "float32"
  return c
