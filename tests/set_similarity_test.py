"""Tests for ontology_set_similarity (§4.4): hand values and plain Python."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import esco_samples as es
from cacl_jax.data import builtin
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph
from cacl_jax.ontology import set_similarity as ss
from cacl_jax.ontology.skill_index import NO_ROW

UNKNOWN = "http://example.org/skill/not-in-esco"


def reference_similarity(dist, xs, ys, alpha=0.7):
  """The three steps of §4.4, written out in plain Python; a member with
  row NO_ROW (a URI unknown to the ontology) has no path to anything."""
  def skill_sim(u, v):
    if u == NO_ROW or v == NO_ROW:
      return 0.0
    d = int(dist[u, v])
    return 0.0 if d == dl.NO_PATH else math.exp(-alpha * d)

  def dir_score(xs, ys):
    if not xs:
      return 0.0
    return sum(max((skill_sim(x, y) for y in ys), default=0.0)
               for x in xs) / len(xs)

  return 0.5 * (dir_score(xs, ys) + dir_score(ys, xs))


@pytest.fixture(scope="module")
def mini_ontology(tmp_path_factory):
  o = graph.load_ontology(es.write_mini_esco(tmp_path_factory.mktemp("e")))
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)
  return o.skill_index, d


@pytest.fixture(scope="module")
def mini(mini_ontology):
  index, d = mini_ontology
  return index.uri_to_row, d


@pytest.fixture(scope="module")
def builtin_dist():
  o = graph.load_ontology(builtin.builtin_esco_dir())
  return dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)


def _synthetic_dist(n, seed):
  """A symmetric matrix of even lengths with some 'no path' entries."""
  rng = np.random.default_rng(seed)
  d = rng.choice([2, 4, 6, 8, dl.NO_PATH], size=(n, n)).astype(np.uint8)
  d = np.triu(d, 1)
  d = d + d.T
  np.fill_diagonal(d, 0)
  return d


def _pairs(dist, a, b, **kw):
  return ss.set_similarity_pairs(dist, *ss.pad_skill_sets(a),
                                 *ss.pad_skill_sets(b), **kw)


def _with_unknown(rng, sets, share):
  """`sets` with about `share` of the members replaced by NO_ROW."""
  return [[NO_ROW if rng.random() < share else r for r in s] for s in sets]


def test_spec_examples(mini):
  row, d = mini
  py, java, stats, cook = (row[es.PYTHON], row[es.JAVA], row[es.STATS],
                           row[es.COOKING])
  got = _pairs(d, [[py], [py], [java], [py], [py]],
               [[java], [stats], [stats], [py], [cook]])
  np.testing.assert_allclose(
      got, [math.exp(-1.4), math.exp(-1.4), math.exp(-2.8), 1.0, 0.0],
      rtol=1e-6)
  np.testing.assert_allclose(got[:3], [0.247, 0.247, 0.061], atol=5e-4)


def test_hand_computed_set_example(mini):
  row, d = mini
  a = [row[es.PYTHON], row[es.JAVA]]
  b = [row[es.STATS]]
  # dir(A→B) = (e^-1.4 + e^-2.8) / 2; dir(B→A) = e^-1.4.
  expected = 0.5 * ((math.exp(-1.4) + math.exp(-2.8)) / 2 + math.exp(-1.4))
  np.testing.assert_allclose(_pairs(d, [a], [b]), [expected], rtol=1e-6)
  np.testing.assert_allclose(_pairs(d, [b], [a]), [expected], rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.7, 0.35])
def test_pairs_match_plain_python_on_random_sets(builtin_dist, alpha):
  rng = np.random.default_rng(0)
  s = builtin_dist.shape[0]
  a = [list(rng.integers(0, s, rng.integers(0, 15))) for _ in range(300)]
  b = [list(rng.integers(0, s, rng.integers(0, 9))) for _ in range(300)]
  got = _pairs(builtin_dist, a, b, alpha=alpha, chunk=64)
  expected = [reference_similarity(builtin_dist, x, y, alpha)
              for x, y in zip(a, b)]
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
  assert got.dtype == np.float32 and got.shape == (300,)


def test_grid_matches_plain_python(builtin_dist):
  rng = np.random.default_rng(1)
  s = builtin_dist.shape[0]
  a = [list(rng.integers(0, s, rng.integers(0, 12))) for _ in range(23)]
  b = [list(rng.integers(0, s, rng.integers(0, 7))) for _ in range(11)]
  got = ss.set_similarity_grid(builtin_dist, *ss.pad_skill_sets(a),
                               *ss.pad_skill_sets(b), chunk=8)
  expected = [[reference_similarity(builtin_dist, x, y) for y in b] for x in a]
  assert got.shape == (23, 11) and got.dtype == np.float32
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_grid_on_synthetic_matrix_agrees_with_pairs():
  d = _synthetic_dist(60, seed=2)
  rng = np.random.default_rng(3)
  a = [list(rng.integers(0, 60, rng.integers(1, 9))) for _ in range(17)]
  b = [list(rng.integers(0, 60, rng.integers(1, 5))) for _ in range(9)]
  grid = ss.set_similarity_grid(d, *ss.pad_skill_sets(a),
                                *ss.pad_skill_sets(b), chunk=4)
  ii, jj = np.meshgrid(np.arange(17), np.arange(9), indexing="ij")
  flat = _pairs(d, [a[i] for i in ii.ravel()], [b[j] for j in jj.ravel()])
  np.testing.assert_allclose(grid, flat.reshape(17, 9), rtol=1e-6)
  expected = [[reference_similarity(d, x, y) for y in b] for x in a]
  np.testing.assert_allclose(grid, expected, rtol=1e-5)


def test_unknown_uri_stays_a_member_without_path(mini_ontology):
  index, d = mini_ontology
  sets_a = [[es.PYTHON, UNKNOWN], [es.PYTHON], [UNKNOWN], [es.PYTHON, es.JAVA],
            [es.PYTHON, es.JAVA, UNKNOWN]]
  sets_b = [[es.PYTHON], [es.PYTHON], [UNKNOWN], [es.STATS], [es.STATS]]
  a = ss.pad_uri_sets(index, sets_a)
  b = ss.pad_uri_sets(index, sets_b)
  got = ss.set_similarity_pairs(d, *a, *b)
  e14, e28 = math.exp(-1.4), math.exp(-2.8)
  expected = [
      0.5 * ((1.0 + 0.0) / 2 + 1.0),   # the unknown URI adds 0 to dir(A→B)
      1.0,
      0.0,                             # an unknown URI matches nothing
      0.5 * ((e14 + e28) / 2 + e14),
      0.5 * ((e14 + e28 + 0.0) / 3 + e14),
  ]
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  assert got[0] < got[1]
  grid = ss.set_similarity_grid(d, *a, *b, chunk=2)
  np.testing.assert_allclose(np.diag(grid), expected, rtol=1e-6)
  np.testing.assert_allclose(grid, ss.set_similarity_grid(d, *b, *a).T,
                             rtol=1e-6)


@pytest.mark.parametrize("which", ["pairs", "grid"])
def test_unknown_members_match_plain_python(builtin_dist, which):
  rng = np.random.default_rng(4)
  s = builtin_dist.shape[0]
  a = _with_unknown(rng, [list(rng.integers(0, s, rng.integers(0, 12)))
                          for _ in range(40)], 0.3)
  b = _with_unknown(rng, [list(rng.integers(0, s, rng.integers(0, 7)))
                          for _ in range(40)], 0.3)
  assert sum(r == NO_ROW for x in a + b for r in x) > 50
  if which == "pairs":
    got = _pairs(builtin_dist, a, b, chunk=16)
    expected = [reference_similarity(builtin_dist, x, y)
                for x, y in zip(a, b)]
  else:
    got = ss.set_similarity_grid(builtin_dist, *ss.pad_skill_sets(a),
                                 *ss.pad_skill_sets(b), chunk=16)
    expected = [[reference_similarity(builtin_dist, x, y) for y in b]
                for x in a]
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_pad_uri_sets(mini_ontology):
  index, _ = mini_ontology
  idx, mask = ss.pad_uri_sets(index, [[es.JAVA, UNKNOWN, es.PYTHON], [],
                                      [UNKNOWN]])
  row = index.uri_to_row
  np.testing.assert_array_equal(
      idx, [[row[es.JAVA], NO_ROW, row[es.PYTHON]], [0, 0, 0],
            [NO_ROW, 0, 0]])
  np.testing.assert_array_equal(mask, [[1, 1, 1], [0, 0, 0], [1, 0, 0]])
  assert ss.pad_uri_sets(index, [[es.JAVA]], max_len=4)[0].shape == (1, 4)


def test_symmetric_and_duplicates_count(builtin_dist):
  a, b = [[3, 3, 40, 100]], [[40, 7]]
  np.testing.assert_allclose(_pairs(builtin_dist, a, b),
                             _pairs(builtin_dist, b, a))
  np.testing.assert_allclose(
      _pairs(builtin_dist, a, b),
      [reference_similarity(builtin_dist, a[0], b[0])], rtol=1e-6)


def test_empty_sets_score_zero(builtin_dist):
  got = _pairs(builtin_dist, [[], [1, 2], []], [[4], [], []])
  np.testing.assert_array_equal(got, [0.0, 0.0, 0.0])
  grid = ss.set_similarity_grid(builtin_dist, *ss.pad_skill_sets([[], [1]]),
                                *ss.pad_skill_sets([[], [1]]))
  np.testing.assert_array_equal(grid, [[0.0, 0.0], [0.0, 1.0]])


def test_no_pairs_and_no_jobs(builtin_dist):
  idx, mask = ss.pad_skill_sets([])
  assert idx.shape == (0, 1)
  assert _pairs(builtin_dist, [], []).shape == (0,)
  grid = ss.set_similarity_grid(builtin_dist, *ss.pad_skill_sets([[1], [2]]),
                                idx, mask)
  assert grid.shape == (2, 0)


def test_jax_and_numpy_distances_agree(builtin_dist):
  a, b = [[1, 2, 3], [50]], [[4], [60, 61]]
  np.testing.assert_array_equal(_pairs(builtin_dist, a, b),
                                _pairs(jnp.asarray(builtin_dist), a, b))


def test_pad_skill_sets():
  idx, mask = ss.pad_skill_sets([[5, 6], [], [7]])
  np.testing.assert_array_equal(idx, [[5, 6], [0, 0], [7, 0]])
  np.testing.assert_array_equal(mask, [[1, 1], [0, 0], [1, 0]])
  assert idx.dtype == np.int32 and mask.dtype == bool
  idx, _ = ss.pad_skill_sets([[1]], max_len=4)
  assert idx.shape == (1, 4)
  with pytest.raises(ValueError, match="skill set 1 has 3 skills"):
    ss.pad_skill_sets([[1], [1, 2, 3]], max_len=2)
  idx, mask = ss.pad_skill_sets([[NO_ROW, 2]])
  np.testing.assert_array_equal(idx, [[NO_ROW, 2]])
  with pytest.raises(ValueError, match="negative skill row in set 1"):
    ss.pad_skill_sets([[1], [-2]])


def test_rows_outside_the_matrix_raise(builtin_dist):
  s = builtin_dist.shape[0]
  with pytest.raises(ValueError, match=r"b_idx\[0, 1\] = %d" % s):
    _pairs(builtin_dist, [[0]], [[0, s]])
  with pytest.raises(ValueError, match=r"a_idx\[0, 0\] = -2"):
    ss.set_similarity_pairs(builtin_dist, np.array([[-2]], np.int32),
                            np.array([[True]]), *ss.pad_skill_sets([[0]]))
  # A masked-out padding entry may hold anything.
  idx = np.array([[0, 10**6]], np.int32)
  mask = np.array([[True, False]])
  ss.set_similarity_pairs(builtin_dist, idx, mask, idx, mask)


def test_similarity_table():
  table = np.asarray(ss.similarity_table(0.7))
  assert table.shape == (256,) and table[dl.NO_PATH] == 0.0
  np.testing.assert_allclose(table[[0, 2, 4]],
                             [1.0, math.exp(-1.4), math.exp(-2.8)], rtol=1e-6)


def _random_sets(rng, n, num_skills, longest):
  """Sets of 0…longest skill rows, some holding an unknown URI (NO_ROW)."""
  sets = []
  for _ in range(n):
    rows = list(rng.choice(num_skills, rng.integers(0, longest + 1)))
    if rows and rng.random() < 0.2:
      rows[0] = NO_ROW
    sets.append(rows)
  return ss.pad_skill_sets(sets)


def test_pool_similarity_matches_the_grid_and_finds_every_close_pair():
  rng = np.random.default_rng(5)
  # Distances 0–3 and no path, so that close pairs (d ≤ 1) exist.
  d = rng.choice([1, 2, 3, dl.NO_PATH], size=(40, 40)).astype(np.uint8)
  d = np.minimum(d, d.T)
  np.fill_diagonal(d, 0)
  a_idx, a_mask = _random_sets(rng, 30, 40, 5)
  b_idx, b_mask = _random_sets(rng, 50, 40, 4)
  want = np.asarray([[reference_similarity(
      d, [int(x) for x in a_idx[i][a_mask[i]]],
      [int(y) for y in b_idx[j][b_mask[j]]]) for j in range(50)]
                     for i in range(30)])
  sets = ss.PoolSimilarity(d, b_idx, b_mask).sets(a_idx, a_mask)
  np.testing.assert_allclose(sets.grid(), want, atol=1e-6)
  a_q, b_q = rng.integers(0, 30, 200), rng.integers(0, 50, 200)
  np.testing.assert_allclose(sets.pairs(a_q, b_q), want[a_q, b_q], atol=1e-6)
  for bound in (0.3, 0.4, 0.6):
    a_q, b_q, sim_q = sets.close_pairs(bound)
    found = set(zip(a_q.tolist(), b_q.tolist()))
    reaching = set(zip(*np.nonzero(want >= bound)))
    assert reaching and reaching <= found
    # The sparse bound leaves out most pairs that cannot reach it.
    assert len(found) < want.size / 2
    np.testing.assert_allclose(sim_q, want[a_q, b_q], atol=1e-6)
    assert (np.diff(a_q * 50 + b_q) > 0).all()  # row-major, no repeats
