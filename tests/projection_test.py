"""Projection head of §5.2: shapes, normalisation, dropout, init, chunking."""

import jax
import jax.numpy as jnp
import numpy as np

from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase1 import projection


def _setup(input_dim=768):
  model = phase1_config.model_fields()
  params = projection.init_params(model, input_dim, jax.random.key(0))
  return model, params


def numpy_head(params, x, normalize=True):
  """Independent forward pass without dropout."""
  h = np.maximum(x @ np.asarray(params["hidden"]["kernel"])
                 + np.asarray(params["hidden"]["bias"]), 0.0)
  z = h @ np.asarray(params["output"]["kernel"]) + np.asarray(
      params["output"]["bias"])
  return z / np.linalg.norm(z, axis=-1, keepdims=True) if normalize else z


def test_parameter_shapes_and_count_match_spec():
  _, params = _setup()
  assert params["hidden"]["kernel"].shape == (768, 256)
  assert params["output"]["kernel"].shape == (256, 128)
  count = sum(x.size for x in jax.tree.leaves(params))
  assert count == 768 * 256 + 256 + 256 * 128 + 128  # ≈ 230K (§5.2)


def test_init_is_xavier_uniform_with_zero_biases():
  _, params = _setup()
  for name, fan_in, fan_out in (("hidden", 768, 256), ("output", 256, 128)):
    kernel = np.asarray(params[name]["kernel"])
    bound = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(kernel).max() <= bound
    assert np.abs(kernel).max() > 0.99 * bound  # uniform, not a narrow normal
    np.testing.assert_array_equal(np.asarray(params[name]["bias"]), 0.0)
  # Uniform on ±b has variance b²/3 = 2/(fan_in + fan_out); 196,608 draws.
  np.testing.assert_allclose(np.asarray(params["hidden"]["kernel"]).var(),
                             2 / (768 + 256), rtol=0.01)


def test_deterministic_output_matches_numpy_and_is_unit_norm():
  model, params = _setup()
  x = np.random.default_rng(0).normal(size=(5, 768)).astype(np.float32)
  z = projection.make_head(model).apply({"params": params}, x,
                                        deterministic=True)
  assert z.shape == (5, 128)
  np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(z, numpy_head(params, x), rtol=1e-4, atol=1e-5)


def test_dropout_is_random_in_training_and_off_in_eval():
  model, params = _setup()
  head = projection.make_head(model)
  x = jnp.ones((4, 768))
  a = head.apply({"params": params}, x, deterministic=False,
                 rngs={"dropout": jax.random.key(1)})
  b = head.apply({"params": params}, x, deterministic=False,
                 rngs={"dropout": jax.random.key(2)})
  a_again = head.apply({"params": params}, x, deterministic=False,
                       rngs={"dropout": jax.random.key(1)})
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(a, a_again)
  np.testing.assert_allclose(np.linalg.norm(a, axis=-1), 1.0, rtol=1e-5)


def test_dropout_drops_the_configured_share_of_hidden_units():
  model, params = _setup()
  head = projection.make_head(model)
  x = jnp.ones((64, 768))

  def hidden(deterministic, key):
    _, state = head.apply({"params": params}, x, deterministic=deterministic,
                          rngs={"dropout": key}, capture_intermediates=True)
    return np.asarray(state["intermediates"]["Dropout_0"]["__call__"][0])

  full = hidden(True, jax.random.key(0))
  dropped = hidden(False, jax.random.key(0))
  active = full != 0
  zero_share = (dropped[active] == 0).mean()
  assert abs(zero_share - 0.3) < 0.02
  kept = active & (dropped != 0)
  np.testing.assert_allclose(dropped[kept], full[kept] / 0.7, rtol=1e-5)


def test_project_in_chunks_equals_one_pass():
  model, params = _setup(input_dim=48)
  x = np.random.default_rng(1).normal(size=(23, 48)).astype(np.float32)
  whole = projection.project(model, params, x, batch_size=1000)
  chunked = projection.project(model, params, x, batch_size=5)
  np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(whole, numpy_head(params, x), rtol=1e-4,
                             atol=1e-5)


def test_project_without_normalization_returns_the_raw_output():
  model, params = _setup(input_dim=48)
  x = np.random.default_rng(2).normal(size=(9, 48)).astype(np.float32)
  raw = projection.project(model, params, x, batch_size=4, normalize=False)
  np.testing.assert_allclose(raw, numpy_head(params, x, normalize=False),
                             rtol=1e-4, atol=1e-5)
  assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-2)
  np.testing.assert_allclose(
      raw / np.linalg.norm(raw, axis=1, keepdims=True),
      projection.project(model, params, x), rtol=1e-5, atol=1e-6)


def test_l2_normalize_guards_zero_vectors():
  z = projection.l2_normalize(jnp.zeros((2, 3)))
  assert np.isfinite(np.asarray(z)).all()
