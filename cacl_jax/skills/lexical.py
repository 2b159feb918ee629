"""Exact matching of skill names in text, with generic names left out.

Text and names are compared after `skill_index.normalize_label` (case,
punctuation and spacing ignored), word by word, so every hit keeps the
character span of the words it covers. Every preferred and alternative
label is a name; a name shared by several skills matches all of them.

Some names are ordinary words ("data", "design", "communication", "plan"):
matching them floods a text with skills it does not ask for. Which names are
generic is measured, not listed: a name's document frequency is the share
of documents of a reference corpus (ESCO's own skill and occupation
descriptions, `concepts.description_corpus`) that contain it as a phrase,
and names above `max_df` are dropped. Among the remaining names the longest
match wins at each position ("project management" before "management") and
matches do not overlap.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Iterable, Sequence

from cacl_jax.ontology import skill_index
from cacl_jax.skills import concepts

_WORD = re.compile(r"(?:[^\W_]|[+#])+")


@dataclasses.dataclass(frozen=True)
class Token:
  """A normalised word and the characters [start, end) it came from."""
  word: str
  start: int
  end: int


@dataclasses.dataclass(frozen=True)
class Hit:
  """A name found in a text: its skill row, the name and where it was."""
  skill: int
  label: str
  start: int
  end: int


def tokenize(text: str) -> list[Token]:
  """The words of `text` as `normalize_label` sees them, with offsets."""
  tokens = []
  for match in _WORD.finditer(text):
    for word in skill_index.normalize_label(match.group()).split():
      tokens.append(Token(word, match.start(), match.end()))
  return tokens


def _phrases(words: Sequence[str], max_words: int) -> Iterable[str]:
  """Every run of 1..max_words consecutive words."""
  for i in range(len(words)):
    for n in range(1, min(max_words, len(words) - i) + 1):
      yield " ".join(words[i:i + n])


def document_frequency(names: Iterable[str], docs: Sequence[str],
                       max_words: int) -> dict[str, float]:
  """Share of `docs` that contain each normalised name as a phrase (0 for
  names no document contains; names longer than `max_words` words count 0)."""
  names = set(names)
  counts: Counter[str] = Counter()
  for doc in docs:
    words = [t.word for t in tokenize(doc)]
    counts.update({p for p in _phrases(words, max_words) if p in names})
  total = max(len(docs), 1)
  return {name: counts[name] / total for name in names}


class LexicalMatcher:
  """Finds the non-generic names of `table` in texts.

  Attributes:
    skills_by_name: normalised name → skill rows it names (label-row order).
    generic: the normalised names dropped for a document frequency above
      `max_df` in `corpus`.
  """

  def __init__(self, table: concepts.LabelTable, corpus: Sequence[str],
               max_df: float, max_words: int = 8):
    by_name: dict[str, list[int]] = {}
    for text, skill in zip(table.texts, table.skill_L.tolist()):
      name = skill_index.normalize_label(text)
      if name and len(name.split()) <= max_words:
        rows = by_name.setdefault(name, [])
        if skill not in rows:
          rows.append(skill)
    self.table = table
    self.max_words = max_words
    self.df = document_frequency(by_name, corpus, max_words)
    self.generic = frozenset(n for n, f in self.df.items() if f > max_df)
    self.skills_by_name = {n: tuple(r) for n, r in by_name.items()
                           if n not in self.generic}

  def find(self, text: str) -> list[Hit]:
    """Hits in text order; at each position the longest non-generic name."""
    tokens = tokenize(text)
    words = [t.word for t in tokens]
    hits, i = [], 0
    while i < len(words):
      for n in range(min(self.max_words, len(words) - i), 0, -1):
        name = " ".join(words[i:i + n])
        rows = self.skills_by_name.get(name)
        if rows is not None:
          hits += [Hit(row, name, tokens[i].start, tokens[i + n - 1].end)
                   for row in rows]
          i += n
          break
      else:
        i += 1
    return hits
