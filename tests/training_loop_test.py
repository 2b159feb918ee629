"""common.training_loop on a toy phase whose every number is known by hand.

The toy state is one weight w = 8 that each step halves (two steps an
epoch unless a test says otherwise); the step loss is w after the step and
the validation loss (w − 0.5)², so after epochs 1–4 w is 2, 0.5, 0.125,
0.03125 and the validation losses 2.25, 0, 0.140625, 0.2197265625: the best
epoch is 2. With three steps an epoch, w is 1, 0.125, 0.015625, 0.001953125
and the validation losses 0.25, 0.140625, 0.234619140625, 0.248050689697…:
the best epoch is again 2.
"""

import os
import signal

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from cacl_jax.common import checkpoints, health, metrics_log, run_manifest
from cacl_jax.common import training_loop

W_AFTER_EPOCH = [2.0, 0.5, 0.125, 0.03125]
VAL_LOSS = [(w - 0.5) ** 2 for w in W_AFTER_EPOCH]


def _config(epochs=4, log_every=1, every_steps=0):
  return ml_collections.ConfigDict({
      "phase": "toy", "train": {"epochs": epochs, "log_every": log_every},
      "checkpoint": {"max_to_keep": 1, "every_steps": every_steps}})


def _state(w=8.0):
  return {"w": jnp.asarray(w, jnp.float32)}


def _phase(calls=None, nan_step=None, valid_steps=None, steps_per_epoch=2,
           sigterm_step=None):
  """The toy phase; `nan_step` (global, 1-based) gets a NaN loss, and the
  process sends itself SIGTERM while it trains step `sigterm_step`."""

  def run_steps(state, epoch, start, end):
    if calls is not None:
      calls.append((epoch, start, end))
    w, loss_S = float(state["w"]), []
    for i in range(start, end):
      step = steps_per_epoch * epoch + i + 1
      if step == sigterm_step:
        os.kill(os.getpid(), signal.SIGTERM)
      w *= 0.5
      loss_S.append(np.nan if step == nan_step else w)
    return _state(w), {"loss": np.asarray(loss_S, np.float32),
                       "step_in_epoch": np.arange(start + 1, end + 1,
                                                  dtype=np.float32)}

  def validate(state, epoch):
    del epoch
    return {"loss": (float(state["w"]) - 0.5) ** 2}

  def summarize(epoch, step_metrics, val):
    del epoch
    return {"epoch/train_loss": float(step_metrics["loss"].mean()),
            "epoch/val_loss": val["loss"],
            "epoch/w": float(step_metrics["loss"][-1])}

  return training_loop.Phase(
      name="toy", steps_per_epoch=steps_per_epoch, run_steps=run_steps,
      validate=validate, summarize=summarize, settings={"learning_rate": 0.5},
      valid_steps=valid_steps, extra_metrics=("w",))


def _comparable(history):
  return [{k: v for k, v in r.items() if k != "epoch/seconds"}
          for r in history]


def test_layout_metrics_and_best(tmp_path):
  result = training_loop.train(tmp_path, _config(), _state(), _phase(),
                               "fingerprint")
  assert result.resumed_from_step == 0
  assert float(result.state["w"]) == W_AFTER_EPOCH[-1]
  # Best by validation loss, keyed by the global step (2 steps an epoch).
  assert result.best_step == 4
  assert result.best == {"val_loss": 0.0, "train_loss": 0.75, "w": 0.5,
                         "epoch": 2.0}
  with training_loop.open_checkpoints(tmp_path) as ckpts:
    assert ckpts.all_steps() == [4, 6, 8]  # the best and the latest two
  best, info = training_loop.restore(tmp_path, _state())
  assert float(best["w"]) == 0.5
  assert info == {"step": 4, "epoch": 2, "val_loss": 0.0, "train_loss": 0.75,
                  "w": 0.5}
  latest, info = training_loop.restore(tmp_path, _state(), "latest")
  assert float(latest["w"]) == 0.03125 and info["epoch"] == 4

  history = metrics_log.read_history(tmp_path)
  steps, losses = metrics_log.series(history, "train/loss")
  np.testing.assert_array_equal(steps, np.arange(1, 9))
  np.testing.assert_array_equal(losses, [4, 2, 1, 0.5, 0.25, 0.125, 0.0625,
                                         0.03125])
  _, in_epoch = metrics_log.series(history, "train/step_in_epoch")
  np.testing.assert_array_equal(in_epoch, [1, 2] * 4)
  epochs, val = metrics_log.series(history, "epoch/val_loss", x="epoch")
  np.testing.assert_array_equal(epochs, [1, 2, 3, 4])
  np.testing.assert_array_equal(val, VAL_LOSS)
  epoch_steps, train_loss = metrics_log.series(history, "epoch/train_loss")
  np.testing.assert_array_equal(epoch_steps, [2, 4, 6, 8])
  np.testing.assert_array_equal(train_loss, [3.0, 0.75, 0.1875, 0.046875])
  assert all(r["epoch/seconds"] >= 0 for r in history if "epoch/w" in r)
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
  assert run_manifest.read_run(tmp_path)["data_fingerprint"] == "fingerprint"


