"""Orbax checkpoint wrapper: latest + best kept, restore, clear errors,
damaged checkpoints detected, moved aside and fallen back from."""

from __future__ import annotations

import json
import logging
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax.training import train_state

from cacl_jax.common import checkpoints


def make_state(width=3, seed=0):
  params = {"w": jax.random.normal(jax.random.key(seed), (4, width)),
            "b": jnp.zeros((width,))}
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
  return train_state.TrainState.create(apply_fn=None, params=params, tx=tx)


def bumped(state, value):
  return state.replace(
      step=jnp.asarray(int(value * 10), jnp.int32),
      params=jax.tree.map(lambda x: x + value, state.params))


def test_keeps_latest_and_best_and_restores_them(tmp_path):
  state = make_state()
  losses = {1: 3.0, 2: 1.0, 3: 2.0, 4: 2.5}
  with checkpoints.Checkpoints(tmp_path, metric="val_loss") as ckpts:
    for step, loss in losses.items():
      ckpts.save(step, {"state": bumped(state, step), "epoch": np.int32(step)},
                 {"val_loss": loss, "train_loss": 0.5})
    # The two latest (3, 4) and the best (2).
    assert ckpts.all_steps() == [2, 3, 4]
    assert ckpts.best_step() == 2 and ckpts.latest_step() == 4
  # A fresh instance reads everything back from disk.
  target = {"state": make_state(), "epoch": np.int32(0)}
  with checkpoints.Checkpoints(tmp_path, metric="val_loss") as ckpts:
    assert ckpts.metrics(2) == {"val_loss": 1.0, "train_loss": 0.5}
    step, best = ckpts.restore_best(target)
    assert step == 2 and int(best["epoch"]) == 2
    assert isinstance(best["state"], train_state.TrainState)
    for got, want in zip(jax.tree.leaves(best["state"].params),
                         jax.tree.leaves(bumped(state, 2).params)):
      np.testing.assert_array_equal(got, want)
    step, latest = ckpts.restore_latest(target)
    assert step == 4 and int(latest["state"].step) == 40
    assert int(latest["epoch"]) == 4


def test_max_mode_and_several_best(tmp_path):
  state = make_state()
  with checkpoints.Checkpoints(tmp_path, metric="auc", mode="max",
                               keep_best=2) as ckpts:
    for step, auc in {1: 0.7, 2: 0.9, 3: 0.8, 4: 0.6, 5: 0.5}.items():
      ckpts.save(step, state, {"auc": auc})
    # The two best (2, 3) and the two latest (4, 5).
    assert ckpts.all_steps() == [2, 3, 4, 5]
    assert ckpts.best_step() == 2


def test_restore_into_abstract_target(tmp_path):
  state = make_state()
  with checkpoints.Checkpoints(tmp_path, metric="val_loss") as ckpts:
    ckpts.save(7, state.params, {"val_loss": 1.0})
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                            state.params)
    _, restored = ckpts.restore_best(abstract)
  np.testing.assert_array_equal(restored["w"], state.params["w"])


def test_missing_checkpoint_errors(tmp_path):
  with checkpoints.Checkpoints(tmp_path / "none", metric="val_loss") as ckpts:
    assert ckpts.restore_latest(make_state()) is None
    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint"):
      ckpts.restore_best(make_state())
    with pytest.raises(checkpoints.CheckpointError, match="step 3"):
      ckpts.restore(3, make_state())


def test_mismatching_model_is_named(tmp_path):
  with checkpoints.Checkpoints(tmp_path, metric="val_loss") as ckpts:
    ckpts.save(1, make_state(width=3), {"val_loss": 1.0})
    mismatch = (r"does not match the model.*\['params'\]\['w'\]: "
                r"checkpoint shape \(4, 3\), model shape \(4, 5\)")
    with pytest.raises(checkpoints.CheckpointError, match=mismatch):
      ckpts.restore_best(make_state(width=5))
    with pytest.raises(checkpoints.CheckpointError,
                       match="missing in checkpoint"):
      ckpts.restore_best({"other": jnp.zeros(2)})


def test_save_requires_the_tracked_metric(tmp_path):
  with checkpoints.Checkpoints(tmp_path, metric="val_loss") as ckpts:
    with pytest.raises(ValueError, match="val_loss"):
      ckpts.save(1, make_state(), {"loss": 1.0})
  with pytest.raises(ValueError, match="mode"):
    checkpoints.Checkpoints(tmp_path, metric="x", mode="best")


