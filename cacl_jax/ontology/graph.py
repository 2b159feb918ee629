"""The ESCO knowledge graph of §4.2, built with networkx from the CSV export.

Nodes (attribute `type`):
- "skill": every row of skills_en, every `/skill/` URI of skillsHierarchy
  (the skill groups), and any skill URI named only by a relation row;
- "occupation": every row of occupations_en, and any occupation URI named
  only by a relation row (v1.1.1 has one);
- "isco": every row of ISCOGroups_en;
- "other": the remaining skillsHierarchy URIs (the ISCED-F fields).

Edges (directed, one per source row, kept apart in a MultiDiGraph, attribute
`kind`): occupation → its ISCO group ("isco", occupations_en.iscoGroup
matched to ISCOGroups_en.code), parent → child along consecutive
skillsHierarchy levels ("hierarchy", distinct pairs), and occupation → skill
for every occupationSkillRelations row ("essential" / "optional" /
"relation" when the type column is absent).

Relation rows that name a skill absent from skills_en and skillsHierarchy,
or an occupation absent from occupations_en, are kept, as implicit nodes,
but logged as a warning that counts them and gives the first few with their
lines. A skills file with no
rows is an `EscoFileError`: the graph would hold only implicit skills.

On ESCO v1.2.0 this gives 18,237 nodes and 132,679 edges (14,359 skill,
3,039 occupation, 619 ISCO, 220 other), the §4.2 table; on v1.1.1 18,170
and 127,505. Skill similarity uses shortest paths on the undirected graph
(`Ontology.undirected_adjacency`).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import pathlib

from absl import logging
import networkx as nx
import numpy as np
import scipy.sparse as sp

from cacl_jax.ontology import esco_files as ef
from cacl_jax.ontology import skill_index as si

NODE_TYPES = ("skill", "occupation", "isco", "other")
_SKILL_PATH = "/skill/"
_IMPLICIT_EXAMPLES = 3


@dataclasses.dataclass(frozen=True)
class GraphStats:
  """Counts that describe the graph and what could not be matched."""
  num_nodes: int
  num_edges: int
  nodes_by_type: dict[str, int]
  edges_by_kind: dict[str, int]
  # URIs that only a relation row names (no row in skills/occupations).
  implicit_nodes: int
  # Occupations whose iscoGroup names no ISCOGroups row (no "isco" edge).
  unmatched_isco_codes: int


@dataclasses.dataclass(frozen=True, eq=False)
class Ontology:
  """The graph, its skill index and the arrays the distance code needs.

  `node_uris[i]` is node i of `edges_Ex2`; `skill_nodes_S[r]` is the node of
  skill row r of `skill_index`.
  """
  files: ef.EscoFiles
  graph: nx.MultiDiGraph
  skill_index: si.SkillIndex
  node_uris: tuple[str, ...]
  edges_Ex2: np.ndarray
  skill_nodes_S: np.ndarray
  stats: GraphStats

  @property
  def esco_dir(self) -> pathlib.Path:
    return self.files.folder

  def undirected_adjacency(self) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency (int8) of the undirected simple graph."""
    n = len(self.node_uris)
    src, dst = self.edges_Ex2[:, 0], self.edges_Ex2[:, 1]
    ones = np.ones(2 * len(src), np.int32)
    adj = sp.coo_matrix(
        (ones, (np.concatenate([src, dst]), np.concatenate([dst, src]))),
        shape=(n, n)).tocsr()   # sums repeated edges
    adj.data[:] = 1
    return adj.astype(np.int8)


class _Builder:
  """Accumulates typed nodes and kind-tagged edges in insertion order."""

  def __init__(self):
    self.node_id: dict[str, int] = {}
    self.types: list[str] = []
    self.labels: list[str] = []
    self.edges: list[tuple[int, int]] = []
    self.kinds: list[str] = []

  def node(self, uri: str, node_type: str, label: str = "") -> int:
    index = self.node_id.get(uri)
    if index is None:
      index = self.node_id[uri] = len(self.types)
      self.types.append(node_type)
      self.labels.append(label)
    elif label and not self.labels[index]:
      self.labels[index] = label
    return index

  def edge(self, src: int, dst: int, kind: str) -> None:
    self.edges.append((src, dst))
    self.kinds.append(kind)


class _Implicit:
  """Relation rows naming nodes of one type that no table defines.

  `first_line` maps each such URI to the first line that names it.
  """

  def __init__(self, node_type: str):
    self.node_type = node_type
    self.rows = 0
    self.first_line: dict[str, int] = {}

  def add(self, uri: str, line: int) -> None:
    self.rows += 1
    self.first_line.setdefault(uri, line)

  def warn(self, relations: pathlib.Path,
           tables: list[pathlib.Path]) -> None:
    """Logs how many rows name absent nodes, with the first few examples."""
    if not self.rows:
      return
    examples = "; ".join(
        f"line {line}: {uri}" for uri, line in
        itertools.islice(self.first_line.items(), _IMPLICIT_EXAMPLES))
    logging.warning(
        "%s: %d relation row(s) name %d %s(s) absent from %s (implicit %s "
        "nodes), e.g. %s", relations, self.rows, len(self.first_line),
        self.node_type, " and ".join(p.name for p in tables), self.node_type,
        examples)