def test_log_every_thins_step_records_only(tmp_path):
  training_loop.train(tmp_path, _config(epochs=3, log_every=4), _state(),
                      _phase(), "fingerprint")
  history = metrics_log.read_history(tmp_path)
  assert metrics_log.series(history, "train/loss")[0].tolist() == [4.0]
  assert metrics_log.series(history, "epoch/val_loss")[0].tolist() == [
      2.0, 4.0, 6.0]


class _Interrupted(Exception):
  pass


def test_resume_after_interrupt_equals_uninterrupted(tmp_path, monkeypatch):
  full = training_loop.train(tmp_path / "full", _config(), _state(), _phase(),
                             "fingerprint")
  real_save = checkpoints.Checkpoints.save
  saves = []

  def crash_on_third_save(self, step, state, metrics):
    if len(saves) == 2:  # epoch 3 is trained and logged, not checkpointed
      raise _Interrupted()
    saves.append(step)
    real_save(self, step, state, metrics)

  monkeypatch.setattr(checkpoints.Checkpoints, "save", crash_on_third_save)
  with pytest.raises(_Interrupted):
    training_loop.train(tmp_path / "cut", _config(), _state(), _phase(),
                        "fingerprint")
  monkeypatch.setattr(checkpoints.Checkpoints, "save", real_save)
  calls = []
  resumed = training_loop.train(tmp_path / "cut", _config(), _state(),
                                _phase(calls), "fingerprint")
  assert resumed.resumed_from_step == 4 and calls == [(2, 0, 2), (3, 0, 2)]
  assert float(resumed.state["w"]) == float(full.state["w"])
  assert (resumed.best_step, resumed.best) == (full.best_step, full.best)
  assert _comparable(metrics_log.read_history(tmp_path / "cut")) == \
      _comparable(metrics_log.read_history(tmp_path / "full"))

  calls.clear()
  again = training_loop.train(tmp_path / "cut", _config(), _state(),
                              _phase(calls), "fingerprint")
  assert again.resumed_from_step == 8 and calls == []


def test_the_run_is_checked_before_anything_is_restored(tmp_path,
                                                        monkeypatch):
  training_loop.train(tmp_path, _config(epochs=1), _state(), _phase(),
                      "fingerprint")

  def restore_latest(self, target):
    raise AssertionError("restored before the run record was checked")

  monkeypatch.setattr(checkpoints.Checkpoints, "restore_latest",
                      restore_latest)
  with pytest.raises(run_manifest.RunMismatch,
                     match="train.epochs: 1 → 2.*--overwrite"):
    training_loop.train(tmp_path, _config(epochs=2), _state(), _phase(),
                        "fingerprint")
  with pytest.raises(run_manifest.RunMismatch, match="data fingerprint"):
    training_loop.train(tmp_path, _config(epochs=1), _state(), _phase(),
                        "other data")


def test_a_non_finite_loss_stops_before_its_epoch_is_saved(tmp_path):
  with pytest.raises(health.TrainingDiverged,
                     match=r"toy diverged: the training loss is nan at step 6 "
                     r"\(epoch 3, batch 2\).*learning rate 0.5"):
    training_loop.train(tmp_path, _config(), _state(), _phase(nan_step=6),
                        "fingerprint")
  with training_loop.open_checkpoints(tmp_path) as ckpts:
    assert ckpts.all_steps() == [2, 4]
  # The diverged epoch's steps were logged, its summary was not.
  history = metrics_log.read_history(tmp_path)
  assert metrics_log.series(history, "train/loss")[0].tolist() == [
      1, 2, 3, 4, 5, 6]
  assert metrics_log.series(history, "epoch/val_loss")[0].tolist() == [2, 4]


def test_steps_that_are_not_valid_are_not_checked(tmp_path):
  result = training_loop.train(
      tmp_path, _config(), _state(), _phase(
          nan_step=6,
          valid_steps=lambda step_metrics: step_metrics["step_in_epoch"] == 1),
      "fingerprint")
  assert result.best_step == 4


