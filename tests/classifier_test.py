"""Classification head: the §6.2 layer sizes, init, a numpy forward pass,
dropout, and the Phase-2 logits of a restored Phase-1 head."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phase2_synthetic
from cacl_jax.phase2 import classifier, config as config_lib, pretrained


def _setup():
  cfg = config_lib.phase2_fields().model
  params = classifier.init_params(cfg, 128, jax.random.key(0))
  return cfg, params


def test_layer_shapes_and_parameter_count():
  _, params = _setup()
  shapes = jax.tree_util.tree_map(jnp.shape, params)
  assert shapes == {
      "hidden_0": {"kernel": (256, 128), "bias": (128,)},
      "hidden_1": {"kernel": (128, 64), "bias": (64,)},
      "output": {"kernel": (64, 1), "bias": (1,)},
  }
  # 256·128 + 128 + 128·64 + 64 + 64 + 1: the "~41K" of §6.2.
  assert classifier.num_params(params) == 41217


def test_init_is_xavier_uniform_with_zero_biases():
  _, params = _setup()
  for name, fan_in, fan_out in (("hidden_0", 256, 128), ("hidden_1", 128, 64),
                                ("output", 64, 1)):
    kernel = np.asarray(params[name]["kernel"])
    bound = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(kernel).max() <= bound
    assert np.abs(kernel).max() > 0.9 * bound
    np.testing.assert_array_equal(np.asarray(params[name]["bias"]), 0.0)
  # Uniform on ±b has variance b²/3 = 2/(fan_in + fan_out); 32,768 draws.
  np.testing.assert_allclose(np.asarray(params["hidden_0"]["kernel"]).var(),
                             2 / (256 + 128), rtol=0.03)


def test_forward_matches_numpy():
  cfg, params = _setup()
  rng = np.random.default_rng(0)
  resume = rng.normal(size=(5, 128)).astype(np.float32)
  job = rng.normal(size=(5, 128)).astype(np.float32)
  logits = classifier.make_head(cfg).apply({"params": params}, resume, job,
                                           deterministic=True)
  p = jax.tree_util.tree_map(np.asarray, params)
  h = np.concatenate([resume, job], axis=1)
  h = np.maximum(h @ p["hidden_0"]["kernel"] + p["hidden_0"]["bias"], 0)
  h = np.maximum(h @ p["hidden_1"]["kernel"] + p["hidden_1"]["bias"], 0)
  expected = (h @ p["output"]["kernel"] + p["output"]["bias"])[:, 0]
  assert logits.shape == (5,)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training():
  cfg, params = _setup()
  x = jnp.ones((3, 128))
  head = classifier.make_head(cfg)
  a = head.apply({"params": params}, x, x, deterministic=False,
                 rngs={"dropout": jax.random.key(1)})
  b = head.apply({"params": params}, x, x, deterministic=False,
                 rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(a, b)
  c = head.apply({"params": params}, x, x, deterministic=True)
  d = head.apply({"params": params}, x, x, deterministic=True)
  np.testing.assert_array_equal(c, d)


def _numpy_original_logits(p1, p2, emb, resume_rows, job_rows, normalized):
  """The original's Phase-2 forward pass in float64: Phase-1 head (its final
  L2 normalisation only when `normalized`), concat, classifier MLP."""
  p1 = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), p1)
  p2 = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), p2)
  h = np.maximum(emb @ p1["hidden"]["kernel"] + p1["hidden"]["bias"], 0)
  z = h @ p1["output"]["kernel"] + p1["output"]["bias"]
  if normalized:
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
  h = np.concatenate([z[resume_rows], z[job_rows]], axis=1)
  for layer in ("hidden_0", "hidden_1"):
    h = np.maximum(h @ p2[layer]["kernel"] + p2[layer]["bias"], 0)
  return (h @ p2["output"]["kernel"] + p2["output"]["bias"])[:, 0]


@pytest.mark.parametrize("normalized", [False, True])
def test_phase2_logits_match_the_original_pipeline(tmp_path, normalized):
  data = phase2_synthetic.make_data()
  model, p1 = phase2_synthetic.write_phase1_checkpoint(tmp_path, data)
  config = config_lib.phase2_fields()
  assert not config.phase1_normalized_input  # the original's input
  config.phase1_workdir = str(tmp_path)
  config.phase1_normalized_input = normalized
  frozen = pretrained.load(config, data.emb_TxD.shape[1])
  emb_TxE = frozen.project(data.emb_TxD)
  norms = np.linalg.norm(emb_TxE, axis=1)
  assert np.allclose(norms, 1.0, atol=1e-5) == normalized

  # Biases and weights away from their init, so that every term counts.
  p2 = jax.tree_util.tree_map(
      lambda a: a + 0.1 * np.random.default_rng(a.size).normal(size=a.shape),
      classifier.init_params(config.model, model.dim, jax.random.key(3)))
  split = data.test
  resume_rows = split.resume_row_R[split.resume_N]
  job_rows = split.job_row_P[split.job_N]
  got = classifier.predict_logits(config.model, p2, emb_TxE, resume_rows,
                                  job_rows)
  want = _numpy_original_logits(p1, p2, data.emb_TxD.astype(np.float64),
                                resume_rows, job_rows, normalized)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  other = _numpy_original_logits(p1, p2, data.emb_TxD.astype(np.float64),
                                 resume_rows, job_rows, not normalized)
  assert np.abs(other - want).max() > 1e-2  # the switch matters
