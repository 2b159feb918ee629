"""Tests for the Sinkhorn OT distance (§4.5) against POT."""

import jax
import numpy as np
import ot
from ott.geometry import geometry
from ott.problems.linear import linear_problem
from ott.solvers.linear import sinkhorn
import pytest

import esco_samples as es
from cacl_jax.data import builtin
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph
from cacl_jax.ontology import ot_distance as od
from cacl_jax.ontology import set_similarity as ss
from cacl_jax.ontology.skill_index import NO_ROW


@pytest.fixture(scope="module")
def builtin_dist():
  o = graph.load_ontology(builtin.builtin_esco_dir())
  return dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)


def _synthetic_dist(n, seed):
  rng = np.random.default_rng(seed)
  d = rng.choice([2, 4, 6, dl.NO_PATH], size=(n, n),
                 p=[0.3, 0.4, 0.2, 0.1]).astype(np.uint8)
  d = np.triu(d, 1)
  d = d + d.T
  np.fill_diagonal(d, 0)
  return d


def _cost(dist, a, b):
  """§4.5 costs in float64; NO_ROW members (unknown URIs) cost 10 to all."""
  a, b = np.asarray(a, int), np.asarray(b, int)
  c = dist[np.ix_(np.maximum(a, 0), np.maximum(b, 0))].astype(np.float64)
  c[(c == dl.NO_PATH) | (a[:, None] == NO_ROW) | (b[None, :] == NO_ROW)] = (
      od.NO_PATH_COST)
  return c


def _pot(dist, a, b, **kw):
  """POT's Sinkhorn transport cost and plan with uniform weights."""
  c = _cost(dist, a, b)
  wa, wb = np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b))
  return (ot.sinkhorn2(wa, wb, c, od.EPSILON, **kw),
          ot.sinkhorn(wa, wb, c, od.EPSILON, **kw))


def _random_sets(rng, n_skills, count, max_size, unknown_share=0.0):
  """Random row sets; about `unknown_share` of the members are NO_ROW."""
  sets = [list(rng.integers(0, n_skills, rng.integers(1, max_size + 1)))
          for _ in range(count)]
  return [[NO_ROW if rng.random() < unknown_share else r for r in s]
          for s in sets]


def _marginal_error64(plan, a, b):
  """|P·1 − p|₁ + |Pᵀ·1 − q|₁ of each plan, in float64, uniform p and q."""
  plan = plan.astype(np.float64)
  return np.array([
      np.abs(plan[i, :len(x)].sum(1) - 1 / len(x)).sum()
      + np.abs(plan[i, :, :len(y)].sum(0) - 1 / len(y)).sum()
      for i, (x, y) in enumerate(zip(a, b))])


@jax.jit
def _stock_ott_converged(cost_NxKxL, a_NxK, b_NxL):
  """ott's own converged flag: stock Geometry, threshold 1e-6, 200 steps."""
  solver = sinkhorn.Sinkhorn(threshold=od.THRESHOLD,
                             max_iterations=od.MAX_ITERATIONS,
                             min_iterations=od.MAX_ITERATIONS)

  def one(cost, a, b):
    geom = geometry.Geometry(cost_matrix=cost, epsilon=od.EPSILON)
    return solver(linear_problem.LinearProblem(geom, a=a, b=b)).converged
  return jax.vmap(one)(cost_NxKxL, a_NxK, b_NxL)


