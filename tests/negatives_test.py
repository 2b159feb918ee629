"""Negative sampling of §5.5–5.6: exclusions, curriculum shares, fallback."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from cacl_jax.phase1 import negatives as ng

K = 7
START, END = (0.2, 0.3, 0.5), (0.6, 0.3, 0.1)


@functools.lru_cache(maxsize=None)
def _sampler(ontology):
  settings = ng.NegativeSettings(num_negatives=K, ontology=ontology)
  return jax.jit(functools.partial(ng.sample_negatives, settings=settings))


def sample(key, sim, candidate, has_uris, ratios, ontology=True):
  fn = _sampler(ontology)
  return [np.asarray(x) for x in fn(key, jnp.asarray(sim, jnp.float32),
                                    jnp.asarray(candidate),
                                    jnp.asarray(has_uris),
                                    jnp.asarray(ratios, jnp.float32))]


def bucket_grid(num_anchors, sizes):
  """sim rows whose pool has sizes[b] jobs in bucket b (hard, medium, easy)."""
  values = np.concatenate([np.full(sizes[0], 0.9), np.full(sizes[1], 0.5),
                           np.full(sizes[2], 0.1)])
  return np.tile(values, (num_anchors, 1)).astype(np.float32)


def test_curriculum_ratios_interpolate_from_start_to_end():
  np.testing.assert_allclose(ng.curriculum_ratios(0, 15, START, END), START)
  np.testing.assert_allclose(ng.curriculum_ratios(14, 15, START, END), END)
  np.testing.assert_allclose(ng.curriculum_ratios(7, 15, START, END),
                             (0.4, 0.3, 0.3), rtol=1e-6)
  np.testing.assert_allclose(ng.curriculum_ratios(0, 1, START, END), START)


def test_distance_buckets_use_inclusive_upper_bounds():
  sim = jnp.asarray([[1.0, 0.7, 0.69, 0.4, 0.39, 0.0, np.nan]])
  np.testing.assert_array_equal(ng.distance_buckets(sim, 0.3, 0.6),
                                [[0, 0, 1, 1, 2, 2, 2]])


def test_job_without_uris_is_at_medium_distance():
  sim = jnp.asarray([[0.0, 0.0, 0.9, 0.9], [0.5, 0.5, 0.1, 0.1]])
  has_uris = jnp.asarray([True, False, True, False])
  bucketed = ng.bucketing_similarity(sim, has_uris)
  np.testing.assert_allclose(bucketed, [[0.0, 0.5, 0.9, 0.5],
                                        [0.5, 0.5, 0.1, 0.5]])
  # §4.4 gives a URI-less job similarity 0 (distance 1, easy); the original
  # implementation puts it at distance 0.5: medium for every resume.
  np.testing.assert_array_equal(
      ng.distance_buckets(bucketed, 0.3, 0.6),
      [[ng.EASY, ng.MEDIUM, ng.HARD, ng.MEDIUM],
       [ng.MEDIUM, ng.MEDIUM, ng.EASY, ng.MEDIUM]])


def test_medium_negatives_come_from_uriless_jobs():
  num_anchors = 200
  # 10 jobs with URIs and similarity 0 (easy), then 10 jobs without URIs.
  has_uris = np.arange(20) < 10
  sim = np.asarray(ng.bucketing_similarity(
      jnp.zeros((num_anchors, 20)), jnp.asarray(has_uris)))
  idx, mask, bucket = sample(jax.random.key(4), sim,
                             np.ones((num_anchors, 20), bool),
                             np.ones(num_anchors, bool), (0.0, 1.0, 0.0))
  assert mask.all()
  assert (bucket == ng.MEDIUM).all()
  assert (~has_uris[idx]).all()


def test_bucket_targets_sum_to_k_with_exact_expectation():
  ratios = jnp.asarray([0.2, 0.3, 0.5])
  counts = np.asarray(ng.bucket_targets(jax.random.key(0), ratios, 40000, K))
  assert (counts.sum(axis=1) == K).all()
  # Each count is the floor or the ceiling of ratio·K.
  target = np.asarray(ratios) * K
  assert ((counts == np.floor(target)) | (counts == np.ceil(target))).all()
  np.testing.assert_allclose(counts.mean(axis=0), target, atol=0.02)


def test_bucket_targets_exact_when_shares_are_whole():
  counts = ng.bucket_targets(jax.random.key(1), jnp.asarray([0.5, 0.25, 0.25]),
                             10, 4)
  np.testing.assert_array_equal(counts, np.tile([2, 1, 1], (10, 1)))


@pytest.mark.parametrize(
    "want, avail, hard_first, expected",
    [
        ((2, 2, 3), (10, 10, 10), True, (2, 2, 3)),  # enough everywhere
        ((4, 2, 1), (1, 10, 10), True, (1, 5, 1)),  # hard short → medium
        ((1, 2, 4), (10, 10, 2), True, (1, 4, 2)),  # easy short → medium
        ((2, 4, 1), (10, 1, 10), True, (5, 1, 1)),  # medium short → hard
        ((2, 4, 1), (10, 1, 10), False, (2, 1, 4)),  # … or easy first
        ((2, 4, 1), (3, 1, 10), True, (3, 1, 3)),  # hard full → easy
        ((5, 1, 1), (1, 0, 10), True, (1, 0, 6)),  # hard → medium → easy
        ((3, 2, 2), (1, 1, 2), True, (1, 1, 2)),  # too few candidates
    ])
def test_fill_from_neighbours(want, avail, hard_first, expected):
  got = ng.fill_from_neighbours(jnp.asarray([want]), jnp.asarray([avail]),
                                jnp.asarray([hard_first]))
  np.testing.assert_array_equal(got, [expected])


def test_never_own_job_nor_other_good_fit_and_no_duplicates():
  rng = np.random.default_rng(0)
  num_anchors, pool = 256, 40
  sim = rng.random((num_anchors, pool))
  candidate = rng.random((num_anchors, pool)) < 0.5
  candidate[:8, :] = False  # no candidates at all
  candidate[8:16, :] = False
  candidate[8:16, :3] = True  # three candidates only
  has_uris = rng.random(num_anchors) < 0.7
  idx, mask, bucket = sample(jax.random.key(3), sim, candidate, has_uris,
                             START)
  assert idx.shape == mask.shape == (num_anchors, K)
  for a in range(num_anchors):
    chosen = idx[a][mask[a]]
    assert candidate[a, chosen].all()
    assert len(set(chosen.tolist())) == chosen.size
    assert chosen.size == min(K, candidate[a].sum())
  np.testing.assert_array_equal(
      bucket[mask], np.asarray(ng.distance_buckets(sim, 0.3, 0.6))[
          np.nonzero(mask)[0], idx[mask]])


@pytest.mark.parametrize("epoch", [0, 7, 14])
def test_bucket_shares_follow_curriculum_when_buckets_are_large(epoch):
  ratios = ng.curriculum_ratios(epoch, 15, START, END)
  num_anchors = 4000
  sim = bucket_grid(num_anchors, (34, 33, 33))
  _, mask, bucket = sample(jax.random.key(epoch), sim,
                           np.ones_like(sim, bool),
                           np.ones(num_anchors, bool), ratios)
  assert mask.all()
  shares = np.bincount(bucket.ravel(), minlength=3) / bucket.size
  np.testing.assert_allclose(shares, ratios, atol=0.01)


def test_short_bucket_is_filled_from_its_neighbour():
  num_anchors = 4000
  sim = bucket_grid(num_anchors, (1, 49, 50))  # a single hard candidate
  _, mask, bucket = sample(jax.random.key(5), sim, np.ones_like(sim, bool),
                           np.ones(num_anchors, bool), END)
  counts = np.stack([(bucket == b).sum(axis=1) for b in range(3)], axis=1)
  assert mask.all()
  np.testing.assert_array_equal(counts[:, 0], 1)
  # END wants 4.2 hard, 2.1 medium, 0.7 easy: the missing hard slots go to
  # medium, easy keeps its share.
  np.testing.assert_allclose(counts[:, 2].mean(), 0.7, atol=0.03)
  np.testing.assert_array_equal(counts[:, 1], K - 1 - counts[:, 2])


def test_anchors_without_uris_draw_uniformly():
  num_anchors = 4000
  sim = bucket_grid(num_anchors, (60, 20, 20))
  _, mask, bucket = sample(jax.random.key(6), sim, np.ones_like(sim, bool),
                           np.zeros(num_anchors, bool), START)
  assert mask.all()
  # Uniform over the pool: shares follow bucket sizes (60/20/20), not START.
  shares = np.bincount(bucket.ravel(), minlength=3) / bucket.size
  np.testing.assert_allclose(shares, (0.6, 0.2, 0.2), atol=0.01)


def test_random_strategy_ignores_ontology():
  num_anchors = 4000
  sim = bucket_grid(num_anchors, (60, 20, 20))
  _, mask, bucket = sample(jax.random.key(7), sim, np.ones_like(sim, bool),
                           np.ones(num_anchors, bool), END, ontology=False)
  shares = np.bincount(bucket.ravel(), minlength=3) / bucket.size
  np.testing.assert_allclose(shares, (0.6, 0.2, 0.2), atol=0.01)


def test_each_candidate_is_equally_likely_within_a_bucket():
  num_anchors = 4000
  sizes = (34, 33, 33)
  sim = bucket_grid(num_anchors, sizes)
  idx, _, bucket = sample(jax.random.key(8), sim, np.ones_like(sim, bool),
                          np.ones(num_anchors, bool), START)
  offsets = np.cumsum((0,) + sizes[:2])
  for b in range(3):
    hits = np.bincount(idx[bucket == b] - offsets[b], minlength=sizes[b])
    assert hits.size == sizes[b]
    assert stats.chisquare(hits).pvalue > 1e-3


def test_same_key_same_negatives_other_key_others():
  rng = np.random.default_rng(2)
  sim = rng.random((64, 50))
  candidate = rng.random((64, 50)) < 0.8
  has_uris = rng.random(64) < 0.8
  a = sample(jax.random.key(11), sim, candidate, has_uris, START)
  b = sample(jax.random.key(11), sim, candidate, has_uris, START)
  c = sample(jax.random.key(12), sim, candidate, has_uris, START)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a[0], c[0])


def test_pool_smaller_than_k():
  sim = np.full((3, 4), 0.5, np.float32)
  idx, mask, _ = sample(jax.random.key(0), sim, np.ones((3, 4), bool),
                        np.ones(3, bool), START)
  assert idx.shape == (3, K)
  np.testing.assert_array_equal(mask.sum(axis=1), 4)
  for a in range(3):
    assert sorted(idx[a][mask[a]].tolist()) == [0, 1, 2, 3]


def test_validation_ratios_fixed_at_curriculum_end_or_following_epoch():
  epoch_ratios = ng.curriculum_ratios(3, 15, START, END)
  np.testing.assert_allclose(ng.validation_ratios(epoch_ratios, END, True), END)
  np.testing.assert_allclose(ng.validation_ratios(epoch_ratios, END, False),
                             epoch_ratios)