def test_checkpoints_without_metrics_are_kept_only_among_the_latest(
    tmp_path, caplog):
  state = make_state()
  progress = {"values": [0.25, float("nan")], "dtype": "float32"}
  with checkpoints.Checkpoints(tmp_path, metric="val_loss") as ckpts:
    ckpts.save(1, bumped(state, 1), None, {"progress": progress})
    assert ckpts.best_step() is None
    with pytest.raises(checkpoints.CheckpointError,
                       match=r"has a 'val_loss': steps \[1\] were saved "
                       "without metrics"):
      ckpts.restore_best(state)
    ckpts.save(2, bumped(state, 2), {"val_loss": 5.0})
    assert ckpts.all_steps() == [1, 2]
    ckpts.save(3, bumped(state, 3), None)
    # Step 1 is no longer among the latest two; the best one stays.
    assert ckpts.all_steps() == [2, 3]
    ckpts.save(4, bumped(state, 4), None, {"progress": progress})
    assert ckpts.all_steps() == [2, 3, 4]
    ckpts.save(5, bumped(state, 5), {"val_loss": 7.0})
    assert ckpts.all_steps() == [2, 4, 5]
    assert ckpts.best_step() == 2
  assert warnings_of(caplog) == []
  with checkpoints.Checkpoints(tmp_path, metric="val_loss") as ckpts:
    assert ckpts.metrics(4) == {} and ckpts.custom_metadata(5) == {}
    saved = ckpts.custom_metadata(4)["progress"]
    assert saved["values"][0] == 0.25 and np.isnan(saved["values"][1])
    assert saved["dtype"] == "float32"
    step, latest = ckpts.restore_latest(state)
    assert step == 5 and int(latest.step) == 50


# Damaged checkpoints ------------------------------------------------------

TARGET = {"w": jnp.zeros((64, 32)), "b": jnp.zeros((32,)), "epoch": np.int32(0)}


def tree(step):
  return {"w": jax.random.normal(jax.random.key(step), (64, 32)),
          "b": jnp.full((32,), float(step)), "epoch": np.int32(step)}


def assert_tree_equal(got, want):
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(g, w)


def save_three(directory, losses=(1.0, 2.0, 3.0)):
  """Steps 1-3; with the default losses all are kept (best 1, latest 2, 3)."""
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    for step, loss in zip((1, 2, 3), losses):
      ckpts.save(step, tree(step), {"val_loss": loss})
    assert ckpts.all_steps() == [1, 2, 3]


def largest_data_file(step_dir):
  return max((step_dir / "default").rglob("*"),
             key=lambda p: p.stat().st_size if p.is_file() else -1)


def flip_byte(step_dir):
  path = largest_data_file(step_dir)
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0xFF
  path.write_bytes(bytes(data))


def truncate(step_dir):
  path = largest_data_file(step_dir)
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def delete_items(step_dir):
  shutil.rmtree(step_dir / "default")


def delete_manifest(step_dir):
  (step_dir / "default" / "manifest.ocdbt").unlink()


def snapshot(directory):
  return {p.relative_to(directory).as_posix(): p.read_bytes()
          for p in sorted(directory.rglob("*")) if p.is_file()}


def warnings_of(caplog):
  return [r.getMessage() for r in caplog.records
          if r.levelno == logging.WARNING]


def test_checksums_cover_every_file_orbax_writes(tmp_path):
  save_three(tmp_path / "ckpt")
  step_dir = tmp_path / "ckpt" / "3"
  recorded = json.loads((step_dir / checkpoints.CHECKSUM_FILE).read_text())
  on_disk = {p.relative_to(step_dir).as_posix(): p for p in step_dir.rglob("*")
             if p.is_file() and p.name != checkpoints.CHECKSUM_FILE}
  assert set(recorded["files"]) == set(on_disk)
  # Orbax 0.12 layout: item metadata, an OCDBT manifest and data files.
  assert {"_CHECKPOINT_METADATA", "metrics/metrics", "default/_METADATA",
          "default/manifest.ocdbt"} <= set(on_disk)
  data = largest_data_file(step_dir)
  assert data.parent == step_dir / "default" / "ocdbt.process_0" / "d"
  assert data.stat().st_size > 64 * 32 * 4 // 2
  for rel, path in on_disk.items():
    assert recorded["files"][rel]["size"] == path.stat().st_size
    assert len(recorded["files"][rel]["sha256"]) == 64
  # Orbax lists and restores the steps with the file there.
  with checkpoints.Checkpoints(tmp_path / "ckpt", metric="val_loss") as ckpts:
    assert ckpts.all_steps() == [1, 2, 3]
    assert_tree_equal(ckpts.restore(3, TARGET), tree(3))


