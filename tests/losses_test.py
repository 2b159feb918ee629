"""InfoNCE and the §5.7 sample weights against independent references."""

import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from cacl_jax.data import records
from cacl_jax.phase1 import batches, negatives, steps
from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase1 import losses

TAU = 0.07
BASE = {"A": 1.0, "B": 0.9, "C": 0.75, "D": 0.6, "F": 0.5}


def reference_info_nce(pos, neg, mask, tau):
  """Direct float64 formula of §5.7, one anchor at a time."""
  out = []
  for p, n, m in zip(pos, neg, mask):
    num = np.exp(p / tau)
    out.append(-np.log(num / (num + np.exp(n[m] / tau).sum())))
  return np.asarray(out)


def test_info_nce_matches_reference():
  rng = np.random.default_rng(0)
  pos = rng.uniform(-1, 1, 16)
  neg = rng.uniform(-1, 1, (16, 7))
  mask = np.ones((16, 7), bool)
  got = losses.info_nce(jnp.asarray(pos, jnp.float32),
                        jnp.asarray(neg, jnp.float32), jnp.asarray(mask), TAU)
  np.testing.assert_allclose(got, reference_info_nce(pos, neg, mask, TAU),
                             rtol=1e-5, atol=1e-5)


def test_info_nce_masked_negatives_take_no_part():
  rng = np.random.default_rng(1)
  pos = rng.uniform(-1, 1, 32)
  neg = rng.uniform(-1, 1, (32, 7))
  mask = rng.random((32, 7)) < 0.6
  mask[0] = False  # an anchor without negatives: loss 0
  got = np.asarray(losses.info_nce(jnp.asarray(pos, jnp.float32),
                                   jnp.asarray(neg, jnp.float32),
                                   jnp.asarray(mask), TAU))
  np.testing.assert_allclose(got, reference_info_nce(pos, neg, mask, TAU),
                             rtol=1e-5, atol=1e-5)
  assert got[0] == pytest.approx(0.0, abs=1e-6)
  # Changing a masked similarity changes nothing.
  neg2 = np.where(mask, neg, 123.0)
  got2 = losses.info_nce(jnp.asarray(pos, jnp.float32),
                         jnp.asarray(neg2, jnp.float32), jnp.asarray(mask),
                         TAU)
  np.testing.assert_allclose(got2, got, rtol=1e-6)