def load_ontology(esco_dir: os.PathLike | str) -> Ontology:
  """Reads an ESCO CSV folder and builds the §4.2 graph and skill index."""
  files = ef.locate_esco_files(esco_dir)
  b = _Builder()
  labels: list[si.SkillLabel] = []

  path = files.path(ef.SKILLS)
  for line, row in ef.read_table(path, ef.SKILLS):
    uri = ef.require_value(row, "conceptUri", path, line)
    label = row["preferredLabel"]
    b.node(uri, "skill", label)
    labels.append(si.SkillLabel(uri, label, preferred=True))
    labels.extend(si.SkillLabel(uri, alt, preferred=False)
                  for alt in ef.split_labels(row["altLabels"]))
  if not b.types:  # the skill rows made the first nodes
    raise ef.EscoFileError("has no skill rows (only a header)", path=path)

  occupations: list[tuple[int, str]] = []
  path = files.path(ef.OCCUPATIONS)
  for line, row in ef.read_table(path, ef.OCCUPATIONS):
    uri = ef.require_value(row, "conceptUri", path, line)
    occupations.append((b.node(uri, "occupation", row["preferredLabel"]),
                        row["iscoGroup"]))

  isco_by_code: dict[str, int] = {}
  path = files.path(ef.ISCO_GROUPS)
  if path is not None:
    for line, row in ef.read_table(path, ef.ISCO_GROUPS):
      uri = ef.require_value(row, "conceptUri", path, line)
      node = b.node(uri, "isco", row["preferredLabel"])
      isco_by_code[ef.require_value(row, "code", path, line)] = node

  hierarchy_pairs: dict[tuple[int, int], None] = {}
  path = files.path(ef.SKILLS_HIERARCHY)
  if path is not None:
    for _, row in ef.read_table(path, ef.SKILLS_HIERARCHY):
      chain = []
      for level in range(ef.HIERARCHY_LEVELS):
        uri = row[f"Level {level} URI"]
        if not uri:
          continue
        term = row[f"Level {level} preferred term"]
        is_skill = _SKILL_PATH in uri
        chain.append(b.node(uri, "skill" if is_skill else "other", term))
        if is_skill and term:
          labels.append(si.SkillLabel(uri, term, preferred=True))
      hierarchy_pairs.update(dict.fromkeys(zip(chain, chain[1:])))

  unmatched = 0
  for node, code in occupations:
    group = isco_by_code.get(code)
    if group is None:
      unmatched += 1
    else:
      b.edge(node, group, "isco")
  for parent, child in hierarchy_pairs:
    b.edge(parent, child, "hierarchy")

  explicit = len(b.types)
  implicit = {t: _Implicit(t) for t in ("occupation", "skill")}
  path = files.path(ef.RELATIONS)
  for line, row in ef.read_table(path, ef.RELATIONS):
    ends = []
    for column, node_type in (("occupationUri", "occupation"),
                              ("skillUri", "skill")):
      uri = ef.require_value(row, column, path, line)
      ends.append(b.node(uri, node_type))
      if ends[-1] >= explicit:
        implicit[node_type].add(uri, line)
    b.edge(*ends, row["relationType"] or "relation")
  implicit["occupation"].warn(path, [files.path(ef.OCCUPATIONS)])
  implicit["skill"].warn(path, [p for p in (files.path(ef.SKILLS),
                                            files.path(ef.SKILLS_HIERARCHY))
                                if p is not None])

  return _assemble(files, b, labels, implicit=len(b.types) - explicit,
                   unmatched=unmatched)


def _assemble(files: ef.EscoFiles, b: _Builder,
              labels: list[si.SkillLabel], implicit: int,
              unmatched: int) -> Ontology:
  node_uris = tuple(b.node_id)
  graph = nx.MultiDiGraph()
  graph.add_nodes_from(
      (uri, {"type": t, "label": label})
      for uri, t, label in zip(node_uris, b.types, b.labels))
  graph.add_edges_from(
      (node_uris[s], node_uris[d], {"kind": k})
      for (s, d), k in zip(b.edges, b.kinds))
  skill_uris = [u for u, t in zip(node_uris, b.types) if t == "skill"]
  index = si.build_skill_index(skill_uris, labels)
  skill_nodes = np.array([b.node_id[u] for u in index.row_to_uri], np.int64)
  edges = np.array(b.edges, np.int64).reshape(-1, 2)
  nodes_by_type = {t: b.types.count(t) for t in NODE_TYPES}
  edges_by_kind: dict[str, int] = {}
  for kind in b.kinds:
    edges_by_kind[kind] = edges_by_kind.get(kind, 0) + 1
  stats = GraphStats(num_nodes=len(node_uris), num_edges=len(b.edges),
                     nodes_by_type=nodes_by_type, edges_by_kind=edges_by_kind,
                     implicit_nodes=implicit, unmatched_isco_codes=unmatched)
  return Ontology(files=files, graph=graph, skill_index=index,
                  node_uris=node_uris, edges_Ex2=edges,
                  skill_nodes_S=skill_nodes, stats=stats)
