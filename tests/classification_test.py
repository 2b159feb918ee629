"""Classification metrics against numbers worked out by hand."""

import numpy as np
import pytest

from cacl_jax.evaluation import classification

# Positives score 0.9, 0.7, 0.3; negatives 0.8, 0.2, 0.6.
Y = np.array([1, 0, 1, 1, 0, 0])
S = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.6])


def test_binary_metrics_hand_computed():
  m = classification.binary_metrics(Y, S, 0.5)
  # Predicted positive: 0.9 (tp), 0.8 (fp), 0.7 (tp), 0.6 (fp); 0.3 is a fn.
  assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 2, 1, 1)
  assert m["accuracy"] == pytest.approx(3 / 6)
  assert m["precision"] == pytest.approx(2 / 4)
  assert m["recall"] == pytest.approx(2 / 3)
  assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
  # Ordered (pos, neg) pairs: 0.9 beats 3, 0.7 beats 2, 0.3 beats 1 → 6/9.
  assert m["auc_roc"] == pytest.approx(6 / 9)


def test_threshold_is_inclusive():
  m = classification.binary_metrics(Y, S, 0.7)
  assert (m["tp"], m["fp"]) == (2, 1)


def test_f1_optimal_threshold_hand_computed():
  # F1 at each cut: 0.9→1/2, 0.8→2/5, 0.7→2/3, 0.6→4/7, 0.3→3/4, 0.2→2/3.
  threshold, f1 = classification.f1_optimal_threshold(Y, S)
  assert threshold == pytest.approx(0.3)
  assert f1 == pytest.approx(0.75)
  assert classification.binary_metrics(Y, S, threshold)["f1"] == (
      pytest.approx(f1))


def test_f1_optimal_threshold_matches_brute_force():
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, 200)
  s = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
  threshold, f1 = classification.f1_optimal_threshold(y, s)
  brute = max(classification.binary_metrics(y, s, t)["f1"]
              for t in np.unique(s))
  assert f1 == pytest.approx(brute)
  assert classification.binary_metrics(y, s, threshold)["f1"] == (
      pytest.approx(brute))


def test_score_separation_hand_computed():
  sep = classification.score_separation(Y, S)
  assert sep["pos_mean"] == pytest.approx((0.9 + 0.7 + 0.3) / 3)
  assert sep["neg_mean"] == pytest.approx((0.8 + 0.2 + 0.6) / 3)
  assert sep["separation"] == pytest.approx(0.1)


def test_single_class_auc_is_nan_and_threshold_needs_positives():
  m = classification.binary_metrics([0, 0, 0], [0.1, 0.6, 0.2], 0.5)
  assert np.isnan(m["auc_roc"])
  assert m["precision"] == 0 and m["accuracy"] == pytest.approx(2 / 3)
  with pytest.raises(ValueError, match="positive"):
    classification.f1_optimal_threshold([0, 0], [0.1, 0.2])


@pytest.mark.parametrize("y, s, match", [
    ([1, 0], [0.5], "same length"),
    ([1, 2], [0.5, 0.1], "only 0 and 1"),
    ([1, 0], [np.nan, 0.1], "not finite"),
])
def test_bad_input_is_rejected(y, s, match):
  with pytest.raises(ValueError, match=match):
    classification.binary_metrics(y, s, 0.5)
