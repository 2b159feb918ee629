"""Negative sampling of §5.5–5.6: exclusions, curriculum shares, fallback."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from cacl_jax.data import prepared
from cacl_jax.phase1 import negatives as ng

K = 7
START, END = (0.2, 0.3, 0.5), (0.6, 0.3, 0.1)


@functools.lru_cache(maxsize=None)
def _sampler(ontology):
  settings = ng.NegativeSettings(num_negatives=K, ontology=ontology)
  return jax.jit(functools.partial(ng.sample_negatives, settings=settings))


def sample(key, sim, candidate, has_uris, ratios, ontology=True,
           uniform_candidate=None):
  """Draws through the jitted sampler; uniform draws read `candidate` too
  unless `uniform_candidate` is given."""
  fn = _sampler(ontology)
  uniform = candidate if uniform_candidate is None else uniform_candidate
  return [np.asarray(x) for x in fn(key, jnp.asarray(sim, jnp.float32),
                                    jnp.asarray(candidate),
                                    jnp.asarray(uniform),
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


SMALL = ng.CandidateSettings(per_bucket=5, uniform=4, seed=3)


def _pool_data(seed, num_resumes, pool_size):
  """A random similarity grid (with exact ties at 0.5 and at 0.75), jobs
  without URIs (similarity 0) and 1–3 good fits per resume."""
  rng = np.random.default_rng(seed)
  sim = rng.choice([0.05, 0.2, 0.35, 0.45, 0.5, 0.55, 0.65, 0.75, 0.8, 0.95],
                   size=(num_resumes, pool_size)).astype(np.float32)
  has_uris = rng.random(pool_size) > 0.15
  sim[:, ~has_uris] = 0.0
  good = np.zeros(sim.shape, bool)
  for r in range(num_resumes):
    good[r, rng.choice(pool_size, rng.integers(1, 4), replace=False)] = True
  return sim, has_uris, good


def _lists(sim, has_uris, good, settings=SMALL, chunk=4096):
  resume_r, job_r = np.nonzero(good)
  pool = prepared.GridPool(lambda resumes, jobs: sim[resumes], range(
      sim.shape[1]))
  return prepared.candidate_lists(np.arange(sim.shape[0]), pool, has_uris,
                                  (resume_r, job_r), settings, chunk=chunk)


# A pool larger than the search window: blocks of 5 resumes search 20 jobs.
WINDOWED = ng.CandidateSettings(per_bucket=5, uniform=4, search=20,
                                search_block=5, seed=3)


@pytest.mark.parametrize("settings,chunk", [(SMALL, 4096), (WINDOWED, 7)])
def test_candidate_lists_match_a_brute_force_reference(settings, chunk):
  sim, has_uris, good = _pool_data(0, 30, 60)
  lists = _lists(sim, has_uris, good, settings, chunk)
  c = settings.per_bucket
  assert lists.job_RxM.shape == (30, settings.width)
  bucket_sim = np.where(has_uris, sim, 1.0 - ng.URILESS_JOB_DISTANCE)
  d = 1.0 - bucket_sim
  bucket = np.where(d <= 0.3, ng.HARD, np.where(d <= 0.6, ng.MEDIUM, ng.EASY))
  for r in range(30):
    listed = lists.ontology_RxM[r] | lists.uniform_RxM[r]
    job = lists.job_RxM[r]
    assert not good[r, job[listed]].any()
    np.testing.assert_array_equal(lists.sim_RxM[r][listed], sim[r, job[listed]])
    # Jobs with URIs are searched within the resume block's window; jobs
    # without URIs (medium for everyone) come from the whole pool.
    searched = ~has_uris | _window_mask(settings, r, 60)
    for b in (ng.HARD, ng.MEDIUM):
      block = slice(b * c, (b + 1) * c)
      got = job[block][lists.ontology_RxM[r, block]]
      members = np.flatnonzero((bucket[r] == b) & ~good[r] & searched)
      assert len(set(got)) == got.size and set(got) <= set(members)
      # The block holds the top C by similarity (ties in any order).
      np.testing.assert_array_equal(
          np.sort(bucket_sim[r, got])[::-1],
          np.sort(bucket_sim[r, members])[::-1][:c])
    # Easy and uniform blocks: the first distinct drawn jobs that qualify.
    drawn = list(dict.fromkeys(
        ng.draw_jobs(settings, np.asarray([r]), 60)[0].tolist()))
    drawn = [j for j in drawn if not good[r, j]]
    np.testing.assert_array_equal(
        job[2 * c:3 * c][lists.ontology_RxM[r, 2 * c:3 * c]],
        [j for j in drawn if bucket[r, j] == ng.EASY][:c])
    np.testing.assert_array_equal(job[3 * c:][lists.uniform_RxM[r, 3 * c:]],
                                  drawn[:settings.uniform])
    assert not lists.uniform_RxM[r, :3 * c].any()
    assert not lists.ontology_RxM[r, 3 * c:].any()


def _window_mask(settings, row, pool_size):
  """Which pool jobs the search window of `row`'s block holds, by a plain
  Python draw: the `search` smallest hash values of (seed, block, job)."""
  if pool_size <= settings.search:
    return np.ones(pool_size, bool)
  block = row // settings.search_block
  u = [ng.hash_uniform(settings.seed, 4, block, j) for j in range(pool_size)]
  mask = np.zeros(pool_size, bool)
  mask[sorted(range(pool_size), key=lambda j: u[j])[:settings.search]] = True
  return mask


def test_search_windows_are_seeded_per_block():
  first = ng.search_window(WINDOWED, 0, 60)
  assert first.size == 20 and np.all(np.diff(first) > 0)
  np.testing.assert_array_equal(first, ng.search_window(WINDOWED, 0, 60))
  assert not np.array_equal(first, ng.search_window(WINDOWED, 1, 60))
  assert ng.search_window(WINDOWED, 0, 20) is None
  # Over many blocks every job is searched about equally often.
  counts = np.bincount(np.concatenate(
      [ng.search_window(WINDOWED, b, 60) for b in range(600)]), minlength=60)
  assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("settings", [SMALL, WINDOWED])
def test_candidate_lists_do_not_depend_on_the_chunking(settings):
  sim, has_uris, good = _pool_data(1, 23, 70)
  whole = _lists(sim, has_uris, good, settings, chunk=4096)
  for chunk in (1, 7):
    parts = _lists(sim, has_uris, good, settings, chunk=chunk)
    for field in ("job_RxM", "sim_RxM", "ontology_RxM", "uniform_RxM"):
      np.testing.assert_array_equal(getattr(parts, field),
                                    getattr(whole, field))


def test_candidate_lists_grow_with_resumes_not_with_the_pool():
  for pool_size in (60, 600):
    sim, has_uris, good = _pool_data(2, 12, pool_size)
    lists = _lists(sim, has_uris, good)
    assert lists.job_RxM.shape == lists.sim_RxM.shape == (12, SMALL.width)
    assert lists.ontology_RxM.shape == lists.uniform_RxM.shape == (
        12, SMALL.width)


def test_a_small_pool_is_listed_whole_in_pool_order():
  sim, has_uris, good = _pool_data(3, 9, SMALL.width)
  lists = _lists(sim, has_uris, good)
  np.testing.assert_array_equal(lists.job_RxM,
                                np.tile(np.arange(SMALL.width), (9, 1)))
  np.testing.assert_array_equal(lists.sim_RxM, sim)
  np.testing.assert_array_equal(lists.ontology_RxM, ~good)
  np.testing.assert_array_equal(lists.uniform_RxM, ~good)


def test_hash_uniform_depends_on_its_keys_alone():
  u = ng.hash_uniform(7, np.arange(1000)[:, None], np.arange(3)[None, :])
  assert u.shape == (1000, 3) and (u >= 0).all() and (u < 1).all()
  np.testing.assert_array_equal(u[500:], ng.hash_uniform(
      7, np.arange(500, 1000)[:, None], np.arange(3)[None, :]))
  assert not np.array_equal(u, ng.hash_uniform(8, np.arange(1000)[:, None],
                                               np.arange(3)[None, :]))
  # Roughly uniform: a Kolmogorov–Smirnov test against U(0, 1).
  assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3


def test_uniform_draws_read_the_uniform_slots():
  num_anchors = 50
  sim = np.full((num_anchors, 12), 0.9, np.float32)
  ontology_slots = np.arange(12) < 6
  idx, mask, _ = sample(jax.random.key(1), sim,
                        np.tile(ontology_slots, (num_anchors, 1)),
                        np.zeros(num_anchors, bool), START,
                        uniform_candidate=np.tile(~ontology_slots,
                                                  (num_anchors, 1)))
  assert mask.all() == (K <= 6) or mask.sum(axis=1).max() == 6
  assert (idx[mask] >= 6).all()
