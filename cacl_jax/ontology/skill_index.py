"""Skill URI ↔ row numbering and skill name → URI lookup.

Rows number the skill nodes of the graph in sorted-URI order: the order
does not depend on how the CSV files are sorted, and row r of the distance
matrix is the skill `row_to_uri[r]`.

Names are matched after `normalize_label`: Unicode NFKC, case folded, every
character that is not a letter, digit, '+' or '#' turned into a space (so
"C++" and "C#" stay apart), runs of spaces collapsed. Preferred labels win
over alternative labels; when two skills claim one normalised label at the
same priority the lower row wins, and the collision is counted in
`ambiguous_labels`.

A URI the index does not know (another ESCO version, a typo) gets the row
`NO_ROW`: it stays a member of its skill set, with no path to any skill
(§4.4 gives it similarity 0, §4.5 the no-path cost).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Iterable, Sequence

_SEPARATORS = re.compile(r"[^\w+#]|_")
# Row of a URI that is not in the index.
NO_ROW = -1


def normalize_label(text: str) -> str:
  """Case-, space- and punctuation-insensitive form of a skill name."""
  text = unicodedata.normalize("NFKC", text).casefold()
  return " ".join(_SEPARATORS.sub(" ", text).split())


@dataclasses.dataclass(frozen=True)
class SkillLabel:
  """A name of a skill; `preferred` labels take priority in lookups."""
  uri: str
  label: str
  preferred: bool


@dataclasses.dataclass(frozen=True, eq=False)
class SkillIndex:
  """Rows of the skill nodes and the label index over their names."""
  row_to_uri: tuple[str, ...]
  uri_to_row: dict[str, int]
  label_to_uri: dict[str, str]
  ambiguous_labels: int

  def __len__(self) -> int:
    return len(self.row_to_uri)

  def lookup_name(self, name: str) -> str | None:
    """URI of the skill called `name` (a label or a known URI), else None."""
    if name in self.uri_to_row:
      return name
    return self.label_to_uri.get(normalize_label(name))

  def rows_for_uris(
      self, uris: Iterable[str]) -> tuple[list[int], list[str]]:
    """(the row of every URI in order, `NO_ROW` if unknown; the unknown URIs
    in order), so callers keep unknown URIs as members and can count them."""
    uris = list(uris)
    rows = [self.uri_to_row.get(uri, NO_ROW) for uri in uris]
    return rows, [uri for uri, row in zip(uris, rows) if row == NO_ROW]


def build_skill_index(skill_uris: Iterable[str],
                      labels: Sequence[SkillLabel]) -> SkillIndex:
  """Numbers `skill_uris` in sorted order and indexes `labels`.

  Labels of URIs outside `skill_uris` are ignored (they name no row).
  """
  row_to_uri = tuple(sorted(set(skill_uris)))
  uri_to_row = {uri: row for row, uri in enumerate(row_to_uri)}
  # Per normalised label: the best (priority, row) and the URIs at it.
  best: dict[str, tuple[int, int]] = {}
  tied: dict[str, set[str]] = {}
  for entry in labels:
    row = uri_to_row.get(entry.uri)
    key = normalize_label(entry.label)
    if row is None or not key:
      continue
    priority = 0 if entry.preferred else 1
    current = best.get(key)
    if current is None or priority < current[0]:
      tied[key] = {entry.uri}
    elif priority == current[0]:
      tied[key].add(entry.uri)
    if current is None or (priority, row) < current:
      best[key] = (priority, row)
  return SkillIndex(
      row_to_uri=row_to_uri, uri_to_row=uri_to_row,
      label_to_uri={key: row_to_uri[row] for key, (_, row) in best.items()},
      ambiguous_labels=sum(len(uris) > 1 for uris in tied.values()))
