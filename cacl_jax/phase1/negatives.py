"""Ontology-aware negatives with curriculum (§5.6), sampled inside jit.

For every anchor (a resume with its good-fit job) K negatives are drawn from
the split's pool of unique jobs. Candidates exclude the anchor's own job and
every other job the same resume is a good fit for. With the "ontology"
strategy, candidates fall into buckets by skill distance d = 1 − similarity
(hard d ≤ 0.3, medium ≤ 0.6, easy beyond) and each bucket contributes a share
of the K slots that moves linearly from 20/30/50 % (hard/medium/easy) at the
first epoch to 60/30/10 % at the last. Shares times K are rarely integers:
each anchor rounds them by systematic sampling, so the counts always sum to K
and their expectation is exactly share·K. A bucket with too few candidates
hands its slots to its neighbour (hard ↔ medium ↔ easy). Anchors whose resume
has no skill URIs, and every anchor under the "random" strategy (the vanilla
baseline), draw K candidates uniformly. A job without skill URIs has §4.4
similarity 0 to every resume, which would make it an easy negative for all;
like the original implementation, it is put at distance 0.5 (medium)
instead (`bucketing_similarity`, applied when a batch is gathered).
Everything is fixed-shape: fewer than K candidates leave masked slots.

The sampler reads, per resume, a fixed-width list of M candidate pool jobs
(`CandidateLists`, made once with the prepared data), so that memory grows
with the resumes, not with resumes × pool. When the pool has at most
`CandidateSettings.width` jobs the list is the whole pool in pool order, so
the draws are those over the pool itself. A larger pool keeps, per resume,
the `per_bucket` most similar hard jobs, the `per_bucket` most similar
medium jobs (ties in random order), `per_bucket` random easy jobs (these
three blocks serve ontology draws) and `uniform` random jobs of any bucket
(the block uniform draws read); good fits are never listed. Only
similarities that can reach the medium bucket decide the first two blocks,
so they can come from a sparse search instead of the whole grid. In a pool
of more than `CandidateSettings.search` jobs that search covers, for each
block of `search_block` consecutive resumes, a seeded random window of
`search` jobs (`search_window`), so that its cost grows with the resumes,
not with resumes × pool.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

HARD, MEDIUM, EASY = 0, 1, 2
# Skill distance of a job without skill URIs to any resume.
URILESS_JOB_DISTANCE = 0.5


@dataclasses.dataclass(frozen=True)
class NegativeSettings:
  """Static (hashable) sampler settings taken from `config.negatives`."""
  num_negatives: int = 7
  ontology: bool = True
  hard_max_distance: float = 0.3
  medium_max_distance: float = 0.6


def curriculum_ratios(epoch: int, num_epochs: int, start_ratios,
                      end_ratios) -> np.ndarray:
  """(hard, medium, easy) shares at `epoch` ∈ [0, num_epochs).

  Linear from `start_ratios` at the first epoch to `end_ratios` at the last
  (progress epoch / (num_epochs − 1); a single epoch uses the start shares).
  """
  progress = epoch / (num_epochs - 1) if num_epochs > 1 else 0.0
  start = np.asarray(start_ratios, np.float64)
  end = np.asarray(end_ratios, np.float64)
  return ((1.0 - progress) * start + progress * end).astype(np.float32)


def validation_ratios(epoch_ratios, end_ratios, fixed: bool) -> np.ndarray:
  """Shares for validation negatives: the end of the curriculum when `fixed`.

  With the epoch's own shares, validation negatives get harder every epoch
  and the lowest validation loss falls on an early epoch whatever the model
  learned; fixed shares keep the losses of all epochs comparable.
  """
  return np.asarray(end_ratios if fixed else epoch_ratios, np.float32)


def bucketing_similarity(sim_BxP: jax.Array,
                         job_has_uris: jax.Array) -> jax.Array:
  """The similarity the buckets read: §4.4's, or 1 − `URILESS_JOB_DISTANCE`
  for a job without skill URIs (`job_has_uris`: [P] or [B, P])."""
  return jnp.where(job_has_uris, sim_BxP, 1.0 - URILESS_JOB_DISTANCE)


def distance_buckets(sim_BxP: jax.Array, hard_max_distance: float,
                     medium_max_distance: float) -> jax.Array:
  """HARD / MEDIUM / EASY per candidate from d = 1 − similarity (NaN → EASY)."""
  d = 1.0 - sim_BxP
  return jnp.where(d <= hard_max_distance, HARD,
                   jnp.where(d <= medium_max_distance, MEDIUM,
                             EASY)).astype(jnp.int32)


def bucket_targets(key: jax.Array, ratios_3: jax.Array, num_anchors: int,
                   k: int) -> jax.Array:
  """[num_anchors, 3] integer counts summing to k with E[count] = ratio·k.

  Floors of ratio·k plus the remaining slots spread by systematic sampling
  over the fractional parts (one uniform offset per anchor).
  """
  target_3 = ratios_3 * k
  floor_3 = jnp.floor(target_3 + 1e-6)
  remaining = k - floor_3.sum()
  frac_3 = jnp.clip(target_3 - floor_3, 0.0, None)
  frac_3 = jnp.where(frac_3.sum() > 0,
                     frac_3 * remaining / jnp.maximum(frac_3.sum(), 1e-12),
                     0.0)
  cum_2 = jnp.cumsum(frac_3)[:2]
  u_B = jax.random.uniform(key, (num_anchors,), minval=1e-6, maxval=1.0)
  hits_Bx2 = jnp.ceil(cum_2[None, :] - u_B[:, None])  # points u + j below cum
  hits_Bx2 = jnp.clip(hits_Bx2, 0.0, remaining)
  extra_Bx3 = jnp.stack([hits_Bx2[:, 0], hits_Bx2[:, 1] - hits_Bx2[:, 0],
                         remaining - hits_Bx2[:, 1]], axis=1)
  return (floor_3[None, :] + jnp.clip(extra_Bx3, 0.0, None)).astype(jnp.int32)


def fill_from_neighbours(want_Bx3: jax.Array, avail_Bx3: jax.Array,
                         hard_first_B: jax.Array) -> jax.Array:
  """Per-bucket counts to take, moving shortfalls to neighbouring buckets.

  A short hard or easy bucket passes its missing slots to medium; a short
  medium (including what it received) passes them on to hard and easy, to the
  one that `hard_first_B` names first. Slots no bucket can fill are dropped
  (fewer candidates than K).
  """
  want_h, want_m, want_e = (want_Bx3[:, i] for i in range(3))
  avail_h, avail_m, avail_e = (avail_Bx3[:, i] for i in range(3))
  take_h = jnp.minimum(want_h, avail_h)
  take_e = jnp.minimum(want_e, avail_e)
  want_m = want_m + (want_h - take_h) + (want_e - take_e)
  take_m = jnp.minimum(want_m, avail_m)
  short = want_m - take_m
  spare_h, spare_e = avail_h - take_h, avail_e - take_e
  first_spare = jnp.where(hard_first_B, spare_h, spare_e)
  to_first = jnp.minimum(short, first_spare)
  second_spare = jnp.where(hard_first_B, spare_e, spare_h)
  to_second = jnp.minimum(short - to_first, second_spare)
  take_h = take_h + jnp.where(hard_first_B, to_first, to_second)
  take_e = take_e + jnp.where(hard_first_B, to_second, to_first)
  return jnp.stack([take_h, take_m, take_e], axis=1)


def sample_negatives(key: jax.Array, sim_BxP: jax.Array,
                     candidate_BxP: jax.Array, uniform_candidate_BxP: jax.Array,
                     use_ontology_B: jax.Array, ratios_3: jax.Array,
                     settings: NegativeSettings):
  """Draws negatives for B anchors from P candidate jobs each.

  Args:
    key: PRNG key; the same key gives the same negatives.
    sim_BxP: ontology_set_similarity of each anchor's resume to each
      candidate job, through `bucketing_similarity`.
    candidate_BxP: True where the job may serve as an ontology-drawn
      negative for the anchor (not its own job, not another good fit of the
      same resume).
    uniform_candidate_BxP: the same for uniform draws (anchors without
      ontology draws).
    use_ontology_B: False for anchors whose resume has no skill URIs.
    ratios_3: (hard, medium, easy) shares for this epoch.
    settings: static sampler settings.

  Returns:
    neg_idx_BxK (int32 candidate columns), neg_mask_BxK (valid slots) and
    neg_bucket_BxK (distance bucket of each chosen negative).
  """
  num_anchors, pool_size = sim_BxP.shape
  k = settings.num_negatives
  k_pool = min(k, pool_size)
  key_counts, key_rank = jax.random.split(key)
  bucket_BxP = distance_buckets(sim_BxP, settings.hard_max_distance,
                                settings.medium_max_distance)
  ontology_B = use_ontology_B & settings.ontology
  candidate_BxP = jnp.where(ontology_B[:, None], candidate_BxP,
                            uniform_candidate_BxP)
  # Uniform draws: one bucket holding every candidate, all K slots from it.
  draw_bucket_BxP = jnp.where(ontology_B[:, None], bucket_BxP, HARD)
  avail_Bx3 = jnp.stack([(candidate_BxP & (draw_bucket_BxP == b)).sum(axis=1)
                         for b in (HARD, MEDIUM, EASY)], axis=1)
  want_Bx3 = jnp.where(
      ontology_B[:, None],
      bucket_targets(key_counts, ratios_3, num_anchors, k),
      jnp.asarray([k, 0, 0], jnp.int32)[None, :])
  take_Bx3 = fill_from_neighbours(want_Bx3, avail_Bx3,
                                  jnp.broadcast_to(ratios_3[0] >= ratios_3[2],
                                                   (num_anchors,)))
  # Random order inside each bucket: the k_pool best uniform scores.
  u_BxP = jax.random.uniform(key_rank, (num_anchors, pool_size))
  ranked_Bx3xK = jnp.stack([
      jax.lax.top_k(jnp.where(candidate_BxP & (draw_bucket_BxP == b), u_BxP,
                              -1.0), k_pool)[1]
      for b in (HARD, MEDIUM, EASY)], axis=1)
  # Slot s reads bucket b at rank s − (slots of the buckets before b).
  slot_K = jnp.arange(k)
  end_Bx3 = jnp.cumsum(take_Bx3, axis=1)
  slot_bucket_BxK = (slot_K[None, :, None] >= end_Bx3[:, None, :]).sum(axis=2)
  neg_mask_BxK = slot_bucket_BxK < 3
  slot_bucket_BxK = jnp.minimum(slot_bucket_BxK, 2)
  start_Bx3 = end_Bx3 - take_Bx3
  rank_BxK = slot_K[None, :] - jnp.take_along_axis(start_Bx3, slot_bucket_BxK,
                                                   axis=1)
  rank_BxK = jnp.clip(rank_BxK, 0, k_pool - 1)
  flat_BxK = slot_bucket_BxK * k_pool + rank_BxK
  neg_idx_BxK = jnp.take_along_axis(
      ranked_Bx3xK.reshape(num_anchors, 3 * k_pool), flat_BxK, axis=1)
  neg_idx_BxK = jnp.where(neg_mask_BxK, neg_idx_BxK, 0).astype(jnp.int32)
  neg_bucket_BxK = jnp.take_along_axis(bucket_BxP, neg_idx_BxK, axis=1)
  return neg_idx_BxK, neg_mask_BxK, neg_bucket_BxK


@dataclasses.dataclass(frozen=True)
class CandidateSettings:
  """How the per-resume candidate lists are made (module docstring).

  per_bucket: jobs kept per distance bucket (hard, medium, easy).
  uniform: random jobs kept for uniform draws.
  search: pool jobs whose similarities a resume's hard and medium blocks
    are chosen from (the whole pool when it is no larger).
  search_block: consecutive resumes that share one search window.
  seed: the random easy and uniform jobs, the search windows and the order
    of tied jobs.
  """
  hard_max_distance: float = 0.3
  medium_max_distance: float = 0.6
  per_bucket: int = 96
  uniform: int = 96
  search: int = 8192
  search_block: int = 4096
  seed: int = 0

  @property
  def width(self) -> int:
    """M: list width of a pool larger than M (smaller pools: their size)."""
    return 3 * self.per_bucket + self.uniform

  @property
  def medium_min_similarity(self) -> float:
    """Below this §4.4 similarity a job with URIs is easy."""
    return 1.0 - self.medium_max_distance


@dataclasses.dataclass(frozen=True)
class CandidateLists:
  """Per resume, M candidate pool jobs; `ontology_RxM` / `uniform_RxM` say
  which slots ontology and uniform draws may take (False: empty slot)."""
  job_RxM: np.ndarray  # int32 pool index (0 in empty slots)
  sim_RxM: np.ndarray  # float32 §4.4 similarity of the resume to the job
  ontology_RxM: np.ndarray  # bool
  uniform_RxM: np.ndarray  # bool

  @staticmethod
  def concatenate(parts: list[CandidateLists], width: int) -> CandidateLists:
    """The lists of consecutive resume chunks as one (width M each)."""
    fields = [f.name for f in dataclasses.fields(CandidateLists)]
    if not parts:
      return CandidateLists(np.zeros((0, width), np.int32),
                            np.zeros((0, width), np.float32),
                            np.zeros((0, width), bool),
                            np.zeros((0, width), bool))
    return CandidateLists(**{name: np.concatenate([getattr(p, name)
                                                   for p in parts])
                             for name in fields})


def whole_pool_candidates(sim_RxP: np.ndarray, good_RxP: np.ndarray
                          ) -> CandidateLists:
  """Lists holding the whole pool in pool order, good fits left out."""
  num_resumes, pool_size = sim_RxP.shape
  job_RxP = np.broadcast_to(np.arange(pool_size, dtype=np.int32),
                            (num_resumes, pool_size))
  return CandidateLists(job_RxM=job_RxP.copy(),
                        sim_RxM=np.asarray(sim_RxP, np.float32),
                        ontology_RxM=~good_RxP, uniform_RxM=~good_RxP)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# First key of `hash_uniform` for each use, so that the uses are independent.
_DRAW, _WINDOW, _TIE, _SEARCH = 1, 2, 3, 4


def hash_uniform(seed: int, *keys: np.ndarray) -> np.ndarray:
  """float64 in [0, 1) per element of the broadcast `keys`: a splitmix64
  hash of (seed, keys), so a value depends on its keys alone (not on how
  the resumes were chunked). Products wrap modulo 2**64 by design."""
  with np.errstate(over="ignore"):
    x = np.full(np.broadcast_shapes(*(np.shape(k) for k in keys)), seed,
                np.uint64) * _GOLDEN + np.uint64(1)
    for key in keys:
      x = (x ^ np.asarray(key).astype(np.uint64)) * _GOLDEN
      x ^= x >> np.uint64(30)
      x *= np.uint64(0xBF58476D1CE4E5B9)
      x ^= x >> np.uint64(27)
      x *= np.uint64(0x94D049BB133111EB)
      x ^= x >> np.uint64(31)
  return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def draw_jobs(settings: CandidateSettings, row_c: np.ndarray,
              pool_size: int) -> np.ndarray:
  """int64 [c, uniform + per_bucket]: pool jobs drawn with replacement for
  resume rows `row_c` (the candidates of the easy and uniform blocks)."""
  draws = np.arange(settings.uniform + settings.per_bucket)
  u = hash_uniform(settings.seed, _DRAW, row_c[:, None], draws[None, :])
  return np.minimum((u * pool_size).astype(np.int64), pool_size - 1)


def search_window(settings: CandidateSettings, block: int,
                  pool_size: int) -> np.ndarray | None:
  """Sorted pool jobs searched for the hard and medium blocks of the
  resumes of `block` (rows block·search_block onwards): `search` jobs drawn
  without replacement, a function of (seed, block) alone; None when the
  pool has at most `search` jobs (the whole pool is searched)."""
  if pool_size <= settings.search:
    return None
  u_P = hash_uniform(settings.seed, _SEARCH, block, np.arange(pool_size))
  return np.sort(np.argpartition(u_P, settings.search)[:settings.search])


def _rank_in_groups(group_Q: np.ndarray) -> np.ndarray:
  """Position of each entry within its run of equal (sorted) group ids."""
  if group_Q.size == 0:
    return np.zeros(0, np.int64)
  start = np.r_[0, np.flatnonzero(group_Q[1:] != group_Q[:-1]) + 1]
  first_Q = np.repeat(start, np.diff(np.r_[start, group_Q.size]))
  return np.arange(group_Q.size) - first_Q


def _bucket(sim_Q: np.ndarray, settings: CandidateSettings) -> np.ndarray:
  """HARD / MEDIUM / EASY as `distance_buckets` decides them (float32)."""
  d = np.float32(1.0) - sim_Q.astype(np.float32)
  return np.where(d <= np.float32(settings.hard_max_distance), HARD,
                  np.where(d <= np.float32(settings.medium_max_distance),
                           MEDIUM, EASY))


def select_candidates(settings: CandidateSettings, row_c: np.ndarray,
                      pool_size: int, close: tuple[np.ndarray, ...],
                      drawn_job_cxD: np.ndarray, drawn_sim_cxD: np.ndarray,
                      good: tuple[np.ndarray, np.ndarray],
                      uriless_U: np.ndarray) -> CandidateLists:
  """Candidate lists of c resumes (global rows `row_c`) from a pool of more
  than `settings.width` jobs.

  Args:
    settings: list sizes, bucket bounds and seed.
    row_c: the resumes' rows in the split (keys of the random choices).
    pool_size: P.
    close: (local row, job, similarity) of every pair of a resume and a job
      with skill URIs whose §4.4 similarity may reach
      `settings.medium_min_similarity`; further pairs may be included.
    drawn_job_cxD, drawn_sim_cxD: `draw_jobs` and their similarities.
    good: (local row, job) of the resumes' good fits, never listed.
    uriless_U: the pool jobs without skill URIs (medium for every resume).
  """
  c, per, width = len(row_c), settings.per_bucket, settings.width
  good_keys = np.asarray(good[0], np.int64) * pool_size + good[1]
  # Jobs without URIs tie at the medium similarity: a random window of them
  # per resume, long enough to fill the medium block after its good fits
  # leave (per_bucket + its good fits, so that it does not depend on the
  # other resumes of the chunk).
  good_c = np.bincount(good[0], minlength=c)
  take = min(len(uriless_U), per + int(good_c.max(initial=0)))
  start_c = (hash_uniform(settings.seed, _WINDOW, row_c)
             * max(len(uriless_U), 1)).astype(np.int64)
  window_cxT = uriless_U[(start_c[:, None] + np.arange(take)[None, :])
                         % max(len(uriless_U), 1)] if take else np.zeros(
                             (c, 0), np.int64)
  in_window_cxT = np.arange(take)[None, :] < (per + good_c)[:, None]
  window_row_W = np.broadcast_to(np.arange(c)[:, None], (c, take))[
      in_window_cxT]
  window_job_W = window_cxT[in_window_cxT]
  row_Q = np.concatenate([close[0], window_row_W])
  job_Q = np.concatenate([close[1], window_job_W]).astype(np.int64)
  sim_Q = np.concatenate([close[2], np.zeros(window_job_W.size)]
                         ).astype(np.float32)
  bucket_sim_Q = np.concatenate(
      [close[2], np.full(window_job_W.size, 1.0 - URILESS_JOB_DISTANCE)]
  ).astype(np.float32)
  bucket_Q = _bucket(bucket_sim_Q, settings)
  keep = (bucket_Q != EASY) & ~np.isin(row_Q * pool_size + job_Q, good_keys)
  row_Q, job_Q, sim_Q, bucket_sim_Q, bucket_Q = (
      x[keep] for x in (row_Q, job_Q, sim_Q, bucket_sim_Q, bucket_Q))
  tie_Q = hash_uniform(settings.seed, _TIE, row_c[row_Q], job_Q)
  order = np.lexsort((tie_Q, -bucket_sim_Q, bucket_Q, row_Q))
  row_Q, job_Q, sim_Q, bucket_Q = (x[order] for x in
                                   (row_Q, job_Q, sim_Q, bucket_Q))
  rank_Q = _rank_in_groups(row_Q * 3 + bucket_Q)
  ranked = rank_Q < per
  slots = [(row_Q[ranked], bucket_Q[ranked] * per + rank_Q[ranked],
            job_Q[ranked], sim_Q[ranked], True)]
  # Easy and uniform blocks: the first distinct drawn jobs that qualify.
  draw_cxD = np.broadcast_to(np.arange(drawn_job_cxD.shape[1]),
                             drawn_job_cxD.shape)
  row_cxD = np.broadcast_to(np.arange(c)[:, None], drawn_job_cxD.shape)
  keys = row_cxD.ravel() * pool_size + drawn_job_cxD.ravel()
  order = np.lexsort((draw_cxD.ravel(), keys))
  first = np.ones(keys.size, bool)
  first[order[1:]] = keys[order[1:]] != keys[order[:-1]]
  usable = first & ~np.isin(keys, good_keys)
  drawn_sim = drawn_sim_cxD.ravel().astype(np.float32)
  has_uris = ~np.isin(drawn_job_cxD.ravel(), uriless_U)
  easy = usable & has_uris & (_bucket(drawn_sim, settings) == EASY)
  for block, chosen, size in ((2 * per, easy, per),
                              (3 * per, usable, settings.uniform)):
    idx = np.flatnonzero(chosen)  # row-major: rows, then draw order
    rank = _rank_in_groups(row_cxD.ravel()[idx])
    idx, rank = idx[rank < size], rank[rank < size]
    slots.append((row_cxD.ravel()[idx], block + rank,
                  drawn_job_cxD.ravel()[idx], drawn_sim[idx],
                  block < 3 * per))
  lists = CandidateLists(job_RxM=np.zeros((c, width), np.int32),
                         sim_RxM=np.zeros((c, width), np.float32),
                         ontology_RxM=np.zeros((c, width), bool),
                         uniform_RxM=np.zeros((c, width), bool))
  for rows, cols, jobs, sims, ontology in slots:
    lists.job_RxM[rows, cols] = jobs
    lists.sim_RxM[rows, cols] = sims
    (lists.ontology_RxM if ontology else lists.uniform_RxM)[rows, cols] = True
  return lists
