"""Tests for pair explanations against networkx paths, POT plans and
brute-force Python over the built-in demo ontology."""

import json

import networkx as nx
import numpy as np
import ot
import pytest

from cacl_jax.data import builtin
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph
from cacl_jax.ontology import ot_distance as od
from cacl_jax.ontology import pair_metrics
from cacl_jax.serving import explain as ex

UNKNOWN = "http://example.org/skill/not-in-esco"


@pytest.fixture(scope="module")
def onto():
  return graph.load_ontology(builtin.builtin_esco_dir())


@pytest.fixture(scope="module")
def dist(onto):
  return dl.skill_distance_matrix(onto.undirected_adjacency(),
                                  onto.skill_nodes_S)


@pytest.fixture(scope="module")
def hops_nx(onto):
  """hops(u, v): networkx shortest-path length on the undirected graph,
  None when there is no path or a URI is not a skill of the ontology."""
  lengths = dict(nx.all_pairs_shortest_path_length(
      nx.Graph(onto.graph.to_undirected())))
  skills = onto.skill_index.uri_to_row
  return lambda u, v: (lengths[u].get(v) if u in skills and v in skills
                       else None)


def _uri(onto, label):
  return onto.skill_index.lookup_name(label)


def _pot_plan(hops, r, j):
  """POT's Sinkhorn plan with the §4.5 settings (ε = 0.4 absolute, uniform
  weights, cost = hops or 10), on the lists as given."""
  cost = np.array([[od.NO_PATH_COST if hops(u, v) is None else hops(u, v)
                    for v in j] for u in r], np.float64)
  return ot.sinkhorn(np.full(len(r), 1 / len(r)), np.full(len(j), 1 / len(j)),
                     cost, od.EPSILON, numItermax=od.MAX_ITERATIONS,
                     stopThr=od.THRESHOLD)


def _reference(hops, r, j, max_hops=ex.MAX_HOPS):
  """Brute force: the POT plan merged per URI pair, the shares of the pairs
  within `max_hops`, and the missing job skills."""
  plan = _pot_plan(hops, r, j) if r and j else np.zeros((len(r), len(j)))
  mass, column = {}, {}
  for a, u in enumerate(r):
    for b, v in enumerate(j):
      mass[u, v] = mass.get((u, v), 0.0) + plan[a, b]
      column[v] = column.get(v, 0.0) + plan[a, b]
  close = {(u, v) for u in r for v in j
           if hops(u, v) is not None and hops(u, v) <= max_hops}
  share = {key: mass[key] / column[key[1]] for key in close}
  missing = [v for v in dict.fromkeys(j)
             if not any(hops(u, v) is not None and hops(u, v) <= max_hops
                        for u in r)]
  return mass, share, missing


def _related_reference(onto, hops, r, j, matched_resume, related_hops):
  """Other relevant resume skills given the resume skills listed as
  matched: (resume URI, nearest job URI, hops) in the documented order."""
  out = []
  for u in dict.fromkeys(r):
    if u not in onto.skill_index.uri_to_row or u in matched_resume:
      continue
    near = [(hops(u, v), b) for b, v in enumerate(j) if hops(u, v) is not None]
    if near and min(near)[0] <= related_hops:
      h, b = min(near)
      out.append((h, r.index(u), u, j[b]))
  return [(u, v, h) for h, _, u, v in sorted(out)]


def _check_against_reference(onto, hops, e, r, j):
  mass, share, missing = _reference(hops, r, j)
  listed = {(m.resume_skill.uri, m.job_skill.uri): m for m in e.matched}
  assert len(listed) == len(e.matched)   # each pair once
  for key, s in share.items():
    if s >= ex.MIN_SHARE + 1e-4:
      assert key in listed, (key, s)
    elif s <= ex.MIN_SHARE - 1e-4:
      assert key not in listed, (key, s)
  for key, m in listed.items():
    assert key in share   # within max_hops, both URIs known
    assert m.hops == hops(*key)
    np.testing.assert_allclose(m.mass, mass[key], atol=1e-4)
    np.testing.assert_allclose(m.share, share[key], atol=1e-3)
  # Mass descending (as rounded), then hops, job position, resume position.
  order = [(-m.mass, m.hops, j.index(m.job_skill.uri),
            r.index(m.resume_skill.uri)) for m in e.matched]
  assert order == sorted(order)
  assert [s.uri for s in e.missing] == missing
  related = _related_reference(onto, hops, r, j,
                               {m.resume_skill.uri for m in e.matched},
                               ex.RELATED_HOPS)
  assert [(x.resume_skill.uri, x.nearest_job_skill.uri, x.hops)
          for x in e.other_relevant] == related
  for ref in (list(e.missing)
              + [m.resume_skill for m in e.matched]
              + [m.job_skill for m in e.matched]
              + [x.resume_skill for x in e.other_relevant]):
    expected = (onto.graph.nodes[ref.uri]["label"]
                if ref.uri in onto.skill_index.uri_to_row else "")
    assert ref.label == expected


