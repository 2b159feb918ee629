"""Phase-1 contrastive pretraining loop (§5.8) and the phase-1 entry point.

`train_phase1` trains the projection head on `PreparedData`: every epoch runs
the training batches (one compiled scan, or step by step), computes the
validation loss with the same triplet construction (the validation split's
own job pool, a fixed rng), logs step and epoch metrics and saves a
checkpoint holding the state and the epoch; the best checkpoint by
validation loss and the latest are kept. Every random draw derives from
(seed, epoch, step), so a run resumed from its latest checkpoint ends with
the same parameters as an uninterrupted one. A NaN or infinite loss stops
the run before its epoch is saved (`health.TrainingDiverged`), and the
workdir records the config and data it was trained with (`run_manifest`), so
resuming with other data or settings is refused.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import tqdm
from absl import logging

from cacl_jax import pipeline
from cacl_jax.common import health, metrics_log, run_manifest
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


def _check_finite(epoch: int, first_step: int, step_metrics: dict,
                  val: dict, config) -> None:
  """Stops the run at the first non-finite loss or gradient norm."""
  settings = {"learning_rate": config.train.learning_rate,
              "temperature": config.train.temperature}
  health.check_finite(
      "phase 1", {"training loss": step_metrics["loss"],
                  "gradient norm": step_metrics["grad_norm"]},
      first_step=first_step, epoch=epoch, settings=settings,
      valid_S=step_metrics["num_anchors"] > 0)
  health.check_finite("phase 1", {"validation loss": [val["loss"]]},
                      first_step=first_step + len(step_metrics["loss"]) - 1,
                      epoch=epoch, settings=settings)


def _warn_if_clipped(epoch: int, summary: dict, clip_norm: float) -> None:
  if summary["epoch/clip_fraction"] > 0:
    logging.warning(
        "epoch %d: gradient norm above %.3g in %.0f%% of steps (max %.3g), "
        "clipped", epoch, clip_norm, 100 * summary["epoch/clip_fraction"],
        summary["epoch/grad_norm_max"])


class _EpochRunner:
  """Runs one training epoch, as a compiled scan or step by step."""

  def __init__(self, config, settings: steps.StepSettings):
    self._scan = config.train.scan_epochs
    self._epoch = steps.make_train_epoch(settings)
    self._step = steps.make_train_step(settings)

  def __call__(self, state, split, idx_SxB, mask_SxB, ratios_3, key):
    if self._scan:
      state, metrics = self._epoch(state, split, idx_SxB, mask_SxB, ratios_3,
                                   key)
      return state, jax.device_get(metrics)
    per_step = []
    for i in range(idx_SxB.shape[0]):
      batch = batches_lib.gather_batch(split, idx_SxB[i], mask_SxB[i],
                                       ratios_3)
      state, metrics = self._step(state, batch, jax.random.fold_in(key, i))
      per_step.append(metrics)
    stacked = jax.tree.map(lambda *xs: np.stack(xs),
                           *jax.device_get(per_step))
    return state, stacked


def train_phase1(config: ml_collections.ConfigDict,
                 data: prepared.PreparedData,
                 workdir: str | pathlib.Path) -> dict[str, Any]:
  """Trains (or resumes training of) the projection head; returns a summary."""
  config_lib.validate(config)
  workdir = pathlib.Path(workdir)
  t = config.train
  settings = step_settings(config)
  train_split = _split_tensors(config, data, "train")
  val_split = _split_tensors(config, data, "val")
  init_key, train_key, val_key = jax.random.split(
      jax.random.key(config.seed, impl=PRNG_IMPL), 3)
  val_idx_SxB, val_mask_SxB = batches_lib.epoch_batches(
      val_key, val_split.num_pairs, t.batch_size, shuffle=False)
  steps_per_epoch = batches_lib.num_batches(train_split.num_pairs,
                                            t.batch_size)
  run_epoch = _EpochRunner(config, settings)
  state = state_lib.create_state(config, data.emb_TxD.shape[1], init_key)
  validation = steps.make_validation(state.apply_fn, settings)
  run_manifest.start_run(workdir, config, prepared.fingerprint(data))

  start = time.perf_counter()
  with state_lib.open_checkpoints(config, workdir) as ckpts:
    restored = ckpts.restore_latest(state_lib.checkpoint_item(state, 0))
    start_epoch, start_step = 0, 0
    if restored is not None:
      start_step, item = restored
      state, start_epoch = item["state"], int(item["epoch"])
      logging.info("Resuming phase 1 from step %d (%d epochs done)",
                   start_step, start_epoch)
    # Restored arrays are committed to a device; commit fresh ones too so
    # that both runs share one compiled epoch.
    state = jax.device_put(state, jax.devices()[0])
    with metrics_log.MetricsLog(workdir, start_step=start_step) as log:
      bar = tqdm.trange(start_epoch, t.epochs, initial=start_epoch,
                        total=t.epochs, desc="phase 1", unit="epoch")
      for epoch in bar:
        epoch_start = time.perf_counter()
        ratios_3 = negatives.curriculum_ratios(
            epoch, t.epochs, config.negatives.start_ratios,
            config.negatives.end_ratios)
        order_key, step_key = jax.random.split(
            jax.random.fold_in(train_key, epoch))
        idx_SxB, mask_SxB = batches_lib.epoch_batches(
            order_key, train_split.num_pairs, t.batch_size, t.shuffle)
        state, step_metrics = run_epoch(state, train_split, idx_SxB, mask_SxB,
                                        ratios_3, step_key)
        val_ratios_3 = negatives.validation_ratios(
            ratios_3, config.negatives.end_ratios,
            config.negatives.fixed_validation_ratios)
        val = jax.device_get(validation(state.params, val_split, val_idx_SxB,
                                        val_mask_SxB, val_ratios_3, val_key))
        for i in range(steps_per_epoch):
          step = epoch * steps_per_epoch + i + 1
          if step % t.log_every == 0:
            log.write(step, {f"train/{k}": v[i]
                             for k, v in step_metrics.items()},
                      epoch=epoch + 1)
        _check_finite(epoch + 1, epoch * steps_per_epoch + 1, step_metrics,
                      val, config)
        summary = _epoch_summary(step_metrics, val, ratios_3)
        summary["epoch/seconds"] = time.perf_counter() - epoch_start
        _warn_if_clipped(epoch + 1, summary, t.grad_clip_norm)
        global_step = (epoch + 1) * steps_per_epoch
        log.write(global_step, summary, epoch=epoch + 1)
        ckpts.save(global_step, state_lib.checkpoint_item(state, epoch + 1),
                   {state_lib.VAL_METRIC: summary["epoch/val_loss"],
                    "train_loss": summary["epoch/train_loss"],
                    "epoch": epoch + 1})
        bar.set_postfix(loss=f"{summary['epoch/train_loss']:.4f}",
                        val_loss=f"{summary['epoch/val_loss']:.4f}")
    best_step = ckpts.best_step()
    best = ckpts.metrics(best_step) if best_step is not None else {}
  return {
      "steps_per_epoch": steps_per_epoch,
      "epochs": t.epochs,
      "resumed_from_step": start_step,
      "best_step": best_step,
      "best_epoch": int(best["epoch"]) if best else None,
      "best_val_loss": best.get(state_lib.VAL_METRIC),
      "seconds": time.perf_counter() - start,
  }


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str | pathlib.Path) -> dict[str, Any]:
  """Prepares the data (cached), trains phase 1 and evaluates it (§7.1)."""
  data = pipeline.prepare_data(config, workdir)
  summary = train_phase1(config, data, workdir)
  return dict(evaluate.evaluate_phase1(config, data, workdir), train=summary)