@pytest.mark.parametrize("damage, slug", [
    (flip_byte, "hash-mismatch"), (truncate, "size-mismatch"),
    (delete_items, "missing-file"), (delete_manifest, "missing-file")])
def test_damaged_latest_falls_back_to_previous(tmp_path, caplog, damage, slug):
  directory = tmp_path / "ckpt"
  save_three(directory)
  damage(directory / "3")
  damaged = directory.parent / "ckpt.damaged" / f"3-{slug}"
  expected = snapshot(directory / "3")
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with caplog.at_level(logging.WARNING):
      step, state = ckpts.restore_latest(TARGET)
    assert step == 2
    assert_tree_equal(state, tree(2))
    assert ckpts.all_steps() == [1, 2]
    assert ckpts.damaged_directory == directory.parent / "ckpt.damaged"
    # Moved aside as it was, nothing deleted.
    assert not (directory / "3").exists()
    assert snapshot(damaged) == expected
    [warning] = warnings_of(caplog)
    assert f"Checkpoint {directory / '3'} is damaged" in warning
    assert f"Moved it to {damaged}; trying step 2 instead." in warning
    # The step number can be saved again, and is then the latest.
    ckpts.save(3, tree(30), {"val_loss": 3.0})
    assert ckpts.all_steps() == [1, 2, 3]
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    step, state = ckpts.restore_latest(TARGET)
  assert step == 3
  assert_tree_equal(state, tree(30))


def test_flipped_byte_warning_names_the_file(tmp_path, caplog):
  save_three(tmp_path / "ckpt")
  flip_byte(tmp_path / "ckpt" / "3")
  rel = largest_data_file(tmp_path / "ckpt" / "3").relative_to(
      tmp_path / "ckpt" / "3").as_posix()
  with checkpoints.Checkpoints(tmp_path / "ckpt", metric="val_loss") as ckpts:
    with caplog.at_level(logging.WARNING):
      ckpts.restore_latest(TARGET)
  [warning] = warnings_of(caplog)
  assert f"{rel} differs from the file saved (SHA-256 mismatch)" in warning


def test_all_damaged_starts_afresh_with_a_warning(tmp_path, caplog):
  directory = tmp_path / "ckpt"
  save_three(directory)
  for step in (1, 2, 3):
    truncate(directory / str(step))
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with caplog.at_level(logging.WARNING):
      assert ckpts.restore_latest(TARGET) is None
    assert ckpts.all_steps() == []
  aside = tmp_path / "ckpt.damaged"
  assert sorted(p.name for p in aside.iterdir()) == [
      "1-size-mismatch", "2-size-mismatch", "3-size-mismatch"]
  warnings = warnings_of(caplog)
  assert len(warnings) == 4
  assert "trying step 2 instead" in warnings[0]
  assert "no other checkpoint is left" in warnings[2]
  assert warnings[3] == (f"All 3 checkpoints in {directory} were damaged and "
                         f"have been moved to {aside}; starting from scratch.")


def test_restore_best_falls_back_to_next_best(tmp_path, caplog):
  directory = tmp_path / "ckpt"
  save_three(directory)
  delete_manifest(directory / "1")
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    assert ckpts.best_step() == 1
    with caplog.at_level(logging.WARNING):
      step, state = ckpts.restore_best(TARGET)
    assert step == 2
    assert_tree_equal(state, tree(2))
    assert ckpts.all_steps() == [2, 3]
  [warning] = warnings_of(caplog)
  assert f"Checkpoint {directory / '1'} is damaged" in warning
  assert "default/manifest.ocdbt is missing" in warning
  assert "trying step 2 instead" in warning
  assert (tmp_path / "ckpt.damaged" / "1-missing-file").is_dir()


def test_restore_best_raises_when_all_are_damaged(tmp_path):
  directory = tmp_path / "ckpt"
  save_three(directory)
  for step in (1, 2, 3):
    delete_items(directory / str(step))
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with pytest.raises(checkpoints.CheckpointError,
                       match=r"no good checkpoint in .*ckpt: all 3 were "
                       r"damaged and have been moved to .*ckpt\.damaged"):
      ckpts.restore_best(TARGET)


def test_unreadable_checksum_file_is_damage(tmp_path, caplog):
  directory = tmp_path / "ckpt"
  save_three(directory)
  (directory / "3" / checkpoints.CHECKSUM_FILE).write_text('{"files": ')
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with caplog.at_level(logging.WARNING):
      step, state = ckpts.restore_latest(TARGET)
  assert step == 2
  assert_tree_equal(state, tree(2))
  [warning] = warnings_of(caplog)
  assert f"is damaged: {checkpoints.CHECKSUM_FILE} is unreadable" in warning
  assert (tmp_path / "ckpt.damaged" / "3-unreadable-checksums").is_dir()


