"""Phase 2 (§6): a classification head on the frozen Phase-1 embedding space.

The encoder and the Phase-1 projection head are frozen and deterministic, so
the projection of every text is computed once and the head trains on those
(the same numbers the original recomputed every batch). An epoch is one
compiled `lax.scan` over its batches; validation loss and accuracy run after
every epoch; Orbax keeps the latest two checkpoints (to resume, the older
one in case the newer is damaged) and the best by validation loss (to
evaluate). Epoch order and dropout masks derive from
(seed, epoch, step) alone, so a resumed run matches an uninterrupted one.
As in Phase 1, a non-finite loss stops the run before its epoch is saved and
the workdir records the config, the data and the Phase-1 run it builds on.
"""

from __future__ import annotations

import functools
import pathlib
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax.training import train_state
import tqdm

from cacl_jax.common import checkpoints as checkpoints_lib
from cacl_jax.common import health, metrics_log, run_manifest
from cacl_jax.data import prepared
from cacl_jax.phase1 import batches as batches_lib
from cacl_jax.phase2 import classifier, config as config_lib, evaluate, losses
from cacl_jax.phase2 import pretrained

CHECKPOINT_DIR = "checkpoints"
TrainState = train_state.TrainState


def make_optimizer(train_config: ml_collections.ConfigDict
                   ) -> optax.GradientTransformation:
  """Adam with coupled L2 (§6.4) after global-norm clipping, as in torch.

  The order is that of the original's step: `clip_grad_norm_` on the raw
  gradients, then `Adam(weight_decay=wd)`, which adds wd·param to the
  clipped gradient before its moments (β = 0.9, 0.999; ε = 1e-8). Decay
  applies to every parameter, biases included.
  """
  return optax.chain(
      optax.clip_by_global_norm(train_config.grad_clip_norm),
      optax.add_decayed_weights(train_config.weight_decay),
      optax.adam(train_config.learning_rate))


