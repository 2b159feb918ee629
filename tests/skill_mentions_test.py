"""Tests for reading ontology skill labels off free text."""

from cacl_jax.data import records
from cacl_jax.data.skill_mentions import SkillMentionExtractor
from cacl_jax.ontology import skill_index


def _index():
  labels = [
      skill_index.SkillLabel("u:pm", "project management", True),
      skill_index.SkillLabel("u:mgmt", "management", True),
      skill_index.SkillLabel("u:py", "Python", True),
      skill_index.SkillLabel("u:py", "python programming", False),
      skill_index.SkillLabel("u:cpp", "C++", True),
  ]
  return skill_index.build_skill_index(["u:pm", "u:mgmt", "u:py", "u:cpp"], labels)


def test_longest_label_wins_and_each_skill_once():
  extract = SkillMentionExtractor(_index())
  text = "Led Project-Management; Python programming and more python. C++, management."
  assert extract(text) == [
      records.Skill("project management", "u:pm"),
      records.Skill("python programming", "u:py"),
      records.Skill("c++", "u:cpp"),
      records.Skill("management", "u:mgmt"),
  ]


def test_no_mentions():
  assert SkillMentionExtractor(_index())("cooking and gardening") == []
