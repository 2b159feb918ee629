"""Phase 2 end to end on synthetic data with a Phase-1 checkpoint; resume; errors."""

import json
import math
import pathlib

import jax
import numpy as np
import pytest
from sklearn import metrics

import phase2_synthetic
from cacl_jax.common import checkpoints as checkpoints_lib
from cacl_jax.common import health, run_manifest, training_loop
from cacl_jax.data import records
from cacl_jax.experiments import config as experiment_config
from cacl_jax.experiments import run as experiment_run
from cacl_jax.phase2 import evaluate, pretrained, train


@pytest.fixture(scope="module")
def data():
  return phase2_synthetic.make_data()


@pytest.fixture(scope="module")
def phase1_dir(tmp_path_factory, data):
  workdir = tmp_path_factory.mktemp("phase1")
  phase2_synthetic.write_phase1_checkpoint(workdir, data, epoch=3)
  (workdir / "phase1_eval.json").write_text(json.dumps({
      "auc_roc": 0.72, "f1": 0.482, "separation": 0.078, "pos_mean": 0.821,
      "neg_mean": 0.743, "checkpoint": {"val_loss": 0.72, "epoch": 3}}))
  return workdir


def _config(phase1_dir, epochs=3):
  """The Phase-2 view of configs/phase2.py:smoke."""
  config = experiment_run.phase_config(
      experiment_config.build("phase2", "smoke"), "phase2",
      phase1_workdir=str(phase1_dir))
  config.train.epochs = epochs
  return config


def _numpy_logits(frozen, params, data, split):
  """Projection head (without its final L2 normalisation, the default
  Phase-2 input as in the original) and classifier re-implemented in numpy."""
  p1 = {k: {n: np.asarray(v) for n, v in d.items()}
        for k, d in frozen.params.items()}
  x = data.emb_TxD.astype(np.float64)
  h = np.maximum(x @ p1["hidden"]["kernel"] + p1["hidden"]["bias"], 0)
  z = h @ p1["output"]["kernel"] + p1["output"]["bias"]
  p = {k: {n: np.asarray(v) for n, v in d.items()} for k, d in params.items()}
  h = np.concatenate([z[split.resume_row_R[split.resume_N]],
                      z[split.job_row_P[split.job_N]]], axis=1)
  for layer in ("hidden_0", "hidden_1"):
    h = np.maximum(h @ p[layer]["kernel"] + p[layer]["bias"], 0)
  return (h @ p["output"]["kernel"] + p["output"]["bias"])[:, 0]


def _weighted_bce(logits, labels, pos_weight=2.5):
  prob = 1 / (1 + np.exp(-logits))
  w = np.where(labels == 1, pos_weight, 1.0)
  return np.mean(-w * (labels * np.log(prob) + (1 - labels) * np.log(1 - prob)))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, data, phase1_dir):
  """An uninterrupted three-epoch run: (workdir, phase2_eval content)."""
  workdir = tmp_path_factory.mktemp("phase2")
  return workdir, train.run(_config(phase1_dir), data, workdir)


def _best(workdir, config):
  """(state, info) of the best checkpoint."""
  return training_loop.restore(workdir, train.create_state(config, 32))


def _log(workdir):
  records = [json.loads(l) for l in
             (workdir / "metrics.jsonl").read_text().splitlines()]
  return [{k: v for k, v in r.items() if k != "epoch/seconds"}
          for r in records]


