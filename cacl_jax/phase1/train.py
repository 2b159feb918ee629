"""Phase-1 contrastive pretraining (§5.8) and its evaluation (§7.1).

`train_phase1` trains the projection head on `PreparedData` with the epoch
loop both phases share (`common.training_loop`): every epoch runs the
training batches (one compiled scan per checkpoint segment, or step by
step), computes the
validation loss with the same triplet construction (the validation split's
own job pool, a fixed rng) and logs step and epoch metrics, including the
curriculum shares and how often gradients were clipped (a WARNING when they
were). Every random draw derives from (seed, epoch, step), so a run resumed
from its latest checkpoint ends with the same parameters as an
uninterrupted one. `run` trains, then evaluates the best checkpoint.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from cacl_jax.common import distributed, training_loop
from cacl_jax.data import prepared
from cacl_jax.phase1 import batches as batches_lib
from cacl_jax.phase1 import config as config_lib
from cacl_jax.phase1 import evaluate, losses, negatives, state as state_lib
from cacl_jax.phase1 import steps

# Keys drawing bits with XLA's RngBitGenerator: on 2 CPU cores, dropout masks
# and negative draws compiled and ran about twice as fast as with threefry in
# a micro-benchmark. Draws are reproducible for a seed on a given backend.
PRNG_IMPL = "rbg"


def step_settings(config: ml_collections.ConfigDict) -> steps.StepSettings:
  return steps.StepSettings(
      temperature=config.train.temperature,
      grad_clip_norm=config.train.grad_clip_norm,
      negatives=negatives.NegativeSettings(
          num_negatives=config.train.max_negatives,
          ontology=config.negatives.strategy == "ontology",
          hard_max_distance=config.negatives.hard_max_distance,
          medium_max_distance=config.negatives.medium_max_distance))


def _split_tensors(config, data: prepared.PreparedData, name: str
                   ) -> batches_lib.SplitTensors:
  split = data.split(name)
  if not (split.label_N == 1).any():
    raise ValueError(f"the {name} split has no good_fit pairs: phase 1 has "
                     "no anchors to train or validate on")
  weights = losses.config_sample_weights(
      config.weighting, split.tier_N, split.ontology_similarity_N,
      split.ot_distance_N)
  return batches_lib.split_tensors(split, data.emb_TxD, weights)


def _epoch_summary(step_metrics: dict[str, np.ndarray], val: dict,
                   ratios_3: np.ndarray) -> dict[str, float]:
  """Epoch scalars: losses, gradient norms before clipping, curriculum."""
  has_anchors = step_metrics["num_anchors"] > 0
  norms = step_metrics["grad_norm"][has_anchors]
  return {
      "epoch/train_loss": float(step_metrics["loss"][has_anchors].mean())
                          if has_anchors.any() else float("nan"),
      "epoch/clip_fraction": float(step_metrics["clipped"][has_anchors].mean())
                             if has_anchors.any() else 0.0,
      "epoch/grad_norm_mean": float(norms.mean()) if norms.size else 0.0,
      "epoch/grad_norm_max": float(norms.max()) if norms.size else 0.0,
      "epoch/anchors": float(step_metrics["num_anchors"].sum()),
      "epoch/skipped_anchors": float(step_metrics["skipped_anchors"].sum()),
      "epoch/val_loss": float(val["loss"]),
      "epoch/val_pos_sim": float(val["pos_sim"]),
      "epoch/val_neg_sim": float(val["neg_sim"]),
      "epoch/ratio_hard": float(ratios_3[0]),
      "epoch/ratio_medium": float(ratios_3[1]),
      "epoch/ratio_easy": float(ratios_3[2]),
  }


def _warn_if_clipped(epoch: int, summary: dict, clip_norm: float) -> None:
  if summary["epoch/clip_fraction"] > 0:
    logging.warning(
        "epoch %d: gradient norm above %.3g in %.0f%% of steps (max %.3g), "
        "clipped", epoch, clip_norm, 100 * summary["epoch/clip_fraction"],
        summary["epoch/grad_norm_max"])


class _EpochRunner:
  """Runs steps of a training epoch, as a compiled scan or step by step."""

  def __init__(self, config, settings: steps.StepSettings, mesh):
    self._scan = config.train.scan_epochs
    self._epoch = steps.make_train_epoch(settings, mesh)
    self._step = steps.make_train_step(settings, mesh)

  def __call__(self, state, split, idx_SxB, mask_SxB, ratios_3, key,
               first_step):
    """Trains the rows of `idx_SxB`, the epoch's steps from `first_step`."""
    if self._scan:
      state, metrics = self._epoch(state, split, idx_SxB, mask_SxB, ratios_3,
                                   key, first_step)
      return state, jax.device_get(metrics)
    per_step = []
    for i in range(idx_SxB.shape[0]):
      batch = batches_lib.gather_batch(split, idx_SxB[i], mask_SxB[i],
                                       ratios_3)
      state, metrics = self._step(state, batch,
                                  jax.random.fold_in(key, first_step + i))
      per_step.append(metrics)
    stacked = jax.tree.map(lambda *xs: np.stack(xs),
                           *jax.device_get(per_step))
    return state, stacked