def test_info_nce_is_stable_and_has_finite_gradients():
  # Extreme logits (1/τ = 1000) would overflow exp in float32.
  pos = jnp.asarray([1.0, -1.0])
  neg = jnp.asarray([[-1.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
  mask = jnp.asarray([[True, True, False], [True, False, False]])
  loss = losses.info_nce(pos, neg, mask, 1e-3)
  assert np.isfinite(np.asarray(loss)).all()
  # log(1 + e^-500 + e^-2000) ≈ 0; log(e^1000 + e^-1000) + 1000 ≈ 2000.
  np.testing.assert_allclose(loss, [0.0, 2000.0], rtol=1e-6, atol=1e-6)
  grads = jax.grad(lambda p, n: losses.info_nce(p, n, mask, TAU).sum(),
                   argnums=(0, 1))(pos, neg)
  for g in grads:
    assert np.isfinite(np.asarray(g)).all()
  assert float(grads[1][0, 2]) == 0.0 and float(grads[1][1, 1]) == 0.0


def hand_weight(tier, sim, ot):
  """§5.7 written out case by case."""
  signals = []
  if sim is not None:
    signals.append(sim)
  if ot is not None:
    signals.append(1 - ot / 10)
  base = BASE[tier]
  if not signals:
    return base
  signal = sum(signals) / len(signals)
  return min(max(base * (1 + 0.3 * (2 * signal - 1)), 0.5), 1.5)


def test_sample_weights_every_tier_and_missing_combination():
  cases = list(itertools.product(records.QUALITY_TIERS,
                                 (None, 0.0, 0.35, 0.9, 1.0),
                                 (None, 0.0, 2.5, 7.0, 10.0)))
  tier = np.asarray([records.QUALITY_TIERS.index(t) for t, _, _ in cases])
  sim = np.asarray([np.nan if s is None else s for _, s, _ in cases],
                   np.float32)
  ot = np.asarray([np.nan if o is None else o for _, _, o in cases],
                  np.float32)
  base = np.asarray([BASE[t] for t in records.QUALITY_TIERS], np.float32)
  got = losses.sample_weights(jnp.asarray(tier), jnp.asarray(sim),
                              jnp.asarray(ot), base)
  want = [hand_weight(*c) for c in cases]
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sample_weights_spot_values():
  # Tier A, sim 0.9, ot 1.0: signal 0.9, w = 1.0·(1 + 0.3·0.8) = 1.24.
  # Tier C, no scores: 0.75. Tier F, sim 0 and ot 10: 0.5·0.7 = 0.35 → 0.5.
  # Tier A, sim 1, ot 0: 1.3. Tier B, only ot 5: signal 0.5 → 0.9.
  got = losses.sample_weights(
      jnp.asarray([0, 2, 4, 0, 1]),
      jnp.asarray([0.9, np.nan, 0.0, 1.0, np.nan], jnp.float32),
      jnp.asarray([1.0, np.nan, 10.0, 0.0, 5.0], jnp.float32),
      np.asarray([1.0, 0.9, 0.75, 0.6, 0.5], np.float32))
  np.testing.assert_allclose(got, [1.24, 0.75, 0.5, 1.3, 0.9], rtol=1e-6)


def test_config_sample_weights_follow_config_and_vanilla_switch():
  weighting = phase1_config.phase1_fields().weighting
  tier = np.asarray([0, 2])
  sim = np.asarray([0.9, np.nan], np.float32)
  ot = np.asarray([1.0, np.nan], np.float32)
  np.testing.assert_allclose(
      losses.config_sample_weights(weighting, tier, sim, ot), [1.24, 0.75],
      rtol=1e-6)
  np.testing.assert_array_equal(
      losses.config_sample_weights(
          phase1_config.phase1_fields(vanilla=True).weighting, tier, sim, ot),
      [1.0, 1.0])
  stronger = ml_collections.ConfigDict(weighting.to_dict())
  stronger.strength = 0.5
  np.testing.assert_allclose(
      losses.config_sample_weights(stronger, tier, sim, ot), [1.4, 0.75],
      rtol=1e-6)


def test_weighted_mean_loss_counts_only_anchors():
  loss = jnp.asarray([1.0, 2.0, 3.0, 100.0])
  weight = jnp.asarray([1.0, 0.5, 1.5, 1.0])
  mask = jnp.asarray([True, True, True, False])
  assert float(losses.weighted_mean_loss(loss, weight, mask)) == (
      pytest.approx((1.0 + 1.0 + 4.5) / 3))
  assert float(losses.weighted_mean_loss(loss, weight,
                                         jnp.zeros(4, bool))) == 0.0


def _unit_rows(variables, x, deterministic, rngs):
  """Stands in for the head: embeddings are already the projections."""
  del variables, deterministic, rngs
  return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def test_batch_loss_leaves_anchors_without_negatives_out_of_the_mean():
  rng = np.random.default_rng(3)
  resume = rng.normal(size=(4, 6)).astype(np.float32)
  pool = rng.normal(size=(5, 6)).astype(np.float32)
  job = np.asarray([0, 1, 2, 3], np.int32)
  anchor = np.asarray([True, True, True, False])  # slot 3: a negative pair
  weight = np.asarray([1.2, 0.7, 0.9, 1.0], np.float32)
  # Every job but its own may be a negative for anchors 0 and 2; anchor 1's
  # resume is a good fit for the whole pool, so it has no candidate.
  candidate = ~np.eye(4, 5, dtype=bool)
  candidate[1] = False
  batch = batches.Batch(
      resume_emb_BxD=jnp.asarray(resume), pool_emb_PxD=jnp.asarray(pool),
      job_B=jnp.asarray(job), anchor_mask_B=jnp.asarray(anchor),
      weight_B=jnp.asarray(weight),
      candidate_job_BxM=jnp.tile(jnp.arange(5, dtype=jnp.int32), (4, 1)),
      sim_BxM=jnp.zeros((4, 5), jnp.float32),
      candidate_BxM=jnp.asarray(candidate),
      uniform_candidate_BxM=jnp.asarray(candidate),
      has_uris_B=jnp.ones(4, bool),
      ratios_3=jnp.asarray([0.2, 0.3, 0.5], jnp.float32))
  # K = 7 ≥ pool size: every candidate is drawn, whatever the key.
  settings = steps.StepSettings(
      temperature=TAU, grad_clip_norm=1.0,
      negatives=negatives.NegativeSettings(num_negatives=7, ontology=False))
  loss, stats = steps.batch_loss({}, _unit_rows, batch, jax.random.key(0),
                                 settings, True)

  r = resume / np.linalg.norm(resume, axis=1, keepdims=True)
  z = pool / np.linalg.norm(pool, axis=1, keepdims=True)
  sim = r.astype(np.float64) @ z.T.astype(np.float64)
  per_anchor = {a: reference_info_nce([sim[a, job[a]]], [sim[a]],
                                      [candidate[a]], TAU)[0] for a in (0, 2)}
  want = (weight[0] * per_anchor[0] + weight[2] * per_anchor[2]) / 2
  assert float(loss) == pytest.approx(want, rel=1e-5)
  assert float(stats["num_anchors"]) == 2.0
  assert float(stats["skipped_anchors"]) == 1.0
  assert float(stats["num_negatives"]) == 8.0
  assert float(stats["pos_sim"]) == pytest.approx(
      (sim[0, 0] + sim[2, 2]) / 2, rel=1e-5)
  assert float(stats["mean_weight"]) == pytest.approx(
      (weight[0] + weight[2]) / 2, rel=1e-6)


@pytest.mark.parametrize("whole_pool_max", [1024, 8])
def test_batch_loss_on_a_large_pool_projects_only_the_rows_it_reads(
    monkeypatch, whole_pool_max):
  """Pools over `WHOLE_POOL_MAX` jobs (here 40 > 8 and > B·(1+K) = 16) are
  projected in the gathered rows; both paths give the reference loss."""
  monkeypatch.setattr(steps, "WHOLE_POOL_MAX", whole_pool_max)
  rng = np.random.default_rng(5)
  resume = rng.normal(size=(4, 6)).astype(np.float32)
  pool = rng.normal(size=(40, 6)).astype(np.float32)
  job = np.asarray([3, 17, 25, 39], np.int32)
  # Three listed candidates per anchor, K = 3: every one is drawn.
  cand = np.asarray([[0, 9, 30], [1, 2, 33], [25, 36, 11], [5, 6, 7]],
                    np.int32)
  cand[2, 0] = 14
  weight = np.asarray([1.0, 0.5, 2.0, 1.5], np.float32)
  projected = []

  def head(variables, x, deterministic, rngs):
    projected.append(x.shape[0])
    return _unit_rows(variables, x, deterministic, rngs)

  batch = batches.Batch(
      resume_emb_BxD=jnp.asarray(resume), pool_emb_PxD=jnp.asarray(pool),
      job_B=jnp.asarray(job), anchor_mask_B=jnp.ones(4, bool),
      weight_B=jnp.asarray(weight), candidate_job_BxM=jnp.asarray(cand),
      sim_BxM=jnp.zeros((4, 3), jnp.float32),
      candidate_BxM=jnp.ones((4, 3), bool),
      uniform_candidate_BxM=jnp.ones((4, 3), bool),
      has_uris_B=jnp.ones(4, bool),
      ratios_3=jnp.asarray([0.2, 0.3, 0.5], jnp.float32))
  settings = steps.StepSettings(
      temperature=TAU, grad_clip_norm=1.0,
      negatives=negatives.NegativeSettings(num_negatives=3, ontology=False))
  loss, stats = steps.batch_loss({}, head, batch, jax.random.key(0),
                                 settings, True)

  assert projected == [4, 40 if whole_pool_max >= 40 else 4 * (1 + 3)]
  r = resume / np.linalg.norm(resume, axis=1, keepdims=True)
  z = pool / np.linalg.norm(pool, axis=1, keepdims=True)
  sim = r.astype(np.float64) @ z.T.astype(np.float64)
  per_anchor = [reference_info_nce([sim[a, job[a]]], [sim[a, cand[a]]],
                                   [np.ones(3, bool)], TAU)[0]
                for a in range(4)]
  assert float(loss) == pytest.approx(
      float(np.dot(weight, per_anchor) / 4), rel=1e-5)
  assert float(stats["neg_sim"]) == pytest.approx(
      np.mean([sim[a, cand[a]] for a in range(4)]), rel=1e-5)
