"""ontology_set_similarity of §4.4 on padded skill-row arrays.

    skill_sim(u, v) = exp(-α · d(u, v))     (0 when no path; α = 0.7)
    dir(X → Y)      = mean over x ∈ X of max over y ∈ Y of skill_sim(x, y)
    sim(A, B)       = (dir(A → B) + dir(B → A)) / 2

Skill sets are rows of the distance matrix (`SkillIndex`), padded to a
fixed width with a boolean mask (`pad_skill_sets`, or `pad_uri_sets` from
URI lists); duplicates in a set count as often as they appear. A member
whose URI the index does not know holds the row `NO_ROW`: it has no path
to any skill (not even to the same unknown URI), so it adds 0 to its own
direction's mean (and still counts in |X|) and is never the best match of
a member of the other set. A set {known, unknown} therefore scores lower
against {known} than {known} does. An empty set has dir = 0 in both
directions, so any pair with an empty side scores 0.0 (never NaN).

Distances are uint8, so skill_sim is a 256-entry lookup table with entry
255 (`NO_PATH`) = 0, and since exp(-α·d) falls with d, the best match of x
is table[min over y of d(x, y)]. The resumes × jobs grid uses this: it
takes, per set, the minimum distance row over its members ([N, S], one
gather of whole rows and a min), then reads every cross-set best match from
those rows, instead of gathering the A × K × B × L block of distances.

Every function takes `dist` as a numpy array (a memmap is fine: it is
copied to the device once per call) or a jax array (no copy).
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import sparse

from cacl_jax.ontology import skill_index as skill_index_lib
from cacl_jax.ontology.distances import NO_PATH
from cacl_jax.ontology.skill_index import NO_ROW

ALPHA = 0.7


def similarity_table(alpha: float = ALPHA) -> jax.Array:
  """float32 [256]: exp(-alpha * d) for d < 255, 0 for NO_PATH."""
  d = jnp.arange(NO_PATH + 1, dtype=jnp.float32)
  return jnp.where(d < NO_PATH, jnp.exp(-alpha * d), 0.0)


def pad_skill_sets(sets: Sequence[Sequence[int]], max_len: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(idx int32 [N, K], mask bool [N, K]) with set i in row i's prefix.

  K is `max_len`, or the longest set (at least 1). A set longer than
  `max_len` or a negative row other than `NO_ROW` is an error (nothing is
  cut off silently). Padding entries hold row 0 and mask False.
  """
  longest = max((len(s) for s in sets), default=0)
  width = max(longest, 1) if max_len is None else max_len
  if longest > width:
    i = next(i for i, s in enumerate(sets) if len(s) > width)
    raise ValueError(f"skill set {i} has {len(sets[i])} skills, more than "
                     f"max_len={width}")
  idx = np.zeros((len(sets), width), np.int32)
  mask = np.zeros((len(sets), width), bool)
  for i, rows in enumerate(sets):
    idx[i, :len(rows)] = rows
    mask[i, :len(rows)] = True
  if (idx < NO_ROW).any():
    first = int(np.argwhere(idx < NO_ROW)[0, 0])
    raise ValueError(f"negative skill row in set {first}")
  return idx, mask


