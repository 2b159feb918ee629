"""Tests for the ontology metrics of URI-list pairs (§4.4, §4.5)."""

import math

import numpy as np
import ot
import pytest

import esco_samples as es
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import pair_metrics
from cacl_jax.ontology import graph
from cacl_jax.ontology import ot_distance as od

UNKNOWN = "http://example.org/skill/not-in-esco"


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
  o = graph.load_ontology(es.write_mini_esco(tmp_path_factory.mktemp("e")))
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)
  return o.skill_index, d


def _pot_exact(cost):
  n, m = cost.shape
  return ot.sinkhorn2(np.full(n, 1 / n), np.full(m, 1 / m), cost, od.EPSILON,
                      numItermax=20_000, stopThr=1e-12)


def test_scores_with_unknown_uris_by_hand_and_pot(mini):
  index, d = mini
  resume = [[es.PYTHON, es.JAVA], [es.COOKING, UNKNOWN], [UNKNOWN],
            [es.PYTHON, UNKNOWN]]
  job = [[es.STATS], [es.COOKING], [es.PYTHON], [es.PYTHON, es.JAVA]]
  sims, ots, converged = pair_metrics.score_uri_pairs(index, d, resume, job)
  e14, e28 = math.exp(-1.4), math.exp(-2.8)
  np.testing.assert_allclose(sims, [
      0.5 * ((e14 + e28) / 2 + e14),
      0.5 * ((1.0 + 0.0) / 2 + 1.0),
      0.0,
      # dir(R→J) = (1 + 0) / 2; dir(J→R) = (1 + e^-1.4) / 2.
      0.5 * (0.5 + (1.0 + e14) / 2),
  ], rtol=1e-6)
  # Costs: d(Python, statistics) = 2, d(Java, statistics) = 4; 10 for an
  # unknown URI or no path.
  costs = [np.array([[2.0], [4.0]]), np.array([[0.0], [10.0]]),
           np.array([[10.0]]), np.array([[0.0, 2.0], [10.0, 10.0]])]
  np.testing.assert_allclose(ots, [_pot_exact(c) for c in costs], rtol=1e-5)
  np.testing.assert_allclose(ots[:3], [3.0, 5.0, 10.0], atol=1e-5)
  assert converged.all()
  assert sims.dtype == ots.dtype == np.float32 and converged.dtype == bool


def test_chunks_do_not_change_the_scores(mini):
  index, d = mini
  uris = [es.PYTHON, es.JAVA, es.STATS, es.COOKING, UNKNOWN]
  rng = np.random.default_rng(0)
  resume = [list(rng.choice(uris, rng.integers(1, 4))) for _ in range(9)]
  job = [list(rng.choice(uris, rng.integers(1, 4))) for _ in range(9)]
  whole = pair_metrics.score_uri_pairs(index, d, resume, job)
  chunked = pair_metrics.score_uri_pairs(index, d, resume, job, chunk=2)
  for x, y in zip(whole, chunked):
    np.testing.assert_array_equal(x, y)


def test_no_pairs(mini):
  index, d = mini
  sims, ots, converged = pair_metrics.score_uri_pairs(index, d, [], [])
  assert sims.shape == ots.shape == converged.shape == (0,)


def test_bad_arguments(mini):
  index, d = mini
  with pytest.raises(ValueError, match=r"distances \(3, 3\) do not match "
                                       r"the 5 skills"):
    pair_metrics.score_uri_pairs(index, np.zeros((3, 3), np.uint8), [], [])
  with pytest.raises(ValueError, match="2 resume URI lists but 1 job"):
    pair_metrics.score_uri_pairs(index, d, [[es.JAVA], [es.JAVA]], [[es.JAVA]])
