"""Finds and reads the ESCO CSV files that the skill graph is built from.

Official ESCO downloads name their files inconsistently between versions
(`occupationSkillRelations.csv` in v1.1.1, `occupationSkillRelations_en.csv`
in v1.2.0), so files are found by stem: `<stem>.csv` or `<stem>_<lang>.csv`,
preferring English when several languages sit in one folder.

Each table declares the columns it needs. A missing required file or column
is an `EscoFileError` naming the file (and the line and column where that
applies); a missing optional column reads as empty strings, and a missing
optional file as no rows, so trimmed or older exports still load. Files
must be UTF-8 (ESCO's own byte order mark is dropped); other bytes raise
`textfile.TextDecodeError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import pathlib
from typing import Iterator

from cacl_jax.common import files
from cacl_jax.common import textfile

PathLike = str | os.PathLike


class EscoFileError(ValueError):
  """A problem with an ESCO CSV file, located by file, line and column."""

  def __init__(self, message: str, *, path: PathLike,
               line: int | None = None, column: str | None = None):
    self.path, self.line, self.column = str(path), line, column
    super().__init__(
        f"{textfile.location(path, line, 'column', column)}: {message}")


@dataclasses.dataclass(frozen=True)
class TableSpec:
  """One ESCO table: its file stem and the columns read from it."""
  stem: str
  required_columns: tuple[str, ...]
  optional_columns: tuple[str, ...] = ()
  required: bool = True


SKILLS = TableSpec("skills", ("conceptUri", "preferredLabel"),
                   ("altLabels", "skillType", "reuseLevel", "description"))
OCCUPATIONS = TableSpec("occupations", ("conceptUri", "iscoGroup"),
                        ("preferredLabel", "altLabels"))
ISCO_GROUPS = TableSpec("ISCOGroups", ("conceptUri", "code"),
                        ("preferredLabel",), required=False)
HIERARCHY_LEVELS = 4
SKILLS_HIERARCHY = TableSpec(
    "skillsHierarchy", ("Level 0 URI",),
    tuple(f"Level {i} URI" for i in range(1, HIERARCHY_LEVELS))
    + tuple(f"Level {i} preferred term" for i in range(HIERARCHY_LEVELS)),
    required=False)
RELATIONS = TableSpec("occupationSkillRelations",
                      ("occupationUri", "skillUri"), ("relationType",))

GRAPH_TABLES = (SKILLS, OCCUPATIONS, ISCO_GROUPS, SKILLS_HIERARCHY, RELATIONS)


def find_esco_file(folder: PathLike, stem: str, *,
                   required: bool = True) -> pathlib.Path | None:
  """The file of `folder` named `<stem>.csv` or `<stem>_<lang>.csv`.

  Returns None for a missing optional file; raises `EscoFileError` for a
  missing required one or when several non-English candidates tie.
  """
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise EscoFileError("not an ESCO folder (no such directory)", path=folder)
  found = sorted(
      p for p in folder.iterdir()
      if p.suffix.lower() == ".csv" and p.is_file()
      and (p.stem == stem or (p.stem.startswith(stem + "_")
                              and p.stem[len(stem) + 1:].isalpha())))
  if not found:
    if required:
      raise EscoFileError(
          f"required ESCO file '{stem}' not found (looked for {stem}.csv and "
          f"{stem}_<lang>.csv)", path=folder)
    return None
  if len(found) == 1:
    return found[0]
  english = [p for p in found if p.stem in (stem, stem + "_en")]
  if len(english) == 1:
    return english[0]
  raise EscoFileError(
      f"ambiguous ESCO file '{stem}': {', '.join(p.name for p in found)}",
      path=folder)


@dataclasses.dataclass(frozen=True)
class EscoFiles:
  """The graph's tables located in one folder (None: optional and absent)."""
  folder: pathlib.Path
  paths: dict[str, pathlib.Path | None]

  def path(self, spec: TableSpec) -> pathlib.Path | None:
    return self.paths[spec.stem]

  def fingerprint(self) -> str:
    """sha256 over the stems and bytes of the present files.

    Names are not hashed beyond the stem, so renaming `x.csv` to `x_en.csv`
    keeps the fingerprint; any content change alters it.
    """
    digest = hashlib.sha256()
    for stem in sorted(self.paths):
      path = self.paths[stem]
      digest.update(stem.encode() + b"\0")
      if path is None:
        digest.update(b"<absent>\0")
        continue
      digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def file_sha256(path: PathLike) -> str:
  """Hex sha256 of a file (`cacl_jax.common.files.sha256_file`)."""
  return files.sha256_file(path)


def locate_esco_files(folder: PathLike) -> EscoFiles:
  """Finds every table of `GRAPH_TABLES` in `folder`."""
  folder = pathlib.Path(folder)
  return EscoFiles(folder=folder, paths={
      spec.stem: find_esco_file(folder, spec.stem, required=spec.required)
      for spec in GRAPH_TABLES})


def read_table(path: PathLike,
               spec: TableSpec) -> Iterator[tuple[int, dict[str, str]]]:
  """Yields (line of the record's start, row) with every column of `spec`.

  Values are stripped; optional columns absent from the header read as "".
  Rows with more fields than the header raise `EscoFileError`.
  """
  path = pathlib.Path(path)
  reader = csv.DictReader(textfile.iter_lines(path))
  header = reader.fieldnames or []
  for column in spec.required_columns:
    if column not in header:
      raise EscoFileError("required column missing", path=path, line=1,
                          column=column)
  present = [c for c in spec.required_columns + spec.optional_columns
             if c in header]
  absent = [c for c in spec.optional_columns if c not in header]
  line = reader.line_num + 1
  for row in reader:
    if None in row:
      raise EscoFileError(f"{len(row[None])} more fields than the header",
                          path=path, line=line)
    values = {c: (row[c] or "").strip() for c in present}
    values.update((c, "") for c in absent)
    yield line, values
    line = reader.line_num + 1


def require_value(row: dict[str, str], column: str, path: PathLike,
                  line: int) -> str:
  """The non-empty value of `column`, else an `EscoFileError`."""
  value = row[column]
  if not value:
    raise EscoFileError("empty value", path=path, line=line, column=column)
  return value


def split_labels(text: str) -> tuple[str, ...]:
  """Alternative labels: newline-separated in the main export, ' | ' in the
  collection files; blanks dropped, order kept, duplicates removed."""
  parts = (p.strip() for line in text.split("\n") for p in line.split(" | "))
  return tuple(dict.fromkeys(p for p in parts if p))
