"""Reads free-text resume–job CSVs into `Pair` records.

The layout is that of the public `cnamuangtoun/resume-job-description-fit`
data set (columns `resume_text`, `job_description_text`, `label` with values
No Fit / Potential Fit / Good Fit), which users download themselves. Rows
carry no structure, so the whole resume becomes the profile text and the whole
posting the job description; the resume's role and experience level and the
job's title are read from the texts where they state them
(`text_fields.fill_pair`; `text_fields.fill_pairs` over the read pairs counts
how often), and skills come from the optional extractor. Jobs are identified
by a hash of their text so that repeated postings share one job_id.

The file must be UTF-8 (a leading byte order mark is dropped); other bytes
raise `textfile.TextDecodeError` naming the line and column. A row with too
few or too many fields, an empty text or an unknown label raises a
`RecordError` naming the file, the row's first line and the field.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pathlib
from typing import Callable, Iterator, Sequence

from cacl_jax.common import textfile
from cacl_jax.data import records, text_fields

REQUIRED_COLUMNS = ("resume_text", "job_description_text", "label")
_LABELS = {"no fit": "no_fit", "potential fit": "potential_fit",
           "good fit": "good_fit"}

SkillExtractor = Callable[[str], Sequence[records.Skill]]


def job_id_for(text: str) -> str:
  return "job-" + hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def resume_from_text(text: str,
                     extract_skills: SkillExtractor | None = None
                     ) -> records.Resume:
  """A resume that is only its free text (the whole text one experience
  description), with the skills `extract_skills` reads off it."""
  skills = tuple(extract_skills(text)) if extract_skills else ()
  return records.Resume(
      role="", experience_level="", skills=skills,
      experience=(records.ExperienceEntry(title="", description=text),),
      skill_uris=_uris(skills))


def job_from_text(text: str, extract_skills: SkillExtractor | None = None,
                  job_id: str | None = None) -> records.Job:
  """A job that is only its posting text, identified by `job_id` or else by
  a hash of the text, with the skills `extract_skills` reads off it."""
  skills = tuple(extract_skills(text)) if extract_skills else ()
  return records.Job(job_id=job_id or job_id_for(text), title="",
                     description=text, required_skills=skills,
                     skill_uris=_uris(skills))


def _label(raw: str, path: pathlib.Path, line: int) -> str:
  key = " ".join(raw.replace("_", " ").lower().split())
  if key not in _LABELS:
    raise records.RecordError(
        f"unknown label {raw!r}; expected one of No Fit, Potential Fit, "
        "Good Fit", source=str(path), line=line, field="label")
  return _LABELS[key]


def iter_fit_csv(path: str | os.PathLike,
                 extract_skills: SkillExtractor | None = None
                 ) -> Iterator[records.Pair]:
  """Yields one pair per CSV row; `line` in errors is the row's first line."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such CSV file")
  reader = csv.DictReader(textfile.iter_lines(path))
  missing = [c for c in REQUIRED_COLUMNS
             if c not in (reader.fieldnames or ())]
  if missing:
    raise records.RecordError(
        f"missing required column(s) {', '.join(missing)}; found "
        f"{reader.fieldnames}", source=str(path), line=1,
        field=missing[0])
  line = reader.line_num + 1
  for row_no, row in enumerate(reader):
    _check_row(row, reader.fieldnames, path, line)
    resume_text = row["resume_text"].strip()
    job_text = row["job_description_text"].strip()
    pair, _ = text_fields.fill_pair(records.Pair(
        pair_id=f"{path.stem}-{row_no:07d}",
        resume=resume_from_text(resume_text, extract_skills),
        job=job_from_text(job_text, extract_skills),
        label=_label(row["label"], path, line)))
    yield pair
    line = reader.line_num + 1


def _check_row(row: dict[str | None, str | list[str] | None],
               header: Sequence[str], path: pathlib.Path, line: int) -> None:
  """Rejects a row with more fields than the header, or a required field
  that is missing or (for texts) empty."""
  if None in row:
    raise records.RecordError(
        f"row has {len(header) + len(row[None])} fields but the header has "
        f"{len(header)}; quote fields that contain commas", source=str(path),
        line=line)
  for column in REQUIRED_COLUMNS:
    if row.get(column) is None:
      raise records.RecordError("row has too few columns", source=str(path),
                                line=line, field=column)
    if column != "label" and not row[column].strip():
      raise records.RecordError("empty text", source=str(path), line=line,
                                field=column)


def _uris(skills: Sequence[records.Skill]) -> tuple[str, ...]:
  return tuple(dict.fromkeys(s.uri for s in skills if s.uri))


def read_fit_csv(path: str | os.PathLike,
                 extract_skills: SkillExtractor | None = None
                 ) -> list[records.Pair]:
  return list(iter_fit_csv(path, extract_skills))
