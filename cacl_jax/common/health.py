"""Signs that training went wrong: non-finite losses and collapsed scores.

A run whose loss turns NaN or infinite must stop at once, before the broken
state is checkpointed, with the step and the settings that usually cause it;
a model whose scores are the same for every pair must not report metrics
without saying that they mean nothing.
"""

from __future__ import annotations

from typing import Mapping

from absl import logging
import numpy as np

# Scores whose spread is below this are treated as one constant value.
COLLAPSE_TOLERANCE = 1e-6


class TrainingDiverged(RuntimeError):
  """A loss or gradient norm became NaN or infinite."""


def first_nonfinite(values_S: np.ndarray, valid_S: np.ndarray | None = None
                    ) -> int | None:
  """Index of the first non-finite entry among the valid ones, or None."""
  values_S = np.asarray(values_S, np.float64)
  bad_S = ~np.isfinite(values_S)
  if valid_S is not None:
    bad_S &= np.asarray(valid_S, bool)
  hits = np.flatnonzero(bad_S)
  return int(hits[0]) if hits.size else None


def likely_causes(settings: Mapping[str, float], section: str = "") -> str:
  """The settings that usually make a loss overflow, with their values;
  `section` (e.g. "phase1.") prefixes the config paths named."""
  hints = []
  lr = settings.get("learning_rate")
  if lr is not None and lr > 1e-2:
    hints.append(f"learning rate {lr:g} is very high (the method uses "
                 f"~1e-4): lower {section}train.learning_rate")
  temperature = settings.get("temperature")
  if temperature is not None and temperature < 1e-2:
    hints.append(f"temperature {temperature:g} is tiny, so similarity/"
                 f"temperature overflows float32: set "
                 f"{section}train.temperature to ~0.07")
  if not hints:
    hints.append("check the learning rate and, in phase 1, the temperature, "
                 "and that the input embeddings are finite")
  return "; ".join(hints)


def check_finite(phase: str, values: Mapping[str, np.ndarray], *,
                 first_step: int, epoch: int,
                 settings: Mapping[str, float],
                 valid_S: np.ndarray | None = None) -> None:
  """Raises `TrainingDiverged` at the first step where a value is not finite.

  `values` maps a name (e.g. "training loss") to one value per step of epoch
  `epoch` (1-based), the first of which is global step `first_step`; steps
  where `valid_S` is False are not checked.
  """
  firsts = {name: first_nonfinite(v, valid_S) for name, v in values.items()}
  firsts = {name: i for name, i in firsts.items() if i is not None}
  if not firsts:
    return
  i = min(firsts.values())
  what = " and ".join(f"the {name} is {np.asarray(values[name])[i]}"
                      for name, j in firsts.items() if j == i)
  raise TrainingDiverged(
      f"{phase} diverged: {what} at step {first_step + i} (epoch {epoch}, "
      f"batch {i + 1}). Likely cause: "
      f"{likely_causes(settings, phase.replace(' ', '') + '.')}. Nothing of "
      "this step was saved; the checkpoints before it are kept.")


def collapse_warning(what: str, scores_N: np.ndarray) -> str | None:
  """A warning (also logged) when every score of `scores_N` is the same."""
  scores_N = np.asarray(scores_N, np.float64)
  if scores_N.size < 2 or np.ptp(scores_N) > COLLAPSE_TOLERANCE:
    return None
  message = (f"{what} collapsed to a constant ({scores_N[0]:.6g} for all "
             f"{scores_N.size} pairs): the model does not tell pairs apart "
             "(a too high learning rate?), so its AUC and F1 mean nothing")
  logging.warning(message)
  return message
