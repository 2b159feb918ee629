"""Combining the dense and lexical evidence for a text's skills.

Each skill of a text may have a dense score (cosine similarity of its best
label to the best query of the text, `extractor`) and a lexical hit (one of
its non-generic names occurs in the text). The fused score is

    score = dense + lexical_weight · [lexical hit],

so an exact non-generic name lifts a skill by a fixed amount over skills
that only sound alike, while dense similarity orders the rest and breaks
ties between lexical hits. A skill without a dense score (dense retrieval
off) counts dense 0. The span shown for a skill is the lexical hit's when
there is one (the exact words), else the dense query's.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping


@dataclasses.dataclass(frozen=True)
class Evidence:
  """Why a skill was found: a score and the text that supports it."""
  score: float
  span: str


@dataclasses.dataclass(frozen=True)
class Fused:
  skill: int
  score: float
  span: str


def fuse(dense: Mapping[int, Evidence], lexical: Mapping[int, Evidence],
         lexical_weight: float) -> list[Fused]:
  """Skills of `dense` ∪ `lexical`, best fused score first (ties: lower
  skill row first, so the order is reproducible)."""
  fused = []
  for skill in dense.keys() | lexical.keys():
    d, lex = dense.get(skill), lexical.get(skill)
    score = (d.score if d else 0.0) + (lexical_weight * lex.score
                                       if lex else 0.0)
    fused.append(Fused(skill, score, (lex or d).span))
  fused.sort(key=lambda f: (-f.score, f.skill))
  return fused