def _random_lists(onto, rng, count, low, high, unknown_share=0.0,
                  repeat_share=0.0):
  """`count` URI lists of low..high skills; about `unknown_share` of the
  members are URIs the ontology lacks, and about `repeat_share` of the
  lists repeat their first URI at the end."""
  uris = onto.skill_index.row_to_uri
  out = []
  for _ in range(count):
    lst = [uris[i] for i in rng.integers(0, len(uris),
                                         rng.integers(low, high + 1))]
    lst = [UNKNOWN + str(i) if rng.random() < unknown_share else u
           for i, u in enumerate(lst)]
    if lst and rng.random() < repeat_share:
      lst.append(lst[0])
    out.append(lst)
  return out


def test_hand_built_pair_by_hand(onto, dist, hops_nx):
  py, java, ml, tune, payroll, menus = (_uri(onto, label) for label in (
      "Python programming", "Java programming", "machine learning",
      "tune database performance", "manage payroll", "plan menus"))
  # Paths read off the graph: Python and Java share software developer;
  # tune database performance (database administrator) and machine
  # learning (data scientist) reach Java through a second occupation;
  # payroll (bookkeeping) is 4 from Python, 6 from the others; plan menus
  # (kitchen) is not connected to any of them.
  assert [hops_nx(py, v) for v in (java, payroll, menus)] == [2, 4, None]
  assert [hops_nx(tune, v) for v in (java, payroll, menus)] == [4, 6, None]
  assert [hops_nx(ml, v) for v in (java, payroll, menus)] == [4, 6, None]
  r, j = [py, tune, ml], [java, payroll, menus, UNKNOWN]
  e = ex.explain(onto, dist, r, j)
  assert [(m.resume_skill.label, m.job_skill.label, m.hops)
          for m in e.matched] == [("Python programming", "Java programming",
                                   2)]
  assert [(s.label, s.uri) for s in e.missing] == [
      ("manage payroll", payroll), ("plan menus", menus), ("", UNKNOWN)]
  assert [(x.resume_skill.label, x.nearest_job_skill.label, x.hops)
          for x in e.other_relevant] == [
              ("tune database performance", "Java programming", 4),
              ("machine learning", "Java programming", 4)]
  _check_against_reference(onto, hops_nx, e, r, j)


def test_exact_skill_takes_the_mass(onto, dist, hops_nx):
  py, menus, dishes = (_uri(onto, label) for label in (
      "Python programming", "plan menus", "present dishes"))
  assert hops_nx(menus, dishes) == 2 and hops_nx(py, dishes) is None
  e = ex.explain(onto, dist, [menus, py], [py, dishes])
  # The plan is the identity matching (the crossing costs 10): each job
  # skill gets its whole 1/2 from one resume skill; equal masses, so the
  # exact match (0 hops) comes first.
  assert [(m.resume_skill.uri, m.job_skill.uri, m.hops)
          for m in e.matched] == [(py, py, 0), (menus, dishes, 2)]
  for m in e.matched:
    np.testing.assert_allclose([m.mass, m.share], [0.5, 1.0], atol=1e-6)
  assert e.missing == () and e.other_relevant == ()
  one = ex.explain(onto, dist, [py], [py])
  assert one.matched[0].hops == 0 and one.matched[0].mass == 1.0
  assert one.ontology_similarity == pytest.approx(1.0)
  assert one.ot_distance == pytest.approx(0.0, abs=1e-6)


