"""Consistency of the built-in demo ontology (cacl_jax/data/builtin_esco).

Reads the CSV files directly with the csv module, independently of the
project's readers, and builds the §4.2 graph with networkx.
"""

import collections
import csv
import itertools
import re
import uuid

import networkx as nx
import pytest

from cacl_jax.data import builtin

BASE = "http://data.europa.eu/esco"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Headers of the official ESCO v1.1.1 English export, by file stem.
ESCO_HEADERS = {
    "skills": "conceptType,conceptUri,skillType,reuseLevel,preferredLabel,"
              "altLabels,hiddenLabels,status,modifiedDate,scopeNote,definition,"
              "inScheme,description",
    "occupations": "conceptType,conceptUri,iscoGroup,preferredLabel,altLabels,"
                   "hiddenLabels,status,modifiedDate,regulatedProfessionNote,"
                   "scopeNote,definition,inScheme,description,code",
    "ISCOGroups": "conceptType,conceptUri,code,preferredLabel,status,altLabels,"
                  "inScheme,description",
    "occupationSkillRelations": "occupationUri,relationType,skillType,skillUri",
    "skillsHierarchy": "Level 0 URI,Level 0 preferred term,Level 1 URI,"
                       "Level 1 preferred term,Level 2 URI,Level 2 preferred "
                       "term,Level 3 URI,Level 3 preferred term,Description,"
                       "Scope note,Level 0 code,Level 1 code,Level 2 code,"
                       "Level 3 code",
    "skillGroups": "conceptType,conceptUri,preferredLabel,altLabels,"
                   "hiddenLabels,status,modifiedDate,scopeNote,inScheme,"
                   "description,code",
    "broaderRelationsSkillPillar": "conceptType,conceptUri,broaderType,"
                                   "broaderUri",
    "broaderRelationsOccPillar": "conceptType,conceptUri,broaderType,"
                                 "broaderUri",
}


def _read(stem):
  path = builtin.builtin_esco_dir() / f"{stem}_en.csv"
  with path.open(encoding="utf-8", newline="") as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tables():
  return {stem: _read(stem) for stem in ESCO_HEADERS}


def test_folder_holds_the_esco_files_and_a_readme():
  folder = builtin.builtin_esco_dir()
  assert sorted(p.name for p in folder.glob("*.csv")) == sorted(
      f"{stem}_en.csv" for stem in ESCO_HEADERS)
  readme = (folder / "README.md").read_text(encoding="utf-8")
  assert "not** ESCO content" in readme
  assert builtin.resolve_ontology_dir("builtin") == folder
  assert str(builtin.resolve_ontology_dir("/x/esco")) == "/x/esco"


@pytest.mark.parametrize("stem", sorted(ESCO_HEADERS))
def test_headers_are_the_official_ones(stem):
  path = builtin.builtin_esco_dir() / f"{stem}_en.csv"
  assert path.read_text(encoding="utf-8").split("\n", 1)[0] == (
      ESCO_HEADERS[stem])


def test_headers_match_real_esco(esco_root):
  for stem, header in ESCO_HEADERS.items():
    folder = esco_root / "v1.1.1"
    real = next(p for p in (folder / f"{stem}_en.csv", folder / f"{stem}.csv")
                if p.exists())
    assert real.read_text(encoding="utf-8").split("\n", 1)[0] == header


def test_counts(tables):
  assert len(tables["occupations"]) == 30
  assert len(tables["skills"]) == 201
  groups = collections.Counter(o["iscoGroup"] for o in tables["occupations"])
  assert len(groups) == 22
  assert sum(n >= 2 for n in groups.values()) == 8
  kinds = collections.Counter(r["relationType"]
                              for r in tables["occupationSkillRelations"])
  assert kinds == {"essential": 252, "optional": 115}


def test_uris_have_the_esco_form_and_are_unique(tables):
  skill_re = re.compile(f"^{BASE}/skill/{UUID}$")
  occupation_re = re.compile(f"^{BASE}/occupation/{UUID}$")
  skills = [s["conceptUri"] for s in tables["skills"]]
  occupations = [o["conceptUri"] for o in tables["occupations"]]
  assert all(skill_re.match(u) for u in skills)
  assert all(occupation_re.match(u) for u in occupations)
  assert all(uuid.UUID(u.rsplit("/", 1)[1]).version == 5
             for u in skills + occupations)
  assert len(set(skills)) == len(skills)
  assert len(set(occupations)) == len(occupations)
  assert all(g["conceptUri"] == f"{BASE}/isco/C{g['code']}"
             for g in tables["ISCOGroups"])


def test_relations_reference_existing_concepts(tables):
  skills = {s["conceptUri"]: s for s in tables["skills"]}
  occupations = {o["conceptUri"] for o in tables["occupations"]}
  rows = tables["occupationSkillRelations"]
  assert all(r["occupationUri"] in occupations for r in rows)
  assert all(r["skillUri"] in skills for r in rows)
  assert all(r["skillType"] == skills[r["skillUri"]]["skillType"] for r in rows)
  pairs = [(r["occupationUri"], r["skillUri"]) for r in rows]
  assert len(set(pairs)) == len(pairs)
  essential = collections.Counter(r["occupationUri"] for r in rows
                                  if r["relationType"] == "essential")
  assert set(essential) == occupations
  assert min(essential.values()) >= 7