def test_end_to_end_run(data, phase1_dir, full_run):
  tmp_path, out = full_run
  config = _config(phase1_dir)

  saved = json.loads((tmp_path / "phase2_eval.json").read_text(),
                     parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
  assert saved["report_path"] == out["report_path"]
  report = pathlib.Path(out["report_path"]).read_text()
  assert "| Metric | Phase 1 | Phase 2 |" in report
  assert "| AUC-ROC | 0.720 |" in report
  assert "| Best Val Loss | 0.720 (ep 3) |" in report
  for plot in out["plots"].values():
    assert pathlib.Path(plot).stat().st_size > 1000
  assert saved["training"]["phase1_checkpoint"]["epoch"] == 3

  # The reported numbers, recomputed in numpy from the best checkpoint.
  frozen = pretrained.load(config, data.emb_TxD.shape[1])
  best, info = _best(tmp_path, config)
  history = [json.loads(l) for l in
             (tmp_path / "metrics.jsonl").read_text().splitlines()]
  val_losses = [r["epoch/val_loss"] for r in history if "epoch/val_loss" in r]
  assert len(val_losses) == 3
  best_epoch = 1 + int(np.argmin(val_losses))
  assert info["epoch"] == out["training"]["best_epoch"] == best_epoch
  # Checkpoints are keyed by the global step, as in Phase 1.
  steps_per_epoch = math.ceil(240 / 32)
  assert info["step"] == best_epoch * steps_per_epoch
  assert int(best.step) == info["step"]
  assert info["val_loss"] == pytest.approx(val_losses[best_epoch - 1])
  with training_loop.open_checkpoints(tmp_path) as ckpts:
    assert set(ckpts.all_steps()) == {best_epoch * steps_per_epoch,
                                      2 * steps_per_epoch,
                                      3 * steps_per_epoch}
  # The training loss of every step is logged, and each epoch's loss is
  # their mean weighted by the pairs of each batch (the last one has 16).
  step_records = [r for r in history if "train/loss" in r]
  assert [r["step"] for r in step_records] == list(
      range(1, 3 * steps_per_epoch + 1))
  pairs_S = np.array([32] * 7 + [16], np.float64)
  for epoch in range(3):
    loss_S = np.array([r["train/loss"] for r in step_records
                       if r["epoch"] == epoch + 1])
    epoch_record = next(r for r in history if r.get("epoch") == epoch + 1
                        and "epoch/train_loss" in r)
    assert epoch_record["epoch/train_loss"] == pytest.approx(
        (loss_S * pairs_S).sum() / pairs_S.sum(), rel=1e-12)
  val_logits = _numpy_logits(frozen, best.params, data, data.val)
  assert out["training"]["best_val_loss"] == pytest.approx(
      _weighted_bce(val_logits, data.val.label_N), rel=1e-4)
  test_logits = _numpy_logits(frozen, best.params, data, data.test)
  test_prob = 1 / (1 + np.exp(-test_logits))
  predictions = [json.loads(line) for line in
                 (tmp_path / "test_predictions.jsonl").read_text()
                 .splitlines()]
  assert out["predictions_path"] == str(tmp_path / "test_predictions.jsonl")
  assert [p["pair_id"] for p in predictions] == list(data.test.pair_ids)
  assert [p["binary_label"] for p in predictions] == data.test.label_N.tolist()
  assert [p["label"] for p in predictions] == [
      records.LABELS[i] for i in data.test.original_label_N]
  np.testing.assert_allclose([p["logit"] for p in predictions], test_logits,
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose([p["p_match"] for p in predictions], test_prob,
                             rtol=1e-4, atol=1e-6)
  assert out["test"]["at_tuned"]["auc_roc"] == pytest.approx(
      metrics.roc_auc_score(data.test.label_N, test_prob), abs=1e-6)
  accuracy = np.mean((test_prob >= 0.5) == data.test.label_N)
  assert out["test"]["at_default"]["accuracy"] == pytest.approx(accuracy)
  assert out["training"]["steps_per_epoch"] == steps_per_epoch


def test_resume_after_interrupt_equals_uninterrupted(tmp_path, data,
                                                     phase1_dir, full_run,
                                                     monkeypatch):
  config = _config(phase1_dir)
  emb = pretrained.load(config, data.emb_TxD.shape[1]).project(data.emb_TxD)

  class Interrupt(Exception):
    pass

  save = checkpoints_lib.Checkpoints.save
  saves = []

  def save_then_stop(self, step, state, metrics):
    save(self, step, state, metrics)
    saves.append(step)
    if len(saves) == 2:
      raise Interrupt()

  monkeypatch.setattr(checkpoints_lib.Checkpoints, "save", save_then_stop)
  with pytest.raises(Interrupt):
    train.train(config, data, emb, tmp_path)
  assert len([r for r in _log(tmp_path) if "epoch/val_loss" in r]) == 2
  monkeypatch.setattr(checkpoints_lib.Checkpoints, "save", save)
  resumed = train.train(config, data, emb, tmp_path)

  full_dir, full = full_run
  assert _log(tmp_path) == _log(full_dir)  # nothing lost or logged twice
  assert resumed["summary"]["best_epoch"] == full["training"]["best_epoch"]
  full_best, _ = _best(full_dir, config)
  for a, b in zip(jax.tree_util.tree_leaves(full_best.params),
                  jax.tree_util.tree_leaves(resumed["params"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  full_last, _ = training_loop.restore(full_dir, full_best, "latest")
  resumed_last, _ = training_loop.restore(tmp_path, full_best, "latest")
  for a, b in zip(jax.tree_util.tree_leaves(full_last),
                  jax.tree_util.tree_leaves(resumed_last)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_diverging_run_stops_before_saving(tmp_path, data, phase1_dir):
  config = _config(phase1_dir)
  config.train.learning_rate = 1e15
  with pytest.raises(health.TrainingDiverged,
                     match=r"phase 2 diverged: the training loss is (nan|inf) "
                     r"at step \d+ \(epoch 1, batch \d+\).*learning rate "
                     r"1e\+15"):
    train.run(config, data, tmp_path)
  with training_loop.open_checkpoints(tmp_path) as ckpt:
    assert ckpt.all_steps() == []


def test_constant_scores_are_reported_as_a_collapse(data, phase1_dir,
                                                    full_run, caplog):
  config = _config(phase1_dir)
  frozen = pretrained.load(config, data.emb_TxD.shape[1])
  best, _ = _best(full_run[0], config)
  zero = jax.tree_util.tree_map(np.zeros_like, best.params)
  metrics_out, _ = evaluate.evaluate(config.model, zero,
                                     frozen.project(data.emb_TxD), data)
  assert metrics_out["warnings"] == [
      "phase 2: validation P(match) collapsed to a constant (0.5 for all 64 "
      "pairs): the model does not tell pairs apart (a too high learning "
      "rate?), so its AUC and F1 mean nothing",
      "phase 2: test P(match) collapsed to a constant (0.5 for all 64 pairs): "
      "the model does not tell pairs apart (a too high learning rate?), so "
      "its AUC and F1 mean nothing"]
  assert metrics_out["warnings"][0] in caplog.text
  assert full_run[1]["warnings"] == []


def test_phase1_run_on_other_data_is_refused(tmp_path, data):
  other = phase2_synthetic.make_data(seed=1)
  phase2_synthetic.write_phase1_checkpoint(tmp_path / "p1", other)
  with pytest.raises(run_manifest.RunMismatch,
                     match="the Phase-1 run .*p1 was trained on other data"):
    train.run(_config(tmp_path / "p1"), data, tmp_path / "p2")
  assert not (tmp_path / "p2" / training_loop.CHECKPOINT_DIR).exists()


def test_missing_phase1_checkpoint_is_a_clear_error(tmp_path, data):
  config = _config(tmp_path / "no_such_run")
  with pytest.raises(checkpoints_lib.CheckpointError,
                     match="no Phase-1 checkpoints at .*no_such_run.*"
                     "--config.phase2.phase1_workdir"):
    train.run(config, data, tmp_path / "phase2")


def test_head_shape_comes_from_the_phase1_config_json(tmp_path, data):
  model, _ = phase2_synthetic.write_phase1_checkpoint(
      tmp_path / "p1", data, hidden=24, dim=8)
  frozen = pretrained.load(_config(tmp_path / "p1"), data.emb_TxD.shape[1])
  assert frozen.model_config.to_dict() == model.to_dict()
  assert frozen.project(data.emb_TxD).shape == (data.emb_TxD.shape[0], 8)


def test_phase1_run_without_config_json_asks_to_retrain(tmp_path, data):
  phase2_synthetic.write_phase1_checkpoint(tmp_path / "p1", data)
  (tmp_path / "p1" / run_manifest.CONFIG_FILE).unlink()
  with pytest.raises(run_manifest.RunMismatch,
                     match=r"p1 has no config.json .*train Phase 1 again, "
                     r"e.g. python scripts/train.py --config=configs/phase1.py "
                     r"--workdir=.*p1 --overwrite"):
    train.run(_config(tmp_path / "p1"), data, tmp_path / "p2")
  (tmp_path / "p1" / run_manifest.CONFIG_FILE).write_text('{"model": 3}')
  with pytest.raises(run_manifest.RunMismatch,
                     match="records no Phase-1 head shape.*train Phase 1 "
                     "again"):
    train.run(_config(tmp_path / "p1"), data, tmp_path / "p2")
  assert not (tmp_path / "p2").exists()


def test_phase1_checkpoint_of_another_shape_is_a_clear_error(tmp_path, data):
  phase2_synthetic.write_phase1_checkpoint(tmp_path / "p1", data)
  path = tmp_path / "p1" / run_manifest.CONFIG_FILE
  recorded = json.loads(path.read_text())
  recorded["model"]["hidden"] = 128
  path.write_text(json.dumps(recorded))
  with pytest.raises(checkpoints_lib.CheckpointError,
                     match=r"does not match.*config.json records a head "
                     r"\{.*'hidden': 128.*train Phase 1 again"):
    train.run(_config(tmp_path / "p1"), data, tmp_path / "p2")


def test_empty_phase1_workdir_is_a_clear_error(tmp_path, data):
  phase2_synthetic.write_phase1_checkpoint(tmp_path / "p1", data)
  for step in (tmp_path / "p1" / "checkpoints").iterdir():
    step.rename(tmp_path / step.name)
  with pytest.raises(checkpoints_lib.CheckpointError, match="no checkpoint"):
    train.run(_config(tmp_path / "p1"), data, tmp_path / "p2")
