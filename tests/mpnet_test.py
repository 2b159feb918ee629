"""Flax MPNet against a golden file made by torch's `MPNetModel`.

tests/golden/mpnet_tiny.npz comes from scripts/make_mpnet_golden.py (a tiny
random torch model, its weights, inputs and outputs, and sentence-transformers'
encoding of texts that hold special tokens' strings literally); reading it
needs no torch.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cacl_jax.encoder import encode
from cacl_jax.encoder import mpnet

GOLDEN = pathlib.Path(__file__).parent / "golden" / "mpnet_tiny.npz"


def load_golden():
  """(arrays of the golden file, its MPNetConfig, its flax params)."""
  with np.load(GOLDEN) as z:
    data = {k: z[k] for k in z.files}
  config = mpnet.MPNetConfig(**json.loads(str(data["config_json"])))
  state = {k.removeprefix("weight/"): v for k, v in data.items()
           if k.startswith("weight/")}
  params = mpnet.params_from_state_dict(state, config, source=str(GOLDEN))
  return data, config, params


@pytest.fixture(scope="module")
def golden():
  return load_golden()


def test_golden_file_is_small():
  assert GOLDEN.stat().st_size < 1_000_000


def forward(data, config, params, dtype=jnp.float32):
  return mpnet.MPNetModel(config, dtype=dtype).apply(
      {"params": params}, data["input_ids"], data["attention_mask"])


def test_last_hidden_state_matches_torch(golden):
  data, config, params = golden
  hidden = forward(data, config, params)
  mask = data["attention_mask"][..., None]
  np.testing.assert_allclose(np.asarray(hidden) * mask,
                             data["last_hidden_state"], atol=1e-5, rtol=0)


def test_sentence_embeddings_match_torch(golden):
  data, config, params = golden
  emb = mpnet.masked_mean_l2(forward(data, config, params),
                             data["attention_mask"])
  np.testing.assert_allclose(np.asarray(emb), data["sentence_embedding"],
                             atol=1e-5, rtol=0)


def test_padding_does_not_change_embeddings(golden):
  """Extra padding columns leave every text's embedding unchanged."""
  data, config, params = golden
  padded = {"input_ids": np.pad(data["input_ids"], ((0, 0), (0, 40)),
                                constant_values=config.pad_token_id),
            "attention_mask": np.pad(data["attention_mask"], ((0, 0), (0, 40)))}
  emb = mpnet.masked_mean_l2(forward(padded, config, params),
                             padded["attention_mask"])
  np.testing.assert_allclose(np.asarray(emb), data["sentence_embedding"],
                             atol=1e-5, rtol=0)


def test_packed_tokens_match_torch(golden):
  """Texts packed back to back (in reverse order) give torch's outputs."""
  data, config, params = golden
  mask = data["attention_mask"].astype(bool)
  ids = [row[m] for row, m in zip(data["input_ids"], mask)]
  order = np.arange(len(ids))[::-1]
  tokens = sum(len(x) for x in ids) + 5
  input_ids, packing = encode.pack_inputs(
      ids, order, tokens, rows=len(ids) + 1, length=mask.shape[1] + 3,
      pad_id=config.pad_token_id)
  hidden = mpnet.MPNetModel(config).apply({"params": params}, input_ids,
                                          packing=packing)
  assert hidden.shape == (tokens, config.hidden_size)
  emb = np.asarray(mpnet.packed_mean_l2(hidden, packing))
  np.testing.assert_allclose(emb[:len(ids)], data["sentence_embedding"][order],
                             atol=1e-5, rtol=0)
  for r, i in enumerate(order):
    got = np.asarray(hidden)[packing.token_BxT[r, :len(ids[i])]]
    np.testing.assert_allclose(got, data["last_hidden_state"][i][mask[i]],
                               atol=1e-5, rtol=0)


def test_position_ids_match_transformers_with_literal_pads(golden):
  """A "<pad>" inside a text gets the pad position and is not counted."""
  data, config, _ = golden
  ids = data["text_input_ids"]
  assert (ids == config.pad_token_id)[data["text_attention_mask"] > 0].any()
  for xs in (ids, jnp.asarray(ids)):
    np.testing.assert_array_equal(
        np.asarray(mpnet.position_ids(xs, config.pad_token_id)),
        data["text_position_ids"])
  np.testing.assert_array_equal(
      mpnet.position_ids(np.array([0, 9, 1, 1, 8, 2, 1]), 1),
      [2, 3, 1, 1, 4, 5, 1])


