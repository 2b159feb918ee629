"""Divergence and collapse checks of cacl_jax.common.health."""

import logging

import numpy as np
import pytest

from cacl_jax.common import health


def test_first_nonfinite_respects_the_valid_mask():
  assert health.first_nonfinite([1.0, 2.0]) is None
  assert health.first_nonfinite([1.0, np.nan, np.inf]) == 1
  assert health.first_nonfinite([np.nan, 1.0, np.inf],
                                valid_S=[False, True, True]) == 2
  assert health.first_nonfinite([np.nan], valid_S=[False]) is None


def test_check_finite_names_the_step_and_the_likely_cause():
  with pytest.raises(health.TrainingDiverged) as e:
    health.check_finite(
        "phase 1", {"training loss": [0.5, 0.4, np.nan, np.nan],
                    "gradient norm": [1.0, 2.0, np.inf, 3.0]},
        first_step=21, epoch=2,
        settings={"learning_rate": 1e-4, "temperature": 1e-30})
  message = str(e.value)
  assert ("phase 1 diverged: the training loss is nan and the gradient norm "
          "is inf at step 23 (epoch 2, batch 3)") in message
  assert "temperature 1e-30 is tiny" in message
  assert "learning rate" not in message
  with pytest.raises(health.TrainingDiverged,
                     match="learning rate 1e\\+08 is very high"):
    health.check_finite("phase 2", {"training loss": [1.0, np.inf]},
                        first_step=1, epoch=1,
                        settings={"learning_rate": 1e8})
  with pytest.raises(health.TrainingDiverged,
                     match="the gradient norm is inf at step 2 "):
    health.check_finite("phase 1", {"training loss": [np.nan, 1.0],
                                    "gradient norm": [np.nan, np.inf]},
                        first_step=1, epoch=1, settings={},
                        valid_S=[False, True])
  health.check_finite("phase 2", {"x": [1.0]}, first_step=1, epoch=1,
                      settings={})


def test_collapse_warning_only_for_constant_scores(caplog):
  assert health.collapse_warning("val", np.array([0.1, 0.2, 0.3])) is None
  assert health.collapse_warning("val", np.array([0.5])) is None
  with caplog.at_level(logging.WARNING):
    message = health.collapse_warning("phase 2: validation P(match)",
                                      np.full(40, 0.7310586))
  assert message.startswith("phase 2: validation P(match) collapsed to a "
                            "constant (0.731059 for all 40 pairs)")
  assert message in caplog.text
