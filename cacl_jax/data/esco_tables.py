"""Minimal reader of the ESCO CSV tables that the pair generator needs.

Reads occupations (with their ISCO unit group), skills (with preferred and
alternative labels) and occupation→skill relations from a folder in the
official ESCO CSV layout: the real export (any version) or the built-in demo
ontology. Files are found by stem, so `occupationSkillRelations.csv` (v1.1.1)
and `occupationSkillRelations_en.csv` (v1.2.0) both work.

Bad input raises `EscoTableError` naming the file, the line and the column.
Relations that name a skill or occupation absent from the tables are not
fatal (partial exports exist) but are counted in `EscoTables.skipped_relations`.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
from typing import Iterator, Mapping

RELATION_TYPES = ("essential", "optional")


class EscoTableError(ValueError):
  """A problem in an ESCO CSV file, located by file, line and column."""

  def __init__(self, message: str, *, path: os.PathLike | str,
               line: int | None = None, column: str | None = None):
    self.path, self.line, self.column = str(path), line, column
    where = self.path if line is None else f"{self.path}:{line}"
    if column:
      where += f": column '{column}'"
    super().__init__(f"{where}: {message}")


@dataclasses.dataclass(frozen=True)
class Occupation:
  uri: str
  label: str
  alt_labels: tuple[str, ...]
  isco_group: str
  description: str


@dataclasses.dataclass(frozen=True)
class SkillConcept:
  uri: str
  label: str
  alt_labels: tuple[str, ...]
  skill_type: str
  description: str


@dataclasses.dataclass(frozen=True, eq=False)
class EscoTables:
  """The tables of one ESCO folder; hashed by identity so it can key caches.

  `essential` and `optional` map an occupation URI to its skill URIs in file
  order; every URI in them is a key of `skills`, and every occupation URI is
  a key of `occupations`.
  """
  folder: pathlib.Path
  occupations: Mapping[str, Occupation]
  skills: Mapping[str, SkillConcept]
  essential: Mapping[str, tuple[str, ...]]
  optional: Mapping[str, tuple[str, ...]]
  isco_groups: Mapping[str, str]
  skipped_relations: int

  def occupation_skills(self, occupation_uri: str) -> tuple[str, ...]:
    return (self.essential.get(occupation_uri, ())
            + self.optional.get(occupation_uri, ()))


def find_table(folder: os.PathLike | str, stem: str) -> pathlib.Path:
  """The CSV file of `folder` named `<stem>.csv` or `<stem>_<lang>.csv`.

  When several languages are present the English file is taken.
  """
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise FileNotFoundError(f"{folder}: not an ESCO folder (no such directory)")
  found = sorted(p for p in folder.glob(f"{stem}*.csv")
                 if p.stem == stem or (p.stem.startswith(stem + "_")
                                       and "_" not in p.stem[len(stem) + 1:]))
  if not found:
    raise FileNotFoundError(
        f"{folder}: no ESCO table '{stem}' (looked for {stem}.csv and "
        f"{stem}_<lang>.csv)")
  english = [p for p in found if p.stem in (stem, stem + "_en")]
  if len(found) > 1 and len(english) == 1:
    return english[0]
  if len(found) > 1:
    raise EscoTableError(
        f"ambiguous table '{stem}': {', '.join(p.name for p in found)}",
        path=folder)
  return found[0]


def _rows(path: pathlib.Path,
          columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
  """Yields (first line of the record, row) and checks the header."""
  with path.open("r", encoding="utf-8-sig", newline="") as f:
    reader = csv.DictReader(f)
    header = reader.fieldnames or []
    for column in columns:
      if column not in header:
        raise EscoTableError("missing column", path=path, line=1,
                             column=column)
    line = reader.line_num + 1
    for row in reader:
      if None in row:
        raise EscoTableError(f"{len(row[None])} more fields than the header",
                             path=path, line=line)
      yield line, row
      line = reader.line_num + 1


def _required(row: dict[str, str], column: str, path: pathlib.Path,
              line: int) -> str:
  value = (row.get(column) or "").strip()
  if not value:
    raise EscoTableError("empty value", path=path, line=line, column=column)
  return value


def _labels(text: str | None) -> tuple[str, ...]:
  labels = (part.strip() for part in (text or "").split("\n"))
  return tuple(dict.fromkeys(label for label in labels if label))


def load_tables(folder: os.PathLike | str) -> EscoTables:
  """Reads occupations, skills, ISCO groups and relations from `folder`."""
  folder = pathlib.Path(folder)

  path = find_table(folder, "ISCOGroups")
  isco_groups = {}
  for line, row in _rows(path, ("code", "preferredLabel")):
    isco_groups[_required(row, "code", path, line)] = row["preferredLabel"]

  path = find_table(folder, "occupations")
  occupations = {}
  for line, row in _rows(path, ("conceptUri", "iscoGroup", "preferredLabel",
                                "altLabels", "description")):
    uri = _required(row, "conceptUri", path, line)
    group = _required(row, "iscoGroup", path, line)
    if group not in isco_groups:
      raise EscoTableError(f"unknown ISCO group {group!r}", path=path,
                           line=line, column="iscoGroup")
    if uri in occupations:
      raise EscoTableError(f"duplicate occupation {uri}", path=path,
                           line=line, column="conceptUri")
    occupations[uri] = Occupation(
        uri=uri, label=_required(row, "preferredLabel", path, line),
        alt_labels=_labels(row["altLabels"]), isco_group=group,
        description=" ".join((row["description"] or "").split()))

  path = find_table(folder, "skills")
  skills = {}
  for line, row in _rows(path, ("conceptUri", "preferredLabel", "altLabels",
                                "skillType", "description")):
    uri = _required(row, "conceptUri", path, line)
    if uri in skills:
      raise EscoTableError(f"duplicate skill {uri}", path=path, line=line,
                           column="conceptUri")
    skills[uri] = SkillConcept(
        uri=uri, label=_required(row, "preferredLabel", path, line),
        alt_labels=_labels(row["altLabels"]),
        skill_type=row["skillType"] or "",
        description=" ".join((row["description"] or "").split()))

  path = find_table(folder, "occupationSkillRelations")
  relations = {kind: {} for kind in RELATION_TYPES}
  skipped = 0
  for line, row in _rows(path, ("occupationUri", "relationType", "skillUri")):
    occupation = _required(row, "occupationUri", path, line)
    skill = _required(row, "skillUri", path, line)
    kind = _required(row, "relationType", path, line)
    if kind not in RELATION_TYPES:
      raise EscoTableError(f"unknown relation type {kind!r}; expected one "
                           f"of {RELATION_TYPES}", path=path, line=line,
                           column="relationType")
    if occupation not in occupations or skill not in skills:
      skipped += 1
      continue
    relations[kind].setdefault(occupation, {})[skill] = None

  return EscoTables(
      folder=folder, occupations=occupations, skills=skills,
      essential={o: tuple(s) for o, s in relations["essential"].items()},
      optional={o: tuple(s) for o, s in relations["optional"].items()},
      isco_groups=isco_groups, skipped_relations=skipped)
