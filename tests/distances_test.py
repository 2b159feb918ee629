"""Tests for skill-to-skill shortest paths, both backends, against networkx."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import esco_samples as es
from cacl_jax.data import builtin
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph


def _networkx_rows(ontology, rows, undirected=None):
  """Reference uint8 rows from networkx BFS on the undirected graph."""
  if undirected is None:
    undirected = nx.Graph(ontology.graph.to_undirected())
  uris = ontology.skill_index.row_to_uri
  out = np.full((len(rows), len(uris)), dl.NO_PATH, np.uint8)
  for i, row in enumerate(rows):
    lengths = nx.single_source_shortest_path_length(undirected, uris[row])
    out[i] = [lengths.get(u, dl.NO_PATH) for u in uris]
  return out


def _path_graph(n):
  g = nx.path_graph(n)
  return nx.to_scipy_sparse_array(g, format="csr", dtype=np.int8)


@pytest.mark.parametrize("backend", dl.BACKENDS)
def test_spec_example_distances(tmp_path, backend):
  o = graph.load_ontology(es.write_mini_esco(tmp_path))
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S,
                               backend=backend)
  r = o.skill_index.uri_to_row
  assert d[r[es.PYTHON], r[es.JAVA]] == 2
  assert d[r[es.PYTHON], r[es.STATS]] == 2
  assert d[r[es.JAVA], r[es.STATS]] == 4
  assert d[r[es.PYTHON], r[es.PYTHON]] == 0
  assert d[r[es.PYTHON], r[es.COOKING]] == dl.NO_PATH
  assert d[r[es.G0], r[es.G0]] == 0   # isolated from skills, still 0 to itself
  assert (d == d.T).all() and d.dtype == np.uint8


@pytest.mark.parametrize("backend", dl.BACKENDS)
def test_builtin_full_matrix_matches_networkx(backend):
  o = graph.load_ontology(builtin.builtin_esco_dir())
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S,
                               backend=backend, chunk_size=64)
  np.testing.assert_array_equal(
      d, _networkx_rows(o, np.arange(len(o.skill_index))))


def test_rows_subset_matches_full_matrix():
  o = graph.load_ontology(builtin.builtin_esco_dir())
  adj = o.undirected_adjacency()
  full = dl.skill_distance_matrix(adj, o.skill_nodes_S)
  rows = np.array([5, 0, 77, 5])
  np.testing.assert_array_equal(
      dl.skill_distance_matrix(adj, o.skill_nodes_S, rows=rows), full[rows])


@pytest.mark.parametrize("bfs", [dl.bfs_lengths_scipy, dl.bfs_lengths_jax])
def test_bfs_on_random_graph_matches_networkx(bfs):
  g = nx.gnm_random_graph(300, 330, seed=3)   # several components
  adj = nx.to_scipy_sparse_array(g, format="csr", dtype=np.int8)
  sources = np.array([0, 17, 123, 299])
  targets = np.arange(0, 300, 3)
  got = bfs(adj, sources, targets)
  for i, s in enumerate(sources):
    lengths = nx.single_source_shortest_path_length(g, int(s))
    np.testing.assert_array_equal(
        got[i], [lengths.get(int(t), dl.NO_PATH) for t in targets])


def test_jax_bfs_chunks_pad_the_last_one():
  adj = _path_graph(10)
  got = dl.bfs_lengths_jax(adj, np.arange(10), np.arange(10), chunk_size=4)
  expected = np.abs(np.arange(10)[:, None] - np.arange(10)[None, :])
  np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("bfs", [dl.bfs_lengths_scipy, dl.bfs_lengths_jax])
def test_too_long_path_raises(bfs):
  adj = _path_graph(300)
  with pytest.raises(ValueError, match="does not fit"):
    bfs(adj, np.array([0]), np.array([0, 299]))
  np.testing.assert_array_equal(
      bfs(adj, np.array([0]), np.array([254])), [[254]])


def test_distance_matrix_hop_overflow_raises():
  # Skill nodes 0 and 255 on a path: their distance 255 cannot be stored.
  with pytest.raises(ValueError, match="does not fit"):
    dl.skill_distance_matrix(_path_graph(256), np.array([0, 255]))


def test_unknown_backend():
  with pytest.raises(ValueError, match="unknown distance backend"):
    dl.skill_distance_matrix(sp.csr_matrix((2, 2), dtype=np.int8),
                             np.array([0]), backend="cuda")


@pytest.fixture(scope="module")
def esco_v120(esco_root):
  o = graph.load_ontology(esco_root / "v1.2.0")
  return o, nx.Graph(o.graph.to_undirected())


@pytest.mark.parametrize("backend", dl.BACKENDS)
def test_real_esco_sampled_rows_match_networkx(esco_v120, backend):
  o, undirected = esco_v120
  rng = np.random.default_rng(0)
  rows = rng.choice(len(o.skill_index), 8, replace=False)
  got = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S,
                                 rows=rows, backend=backend, chunk_size=512)
  np.testing.assert_array_equal(got, _networkx_rows(o, rows, undirected))
  assert set(np.unique(got)) <= {0, 1, 2, 3, 4, 5, 6, 7, 8, dl.NO_PATH}


def test_real_esco_bfs_backends_agree(esco_v120):
  o, _ = esco_v120
  adj = o.undirected_adjacency()
  sources = o.skill_nodes_S[:64]
  np.testing.assert_array_equal(
      dl.bfs_lengths_jax(adj, sources, o.skill_nodes_S, chunk_size=64),
      dl.bfs_lengths_scipy(adj, sources, o.skill_nodes_S))