def pad_uri_sets(index: skill_index_lib.SkillIndex,
                 uri_sets: Sequence[Sequence[str]],
                 max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """`pad_skill_sets` of the rows of URI lists; unknown URIs stay members
  with row `NO_ROW`."""
  return pad_skill_sets([index.rows_for_uris(uris)[0] for uris in uri_sets],
                        max_len)


def has_row(idx: jax.Array, mask: jax.Array) -> jax.Array:
  """bool, same shape: members whose URI has a row (not `NO_ROW`)."""
  return mask & (idx != NO_ROW)


def safe_rows(idx: jax.Array) -> jax.Array:
  """`idx` with `NO_ROW` replaced by row 0, safe to index with; callers mask
  those entries out with `has_row`."""
  return jnp.maximum(idx, 0)


def check_rows(num_skills: int, idx: np.ndarray, mask: np.ndarray,
               name: str) -> None:
  """Raises unless every unmasked entry of `idx` is a row in [0, S) or
  `NO_ROW`."""
  idx, mask = np.asarray(idx), np.asarray(mask, bool)
  if idx.shape != mask.shape or idx.ndim != 2:
    raise ValueError(f"{name}: idx {idx.shape} and mask {mask.shape} must be "
                     "the same [N, K] shape")
  bad = mask & ((idx < NO_ROW) | (idx >= num_skills))
  if bad.any():
    n, k = np.argwhere(bad)[0]
    raise ValueError(f"{name}[{n}, {k}] = {idx[n, k]} is not a skill row "
                     f"(distance matrix has {num_skills})")


def _chunk_size(n: int, chunk: int) -> int:
  """`chunk`, or the next power of two ≥ n when smaller (few compiles)."""
  return min(chunk, 1 << max(n - 1, 0).bit_length())


def map_in_chunks(fn: Callable[..., object], arrays: Sequence[np.ndarray],
                  chunk: int, *, static: Sequence[object] = ()) -> object:
  """Applies `fn(*static, *chunks)` over the leading axis in fixed chunks.

  The last chunk is zero-padded to full size (masks read False there) and
  the outputs, a pytree of [chunk, ...] arrays, are concatenated on the
  host and cut back to the N inputs.
  """
  n = len(arrays[0])
  size = _chunk_size(n, chunk)
  pieces = []
  for start in range(0, max(n, 1), size):
    block = [np.asarray(a[start:start + size]) for a in arrays]
    pad = size - len(block[0])
    block = [np.pad(b, [(0, pad)] + [(0, 0)] * (b.ndim - 1)) for b in block]
    pieces.append(jax.device_get(fn(*static, *block)))
  return jax.tree.map(lambda *p: np.concatenate(p)[:n], *pieces)


@jax.jit
def _pairs_block(dist_SxS, table, a_idx_NxK, a_mask_NxK, b_idx_NxL,
                 b_mask_NxL):
  d_NxKxL = dist_SxS[safe_rows(a_idx_NxK)[:, :, None],
                     safe_rows(b_idx_NxL)[:, None, :]]
  valid_NxKxL = (has_row(a_idx_NxK, a_mask_NxK)[:, :, None]
                 & has_row(b_idx_NxL, b_mask_NxL)[:, None, :])
  sim_NxKxL = jnp.where(valid_NxKxL, table[d_NxKxL], 0.0)
  count_a = jnp.maximum(a_mask_NxK.sum(-1), 1)
  count_b = jnp.maximum(b_mask_NxL.sum(-1), 1)
  dir_ab = sim_NxKxL.max(axis=2).sum(-1) / count_a
  dir_ba = sim_NxKxL.max(axis=1).sum(-1) / count_b
  return 0.5 * (dir_ab + dir_ba)


def set_similarity_pairs(dist, a_idx, a_mask, b_idx, b_mask, alpha=ALPHA,
                         chunk: int = 4096) -> np.ndarray:
  """float32 [N]: similarity of set a[i] with set b[i] for every i."""
  check_rows(dist.shape[0], a_idx, a_mask, "a_idx")
  check_rows(dist.shape[0], b_idx, b_mask, "b_idx")
  dist, table = jnp.asarray(dist), similarity_table(alpha)
  return map_in_chunks(_pairs_block, (a_idx, a_mask, b_idx, b_mask), chunk,
                       static=(dist, table))


@jax.jit
def _nearest_rows(dist_SxS, idx_NxK, mask_NxK):
  """uint8 [N, S]: distance from each skill to the nearest member of a set
  (`NO_PATH` if no member has a path to it)."""
  rows_NxKxS = jnp.where(has_row(idx_NxK, mask_NxK)[:, :, None],
                         dist_SxS[safe_rows(idx_NxK)], jnp.uint8(NO_PATH))
  return rows_NxKxS.min(axis=1)


@jax.jit
def _grid_block(dist_SxS, table, b_near_BxS, b_idx_BxL, b_mask_BxL,
                a_idx_CxK, a_mask_CxK):
  a_near_CxS = _nearest_rows(dist_SxS, a_idx_CxK, a_mask_CxK)
  # A → B: best match in b of each a skill, read from b's nearest row.
  sim_ab_BxCxK = (table[b_near_BxS[:, safe_rows(a_idx_CxK)]]
                  * has_row(a_idx_CxK, a_mask_CxK))
  dir_ab_CxB = (sim_ab_BxCxK.sum(-1) /
                jnp.maximum(a_mask_CxK.sum(-1), 1)).T
  # B → A: best match in a of each b skill, read from a's nearest row.
  sim_ba_CxBxL = (table[a_near_CxS[:, safe_rows(b_idx_BxL)]]
                  * has_row(b_idx_BxL, b_mask_BxL))
  dir_ba_CxB = sim_ba_CxBxL.sum(-1) / jnp.maximum(b_mask_BxL.sum(-1), 1)
  return 0.5 * (dir_ab_CxB + dir_ba_CxB)


def set_similarity_grid(dist, a_idx_AxK, a_mask_AxK, b_idx_BxL, b_mask_BxL,
                        alpha=ALPHA, chunk: int = 256) -> np.ndarray:
  """float32 [A, B]: similarity of every set a with every set b.

  Works in chunks of `chunk` rows of a (memory ~ chunk · K · S bytes) with
  all of b at once; the nearest-distance rows of b take B · S bytes.
  """
  check_rows(dist.shape[0], a_idx_AxK, a_mask_AxK, "a_idx")
  check_rows(dist.shape[0], b_idx_BxL, b_mask_BxL, "b_idx")
  dist, table = jnp.asarray(dist), similarity_table(alpha)
  b_near_BxS = jnp.asarray(map_in_chunks(
      _nearest_rows, (b_idx_BxL, b_mask_BxL), chunk, static=(dist,)))
  b_idx_BxL, b_mask_BxL = jnp.asarray(b_idx_BxL), jnp.asarray(b_mask_BxL)
  return map_in_chunks(
      _grid_block, (a_idx_AxK, a_mask_AxK), chunk,
      static=(dist, table, b_near_BxS, b_idx_BxL, b_mask_BxL))


def nearest_rows(dist, idx_NxK, mask_NxK, chunk: int = 256) -> np.ndarray:
  """uint8 [N, S]: each skill's distance to the nearest member of each set
  (`NO_PATH` where no member has a path to it)."""
  check_rows(dist.shape[0], idx_NxK, mask_NxK, "idx")
  return map_in_chunks(_nearest_rows, (idx_NxK, mask_NxK), chunk,
                       static=(jnp.asarray(dist),))


def _direction(table_256, near_NxS, near_Q, idx_QxK, mask_QxK) -> np.ndarray:
  """dir(X → Y) per pair q: mean over X's members (`idx_QxK`) of their best
  match in Y, read from Y's nearest row `near_NxS[near_Q[q]]`."""
  known_QxK = (idx_QxK != NO_ROW) & mask_QxK
  sim_QxK = table_256[near_NxS[np.asarray(near_Q)[:, None],
                               np.maximum(idx_QxK, 0)]] * known_QxK
  return sim_QxK.sum(-1) / np.maximum(mask_QxK.sum(-1), 1)


class PoolSimilarity:
  """§4.4 similarities of any sets against a fixed pool of B sets (jobs),
  with the pool's nearest-distance rows (B · S bytes) computed once;
  `sets` gives the queries of A sets against it."""

  def __init__(self, dist, b_idx_BxL, b_mask_BxL, alpha: float = ALPHA):
    check_rows(dist.shape[0], b_idx_BxL, b_mask_BxL, "b_idx")
    self.dist, self.alpha = jnp.asarray(dist), alpha
    self.table = np.asarray(similarity_table(alpha))
    self.b_idx, self.b_mask = np.asarray(b_idx_BxL), np.asarray(b_mask_BxL)
    self.b_near = nearest_rows(self.dist, self.b_idx, self.b_mask)
    self._within = {}

  @property
  def size(self) -> int:
    return len(self.b_idx)

  def sets(self, a_idx_AxK, a_mask_AxK) -> SetsAgainstPool:
    return SetsAgainstPool(self, a_idx_AxK, a_mask_AxK)

  def incidence(self, idx_NxK, mask_NxK) -> sparse.csr_matrix:
    """[N, S] member counts of each set's skills (unknown URIs left out)."""
    idx, mask = np.asarray(idx_NxK), np.asarray(mask_NxK)
    n, k = np.nonzero(mask & (idx != NO_ROW))
    return sparse.csr_matrix((np.ones(n.size, np.float32), (n, idx[n, k])),
                             shape=(len(idx), self.dist.shape[0]))

  def within(self, max_distance: int) -> sparse.csr_matrix:
    """[B, S]: per pool set, how many members lie within `max_distance` of
    each skill (computed once per distance)."""
    if max_distance not in self._within:
      near_SxS = sparse.csr_matrix(np.asarray(self.dist) <= max_distance,
                                   dtype=np.float32)
      self._within[max_distance] = (
          self.incidence(self.b_idx, self.b_mask) @ near_SxS).tocsr()
    return self._within[max_distance]


class SetsAgainstPool:
  """A sets (resumes) against a `PoolSimilarity`, their nearest-distance
  rows (A · S bytes) computed once.

  `close_pairs` finds, without the A × B grid, every pair whose similarity
  may reach a bound: with d₁ the largest distance whose skill similarity
  reaches it, a pair whose members have c pairs within d₁ scores at most
  ½ (min(c, |a|) + (|a| − min(c, |a|)) · s₊) / |a| + the same for b, where
  s₊ = exp(−α (d₁ + 1)) bounds every farther match; the counts c of all
  pairs come from sparse products of set × skill incidence matrices.
  """

  def __init__(self, pool: PoolSimilarity, a_idx_AxK, a_mask_AxK):
    check_rows(pool.dist.shape[0], a_idx_AxK, a_mask_AxK, "a_idx")
    self.pool = pool
    self.a_idx, self.a_mask = np.asarray(a_idx_AxK), np.asarray(a_mask_AxK)
    self.a_near = nearest_rows(pool.dist, self.a_idx, self.a_mask)

  def grid(self) -> np.ndarray:
    """float32 [A, B], as `set_similarity_grid`."""
    p = self.pool
    return map_in_chunks(
        _grid_block, (self.a_idx, self.a_mask), 256,
        static=(p.dist, jnp.asarray(p.table), jnp.asarray(p.b_near),
                jnp.asarray(p.b_idx), jnp.asarray(p.b_mask)))

  def pairs(self, a_Q, b_Q) -> np.ndarray:
    """float32 [Q]: similarity of set a_Q[q] with pool set b_Q[q]."""
    p = self.pool
    dir_ab = _direction(p.table, p.b_near, b_Q, self.a_idx[a_Q],
                        self.a_mask[a_Q])
    dir_ba = _direction(p.table, self.a_near, a_Q, p.b_idx[b_Q],
                        p.b_mask[b_Q])
    return (0.5 * (dir_ab + dir_ba)).astype(np.float32)

  def close_pairs(self, min_similarity: float,
                  jobs: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a_Q, b_Q, similarity_Q) of every pair whose similarity may reach
    `min_similarity` (a superset of those that do), in row-major order;
    only pool sets in `jobs` (sorted indices; None: all) are searched."""
    p = self.pool
    reaching = np.flatnonzero(p.table >= min_similarity)
    if reaching.size == 0:
      empty = np.zeros(0, np.int64)
      return empty, empty, np.zeros(0, np.float32)
    jobs = np.arange(p.size) if jobs is None else np.asarray(jobs, np.int64)
    d1 = int(reaching.max())
    s_far = float(p.table[d1 + 1]) if d1 < NO_PATH else 1.0
    if s_far >= min_similarity:
      a_Q, b_Q = np.divmod(np.arange(len(self.a_idx) * jobs.size),
                           jobs.size)
      b_Q = jobs[b_Q]
    else:
      counts = (p.incidence(self.a_idx, self.a_mask)
                @ p.within(d1)[jobs].T).tocoo()
      a_Q, b_Q, c_Q = counts.row, jobs[counts.col], counts.data
      size_a = np.maximum(self.a_mask.sum(-1), 1)[a_Q]
      size_b = np.maximum(p.b_mask.sum(-1), 1)[b_Q]
      m_a, m_b = np.minimum(c_Q, size_a), np.minimum(c_Q, size_b)
      bound = 0.5 * ((m_a + (size_a - m_a) * s_far) / size_a
                     + (m_b + (size_b - m_b) * s_far) / size_b)
      keep = bound >= min_similarity - 1e-6
      order = np.lexsort((b_Q[keep], a_Q[keep]))
      a_Q, b_Q = a_Q[keep][order], b_Q[keep][order]
    a_Q, b_Q = a_Q.astype(np.int64), b_Q.astype(np.int64)
    return a_Q, b_Q, self.pairs(a_Q, b_Q)
