"""phase2.steps: batches, one train step against numpy, the epoch scan,
validation against numpy and scikit-learn."""

import jax
import ml_collections
import numpy as np
import pytest
from sklearn import metrics

import phase2_synthetic
from cacl_jax.phase1 import batches as batches_lib
from cacl_jax.phase2 import classifier, steps

LR, WD, CLIP, POS_WEIGHT = 1e-2, 1e-3, 1.0, 2.5


@pytest.fixture(scope="module")
def data():
  return phase2_synthetic.make_data()


def _model(dropout):
  return ml_collections.ConfigDict({"hidden": (8, 4), "dropout": dropout})


def _state(data, dropout=0.0, seed=0):
  model = _model(dropout)
  params = classifier.init_params(model, data.emb_TxD.shape[1],
                                  jax.random.key(seed))
  return steps.TrainState.create(
      apply_fn=classifier.make_head(model).apply, params=params,
      tx=steps.make_optimizer(LR, WD, CLIP))


def _numpy_logits(params, resume_NxE, job_NxE):
  p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()}
       for k, d in params.items()}
  h = np.concatenate([resume_NxE, job_NxE], axis=1).astype(np.float64)
  for layer in ("hidden_0", "hidden_1"):
    h = np.maximum(h @ p[layer]["kernel"] + p[layer]["bias"], 0)
  return (h @ p["output"]["kernel"] + p["output"]["bias"])[:, 0]


def _numpy_bce(logits, labels, mask):
  """torch BCEWithLogitsLoss(pos_weight) over the valid slots."""
  prob = 1 / (1 + np.exp(-logits))
  w = np.where(labels == 1, POS_WEIGHT, 1.0)
  loss = -w * (labels * np.log(prob) + (1 - labels) * np.log(1 - prob))
  return loss[mask].mean()


def _batch(data, size=32, valid=27):
  pairs = steps.pair_tensors(data.train, data.emb_TxD)
  idx_B = np.arange(size, dtype=np.int32) * 5 % data.train.num_pairs
  mask_B = np.arange(size) < valid
  return pairs, idx_B, mask_B, steps.gather_batch(pairs, idx_B, mask_B)


def test_gather_batch_reads_each_pairs_resume_and_job(data):
  _, idx_B, mask_B, batch = _batch(data)
  split = data.train
  np.testing.assert_array_equal(
      batch.resume_emb_BxE,
      data.emb_TxD[split.resume_row_R[split.resume_N[idx_B]]])
  np.testing.assert_array_equal(
      batch.job_emb_BxE, data.emb_TxD[split.job_row_P[split.job_N[idx_B]]])
  np.testing.assert_array_equal(batch.label_B, split.label_N[idx_B])
  np.testing.assert_array_equal(batch.mask_B, mask_B)


def test_train_step_loss_and_first_adam_update(data):
  """Loss = numpy weighted BCE of the valid slots; the first Adam step moves
  each parameter by lr against the sign of its clipped gradient plus
  wd·param, the gradient taken by central differences in numpy."""
  _, _, mask_B, batch = _batch(data)
  state = _state(data)
  params = jax.tree.map(np.asarray, state.params)
  resume = np.asarray(batch.resume_emb_BxE, np.float64)
  job = np.asarray(batch.job_emb_BxE, np.float64)
  labels = np.asarray(batch.label_B)

  def loss_of(p):
    return _numpy_bce(_numpy_logits(p, resume, job), labels, mask_B)

  leaves, treedef = jax.tree.flatten(jax.tree.map(np.float64, params))
  grads = []
  for leaf_index, leaf in enumerate(leaves):
    grad = np.zeros_like(leaf)
    for i in np.ndindex(leaf.shape):
      shifted = []
      for h in (1e-6, -1e-6):
        moved = [x.copy() for x in leaves]
        moved[leaf_index][i] += h
        shifted.append(loss_of(jax.tree.unflatten(treedef, moved)))
      grad[i] = (shifted[0] - shifted[1]) / 2e-6
    grads.append(grad)
  norm = np.sqrt(sum(np.sum(g**2) for g in grads))
  coupled = [g * min(1.0, CLIP / norm) + WD * p
             for g, p in zip(grads, leaves)]

  new_state, step_metrics = steps.make_train_step(POS_WEIGHT)(
      state, batch, jax.random.key(1))
  assert float(step_metrics["loss"]) == pytest.approx(
      loss_of(params), rel=1e-5)
  assert int(new_state.step) == 1
  for old, new, g in zip(leaves, jax.tree.leaves(new_state.params), coupled):
    clear = np.abs(g) > 1e-4  # far from 0, so the sign is certain
    np.testing.assert_allclose((np.asarray(new, np.float64) - old)[clear],
                               -LR * np.sign(g[clear]), rtol=1e-3)


def test_scanned_epoch_equals_step_by_step(data):
  pairs = steps.pair_tensors(data.train, data.emb_TxD)
  idx_SxB, mask_SxB = batches_lib.epoch_batches(
      jax.random.key(0), pairs.num_pairs, 32, True)
  key = jax.random.key(5)
  scanned, scan_metrics = steps.make_train_epoch(POS_WEIGHT)(
      _state(data, dropout=0.3), pairs, idx_SxB, mask_SxB, key)
  state = _state(data, dropout=0.3)
  step = steps.make_train_step(POS_WEIGHT)
  losses = []
  for i in range(idx_SxB.shape[0]):
    batch = steps.gather_batch(pairs, idx_SxB[i], mask_SxB[i])
    # Dropout masks from the global step, as the scan draws them.
    state, step_metrics = step(state, batch,
                               jax.random.fold_in(key, state.step))
    losses.append(float(step_metrics["loss"]))
  assert scan_metrics["loss"].shape == (idx_SxB.shape[0],)
  np.testing.assert_allclose(scan_metrics["loss"], losses, rtol=1e-5)
  assert int(scanned.step) == int(state.step) == idx_SxB.shape[0]
  for a, b in zip(jax.tree.leaves(scanned.params),
                  jax.tree.leaves(state.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_validation_matches_numpy_and_sklearn(data):
  state = _state(data, dropout=0.3, seed=2)
  pairs = steps.pair_tensors(data.val, data.emb_TxD)
  out = steps.make_validation(state.apply_fn, POS_WEIGHT)(state.params, pairs)
  split = data.val
  logits = _numpy_logits(
      jax.tree.map(np.asarray, state.params),
      data.emb_TxD[split.resume_row_R[split.resume_N]],
      data.emb_TxD[split.job_row_P[split.job_N]])
  every = np.ones(split.num_pairs, bool)
  assert float(out["loss"]) == pytest.approx(
      _numpy_bce(logits, split.label_N, every), rel=1e-5)
  assert float(out["accuracy"]) == pytest.approx(
      metrics.accuracy_score(split.label_N, logits >= 0))