def test_restore_of_a_damaged_step_raises_and_keeps_it(tmp_path):
  directory = tmp_path / "ckpt"
  save_three(directory)
  truncate(directory / "3")
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with pytest.raises(checkpoints.CheckpointError,
                       match=r"ckpt/3 is damaged: default/ocdbt.process_0/d/"
                       r"\w+ has \d+ bytes instead of \d+"):
      ckpts.restore(3, TARGET)
    assert ckpts.all_steps() == [1, 2, 3]
  assert not (tmp_path / "ckpt.damaged").exists()


def test_other_model_is_an_error_not_damage(tmp_path):
  directory = tmp_path / "ckpt"
  save_three(directory)
  other = dict(TARGET, w=jnp.zeros((64, 8)))
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with pytest.raises(checkpoints.CheckpointError, match="does not match"):
      ckpts.restore_latest(other)
    assert ckpts.all_steps() == [1, 2, 3]
  assert not (tmp_path / "ckpt.damaged").exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_saving_a_non_finite_state_is_refused(tmp_path, bad):
  directory = tmp_path / "ckpt"
  save_three(directory)
  before = snapshot(directory)
  state = tree(4)
  state["b"] = state["b"].at[3].set(bad)
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with pytest.raises(checkpoints.NonFiniteStateError,
                       match=r"refusing to save step 4 to .*: NaN or inf in "
                       r"\['b'\]; the checkpoints already there"):
      ckpts.save(4, state, {"val_loss": 0.5})
    assert ckpts.all_steps() == [1, 2, 3]
  assert snapshot(directory) == before


def orbax_save(directory, step, state, val_loss):
  """A checkpoint as plain Orbax writes it: no checksum file."""
  options = ocp.CheckpointManagerOptions(
      best_fn=lambda m: m["val_loss"], best_mode="min",
      enable_async_checkpointing=False, create=True)
  with ocp.CheckpointManager(directory, options=options,
                             item_handlers=ocp.StandardCheckpointHandler()
                             ) as manager:
    manager.save(step, args=ocp.args.StandardSave(state),
                 metrics={"val_loss": val_loss})


def test_checkpoints_without_checksums_still_restore(tmp_path):
  directory = tmp_path / "ckpt"
  orbax_save(directory, 1, tree(1), 1.0)
  orbax_save(directory, 2, tree(2), 2.0)
  assert not (directory / "2" / checkpoints.CHECKSUM_FILE).exists()
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    step, state = ckpts.restore_latest(TARGET)
    assert step == 2
    assert_tree_equal(state, tree(2))
    step, state = ckpts.restore_best(TARGET)
    assert step == 1
    assert_tree_equal(state, tree(1))


@pytest.mark.parametrize("damage, reason", [
    (truncate, "Orbax could not read it"),
    (delete_items, "its metadata is unreadable"),
    (lambda d: (d / "default" / "_METADATA").unlink(),
     "its item metadata is missing")])
def test_damage_without_checksums_is_caught_on_restore(tmp_path, caplog,
                                                       damage, reason):
  directory = tmp_path / "ckpt"
  orbax_save(directory, 1, tree(1), 1.0)
  orbax_save(directory, 2, tree(2), 2.0)
  damage(directory / "2")
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with caplog.at_level(logging.WARNING):
      step, state = ckpts.restore_latest(TARGET)
  assert step == 1
  assert_tree_equal(state, tree(1))
  [warning] = [w for w in warnings_of(caplog) if "is damaged" in w]
  assert f"{directory / '2'} is damaged: {reason}" in warning
  assert (tmp_path / "ckpt.damaged" / "2-unreadable").is_dir()


def test_non_finite_checkpoint_without_checksums_is_damage(tmp_path, caplog):
  directory = tmp_path / "ckpt"
  orbax_save(directory, 1, tree(1), 1.0)
  orbax_save(directory, 2, dict(tree(2), w=jnp.full((64, 32), jnp.nan)), 2.0)
  with checkpoints.Checkpoints(directory, metric="val_loss") as ckpts:
    with caplog.at_level(logging.WARNING):
      step, state = ckpts.restore_latest(TARGET)
  assert step == 1
  assert_tree_equal(state, tree(1))
  [warning] = warnings_of(caplog)
  assert "is damaged: NaN or inf in ['w']" in warning
  assert (tmp_path / "ckpt.damaged" / "2-non-finite").is_dir()