def test_job_skill_can_be_neither_matched_nor_missing(onto, dist, hops_nx):
  labels = ("take site measurements", "procurement",
            "manage classroom behaviour", "maintain patient records",
            "coordinate subcontractors")
  tsm, procure, classroom, records, subcontract = (_uri(onto, label)
                                                   for label in labels)
  r, j = [tsm, procure, classroom], [tsm, records, subcontract]
  # take site measurements is 2 hops from coordinate subcontractors (the
  # construction site supervisor needs both), but its 1/3 of the mass goes
  # mostly to the identical job skill: it brings coordinate subcontractors
  # 7.6 % of that skill's mass, the rest comes from unconnected skills.
  assert hops_nx(tsm, subcontract) == 2
  plan = _pot_plan(hops_nx, r, j)
  np.testing.assert_allclose(plan[0, 2] / plan[:, 2].sum(), 0.0759, atol=1e-4)
  e = ex.explain(onto, dist, r, j)
  assert [(m.resume_skill.uri, m.job_skill.uri) for m in e.matched] == [
      (tsm, tsm)]
  assert [s.uri for s in e.missing] == [records]
  _check_against_reference(onto, hops_nx, e, r, j)


def test_repeated_uris_are_merged(onto, dist):
  py, sql = _uri(onto, "Python programming"), _uri(onto, "SQL")
  e = ex.explain(onto, dist, [py, sql, py], [py, py])
  # One job skill receives everything: 2/3 from Python, 1/3 from SQL (2 hops).
  assert [(m.resume_skill.uri, m.job_skill.uri, m.hops)
          for m in e.matched] == [(py, py, 0), (sql, py, 2)]
  np.testing.assert_allclose([m.mass for m in e.matched], [2 / 3, 1 / 3],
                             atol=1e-6)
  np.testing.assert_allclose([m.share for m in e.matched], [2 / 3, 1 / 3],
                             atol=1e-6)
  np.testing.assert_allclose(e.ot_distance, 2 / 3, atol=1e-5)


def test_random_pairs_match_brute_force_and_pot(onto, dist, hops_nx):
  rng = np.random.default_rng(0)
  r = _random_lists(onto, rng, 60, 1, 15, unknown_share=0.1, repeat_share=0.3)
  j = _random_lists(onto, rng, 60, 1, 15, unknown_share=0.1, repeat_share=0.3)
  out = ex.explain_pairs(onto, dist, r, j, chunk=16)
  assert sum(len(e.matched) for e in out) > 60
  assert sum(len(e.other_relevant) for e in out) > 30
  assert sum(len(e.missing) for e in out) > 60
  for e, x, y in zip(out, r, j):
    _check_against_reference(onto, hops_nx, e, x, y)


def test_metrics_equal_score_uri_pairs(onto, dist):
  rng = np.random.default_rng(1)
  r = _random_lists(onto, rng, 200, 0, 30, unknown_share=0.2)
  j = _random_lists(onto, rng, 200, 0, 30, unknown_share=0.2)
  r[0], j[1] = [UNKNOWN], [UNKNOWN, UNKNOWN + "2"]
  sims, ots, converged = pair_metrics.score_uri_pairs(onto.skill_index, dist,
                                                      r, j)
  out = ex.explain_pairs(onto, dist, r, j)
  known = onto.skill_index.uri_to_row
  scored = [any(u in known for u in x) and any(v in known for v in y)
            for x, y in zip(r, j)]
  assert 0 < sum(scored) < 200
  for e, sim, cost, conv, ok in zip(out, sims, ots, converged, scored):
    assert e.ot_converged == conv
    if ok:
      # Rounded to 6 decimals, as enrichment stores them; the sets are
      # padded to other widths: float32 rounding apart, which 200 Sinkhorn
      # steps carry to ~2e-6 of the cost.
      np.testing.assert_allclose(e.ontology_similarity, sim, atol=6e-7)
      np.testing.assert_allclose(e.ot_distance, cost, rtol=1e-5, atol=5e-7)
    else:   # a side without a known URI: None, as enrichment stores it
      assert e.ontology_similarity is None and e.ot_distance is None


def test_unknown_uris(onto, dist):
  py = _uri(onto, "Python programming")
  e = ex.explain(onto, dist, [UNKNOWN, py], [UNKNOWN, py])
  # The same unknown URI on both sides is no match and is missing.
  assert [(m.resume_skill.uri, m.job_skill.uri) for m in e.matched] == [
      (py, py)]
  assert e.missing == (ex.SkillRef(UNKNOWN, ""),)
  assert e.other_relevant == ()
  # Half the resume mass sits on the unknown URI and must go to the job's
  # only skill: Python's share of it is 1/2.
  half = ex.explain(onto, dist, [UNKNOWN, py], [py])
  assert [(m.hops, m.mass, m.share) for m in half.matched] == [(0, 0.5, 0.5)]
  only = ex.explain(onto, dist, [UNKNOWN], [py])
  assert (only.ontology_similarity, only.ot_distance) == (None, None)
  assert only.matched == ()
  assert only.missing == (ex.SkillRef(py, "Python programming"),)