def test_literal_special_tokens_match_sentence_transformers(golden):
  """Right-padded rows of texts with "<pad>", "<s>", … inside them."""
  data, config, params = golden
  text = {"input_ids": data["text_input_ids"],
          "attention_mask": data["text_attention_mask"]}
  emb = mpnet.masked_mean_l2(forward(text, config, params),
                             text["attention_mask"])
  np.testing.assert_allclose(np.asarray(emb), data["text_sentence_embedding"],
                             atol=1e-5, rtol=0)


def test_literal_special_tokens_packed_match_sentence_transformers(golden):
  data, config, params = golden
  mask = data["text_attention_mask"].astype(bool)
  ids = [row[m] for row, m in zip(data["text_input_ids"], mask)]
  order = np.arange(len(ids))
  input_ids, packing = encode.pack_inputs(
      ids, order, sum(map(len, ids)), rows=len(ids), length=mask.shape[1],
      pad_id=config.pad_token_id)
  hidden = mpnet.MPNetModel(config).apply({"params": params}, input_ids,
                                          packing=packing)
  np.testing.assert_allclose(np.asarray(mpnet.packed_mean_l2(hidden, packing)),
                             data["text_sentence_embedding"], atol=1e-5,
                             rtol=0)


def test_relative_position_buckets_match_torch(golden):
  data, _, _ = golden
  rel = data["relative_positions"]
  span = int(np.abs(rel).max())
  buckets = mpnet.relative_position_buckets(2 * span + 1)
  # Row `span` is the query at the centre: column span + r is distance r.
  np.testing.assert_array_equal(buckets[span, span + rel],
                                data["relative_buckets"])


def test_bf16_close_to_float32(golden):
  data, config, params = golden
  bf16 = jax.tree.map(lambda x: jnp.asarray(x, jnp.bfloat16), params)
  emb = np.asarray(mpnet.masked_mean_l2(
      forward(data, config, bf16, jnp.bfloat16), data["attention_mask"]))
  cos = np.sum(emb * data["sentence_embedding"], axis=1)
  assert cos.min() > 0.99


def test_config_from_json(tmp_path):
  path = tmp_path / "config.json"
  path.write_text(json.dumps({"model_type": "mpnet", "hidden_size": 64,
                              "num_attention_heads": 4, "extra": 1}))
  config = mpnet.MPNetConfig.from_json(path)
  assert (config.hidden_size, config.head_dim, config.vocab_size) == (64, 16,
                                                                      30527)
  path.write_text(json.dumps({"model_type": "bert"}))
  with pytest.raises(ValueError, match="model_type"):
    mpnet.MPNetConfig.from_json(path)
  path.write_text(json.dumps({"hidden_size": 30, "num_attention_heads": 4}))
  with pytest.raises(ValueError, match="config.json.*multiple"):
    mpnet.MPNetConfig.from_json(path)


def test_state_dict_errors_name_the_tensor(golden):
  data, config, _ = golden
  state = {k.removeprefix("weight/"): v for k, v in data.items()
           if k.startswith("weight/")}
  missing = dict(state)
  del missing["encoder.layer.1.attention.attn.k.weight"]
  with pytest.raises(ValueError, match=r"f\.st.*layer\.1\.attention\.attn\.k"):
    mpnet.params_from_state_dict(missing, config, source="f.st")
  bad = dict(state)
  bad["encoder.relative_attention_bias.weight"] = np.zeros((3, 4), np.float32)
  with pytest.raises(ValueError, match="relative_attention_bias.*shape"):
    mpnet.params_from_state_dict(bad, config)
  prefixed = {"mpnet." + k: v for k, v in state.items()}
  a = mpnet.params_from_state_dict(prefixed, config)
  b = mpnet.params_from_state_dict(state, config)
  assert jax.tree.all(jax.tree.map(np.array_equal, a, b))
