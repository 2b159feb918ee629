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
