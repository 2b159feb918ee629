"""All-pairs shortest-path lengths between skills on the undirected graph.

The result is a uint8 matrix [S, S] (row/column r = skill row r of the
`SkillIndex`) with `NO_PATH` (255) where two skills are not connected;
ESCO's skill-to-skill distances are single digits, and any distance over
`MAX_DISTANCE` raises rather than being mistaken for "no path".

Two interchangeable breadth-first-search backends compute rows of lengths
from chunks of source nodes: "scipy" (scipy.sparse.csgraph, CPU) and "jax"
(a jitted frontier BFS over the edge list, for GPU/TPU; it runs on CPU
too). `skill_distance_matrix` does not search from every skill: for a skill
s with neighbours N(s), d(s, t) = 1 + min over n in N(s) of d(n, t) for
every t ≠ s, so it searches only from the nodes adjacent to some skill
(occupations and hierarchy groups, 3,470 on ESCO v1.2.0 instead of 14,359
skills) and takes that minimum per skill — the same exact lengths at about a
quarter of the search work.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph
import tqdm

NO_PATH = 255
MAX_DISTANCE = 254
BACKENDS = ("scipy", "jax")
# Rows stepped at once when adding the hop to a skill's neighbour (~15 MB).
_STEP_ROWS = 1024

BfsFn = Callable[[sp.csr_matrix, np.ndarray, np.ndarray], np.ndarray]


def _check_max(max_found: float) -> None:
  if max_found > MAX_DISTANCE:
    raise ValueError(f"a shortest path of length {max_found:g} does not fit "
                     f"uint8 distances (at most {MAX_DISTANCE}; "
                     f"{NO_PATH} means no path)")


def bfs_lengths_scipy(adj: sp.csr_matrix, sources: np.ndarray,
                      targets: np.ndarray) -> np.ndarray:
  """uint8 [len(sources), len(targets)] path lengths via scipy's BFS.

  `adj` must be symmetric (it is searched as directed, which skips scipy's
  per-call symmetrisation).
  """
  lengths = csgraph.shortest_path(adj, method="D", directed=True,
                                  unweighted=True, indices=sources)[:, targets]
  reachable = np.isfinite(lengths)
  if reachable.any():
    _check_max(lengths[reachable].max())
  lengths[~reachable] = NO_PATH
  return lengths.astype(np.uint8)


@functools.partial(jax.jit, static_argnames=("num_nodes",))
def _frontier_bfs(neighbour_E: jax.Array, owner_E: jax.Array,
                  sources_C: jax.Array, num_nodes: int) -> jax.Array:
  """int32 lengths [N, C] from each source (-1: unreachable).

  Edge e joins node owner_E[e] (sorted) to neighbour_E[e]; each step marks
  the unvisited nodes with a neighbour in the frontier.
  """
  c = sources_C.shape[0]
  cols = jnp.arange(c)
  lengths_NxC = jnp.full((num_nodes, c), -1, jnp.int32)
  lengths_NxC = lengths_NxC.at[sources_C, cols].set(0)
  frontier_NxC = jnp.zeros((num_nodes, c), bool).at[sources_C, cols].set(True)

  def cond(state):
    return jnp.any(state[1])

  def body(state):
    level, frontier_NxC, lengths_NxC = state
    reached_NxC = jax.ops.segment_max(
        frontier_NxC[neighbour_E].astype(jnp.uint8), owner_E,
        num_segments=num_nodes, indices_are_sorted=True) > 0
    new_NxC = reached_NxC & (lengths_NxC < 0)
    level = level + 1
    return level, new_NxC, jnp.where(new_NxC, level, lengths_NxC)

  return jax.lax.while_loop(
      cond, body, (jnp.int32(0), frontier_NxC, lengths_NxC))[2]


def bfs_lengths_jax(adj: sp.csr_matrix, sources: np.ndarray,
                    targets: np.ndarray, chunk_size: int = 256) -> np.ndarray:
  """uint8 [len(sources), len(targets)] path lengths via a JAX frontier BFS.

  Sources run in fixed-size chunks (the last one padded) so one compiled
  program serves every chunk.
  """
  adj = sp.csr_matrix(adj)
  num_nodes = adj.shape[0]
  owner = np.repeat(np.arange(num_nodes, dtype=np.int32), np.diff(adj.indptr))
  owner_E, neighbour_E = jnp.asarray(owner), jnp.asarray(adj.indices,
                                                        jnp.int32)
  targets_T = jnp.asarray(targets, jnp.int32)
  sources = np.asarray(sources, np.int32)
  out = np.empty((len(sources), len(targets)), np.uint8)
  chunk = min(chunk_size, max(len(sources), 1))
  for start in range(0, len(sources), chunk):
    block = sources[start:start + chunk]
    padded = np.pad(block, (0, chunk - len(block)), mode="edge")
    lengths_TxC = np.asarray(_frontier_bfs(
        neighbour_E, owner_E, jnp.asarray(padded), num_nodes)[targets_T])
    lengths = lengths_TxC[:, :len(block)].T
    _check_max(float(lengths.max(initial=0)))
    out[start:start + len(block)] = np.where(lengths < 0, NO_PATH, lengths)
  return out


def _bfs_fn(backend: str) -> BfsFn:
  if backend == "scipy":
    return bfs_lengths_scipy
  if backend == "jax":
    return bfs_lengths_jax
  raise ValueError(f"unknown distance backend {backend!r}; expected one of "
                   f"{BACKENDS}")


def skill_distance_matrix(adj: sp.csr_matrix, skill_nodes: np.ndarray, *,
                          rows: np.ndarray | None = None,
                          backend: str = "scipy", chunk_size: int = 256,
                          progress: bool = False) -> np.ndarray:
  """uint8 [R, S] shortest-path lengths from skills `rows` to all skills.

  `adj` is the symmetric adjacency of the undirected graph and
  `skill_nodes[r]` the node of skill r; `rows` defaults to every skill
  (R = S). Searches run from the neighbours of those skills in chunks of
  `chunk_size` sources (see the module docstring), with a progress bar when
  `progress`.
  """
  bfs = _bfs_fn(backend)
  adj = sp.csr_matrix(adj, copy=True)
  adj.setdiag(0)
  adj.eliminate_zeros()
  skill_nodes = np.asarray(skill_nodes, np.int64)
  rows = (np.arange(len(skill_nodes)) if rows is None
          else np.asarray(rows, np.int64))
  row_adj = adj[skill_nodes[rows]]
  hubs, hub_of_entry = np.unique(row_adj.indices, return_inverse=True)

  hub_lengths_HxS = np.empty((len(hubs), len(skill_nodes)), np.uint8)
  starts = range(0, len(hubs), chunk_size)
  for start in tqdm.tqdm(starts, desc=f"BFS ({backend})", unit="chunk",
                         disable=not progress):
    hub_lengths_HxS[start:start + chunk_size] = bfs(
        adj, hubs[start:start + chunk_size], skill_nodes)

  out = np.full((len(rows), len(skill_nodes)), NO_PATH, np.uint8)
  indptr = row_adj.indptr
  for i in range(len(rows)):
    if indptr[i] < indptr[i + 1]:
      out[i] = hub_lengths_HxS[hub_of_entry[indptr[i]:indptr[i + 1]]].min(
          axis=0)
  for start in range(0, len(rows), _STEP_ROWS):
    block = out[start:start + _STEP_ROWS]
    connected = block < NO_PATH
    _check_max(float(block.max(where=connected, initial=0)) + 1)
    np.add(block, 1, out=block, where=connected)
  out[np.arange(len(rows)), rows] = 0
  return out