@pytest.mark.parametrize("which", ["builtin", "synthetic"])
def test_agrees_with_pot_on_sets_of_size_1_to_40(builtin_dist, which):
  dist = builtin_dist if which == "builtin" else _synthetic_dist(300, seed=4)
  rng = np.random.default_rng(5)
  a = _random_sets(rng, dist.shape[0], 100, 40)
  b = _random_sets(rng, dist.shape[0], 100, 40)
  a[0], b[0] = [7], [9]   # 1 × 1
  got, plan, converged = od.ot_distance_pairs(
      dist, *ss.pad_skill_sets(a, 40), *ss.pad_skill_sets(b, 40))
  assert got.shape == (100,) and plan.shape == (100, 40, 40)
  assert np.isfinite(got).all() and np.isfinite(plan).all()
  # Random sets over sparse, partly disconnected graphs are hard cases: some
  # need more than 200 iterations, and say so through `converged`.
  assert converged.mean() > 0.5
  for i, (x, y) in enumerate(zip(a, b)):
    # The same settings: ε = 0.4, threshold 1e-6, at most 200 iterations.
    same_settings, _ = _pot(dist, x, y, numItermax=200, stopThr=1e-6)
    np.testing.assert_allclose(got[i], same_settings, rtol=1e-4)
    if converged[i]:
      # Converged (marginals within TOLERANCE): cost and plan close to the
      # float64 optimum.
      exact, exact_plan = _pot(dist, x, y, numItermax=20_000, stopThr=1e-12)
      np.testing.assert_allclose(got[i], exact, rtol=1e-4)
      np.testing.assert_allclose(plan[i, :len(x), :len(y)], exact_plan,
                                 atol=od.TOLERANCE)


def test_unknown_members_cost_ten_like_pot(builtin_dist):
  rng = np.random.default_rng(10)
  s = builtin_dist.shape[0]
  a = _random_sets(rng, s, 60, 12, unknown_share=0.3)
  b = _random_sets(rng, s, 60, 12, unknown_share=0.3)
  assert sum(r == NO_ROW for x in a + b for r in x) > 100
  got, plan, converged = od.ot_distance_pairs(
      builtin_dist, *ss.pad_skill_sets(a, 12), *ss.pad_skill_sets(b, 12))
  assert converged.mean() > 0.5
  for i, (x, y) in enumerate(zip(a, b)):
    same_settings, _ = _pot(builtin_dist, x, y, numItermax=200, stopThr=1e-6)
    np.testing.assert_allclose(got[i], same_settings, rtol=1e-4)
    if converged[i]:
      exact, exact_plan = _pot(builtin_dist, x, y, numItermax=20_000,
                               stopThr=1e-12)
      np.testing.assert_allclose(got[i], exact, rtol=1e-4)
      # Unknown members keep their 1/n (1/m) of the mass.
      np.testing.assert_allclose(plan[i, :len(x), :len(y)].sum(1),
                                 exact_plan.sum(1), atol=1e-4)


def test_unknown_member_by_hand(tmp_path):
  o = graph.load_ontology(es.write_mini_esco(tmp_path))
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)
  py = o.skill_index.uri_to_row[es.PYTHON]
  got, plan, converged = od.ot_distance_pairs(
      d, *ss.pad_skill_sets([[py, NO_ROW], [py], [NO_ROW]]),
      *ss.pad_skill_sets([[py], [py], [NO_ROW]]))
  # Half the mass sits on the unknown URI and must move at cost 10: 0.5 · 10.
  np.testing.assert_allclose(got, [5.0, 0.0, od.NO_PATH_COST], atol=1e-5)
  np.testing.assert_allclose(plan[0], [[0.5], [0.5]], atol=1e-6)
  assert converged.all()


def test_converged_counts_plans_within_tolerance_not_otts_flag(builtin_dist):
  rng = np.random.default_rng(5)
  s = builtin_dist.shape[0]
  a, b = _random_sets(rng, s, 100, 40), _random_sets(rng, s, 100, 40)
  a_idx, a_mask = ss.pad_skill_sets(a, 40)
  b_idx, b_mask = ss.pad_skill_sets(b, 40)
  got, plan, converged = od.ot_distance_pairs(builtin_dist, a_idx, a_mask,
                                              b_idx, b_mask)
  error = _marginal_error64(plan, a, b)
  near = np.abs(error - od.TOLERANCE) < 1e-6   # float32 vs float64 sums
  np.testing.assert_array_equal(converged[~near],
                                error[~near] <= od.TOLERANCE)
  ott_flag = np.asarray(_stock_ott_converged(
      od.cost_matrices(builtin_dist, a_idx, b_idx),
      a_mask / a_mask.sum(1, keepdims=True),
      b_mask / b_mask.sum(1, keepdims=True)))
  # Every pair ott accepts is accepted; many that ott flags (float32 keeps
  # their marginal error near 1e-6) are within tolerance and accepted too.
  assert converged[ott_flag].all()
  rescued = np.flatnonzero(converged & ~ott_flag)
  assert len(rescued) >= 5
  for i in rescued:
    exact, _ = _pot(builtin_dist, a[i], b[i], numItermax=20_000,
                    stopThr=1e-12)
    np.testing.assert_allclose(got[i], exact, rtol=1e-4)


