"""Orbax checkpoint wrapper: latest + best kept, restore, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
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
    assert ckpts.all_steps() == [2, 4]
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
    assert ckpts.all_steps() == [2, 3, 5]
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