def train_phase1(config: ml_collections.ConfigDict,
                 data: prepared.PreparedData,
                 workdir: str | pathlib.Path) -> dict[str, Any]:
  """Trains (or resumes training of) the projection head; returns a summary."""
  config_lib.validate(config)
  mesh = distributed.training_mesh(config)
  t, n = config.train, config.negatives
  settings = step_settings(config)
  train_split = _split_tensors(config, data, "train")
  val_split = _split_tensors(config, data, "val")
  init_key, train_key, val_key = jax.random.split(
      jax.random.key(config.seed, impl=PRNG_IMPL), 3)
  val_idx_SxB, val_mask_SxB = batches_lib.epoch_batches(
      val_key, val_split.num_pairs, t.batch_size, shuffle=False)
  steps_per_epoch = batches_lib.num_batches(train_split.num_pairs,
                                            t.batch_size)
  runner = _EpochRunner(config, settings, mesh)
  state = state_lib.create_state(config, data.emb_TxD.shape[1], init_key)
  validation = steps.make_validation(state.apply_fn, settings, mesh)

  def ratios(epoch):
    return negatives.curriculum_ratios(epoch, t.epochs, n.start_ratios,
                                       n.end_ratios)

  def run_steps(state, epoch, start, end):
    order_key, step_key = jax.random.split(
        jax.random.fold_in(train_key, epoch))
    idx_SxB, mask_SxB = batches_lib.epoch_batches(
        order_key, train_split.num_pairs, t.batch_size, t.shuffle)
    return runner(state, train_split, idx_SxB[start:end],
                  mask_SxB[start:end], ratios(epoch), step_key, start)

  def validate(state, epoch):
    val_ratios_3 = negatives.validation_ratios(
        ratios(epoch), n.end_ratios, n.fixed_validation_ratios)
    return jax.device_get(validation(state.params, val_split, val_idx_SxB,
                                     val_mask_SxB, val_ratios_3, val_key))

  def summarize(epoch, step_metrics, val):
    summary = _epoch_summary(step_metrics, val, ratios(epoch))
    _warn_if_clipped(epoch + 1, summary, t.grad_clip_norm)
    return summary

  phase = training_loop.Phase(
      name="phase 1", steps_per_epoch=steps_per_epoch, run_steps=run_steps,
      validate=validate, summarize=summarize,
      settings={"learning_rate": t.learning_rate,
                "temperature": t.temperature},
      checked=(("loss", "training loss"), ("grad_norm", "gradient norm")),
      valid_steps=lambda step_metrics: step_metrics["num_anchors"] > 0)
  start = time.perf_counter()
  result = training_loop.train(workdir, config, state, phase,
                               prepared.fingerprint(data))
  return {
      "steps_per_epoch": steps_per_epoch,
      "epochs": t.epochs,
      "resumed_from_step": result.resumed_from_step,
      "best_step": result.best_step,
      "best_epoch": int(result.best["epoch"]),
      "best_val_loss": result.best[training_loop.VAL_METRIC],
      "seconds": time.perf_counter() - start,
  }


def run(config: ml_collections.ConfigDict, data: prepared.PreparedData,
        workdir: str | pathlib.Path) -> dict[str, Any]:
  """Trains Phase 1 on prepared data and evaluates its best checkpoint
  (§7.1); returns the content of `<workdir>/phase1_eval.json` with the
  training summary under "train"."""
  summary = train_phase1(config, data, workdir)
  return dict(evaluate.evaluate_phase1(config, data, workdir), train=summary)
