"""Phase 2 (§6): a classification head on the frozen Phase-1 embedding space.

`run` restores the best Phase-1 head of `phase1_workdir` (its shape read
from that run's config.json), checks that it was trained on the same data,
and projects every text once: the encoder and the head are frozen and
deterministic, so these are the numbers the original recomputed every
batch. `train` then trains the classification head with the epoch loop both
phases share (`common.training_loop`): one compiled scan per epoch or
per checkpoint segment (`phase2/steps.py`), validation loss and accuracy
after each epoch, the training loss of every step logged, checkpoints, a
stop at the first non-finite loss, exact resume; epoch order and dropout
masks derive from (seed, epoch, step) alone. `run` evaluates the best
checkpoint (§7.2), and writes the report; `experiments.run` then exports
the model bundle.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cacl_jax.common import distributed, metrics_log, run_manifest
from cacl_jax.common import training_loop
from cacl_jax.data import prepared
from cacl_jax.phase1 import batches as batches_lib
from cacl_jax.phase2 import classifier, config as config_lib, evaluate
from cacl_jax.phase2 import pretrained, steps


@functools.partial(jax.jit, static_argnums=0)
def _keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(init, shuffle, dropout) keys; epochs and steps fold their index in."""
  init_key, shuffle_key, dropout_key = jax.random.split(
      jax.random.fold_in(jax.random.key(seed), 2), 3)
  return init_key, shuffle_key, dropout_key


def create_state(config: ml_collections.ConfigDict, emb_dim: int
                 ) -> steps.TrainState:
  """A fresh head and optimiser state for `emb_dim`-d resume and job
  embeddings."""
  init_key, _, _ = _keys(config.seed)
  head = classifier.make_head(config.model)
  t = config.train
  tx = steps.make_optimizer(t.learning_rate, t.weight_decay,
                            t.grad_clip_norm)
  dummy = jnp.zeros((1, emb_dim), jnp.float32)

  def create(key):
    params = head.init(key, dummy, dummy, deterministic=True)["params"]
    return steps.TrainState.create(apply_fn=head.apply, params=params, tx=tx)

  return jax.jit(create)(init_key)


def train(config: ml_collections.ConfigDict, data: prepared.PreparedData,
          emb_TxE: np.ndarray, workdir: str | pathlib.Path,
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
  train_pairs = steps.pair_tensors(data.train, emb_TxE)
  val_pairs = steps.pair_tensors(data.val, emb_TxE)
  steps_per_epoch = batches_lib.num_batches(train_pairs.num_pairs,
                                            t.batch_size)
  pairs_S = np.full(steps_per_epoch, t.batch_size, np.float64)
  pairs_S[-1] = train_pairs.num_pairs - t.batch_size * (steps_per_epoch - 1)
  _, shuffle_key, dropout_key = _keys(config.seed)
  train_epoch = steps.make_train_epoch(t.pos_weight,
                                       distributed.training_mesh(config))
  state = create_state(config, emb_TxE.shape[1])
  validation = steps.make_validation(state.apply_fn, t.pos_weight)

  def run_steps(state, epoch, start, end):
    idx_SxB, mask_SxB = batches_lib.epoch_batches(
        jax.random.fold_in(shuffle_key, epoch), train_pairs.num_pairs,
        t.batch_size, t.shuffle)
    state, metrics = train_epoch(state, train_pairs, idx_SxB[start:end],
                                 mask_SxB[start:end], dropout_key)
    return state, jax.device_get(metrics)

  def validate(state, epoch):
    del epoch  # the same pairs every epoch
    return jax.device_get(validation(state.params, val_pairs))

  def summarize(epoch, step_metrics, val):
    del epoch
    loss_S = np.asarray(step_metrics["loss"], np.float64)
    return {"epoch/train_loss": float((loss_S * pairs_S).sum()
                                      / pairs_S.sum()),
            "epoch/val_loss": float(val["loss"]),
            "epoch/val_accuracy": float(val["accuracy"])}

  phase = training_loop.Phase(
      name="phase 2", steps_per_epoch=steps_per_epoch, run_steps=run_steps,
      validate=validate, summarize=summarize,
      settings={"learning_rate": t.learning_rate},
      extra_metrics=("val_accuracy",))
  result = training_loop.train(workdir, config, state, phase,
                               prepared.fingerprint(data), links)
  best, info = training_loop.restore(workdir, result.state)

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
          "best_epoch": info["epoch"],
          "best_val_loss": info["val_loss"],
          "best_val_accuracy": info["val_accuracy"],
          "training_time_s": float(sum(r["epoch/seconds"] for r in history)),
      },
  }


def loss_curves(history) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """(epoch, loss) series of training and validation for the loss plot."""
  return {"train": metrics_log.series(history, "epoch/train_loss", "epoch"),
          "validation": metrics_log.series(history, "epoch/val_loss",
                                           "epoch")}


def run(config: ml_collections.ConfigDict, data: prepared.PreparedData,
        workdir: str | pathlib.Path) -> dict[str, Any]:
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
  trained = train(config, data, emb_TxE, workdir,
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
