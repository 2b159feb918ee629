"""Epoch batching and the per-step batch view of a split."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import synthetic_data
from cacl_jax.phase1 import batches
from cacl_jax.phase1 import negatives


def test_epoch_batches_cover_every_item_once_with_padding_masked():
  idx, mask = batches.epoch_batches(jax.random.key(0), 130, 64, shuffle=True)
  assert idx.shape == mask.shape == (3, 64)
  assert int(mask.sum()) == 130
  assert not bool(mask[2, 2:].any()) and bool(mask[2, :2].all())
  assert sorted(np.asarray(idx)[np.asarray(mask)].tolist()) == list(range(130))
  np.testing.assert_array_equal(np.asarray(idx)[~np.asarray(mask)], 0)


def test_epoch_order_depends_only_on_key():
  a, _ = batches.epoch_batches(jax.random.key(1), 100, 16, shuffle=True)
  b, _ = batches.epoch_batches(jax.random.key(1), 100, 16, shuffle=True)
  c, _ = batches.epoch_batches(jax.random.key(2), 100, 16, shuffle=True)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_unshuffled_batches_keep_file_order():
  idx, mask = batches.epoch_batches(jax.random.key(0), 10, 4, shuffle=False)
  np.testing.assert_array_equal(idx, [[0, 1, 2, 3], [4, 5, 6, 7],
                                      [8, 9, 0, 0]])
  np.testing.assert_array_equal(mask[2], [True, True, False, False])
  assert batches.num_batches(4143, 64) == 65
  assert batches.num_batches(517, 64) == 9


def test_gather_batch_reads_the_right_rows():
  data = synthetic_data.make_prepared(dim=8)
  split = data.train
  weights = np.random.default_rng(0).random(split.num_pairs).astype(
      np.float32)
  tensors = batches.split_tensors(split, data.emb_TxD, weights)
  idx = np.asarray([5, 0, 17, 3], np.int32)
  mask = np.asarray([True, True, True, False])
  ratios = np.asarray([0.2, 0.3, 0.5], np.float32)
  b = batches.gather_batch(tensors, jnp.asarray(idx), jnp.asarray(mask),
                           jnp.asarray(ratios))
  resume = split.resume_N[idx]
  np.testing.assert_allclose(b.resume_emb_BxD,
                             data.emb_TxD[split.resume_row_R[resume]])
  np.testing.assert_allclose(b.pool_emb_PxD, data.emb_TxD[split.job_row_P])
  np.testing.assert_array_equal(b.job_B, split.job_N[idx])
  np.testing.assert_array_equal(b.anchor_mask_B,
                                mask & (split.label_N[idx] == 1))
  np.testing.assert_allclose(b.weight_B, weights[idx])
  # The synthetic pool is small: every resume lists the whole pool.
  job = split.cand_job_RxM[resume]
  np.testing.assert_array_equal(b.candidate_job_BxM, job)
  np.testing.assert_array_equal(job, np.tile(np.arange(len(split.job_ids)),
                                             (4, 1)))
  np.testing.assert_allclose(
      b.sim_BxM,
      np.where(split.job_has_uris_P, split.cand_sim_RxM[resume], 0.5))
  np.testing.assert_array_equal(b.has_uris_B, split.resume_has_uris_R[resume])
  good = np.zeros((len(split.resume_row_R), len(split.job_ids)), bool)
  good[split.good_pairs()] = True
  want = ~good[resume]
  want[np.arange(4), split.job_N[idx]] = False
  np.testing.assert_array_equal(b.candidate_BxM, want)
  np.testing.assert_array_equal(b.uniform_candidate_BxM, want)
  np.testing.assert_allclose(b.ratios_3, ratios)


def test_job_without_uris_lands_in_the_medium_bucket():
  data = synthetic_data.make_prepared(dim=8)
  split = data.train
  uriless = ~split.job_has_uris_P
  assert uriless.any() and (split.cand_sim_RxM[:, uriless] == 0).all()
  tensors = batches.split_tensors(split, data.emb_TxD,
                                  np.ones(split.num_pairs, np.float32))
  b = batches.gather_batch(tensors, jnp.arange(16), jnp.ones(16, bool),
                           jnp.asarray([0.2, 0.3, 0.5]))
  bucket = np.asarray(negatives.distance_buckets(b.sim_BxM, 0.3, 0.6))
  assert (bucket[:, uriless] == negatives.MEDIUM).all()
  # Jobs with URIs keep their §4.4 distance 1 − similarity.
  np.testing.assert_array_equal(
      bucket[:, ~uriless],
      np.asarray(negatives.distance_buckets(
          split.cand_sim_RxM[split.resume_N[:16]][:, ~uriless], 0.3, 0.6)))


def test_split_tensors_rejects_an_empty_split():
  data = synthetic_data.make_prepared(dim=8)
  empty = data.train.__class__(**{
      **data.train.__dict__, "pair_ids": (),
      "resume_N": np.zeros(0, np.int32)})
  with pytest.raises(ValueError, match="no pairs"):
    batches.split_tensors(empty, data.emb_TxD, np.zeros(0, np.float32))
