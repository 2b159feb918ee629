"""Phase-1 training: one step learns, full tiny runs, resume, vanilla switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import synthetic_data
from cacl_jax.common import checkpoints
from cacl_jax.common import health, metrics_log, run_manifest, training_loop
from cacl_jax.phase1 import batches, negatives, state as state_lib, steps
from cacl_jax.phase1 import train


@pytest.fixture(scope="module")
def data():
  return synthetic_data.make_prepared(dim=32, signal=0.3)


@pytest.fixture(scope="module")
def full_run(data, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("full")
  config = synthetic_data.tiny_phase1_config()
  summary = train.train_phase1(config, data, workdir)
  return config, workdir, summary


def final_params(config, workdir, input_dim):
  params, info = state_lib.load_params(config, workdir, input_dim,
                                       which="latest")
  return params, info


def comparable(history):
  return [{k: v for k, v in r.items() if k != "epoch/seconds"}
          for r in history]


def key(seed):
  return jax.random.key(seed, impl=train.PRNG_IMPL)


def first_batch(config, data, split_name="train"):
  tensors = train._split_tensors(config, data, split_name)
  idx, mask = batches.epoch_batches(jax.random.key(0), tensors.num_pairs,
                                    config.train.batch_size, shuffle=False)
  ratios = negatives.curriculum_ratios(0, 3, config.negatives.start_ratios,
                                       config.negatives.end_ratios)
  return batches.gather_batch(tensors, idx[0], mask[0], jnp.asarray(ratios))


def test_one_train_step_lowers_the_loss_on_a_fixed_batch(data):
  config = synthetic_data.tiny_phase1_config()
  settings = train.step_settings(config)
  state = state_lib.create_state(config, data.emb_TxD.shape[1], key(0))
  batch = first_batch(config, data)
  assert int(batch.anchor_mask_B.sum()) > 0
  step = steps.make_train_step(settings)
  rng = key(1)  # same negatives and dropout masks in both steps
  state, before = step(state, batch, rng)
  state, after = step(state, batch, rng)  # its loss is at the updated params
  assert float(after["loss"]) < float(before["loss"])
  assert int(state.step) == 2
  assert float(before["grad_norm"]) > 0
  assert float(before["clipped"]) == float(
      before["grad_norm"] > config.train.grad_clip_norm)


def test_batch_without_anchors_leaves_params_unchanged(data):
  config = synthetic_data.tiny_phase1_config()
  settings = train.step_settings(config)
  state = state_lib.create_state(config, data.emb_TxD.shape[1], key(0))
  batch = first_batch(config, data)
  batch = batch.replace(anchor_mask_B=jnp.zeros_like(batch.anchor_mask_B))
  before = jax.tree.map(np.asarray, state.params)
  new_state, metrics = steps.make_train_step(settings)(state, batch, key(1))
  assert float(metrics["loss"]) == 0.0
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(new_state.params)):
    np.testing.assert_array_equal(a, b)


def test_scanned_epoch_equals_step_by_step(data, full_run):
  del full_run  # compiles the scanned epoch for these shapes
  config = synthetic_data.tiny_phase1_config()
  settings = train.step_settings(config)
  tensors = train._split_tensors(config, data, "train")
  idx, mask = batches.epoch_batches(key(0), tensors.num_pairs,
                                    config.train.batch_size, shuffle=True)
  ratios = jnp.asarray([0.2, 0.3, 0.5])
  epoch_key = key(3)

  def fresh_state():
    state = state_lib.create_state(config, data.emb_TxD.shape[1], key(0))
    return jax.device_put(state, jax.devices()[0])

  scanned, scan_metrics = steps.make_train_epoch(settings)(
      fresh_state(), tensors, idx, mask, ratios, epoch_key)
  state = fresh_state()
  step = steps.make_train_step(settings)
  losses = []
  for i in range(idx.shape[0]):
    batch = batches.gather_batch(tensors, idx[i], mask[i], ratios)
    state, metrics = step(state, batch, jax.random.fold_in(epoch_key, i))
    losses.append(float(metrics["loss"]))
  np.testing.assert_allclose(scan_metrics["loss"], losses, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(scanned.params),
                  jax.tree.leaves(state.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_full_run_writes_checkpoints_and_metrics(full_run, data):
  config, workdir, summary = full_run
  steps_per_epoch = batches.num_batches(data.train.num_pairs,
                                        config.train.batch_size)
  assert summary["steps_per_epoch"] == steps_per_epoch
  assert summary["resumed_from_step"] == 0
  history = metrics_log.read_history(workdir)
  epochs, val = metrics_log.series(history, "epoch/val_loss", x="epoch")
  np.testing.assert_array_equal(epochs, [1, 2, 3])
  assert summary["best_val_loss"] == pytest.approx(val.min())
  assert summary["best_epoch"] == int(epochs[val.argmin()])
  assert summary["best_step"] == summary["best_epoch"] * steps_per_epoch
  step_ids, step_loss = metrics_log.series(history, "train/loss")
  np.testing.assert_array_equal(step_ids, np.arange(1, 3 * steps_per_epoch + 1))
  assert np.isfinite(step_loss).all()
  # Curriculum shares logged per epoch, from start to end.
  _, hard = metrics_log.series(history, "epoch/ratio_hard", x="epoch")
  np.testing.assert_allclose(hard, [0.2, 0.4, 0.6], rtol=1e-6)
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  with training_loop.open_checkpoints(workdir) as ckpts:
    assert ckpts.latest_step() == 3 * steps_per_epoch
    assert ckpts.best_step() == summary["best_step"]
    assert set(ckpts.all_steps()) == {summary["best_step"],
                                      2 * steps_per_epoch,
                                      3 * steps_per_epoch}
  _, info = state_lib.load_params(config, workdir, data.emb_TxD.shape[1])
  assert info["step"] == summary["best_step"]
  assert info["val_loss"] == pytest.approx(summary["best_val_loss"])


class _Interrupted(Exception):
  pass


def test_resume_after_interrupt_equals_uninterrupted(full_run, data, tmp_path,
                                                      monkeypatch):
  config, full_dir, full_summary = full_run
  real_save = checkpoints.Checkpoints.save
  saves = []

  def crash_on_third_save(self, step, state, metrics):
    if len(saves) == 2:  # epoch 3 is trained and logged, not checkpointed
      raise _Interrupted()
    saves.append(step)
    real_save(self, step, state, metrics)

  monkeypatch.setattr(checkpoints.Checkpoints, "save", crash_on_third_save)
  with pytest.raises(_Interrupted):
    train.train_phase1(config, data, tmp_path)
  monkeypatch.setattr(checkpoints.Checkpoints, "save", real_save)

  summary = train.train_phase1(config, data, tmp_path)
  assert summary["resumed_from_step"] == saves[1]
  assert summary["best_step"] == full_summary["best_step"]
  assert summary["best_val_loss"] == full_summary["best_val_loss"]
  dim = data.emb_TxD.shape[1]
  resumed, _ = final_params(config, tmp_path, dim)
  uninterrupted, _ = final_params(config, full_dir, dim)
  for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(uninterrupted)):
    np.testing.assert_array_equal(a, b)
  assert comparable(metrics_log.read_history(tmp_path)) == comparable(
      metrics_log.read_history(full_dir))


def test_finished_run_is_not_trained_again(full_run, data):
  config, workdir, summary = full_run
  again = train.train_phase1(config, data, workdir)
  assert again["resumed_from_step"] == 3 * summary["steps_per_epoch"]
  assert again["best_step"] == summary["best_step"]


def test_vanilla_switch_uses_random_negatives_and_unit_weights(data, tmp_path):
  config = synthetic_data.tiny_phase1_config(epochs=1)
  config.negatives.strategy = "random"
  config.weighting.enabled = False
  assert not train.step_settings(config).negatives.ontology
  train.train_phase1(config, data, tmp_path / "vanilla")
  history = metrics_log.read_history(tmp_path / "vanilla")
  _, weights = metrics_log.series(history, "train/mean_weight")
  _, anchors = metrics_log.series(history, "train/num_anchors")
  np.testing.assert_array_equal(weights[anchors > 0], 1.0)
  ontology = synthetic_data.tiny_phase1_config(epochs=1)
  train.train_phase1(ontology, data, tmp_path / "ontology")
  _, weights = metrics_log.series(
      metrics_log.read_history(tmp_path / "ontology"), "train/mean_weight")
  assert not np.allclose(weights[anchors > 0], 1.0)


def test_clipped_gradients_are_logged_and_warned_about(data, tmp_path,
                                                        caplog):
  config = synthetic_data.tiny_phase1_config(epochs=1, grad_clip_norm=1e-6)
  train.train_phase1(config, data, tmp_path)
  history = metrics_log.read_history(tmp_path)
  _, clipped = metrics_log.series(history, "train/clipped")
  _, anchors = metrics_log.series(history, "train/num_anchors")
  np.testing.assert_array_equal(clipped[anchors > 0], 1.0)
  _, fraction = metrics_log.series(history, "epoch/clip_fraction")
  assert fraction.tolist() == [1.0]
  assert "epoch 1: gradient norm above 1e-06 in 100% of steps" in caplog.text


def test_resuming_with_another_model_fails_clearly(full_run, data):
  config, workdir, _ = full_run
  other = synthetic_data.tiny_phase1_config()
  other.model.hidden = 24
  with pytest.raises(run_manifest.RunMismatch,
                     match="model.hidden: 32 → 24.*--overwrite"):
    train.train_phase1(other, data, workdir)
  with pytest.raises(checkpoints.CheckpointError,
                     match="does not match the model"):
    state_lib.load_params(other, workdir, data.emb_TxD.shape[1])


def test_resuming_on_other_data_fails_clearly(full_run):
  config, workdir, _ = full_run
  other = synthetic_data.make_prepared(seed=1)
  with pytest.raises(run_manifest.RunMismatch, match="data fingerprint"):
    train.train_phase1(config, other, workdir)


def test_a_diverging_run_stops_before_saving(data, tmp_path):
  config = synthetic_data.tiny_phase1_config(temperature=1e-30)
  with pytest.raises(health.TrainingDiverged,
                     match=r"phase 1 diverged: .*(nan|inf) at step 1 "
                     r"\(epoch 1, batch 1\).*temperature 1e-30"):
    train.train_phase1(config, data, tmp_path)
  with training_loop.open_checkpoints(tmp_path) as ckpts:
    assert ckpts.all_steps() == []


def test_bad_config_and_data_are_reported(data, tmp_path):
  config = synthetic_data.tiny_phase1_config()
  config.negatives.strategy = "hardest"
  with pytest.raises(ValueError, match="negatives.strategy"):
    train.train_phase1(config, data, tmp_path)
  config = synthetic_data.tiny_phase1_config()
  config.negatives.end_ratios = (0.5, 0.5, 0.5)
  with pytest.raises(ValueError, match="negatives.end_ratios"):
    train.train_phase1(config, data, tmp_path)
  no_positives = data.__class__(
      emb_TxD=data.emb_TxD, val=data.val, test=data.test,
      train=data.train.__class__(**{
          **data.train.__dict__,
          "label_N": np.zeros_like(data.train.label_N)}))
  with pytest.raises(ValueError, match="train split has no good_fit pairs"):
    train.train_phase1(synthetic_data.tiny_phase1_config(), no_positives,
                       tmp_path)
