"""Weighted BCE against a float64 numpy reference, including extreme logits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cacl_jax.phase2 import losses


def _reference(logits, labels, pos_weight):
  x = np.asarray(logits, np.float64)
  y = np.asarray(labels, np.float64)
  p = 1.0 / (1.0 + np.exp(-x))
  w = np.where(y == 1, pos_weight, 1.0)
  return w * -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_matches_numpy_reference():
  rng = np.random.default_rng(0)
  logits = rng.normal(scale=3.0, size=257).astype(np.float32)
  labels = rng.integers(0, 2, 257)
  np.testing.assert_allclose(
      losses.weighted_bce_per_example(logits, labels, 2.5),
      _reference(logits, labels, 2.5), rtol=1e-5, atol=1e-6)
  assert float(losses.weighted_bce(logits, labels, 2.5)) == pytest.approx(
      _reference(logits, labels, 2.5).mean(), rel=1e-5)


def test_hand_computed_small_case():
  # logit 0 → p = 1/2 → BCE = log 2 for either label; positives weigh 2.5.
  loss = losses.weighted_bce(jnp.zeros(4), jnp.array([1, 0, 0, 0]), 2.5)
  assert float(loss) == pytest.approx((2.5 + 3) * np.log(2) / 4, rel=1e-6)


def test_extreme_logits_are_finite_and_exact():
  logits = jnp.array([100.0, -100.0, 100.0, -100.0, 1e4, -1e4])
  labels = jnp.array([1, 0, 0, 1, 0, 1])
  per = np.asarray(losses.weighted_bce_per_example(logits, labels, 2.5))
  # Confidently right costs ~e^-100; confidently wrong costs ~|logit|.
  np.testing.assert_allclose(per, [0, 0, 100, 250, 1e4, 2.5e4], atol=1e-30,
                             rtol=1e-6)
  grad = jax.grad(lambda x: losses.weighted_bce(x, labels, 2.5))(logits)
  assert np.isfinite(np.asarray(grad)).all()
  # d/dx of softplus at ±∞ is 0 or ±1, scaled by weight / N.
  np.testing.assert_allclose(grad, np.array([0, 0, 1, -2.5, 1, -2.5]) / 6,
                             atol=1e-7)


def test_mask_excludes_padding():
  logits = jnp.array([0.3, -1.2, 5.0, 7.0])
  labels = jnp.array([1, 0, 1, 0])
  mask = jnp.array([1, 1, 0, 0])
  masked = losses.weighted_bce(logits, labels, 2.5, mask)
  assert float(masked) == pytest.approx(
      _reference([0.3, -1.2], [1, 0], 2.5).mean(), rel=1e-6)


def test_accuracy_at_probability_one_half():
  logits = jnp.array([0.0, -0.1, 2.0, -3.0])
  labels = jnp.array([1, 1, 0, 0])
  assert float(losses.accuracy(logits, labels)) == pytest.approx(0.5)
  assert float(losses.accuracy(logits, labels, jnp.array([1, 0, 0, 1]))) == 1.0
