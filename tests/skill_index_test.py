"""Tests for the skill row numbering and the label index."""

import pytest

import esco_samples as es
from cacl_jax.data import builtin
from cacl_jax.ontology import graph
from cacl_jax.ontology import skill_index as si


@pytest.mark.parametrize("text,expected", [
    ("  Project   Management ", "project management"),
    ("C++", "c++"),
    ("C#", "c#"),
    ("Node.js", "node js"),
    ("e-commerce", "e commerce"),
    ("Python (programming)", "python programming"),
    ("ÉCOLE_x", "école x"),
    ("\ufb01le", "file"),   # NFKC ligature
    ("...", ""),
])
def test_normalize_label(text, expected):
  assert si.normalize_label(text) == expected


def test_rows_are_sorted_uris():
  index = si.build_skill_index(["u/c", "u/a", "u/b", "u/a"], [])
  assert index.row_to_uri == ("u/a", "u/b", "u/c")
  assert index.uri_to_row == {"u/a": 0, "u/b": 1, "u/c": 2}
  assert len(index) == 3


def test_preferred_beats_alternative_and_lower_row_breaks_ties():
  labels = [
      si.SkillLabel("u/b", "Shared", preferred=False),
      si.SkillLabel("u/c", "shared", preferred=True),
      si.SkillLabel("u/b", "Twin", preferred=True),
      si.SkillLabel("u/a", "twin", preferred=True),
      si.SkillLabel("u/c", "alt", preferred=False),
      si.SkillLabel("u/a", "alt", preferred=False),
      si.SkillLabel("u/zzz", "orphan", preferred=True),
  ]
  index = si.build_skill_index(["u/a", "u/b", "u/c"], labels)
  assert index.lookup_name("SHARED") == "u/c"
  assert index.lookup_name("twin") == "u/a"
  assert index.lookup_name("alt") == "u/a"
  assert index.lookup_name("orphan") is None
  # 'shared' has one preferred claimant; 'twin' and 'alt' have two each.
  assert index.ambiguous_labels == 2


def test_lookup_by_name_uri_or_nothing(tmp_path):
  index = graph.load_ontology(es.write_mini_esco(tmp_path)).skill_index
  assert index.lookup_name("python") == es.PYTHON
  assert index.lookup_name("Python-Programming") == es.PYTHON
  assert index.lookup_name("java computer programming") == es.JAVA
  assert index.lookup_name("cook meals") == es.COOKING   # ' | ' separated
  assert index.lookup_name(es.STATS) == es.STATS
  assert index.lookup_name("basket weaving") is None
  assert index.lookup_name("") is None
  # 'programming' is an alternative label of Java and of statistics.
  assert index.lookup_name("programming") == min(es.JAVA, es.STATS)
  assert index.ambiguous_labels == 1


def test_rows_for_uris_keeps_unknown_as_no_row(tmp_path):
  index = graph.load_ontology(es.write_mini_esco(tmp_path)).skill_index
  rows, unknown = index.rows_for_uris(
      u for u in [es.JAVA, "x:1", es.PYTHON, "x:2", "x:1"])
  assert rows == [index.uri_to_row[es.JAVA], si.NO_ROW,
                  index.uri_to_row[es.PYTHON], si.NO_ROW, si.NO_ROW]
  assert unknown == ["x:1", "x:2", "x:1"]
  assert si.NO_ROW < 0


def test_builtin_preferred_labels_find_their_skill():
  o = graph.load_ontology(builtin.builtin_esco_dir())
  index = o.skill_index
  found = 0
  for uri in index.row_to_uri:
    label = o.graph.nodes[uri]["label"]
    hit = index.lookup_name(label)
    assert hit is not None, label
    found += hit == uri
  # Only labels shared by several skills may point elsewhere.
  assert found >= len(index) - 2 * index.ambiguous_labels