def test_truncated_solve_is_not_converged():
  # Costs [[2, 4], [2, 0]]: Sinkhorn at ε = 0.4 needs ~600 iterations.
  dist = np.array([[0, 2, 2, 4], [2, 0, 2, 0], [2, 2, 0, 2], [4, 0, 2, 0]],
                  np.uint8)
  args = (dist, *ss.pad_skill_sets([[0, 1]]), *ss.pad_skill_sets([[2, 3]]))
  exact, _ = _pot(dist, [0, 1], [2, 3], numItermax=20_000, stopThr=1e-12)
  for iterations, expected in ((10, False), (200, False), (1000, True)):
    got, plan, converged = od.ot_distance_pairs(*args,
                                                max_iterations=iterations)
    error = _marginal_error64(plan, [[0, 1]], [[2, 3]])[0]
    assert bool(converged[0]) == expected, (iterations, error)
    assert (error <= od.TOLERANCE) == expected
  few, _, _ = od.ot_distance_pairs(*args, max_iterations=10)
  assert abs(few[0] - exact) > 1e-3
  np.testing.assert_allclose(got, [exact], atol=1e-5)


def test_plan_marginals_and_zero_padding():
  dist = _synthetic_dist(50, seed=6)
  rng = np.random.default_rng(7)
  a = _random_sets(rng, 50, 20, 6)
  b = _random_sets(rng, 50, 20, 9)
  _, plan, converged = od.ot_distance_pairs(
      dist, *ss.pad_skill_sets(a, 6), *ss.pad_skill_sets(b, 9))
  assert converged.mean() > 0.8
  for i, (x, y) in enumerate(zip(a, b)):
    assert (plan[i, len(x):] == 0).all() and (plan[i, :, len(y):] == 0).all()
    if not converged[i]:
      continue
    np.testing.assert_allclose(plan[i].sum(1)[:len(x)], 1 / len(x), atol=2e-6)
    np.testing.assert_allclose(plan[i].sum(0)[:len(y)], 1 / len(y), atol=2e-6)


def test_spec_style_cases(tmp_path):
  o = graph.load_ontology(es.write_mini_esco(tmp_path))
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)
  row = o.skill_index.uri_to_row
  py, java, stats, cook = (row[es.PYTHON], row[es.JAVA], row[es.STATS],
                           row[es.COOKING])
  a = [[py], [py], [py], [py, java]]
  b = [[py], [java], [cook], [py, java]]
  got, plan, converged = od.ot_distance_pairs(
      d, *ss.pad_skill_sets(a, 2), *ss.pad_skill_sets(b, 2))
  assert converged.all()
  # One skill each: all mass moves along the single path.
  np.testing.assert_allclose(got[:3], [0.0, 2.0, od.NO_PATH_COST], atol=1e-6)
  np.testing.assert_allclose(plan[1], [[1.0, 0.0], [0.0, 0.0]], atol=1e-6)
  exact, _ = _pot(d, a[3], b[3], numItermax=20_000, stopThr=1e-12)
  np.testing.assert_allclose(got[3], exact, rtol=1e-5)
  assert 0 < got[3] < 0.1   # mostly the identity matching, blurred by ε
  # Greedy matching can reuse a skill, OT cannot (§4.5): {Python, Java}
  # against {Python, statistics} moves half the mass from Java.
  more, _, _ = od.ot_distance_pairs(
      d, *ss.pad_skill_sets([[py, java]]), *ss.pad_skill_sets([[py, stats]]))
  exact, _ = _pot(d, [py, java], [py, stats], numItermax=20_000,
                  stopThr=1e-12)
  np.testing.assert_allclose(more, [exact], rtol=1e-5)