def test_empty_sides(onto, dist):
  py, java = _uri(onto, "Python programming"), _uri(onto, "Java programming")
  out = ex.explain_pairs(onto, dist, [[], [py], [], [py]],
                         [[py, java], [], [], [java]])
  for e in out[:3]:
    assert e.ontology_similarity is None and e.ot_distance is None
    assert e.ot_converged and e.matched == () and e.other_relevant == ()
  assert [s.uri for s in out[0].missing] == [py, java]
  assert out[1].missing == () and out[2].missing == ()
  assert [(m.hops, m.mass) for m in out[3].matched] == [(2, 1.0)]
  assert ex.explain_pairs(onto, dist, [], []) == []


def _without_floats(e):
  """to_json() less the float fields (compared with a tolerance)."""
  d = e.to_json()
  return {**d, "ontology_similarity": None, "ot_distance": None,
          "matched": [{k: v for k, v in m.items() if k not in ("mass", "share")}
                      for m in d["matched"]]}


def _floats(e):
  return np.array([[m.mass, m.share] for m in e.matched]).reshape(-1, 2)


def test_batched_equals_one_by_one(onto, dist):
  rng = np.random.default_rng(2)
  r = _random_lists(onto, rng, 40, 0, 20, unknown_share=0.1, repeat_share=0.2)
  j = _random_lists(onto, rng, 40, 0, 20, unknown_share=0.1, repeat_share=0.2)
  batched = ex.explain_pairs(onto, dist, r, j, chunk=16)
  assert len({len(x) for x in r}) > 10   # one-by-one pads to other widths
  for e, x, y in zip(batched, r, j):
    one = ex.explain(onto, dist, x, y)
    assert _without_floats(e) == _without_floats(one)
    np.testing.assert_allclose(_floats(e), _floats(one), atol=1e-6)
    if e.ot_distance is not None:
      np.testing.assert_allclose(e.ontology_similarity,
                                 one.ontology_similarity, atol=1e-6)
      np.testing.assert_allclose(e.ot_distance, one.ot_distance, rtol=1e-5,
                                 atol=1e-6)


def test_to_json_is_plain(onto, dist):
  py, java = _uri(onto, "Python programming"), _uri(onto, "Java programming")
  e = ex.explain(onto, dist, [py, _uri(onto, "SQL")], [java, UNKNOWN])
  got = json.loads(json.dumps(e.to_json()))
  assert got == e.to_json()
  assert set(got) == {"ontology_similarity", "ot_distance", "ot_converged",
                      "matched", "missing", "other_relevant", "max_hops",
                      "related_hops"}
  assert set(got["matched"][0]) == {"resume_skill", "job_skill", "hops",
                                    "mass", "share"}
  assert got["matched"][0]["job_skill"] == {"uri": java,
                                            "label": "Java programming"}
  assert got["missing"] == [{"uri": UNKNOWN, "label": ""}]


def test_hop_limits_are_arguments(onto, dist):
  py, java, payroll = (_uri(onto, label) for label in (
      "Python programming", "Java programming", "manage payroll"))
  strict = ex.explain(onto, dist, [py], [java, payroll], max_hops=0,
                      related_hops=2)
  assert strict.matched == ()
  assert [s.uri for s in strict.missing] == [java, payroll]
  assert [(x.nearest_job_skill.uri, x.hops)
          for x in strict.other_relevant] == [(java, 2)]
  loose = ex.explain(onto, dist, [py], [java, payroll], max_hops=4)
  assert [(m.job_skill.uri, m.hops) for m in loose.matched] == [
      (java, 2), (payroll, 4)]


def test_bad_arguments(onto, dist):
  with pytest.raises(ValueError, match="do not match"):
    ex.explain_pairs(onto, dist[:5, :5], [[]], [[]])
  with pytest.raises(ValueError, match="1 resume URI lists but 2"):
    ex.explain_pairs(onto, dist, [[]], [[], []])
  with pytest.raises(ValueError, match="max_hops=-1"):
    ex.explain(onto, dist, [], [], max_hops=-1)