@functools.partial(jax.jit, static_argnums=0)
def _keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(init, shuffle, dropout) keys; epochs and steps fold their index in."""
  init_key, shuffle_key, dropout_key = jax.random.split(
      jax.random.fold_in(jax.random.key(seed), 2), 3)
  return init_key, shuffle_key, dropout_key


def create_state(config: ml_collections.ConfigDict, emb_dim: int
                 ) -> TrainState:
  """A fresh head and optimiser state for `emb_dim`-d resume and job
  embeddings."""
  init_key, _, _ = _keys(config.seed)
  head = classifier.make_head(config.model)
  tx = make_optimizer(config.train)
  dummy = jnp.zeros((1, emb_dim), jnp.float32)

  def create(key):
    params = head.init(key, dummy, dummy, deterministic=True)["params"]
    return TrainState.create(apply_fn=head.apply, params=params, tx=tx)

  return jax.jit(create)(init_key)


def _pair_rows(split: prepared.SplitArrays) -> tuple[jax.Array, jax.Array,
                                                     jax.Array]:
  """Per-pair text rows of the resume and job, and the binary labels."""
  return (jnp.asarray(split.resume_row_R[split.resume_N], jnp.int32),
          jnp.asarray(split.job_row_P[split.job_N], jnp.int32),
          jnp.asarray(split.label_N, jnp.int32))


def _train_epoch(state: TrainState, emb_TxE, resume_N, job_N, label_N,
                 shuffle_key, epoch, dropout_key, *, batch_size: int,
                 shuffle: bool, pos_weight: float):
  """One epoch of optimiser steps as a scan; returns the state and each
  step's loss.

  Batch order comes from (shuffle_key, epoch), dropout from (dropout_key,
  step); the last partial batch is padded and masked out of the loss.
  """
  idx_SxB, mask_SxB = batches_lib.epoch_batches(
      jax.random.fold_in(shuffle_key, epoch), resume_N.shape[0], batch_size,
      shuffle)

  def body(state, xs):
    idx_B, mask_B = xs
    rng = jax.random.fold_in(dropout_key, state.step)

    def loss_fn(params):
      logits_B = state.apply_fn({"params": params}, emb_TxE[resume_N[idx_B]],
                                emb_TxE[job_N[idx_B]], deterministic=False,
                                rngs={"dropout": rng})
      return losses.weighted_bce(logits_B, label_N[idx_B], pos_weight, mask_B)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss

  return jax.lax.scan(body, state, (idx_SxB, mask_SxB))


def _validate(params, emb_TxE, resume_N, job_N, label_N, *, apply_fn,
              pos_weight: float) -> dict[str, jax.Array]:
  """Weighted BCE and accuracy at probability 0.5 over a whole split."""
  logits_N = apply_fn({"params": params}, emb_TxE[resume_N], emb_TxE[job_N],
                      deterministic=True)
  return {"loss": losses.weighted_bce(logits_N, label_N, pos_weight),
          "accuracy": losses.accuracy(logits_N, label_N)}


def train(config: ml_collections.ConfigDict, workdir: str | pathlib.Path,
          data: prepared.PreparedData, emb_TxE: np.ndarray,
          links: dict[str, str] | None = None) -> dict[str, Any]:
  """Trains (or resumes) the head; returns the best params and a summary.

  `emb_TxE` is the frozen Phase-1 projection of every text of `data`;
  `links` identifies the runs it came from (recorded in run.json).
  """
  workdir = pathlib.Path(workdir)
  t = config.train
  if data.train.num_pairs == 0 or data.val.num_pairs == 0:
    raise ValueError(f"phase 2 needs training and validation pairs; got "
                     f"{data.train.num_pairs} and {data.val.num_pairs}")
  emb = jnp.asarray(emb_TxE, jnp.float32)
  train_rows = _pair_rows(data.train)
  val_rows = _pair_rows(data.val)
  steps_per_epoch = batches_lib.num_batches(data.train.num_pairs,
                                            t.batch_size)
  counts_S = np.full(steps_per_epoch, t.batch_size, np.float64)
  counts_S[-1] = data.train.num_pairs - t.batch_size * (steps_per_epoch - 1)
  _, shuffle_key, dropout_key = _keys(config.seed)
  train_epoch = jax.jit(
      functools.partial(_train_epoch, batch_size=t.batch_size,
                        shuffle=t.shuffle, pos_weight=t.pos_weight),
      donate_argnums=0)
  state = create_state(config, emb.shape[1])
  validate = jax.jit(functools.partial(_validate, apply_fn=state.apply_fn,
                                       pos_weight=t.pos_weight))
  run_manifest.start_run(workdir, config, prepared.fingerprint(data), links)

  with checkpoints_lib.Checkpoints(
      workdir / CHECKPOINT_DIR, metric="val_loss", mode="min",
      keep_best=config.checkpoint.max_to_keep) as ckpt:
    restored = ckpt.restore_latest(state)
    start_epoch = 0
    if restored is not None:
      start_epoch, state = restored
      logging.info("Phase 2: resuming after epoch %d from %s", start_epoch,
                   ckpt.directory)
    if start_epoch > t.epochs:
      raise ValueError(f"{ckpt.directory} holds epoch {start_epoch} but "
                       f"config.train.epochs is {t.epochs}: use a new workdir")
    with metrics_log.MetricsLog(workdir, start_epoch * steps_per_epoch) as log:
      bar = tqdm.trange(start_epoch, t.epochs, initial=start_epoch,
                        total=t.epochs, desc="phase 2", unit="epoch")
      for epoch in bar:
        start = time.perf_counter()
        state, loss_S = train_epoch(
            state, emb, *train_rows, shuffle_key, np.int32(epoch), dropout_key)
        val = jax.device_get(validate(state.params, emb, *val_rows))
        loss_S = np.asarray(loss_S, np.float64)
        first_step = epoch * steps_per_epoch + 1
        health.check_finite("phase 2", {"training loss": loss_S},
                            first_step=first_step, epoch=epoch + 1,
                            settings={"learning_rate": t.learning_rate})
        health.check_finite("phase 2", {"validation loss": [val["loss"]]},
                            first_step=first_step + len(loss_S) - 1,
                            epoch=epoch + 1,
                            settings={"learning_rate": t.learning_rate})
        record = {"epoch/train_loss": float((loss_S * counts_S).sum()
                                            / counts_S.sum()),
                  "epoch/val_loss": float(val["loss"]),
                  "epoch/val_accuracy": float(val["accuracy"]),
                  "epoch/seconds": time.perf_counter() - start}
        for i, loss in enumerate(loss_S):
          if (first_step + i) % t.log_every == 0:
            log.write(first_step + i, {"train/loss": loss}, epoch=epoch + 1)
        # Logged before saving: what a crash leaves in between is dropped
        # when the run resumes from the previous checkpoint.
        log.write((epoch + 1) * steps_per_epoch, record, epoch=epoch + 1)
        ckpt.save(epoch + 1, state, {
            "val_loss": record["epoch/val_loss"],
            "val_accuracy": record["epoch/val_accuracy"],
            "train_loss": record["epoch/train_loss"]})
        bar.set_postfix(loss=f"{record['epoch/train_loss']:.4f}",
                        val_loss=f"{record['epoch/val_loss']:.4f}",
                        val_acc=f"{record['epoch/val_accuracy']:.3f}")
    best_epoch, best = ckpt.restore_best(state)
    best_metrics = ckpt.metrics(best_epoch)

  history = [r for r in metrics_log.read_history(workdir)
             if "epoch/val_loss" in r]
  last = history[-1]
  return {
      "params": best.params,
      "history": history,
      "summary": {
          "epochs": t.epochs,
          "steps_per_epoch": steps_per_epoch,
          "num_params": classifier.num_params(best.params),
          "train_loss_final": last["epoch/train_loss"],
          "val_loss_final": last["epoch/val_loss"],
          "val_accuracy_final": last["epoch/val_accuracy"],
          "best_epoch": int(best_epoch),
          "best_val_loss": best_metrics["val_loss"],
          "best_val_accuracy": best_metrics["val_accuracy"],
          "training_time_s": float(sum(r["epoch/seconds"] for r in history)),
      },
  }


def loss_curves(history) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """(epoch, loss) series of training and validation for the loss plot."""
  return {"train": metrics_log.series(history, "epoch/train_loss", "epoch"),
          "validation": metrics_log.series(history, "epoch/val_loss",
                                           "epoch")}


def run(config: ml_collections.ConfigDict, workdir: str | pathlib.Path,
        data: prepared.PreparedData) -> dict[str, Any]:
  """Phase 2 on prepared data: restore Phase 1, train, evaluate, report.

  Returns the content of `<workdir>/phase2_eval.json`, with "report_path".
  """
  config_lib.validate(config)
  workdir = pathlib.Path(workdir)
  frozen = pretrained.load(config, data.emb_TxD.shape[1])
  phase1_run = run_manifest.require_same_data(
      config.phase1_workdir, prepared.fingerprint(data), "the Phase-1 run")
  logging.info("Phase 2: frozen Phase-1 head from %s (epoch %s)",
               config.phase1_workdir, frozen.info.get("epoch"))
  emb_TxE = frozen.project(data.emb_TxD)
  trained = train(config, workdir, data, emb_TxE,
                  links={"phase1_run_id": phase1_run["run_id"],
                         "phase1_checkpoint_step": str(frozen.info["step"])})
  metrics, arrays = evaluate.evaluate(
      config.model, trained["params"], emb_TxE, data,
      config.eval.min_resume_candidates, config.eval.ranking_negatives,
      config.eval.ranking_seed)
  out = evaluate.write_outputs(
      workdir, metrics, arrays, loss_curves(trained["history"]),
      dict(trained["summary"], phase1_checkpoint=frozen.info),
      pretrained.phase1_summary(config.phase1_workdir),
      pretrained.phase1_plots(config.phase1_workdir))
  logging.info("Phase 2 report: %s", out["report_path"])
  return out


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str | pathlib.Path) -> dict[str, Any]:
  """Entry point of scripts/train.py: prepares the data (cached), then `run`."""
  config_lib.validate(config)
  pretrained.checkpoint_dir(config)  # fail before the data preparation
  from cacl_jax import pipeline  # pylint: disable=g-import-not-at-top
  return run(config, workdir, pipeline.prepare_data(config, workdir))
