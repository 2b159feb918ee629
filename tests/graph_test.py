"""Tests for the §4.2 ESCO graph."""

import collections
import logging

import networkx as nx
import numpy as np
import pytest

import esco_samples as es
from cacl_jax.data import builtin
from cacl_jax.ontology import esco_files as ef
from cacl_jax.ontology import graph


def _types(ontology):
  return collections.Counter(
      t for _, t in ontology.graph.nodes(data="type"))


def _kinds(ontology):
  return collections.Counter(
      k for _, _, k in ontology.graph.edges(data="kind"))


def test_sample_nodes_edges_and_types(tmp_path):
  o = graph.load_ontology(es.write_mini_esco(tmp_path))
  assert _types(o) == es.NODES_BY_TYPE
  assert _kinds(o) == es.EDGES_BY_KIND
  assert o.stats.nodes_by_type == es.NODES_BY_TYPE
  assert o.stats.edges_by_kind == es.EDGES_BY_KIND
  assert o.stats.num_nodes == o.graph.number_of_nodes() == 12
  assert o.stats.num_edges == o.graph.number_of_edges() == 10
  assert o.stats.implicit_nodes == 1   # GHOST
  assert o.stats.unmatched_isco_codes == 1   # cook's 5120
  g = o.graph
  assert g.nodes[es.GHOST]["type"] == "occupation"
  assert g.nodes[es.G0]["type"] == "skill"
  assert g.nodes[es.ISCED]["type"] == "other"
  assert g.nodes[es.G0]["label"] == "digital skills"
  assert g.number_of_edges(es.DEV, es.JAVA) == 2
  assert g.has_edge(es.DEV, f"{es.ESCO}/isco/C2512")
  assert g.has_edge(es.G0, es.ISCED) and not g.has_edge(es.ISCED, es.G0)


def _implicit_warnings(caplog):
  return [r.getMessage() for r in caplog.records
          if r.name == "absl" and "implicit" in r.getMessage()]


def test_relation_rows_naming_absent_nodes_are_logged(tmp_path, caplog):
  unknown_a, unknown_b = f"{es.ESCO}/skill/unknown-a", f"{es.ESCO}/skill/b"
  rows = es.RELATION_ROWS + [[es.DEV, "optional", "", unknown_a],
                             [es.DS, "optional", "", unknown_b],
                             [es.COOK, "optional", "", unknown_a]]
  folder = es.write_mini_esco(tmp_path, relation_rows=rows)
  with caplog.at_level(logging.WARNING):
    o = graph.load_ontology(folder)
  assert o.stats.implicit_nodes == 3
  path = folder / "occupationSkillRelations.csv"
  assert _implicit_warnings(caplog) == [
      f"{path}: 1 relation row(s) name 1 occupation(s) absent from "
      f"occupations_en.csv (implicit occupation nodes), e.g. line 8: "
      f"{es.GHOST}",
      f"{path}: 3 relation row(s) name 2 skill(s) absent from skills_en.csv "
      f"and skillsHierarchy_en.csv (implicit skill nodes), e.g. line 9: "
      f"{unknown_a}; line 10: {unknown_b}",
  ]


def test_header_only_skills_file_is_refused(tmp_path):
  folder = es.write_mini_esco(tmp_path)
  path = folder / "skills_en.csv"
  path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n",
                  encoding="utf-8")
  with pytest.raises(ef.EscoFileError) as e:
    graph.load_ontology(folder)
  assert str(e.value) == f"{path}: has no skill rows (only a header)"


def test_skill_rows_and_nodes_agree(tmp_path):
  o = graph.load_ontology(es.write_mini_esco(tmp_path))
  index = o.skill_index
  assert index.row_to_uri == tuple(sorted(
      [es.PYTHON, es.JAVA, es.STATS, es.COOKING, es.G0]))
  for row, uri in enumerate(index.row_to_uri):
    assert o.node_uris[o.skill_nodes_S[row]] == uri
  assert index.lookup_name("digital skills") == es.G0


def test_undirected_adjacency_matches_networkx(tmp_path):
  o = graph.load_ontology(es.write_mini_esco(tmp_path))
  adj = o.undirected_adjacency()
  expected = nx.to_scipy_sparse_array(
      nx.Graph(o.graph.to_undirected()), nodelist=list(o.node_uris))
  assert (adj != (expected > 0)).nnz == 0
  assert adj.dtype == np.int8 and (adj != adj.T).nnz == 0


def test_missing_required_file_is_a_clear_error(tmp_path):
  folder = es.write_mini_esco(tmp_path)
  (folder / "occupationSkillRelations.csv").unlink()
  with pytest.raises(ef.EscoFileError, match="occupationSkillRelations"):
    graph.load_ontology(folder)


def test_missing_optional_files_still_load(tmp_path):
  folder = es.write_mini_esco(tmp_path)
  (folder / "ISCOGroups_en.csv").unlink()
  (folder / "skillsHierarchy_en.csv").unlink()
  o = graph.load_ontology(folder)
  assert o.stats.nodes_by_type == {"skill": 4, "occupation": 4, "isco": 0,
                                   "other": 0}
  assert o.stats.unmatched_isco_codes == 3
  assert o.stats.num_edges == len(es.RELATION_ROWS)


def test_empty_required_value_names_line(tmp_path):
  folder = es.write_mini_esco(tmp_path)
  path = folder / "occupationSkillRelations.csv"
  text = path.read_text(encoding="utf-8").splitlines()
  text[3] = "," + text[3].split(",", 1)[1]
  path.write_text("\n".join(text) + "\n", encoding="utf-8")
  with pytest.raises(ef.EscoFileError,
                     match=f"{path}:4: column 'occupationUri'"):
    graph.load_ontology(folder)


def test_builtin_ontology_loads(caplog):
  with caplog.at_level(logging.WARNING):
    o = graph.load_ontology(builtin.builtin_esco_dir())
  assert _implicit_warnings(caplog) == []
  assert o.stats.num_nodes == o.graph.number_of_nodes() > 0
  assert o.stats.num_edges == o.graph.number_of_edges() > 0
  assert o.stats.nodes_by_type["skill"] == len(o.skill_index) > 100
  assert o.stats.nodes_by_type["occupation"] >= 20
  assert o.stats.unmatched_isco_codes == 0 and o.stats.implicit_nodes == 0


@pytest.mark.parametrize("version,nodes,edges,by_type,implicit", [
    ("v1.2.0", 18_237, 132_679,
     {"skill": 14_359, "occupation": 3_039, "isco": 619, "other": 220}, []),
    # One occupation that only occupationSkillRelations.csv names.
    ("v1.1.1", 18_170, 127_505,
     {"skill": 14_323, "occupation": 3_008, "isco": 619, "other": 220},
     ["67 relation row(s) name 1 occupation(s) absent from occupations_en.csv"
      " (implicit occupation nodes), e.g. line 84425: http://data.europa.eu/"
      "esco/occupation/a9e54177-a185-404d-b6e6-15663d31137e"]),
])
def test_real_esco_counts(esco_root, caplog, version, nodes, edges, by_type,
                          implicit):
  with caplog.at_level(logging.WARNING):
    o = graph.load_ontology(esco_root / version)
  path = o.files.path(ef.RELATIONS)
  assert _implicit_warnings(caplog) == [f"{path}: {m}" for m in implicit]
  assert o.graph.number_of_nodes() == nodes
  assert o.graph.number_of_edges() == edges
  assert _types(o) == by_type
  assert len(o.skill_index) == by_type["skill"]
  assert len(o.edges_Ex2) == edges
