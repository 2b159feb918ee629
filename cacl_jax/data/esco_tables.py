"""Minimal reader of the ESCO CSV tables that the pair generator needs.

Reads occupations (with their ISCO unit group), skills (with preferred and
alternative labels) and occupation→skill relations from a folder in the
official ESCO CSV layout: the real export (any version) or the built-in demo
ontology. Files are found by stem, so `occupationSkillRelations.csv` (v1.1.1)
and `occupationSkillRelations_en.csv` (v1.2.0) both work. `ISCOGroups*` is
optional: the generator groups occupations by their `iscoGroup` code alone,
and the groups file, when present, only checks those codes and names them.

Files are found and read with `cacl_jax.ontology.esco_files`; bad input
raises its `EscoFileError` naming the file, the line and the column, and so
does an occupations or skills file without rows. Relations that name a skill
or occupation absent from the tables are not fatal (partial exports exist)
but are counted in `EscoTables.skipped_relations`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Mapping

from cacl_jax.ontology import esco_files as ef

RELATION_TYPES = ("essential", "optional")

_ISCO_GROUPS = ef.TableSpec("ISCOGroups", ("code", "preferredLabel"),
                            required=False)
_OCCUPATIONS = ef.TableSpec("occupations",
                            ("conceptUri", "iscoGroup", "preferredLabel"),
                            ("altLabels", "description"))
_SKILLS = ef.TableSpec("skills", ("conceptUri", "preferredLabel"),
                       ("altLabels", "skillType", "description"))
_RELATIONS = ef.TableSpec("occupationSkillRelations",
                          ("occupationUri", "relationType", "skillUri"))


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
  a key of `occupations`. `isco_groups` maps ISCO codes to labels; it is
  empty when the folder has no ISCOGroups file.
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


def _read_isco_groups(folder: pathlib.Path) -> dict[str, str] | None:
  """ISCO code → label, or None when the folder has no ISCOGroups file."""
  path = ef.find_esco_file(folder, _ISCO_GROUPS.stem, required=False)
  if path is None:
    return None
  isco_groups = {}
  for line, row in ef.read_table(path, _ISCO_GROUPS):
    isco_groups[ef.require_value(row, "code", path, line)] = row["preferredLabel"]
  return isco_groups


def _require_rows(table: Mapping[str, object], path: pathlib.Path,
                  what: str) -> None:
  """Refuses a file with a header but no rows: nothing could be generated."""
  if not table:
    raise ef.EscoFileError(f"has no {what} rows (only a header)", path=path)


def read_skills(folder: os.PathLike | str) -> dict[str, SkillConcept]:
  """The skills table of `folder` by URI, in file order; a duplicate URI, a
  row without URI or preferred label, or a header-only file raises
  `EscoFileError`."""
  path = ef.find_esco_file(folder, _SKILLS.stem)
  skills = {}
  for line, row in ef.read_table(path, _SKILLS):
    uri = ef.require_value(row, "conceptUri", path, line)
    if uri in skills:
      raise ef.EscoFileError(f"duplicate skill {uri}", path=path, line=line,
                             column="conceptUri")
    skills[uri] = SkillConcept(
        uri=uri, label=ef.require_value(row, "preferredLabel", path, line),
        alt_labels=ef.split_labels(row["altLabels"]),
        skill_type=row["skillType"],
        description=" ".join(row["description"].split()))
  _require_rows(skills, path, "skill")
  return skills


def load_tables(folder: os.PathLike | str) -> EscoTables:
  """Reads occupations, skills, ISCO groups and relations from `folder`."""
  folder = pathlib.Path(folder)
  isco_groups = _read_isco_groups(folder)

  path = ef.find_esco_file(folder, _OCCUPATIONS.stem)
  occupations = {}
  for line, row in ef.read_table(path, _OCCUPATIONS):
    uri = ef.require_value(row, "conceptUri", path, line)
    group = ef.require_value(row, "iscoGroup", path, line)
    if isco_groups is not None and group not in isco_groups:
      raise ef.EscoFileError(f"unknown ISCO group {group!r}", path=path,
                           line=line, column="iscoGroup")
    if uri in occupations:
      raise ef.EscoFileError(f"duplicate occupation {uri}", path=path,
                           line=line, column="conceptUri")
    occupations[uri] = Occupation(
        uri=uri, label=ef.require_value(row, "preferredLabel", path, line),
        alt_labels=ef.split_labels(row["altLabels"]), isco_group=group,
        description=" ".join(row["description"].split()))
  _require_rows(occupations, path, "occupation")

  skills = read_skills(folder)

  path = ef.find_esco_file(folder, _RELATIONS.stem)
  relations = {kind: {} for kind in RELATION_TYPES}
  skipped = 0
  for line, row in ef.read_table(path, _RELATIONS):
    occupation = ef.require_value(row, "occupationUri", path, line)
    skill = ef.require_value(row, "skillUri", path, line)
    kind = ef.require_value(row, "relationType", path, line)
    if kind not in RELATION_TYPES:
      raise ef.EscoFileError(f"unknown relation type {kind!r}; expected one "
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
      isco_groups=isco_groups or {}, skipped_relations=skipped)