def test_isco_groups_form_a_tree_and_hold_every_occupation(tables):
  codes = {g["code"] for g in tables["ISCOGroups"]}
  assert all(len(c) == 1 or c[:-1] in codes for c in codes)
  assert all(o["iscoGroup"] in codes and len(o["iscoGroup"]) == 4
             for o in tables["occupations"])
  broader = {(r["conceptUri"], r["broaderUri"])
             for r in tables["broaderRelationsOccPillar"]}
  for o in tables["occupations"]:
    assert (o["conceptUri"], f"{BASE}/isco/C{o['iscoGroup']}") in broader
  for c in codes - {c for c in codes if len(c) == 1}:
    assert (f"{BASE}/isco/C{c}", f"{BASE}/isco/C{c[:-1]}") in broader


def test_labels_are_unique_and_described(tables):
  names = collections.Counter()
  for s in tables["skills"]:
    alts = s["altLabels"].split("\n")
    assert s["preferredLabel"].strip() == s["preferredLabel"] != ""
    assert all(a.strip() == a != "" for a in alts)
    assert 1 <= len(alts) <= 3
    assert s["description"] and "\n" not in s["description"]
    assert s["skillType"] in ("knowledge", "skill/competence")
    names.update(n.lower() for n in [s["preferredLabel"], *alts])
  assert names.most_common(1)[0][1] == 1
  for o in tables["occupations"]:
    assert o["description"].endswith(".") and "\n" not in o["description"]
    assert len(set(o["altLabels"].split("\n"))) == 3


def test_skill_hierarchy_is_consistent(tables):
  rows = tables["skillsHierarchy"]
  paths = []
  for row in rows:
    uris = [row[f"Level {i} URI"] for i in range(4)]
    codes = [row[f"Level {i} code"] for i in range(4)]
    depth = sum(bool(u) for u in uris)
    assert all(uris[:depth]) and not any(uris[depth:])
    assert all(codes[:depth]) and not any(codes[depth:])
    paths.append(tuple(uris[:depth]))
  assert len(set(paths)) == len(paths) == 56
  assert all(p[:-1] in set(paths) for p in paths if len(p) > 1)
  nodes = {p[-1] for p in paths}
  assert {g["conceptUri"] for g in tables["skillGroups"]} == nodes
  assert sum("/isced-f/" in n for n in nodes) == 28
  # Each skill hangs under exactly one group, which is in the hierarchy.
  broader = collections.defaultdict(list)
  for r in tables["broaderRelationsSkillPillar"]:
    broader[r["conceptUri"]].append(r["broaderUri"])
  for s in tables["skills"]:
    assert len(broader[s["conceptUri"]]) == 1
    assert broader[s["conceptUri"]][0] in nodes


def _graph(tables) -> nx.Graph:
  """The undirected §4.2 graph, built as ../shared/esco/README.md says."""
  graph = nx.Graph()
  graph.add_nodes_from(s["conceptUri"] for s in tables["skills"])
  graph.add_nodes_from(o["conceptUri"] for o in tables["occupations"])
  isco = {g["code"]: g["conceptUri"] for g in tables["ISCOGroups"]}
  graph.add_nodes_from(isco.values())
  for o in tables["occupations"]:
    graph.add_edge(o["conceptUri"], isco[o["iscoGroup"]])
  for r in tables["occupationSkillRelations"]:
    graph.add_edge(r["occupationUri"], r["skillUri"])
  for row in tables["skillsHierarchy"]:
    uris = [row[f"Level {i} URI"] for i in range(4) if row[f"Level {i} URI"]]
    graph.add_nodes_from(uris)
    graph.add_edges_from(zip(uris, uris[1:]))
  return graph


def test_graph_has_all_skill_distances(tables):
  graph = _graph(tables)
  assert (graph.number_of_nodes(), graph.number_of_edges()) == (353, 450)
  skills = [s["conceptUri"] for s in tables["skills"]]
  lengths = dict(nx.all_pairs_shortest_path_length(graph))
  distances = collections.Counter(
      lengths[a].get(b, "no path") for a, b in itertools.combinations(skills, 2))
  assert set(distances) == {2, 4, 6, 8, 10, "no path"}
  by_label = {s["preferredLabel"]: s["conceptUri"] for s in tables["skills"]}

  def dist(a, b):
    return lengths[by_label[a]].get(by_label[b], "no path")

  assert dist("Python programming", "Java programming") == 2
  assert dist("Kotlin", "Python programming") == 4  # via ISCO group 2512
  assert dist("Kotlin", "use spreadsheets software") == 6
  assert dist("wound care", "prepare sauces") == 6  # nurse – assistant – cook
  assert dist("Kotlin", "drive heavy goods vehicles") == 10
  assert dist("Python programming", "wound care") == "no path"
  assert dist("keep bees", "play chess") == "no path"