def test_restore_without_checkpoints_fails_clearly(tmp_path):
  with pytest.raises(checkpoints.CheckpointError, match="no checkpoint in"):
    training_loop.restore(tmp_path, _state(), "latest")
  with pytest.raises(checkpoints.CheckpointError, match="no checkpoint in"):
    training_loop.restore(tmp_path, _state())
  with pytest.raises(ValueError, match="'best' or 'latest'"):
    training_loop.restore(tmp_path, _state(), "first")


def test_every_steps_checkpoints_inside_epochs_and_best_stays_epoch_end(
    tmp_path):
  calls = []
  result = training_loop.train(
      tmp_path / "cut", _config(every_steps=2), _state(),
      _phase(calls, steps_per_epoch=3), "fingerprint")
  # Segments end at multiples of 2 steps from each epoch's start.
  assert calls == [(e, *r) for e in range(4) for r in ((0, 2), (2, 3))]
  assert float(result.state["w"]) == 8 * 0.5 ** 12
  assert result.best_step == 6 and result.best["epoch"] == 2
  with training_loop.open_checkpoints(tmp_path / "cut") as ckpts:
    # Latest two (one inside epoch 4) and the best, an epoch end.
    assert ckpts.all_steps() == [6, 11, 12]
    assert ckpts.metrics(11) == {}
    progress = ckpts.custom_metadata(11)[training_loop.PROGRESS_KEY]
    assert progress["step_metrics"] == {
        "loss": {"dtype": "float32", "values": [8 * 0.5 ** 10,
                                                8 * 0.5 ** 11]},
        "step_in_epoch": {"dtype": "float32", "values": [1.0, 2.0]}}
    assert ckpts.custom_metadata(12) == {}
  latest, info = training_loop.restore(tmp_path / "cut", _state(), "latest")
  assert float(latest["w"]) == 8 * 0.5 ** 12 and info["epoch"] == 4
  # Same numbers and log as epochs trained in one piece.
  whole = training_loop.train(tmp_path / "whole", _config(), _state(),
                              _phase(steps_per_epoch=3), "fingerprint")
  assert (whole.best_step, whole.best) == (result.best_step, result.best)
  assert _comparable(metrics_log.read_history(tmp_path / "cut")) == \
      _comparable(metrics_log.read_history(tmp_path / "whole"))


@pytest.mark.parametrize("every_steps, sigterm_step, stop_step, kept", [
    (1, 5, 5, [3, 4, 5]),  # the step's own checkpoint
    (2, 4, 5, [3, 5]),  # the end of its segment, inside the epoch
    (2, 2, 2, [2]),
    (0, 4, 6, [3, 6]),  # without every_steps, the epoch's end
    (2, 12, 12, [6, 11, 12]),  # after the last epoch: no evaluation
])
def test_sigterm_stops_at_the_next_checkpoint_and_the_rerun_resumes(
    tmp_path, every_steps, sigterm_step, stop_step, kept):
  config = _config(every_steps=every_steps)
  full = training_loop.train(tmp_path / "full", config, _state(),
                             _phase(steps_per_epoch=3), "fingerprint")
  handler = signal.getsignal(signal.SIGTERM)
  with pytest.raises(training_loop.Preempted,
                     match=f"toy preempted at step {stop_step}; rerun the "
                     "same command to resume") as stopped:
    training_loop.train(
        tmp_path / "cut", config, _state(),
        _phase(steps_per_epoch=3, sigterm_step=sigterm_step), "fingerprint")
  assert stopped.value.step == stop_step
  assert signal.getsignal(signal.SIGTERM) == handler
  with training_loop.open_checkpoints(tmp_path / "cut") as ckpts:
    assert ckpts.all_steps() == kept
  calls = []
  resumed = training_loop.train(tmp_path / "cut", config, _state(),
                                _phase(calls, steps_per_epoch=3),
                                "fingerprint")
  assert resumed.resumed_from_step == stop_step
  if stop_step < 12:
    assert calls[0][:2] == (stop_step // 3, stop_step % 3)
  assert float(resumed.state["w"]) == float(full.state["w"])
  assert (resumed.best_step, resumed.best) == (full.best_step, full.best)
  assert _comparable(metrics_log.read_history(tmp_path / "cut")) == \
      _comparable(metrics_log.read_history(tmp_path / "full"))


def test_a_checkpoint_inside_an_epoch_without_its_progress_is_refused(
    tmp_path):
  config = _config(every_steps=1)
  run_manifest.start_run(tmp_path, config, "fingerprint")
  with training_loop.open_checkpoints(tmp_path) as ckpts:
    ckpts.save(4, training_loop.checkpoint_item(_state(0.5), 1), None)
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"lies 1 steps into epoch 2 but records the "
                     r"metrics of 0"):
    training_loop.train(tmp_path, config, _state(),
                        _phase(steps_per_epoch=3), "fingerprint")