def test_empty_sides_are_defined(builtin_dist):
  got, plan, converged = od.ot_distance_pairs(
      builtin_dist, *ss.pad_skill_sets([[], [3], [], [3]], 3),
      *ss.pad_skill_sets([[5], [], [], [3]], 3))
  np.testing.assert_allclose(got, [od.NO_PATH_COST] * 3 + [0.0], atol=1e-6)
  assert (plan[:3] == 0).all() and converged.all()
  assert np.isfinite(got).all() and np.isfinite(plan).all()


def test_all_pairs_unconnected():
  dist = np.full((4, 4), dl.NO_PATH, np.uint8)
  np.fill_diagonal(dist, 0)
  got, plan, converged = od.ot_distance_pairs(
      dist, *ss.pad_skill_sets([[0, 1]], 3), *ss.pad_skill_sets([[2, 3]], 3))
  np.testing.assert_allclose(got, [od.NO_PATH_COST], rtol=1e-5)
  np.testing.assert_allclose(plan[0, :2, :2], np.full((2, 2), 0.25),
                             atol=1e-6)
  assert converged.all()


def test_early_stop_gives_the_same_distances():
  dist = _synthetic_dist(80, seed=8)
  rng = np.random.default_rng(9)
  a, b = _random_sets(rng, 80, 30, 8), _random_sets(rng, 80, 30, 8)
  args = (dist, *ss.pad_skill_sets(a, 8), *ss.pad_skill_sets(b, 8))
  full, _, conv_full = od.ot_distance_pairs(*args)
  early, _, conv_early = od.ot_distance_pairs(*args, early_stop=True)
  np.testing.assert_allclose(early, full, rtol=1e-4)
  np.testing.assert_array_equal(conv_full, conv_early)


def test_cost_matrices():
  dist = np.array([[0, 2, 255], [2, 0, 4], [255, 4, 0]], np.uint8)
  cost = od.cost_matrices(dist, np.array([[0, 1, NO_ROW]]),
                          np.array([[2, 0, 1, NO_ROW]]))
  np.testing.assert_array_equal(cost, [[[10.0, 0.0, 2.0, 10.0],
                                        [4.0, 2.0, 0.0, 10.0],
                                        [10.0, 10.0, 10.0, 10.0]]])


def test_bad_arguments(builtin_dist):
  idx, mask = ss.pad_skill_sets([[1]])
  with pytest.raises(ValueError, match="multiple of 10"):
    od.ot_distance_pairs(builtin_dist, idx, mask, idx, mask,
                         max_iterations=205)
  with pytest.raises(ValueError, match="not a skill row"):
    od.ot_distance_pairs(builtin_dist, idx + 10**5, mask, idx, mask)


def test_plan_matches_pot_at_the_same_settings(builtin_dist):
  # Explanations read the plan itself: it must be POT's plan (same cost,
  # ε = 0.4 absolute, uniform marginals, 200 iterations), converged or not.
  rng = np.random.default_rng(11)
  s = builtin_dist.shape[0]
  a = _random_sets(rng, s, 100, 40, unknown_share=0.1)
  b = _random_sets(rng, s, 100, 40, unknown_share=0.1)
  got, plan, converged = od.ot_distance_pairs(
      builtin_dist, *ss.pad_skill_sets(a, 40), *ss.pad_skill_sets(b, 40))
  assert 0 < converged.sum() < 100
  for i, (x, y) in enumerate(zip(a, b)):
    _, pot_plan = _pot(builtin_dist, x, y, numItermax=200, stopThr=1e-6)
    mine = plan[i, :len(x), :len(y)]
    np.testing.assert_allclose(mine, pot_plan, atol=1e-4)
    np.testing.assert_allclose(mine.sum(1), pot_plan.sum(1), atol=1e-4)
    np.testing.assert_allclose(mine.sum(0), pot_plan.sum(0), atol=1e-4)
    np.testing.assert_allclose(
        got[i], (pot_plan * _cost(builtin_dist, x, y)).sum(), rtol=1e-4)
    if converged[i]:
      np.testing.assert_allclose(mine.sum(1), 1 / len(x), atol=1e-4)
      np.testing.assert_allclose(mine.sum(0), 1 / len(y), atol=1e-4)
