"""The ESCO skills an extractor can return, with every name they go by.

Reads the skills table of an ESCO folder (found by stem, see
`ontology.esco_files`): each skill's URI, preferred label, alternative
labels and description. `LabelTable` flattens the names into one row per
(skill, label) pair, preferred label first, which is the row order of the
dense label index and of the lexical matcher's URI lists.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from cacl_jax.data import esco_tables
from cacl_jax.ontology import esco_files as ef

_OCCUPATION_TEXT = ef.TableSpec("occupations", ("conceptUri",),
                                ("description",))


Skill = esco_tables.SkillConcept


@dataclasses.dataclass(frozen=True, eq=False)
class LabelTable:
  """Skills and their names, one row per (skill, distinct name).

  Attributes:
    skills: skill rows, in file order.
    texts: the name of each label row.
    skill_L: the skill row of each label row.
    preferred_L: whether the label row is its skill's preferred label.
  """
  skills: tuple[Skill, ...]
  texts: tuple[str, ...]
  skill_L: np.ndarray
  preferred_L: np.ndarray

  def __len__(self) -> int:
    return len(self.texts)


def read_skills(esco_dir: os.PathLike | str) -> tuple[Skill, ...]:
  """The skills of `esco_dir`'s skills table, in file order (see
  `esco_tables.read_skills` for the errors)."""
  return tuple(esco_tables.read_skills(esco_dir).values())


def label_table(skills: tuple[Skill, ...],
                alt_labels: bool = True) -> LabelTable:
  """One row per skill and distinct name, the preferred label first
  (preferred labels only when not `alt_labels`)."""
  texts, skill_rows, preferred = [], [], []
  for row, skill in enumerate(skills):
    names = dict.fromkeys((skill.label,) + (skill.alt_labels if alt_labels
                                            else ()))
    for i, name in enumerate(names):
      texts.append(name)
      skill_rows.append(row)
      preferred.append(i == 0)
  return LabelTable(skills=skills, texts=tuple(texts),
                    skill_L=np.asarray(skill_rows, np.int32),
                    preferred_L=np.asarray(preferred, bool))


def description_corpus(esco_dir: os.PathLike | str,
                       skills: tuple[Skill, ...]) -> list[str]:
  """ESCO's own prose: every non-empty skill and occupation description.

  Used to measure how common a label is as a phrase (`lexical`): a label
  that turns up in many descriptions names no particular skill.
  """
  docs = [s.description for s in skills if s.description]
  path = ef.find_esco_file(pathlib.Path(esco_dir), _OCCUPATION_TEXT.stem,
                           required=False)
  if path is not None:
    docs += [row["description"] for _, row in
             ef.read_table(path, _OCCUPATION_TEXT) if row["description"]]
  return docs
