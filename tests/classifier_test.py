"""Classification head: the §6.2 layer sizes, a numpy forward pass, dropout."""

import jax
import jax.numpy as jnp
import numpy as np

from cacl_jax.phase2 import classifier, config as config_lib


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


def test_torch_style_init_bounds():
  _, params = _setup()
  for name, fan_in in (("hidden_0", 256), ("hidden_1", 128), ("output", 64)):
    for leaf in params[name].values():
      assert np.abs(np.asarray(leaf)).max() <= 1 / np.sqrt(fan_in)


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
