"""Resumes, jobs and pairs to score, read from the user's files.

A resume or job file is one of:
- a folder: every `*.txt` file in it is one document (its text, UTF-8), named
  by its file name without `.txt`, in name order; other files in the folder
  are listed in a warning, never read;
- `*.jsonl`: one JSON object per line, either a §3.4 resume / job object
  (the `resume` / `job` of a training pair) or {"text": ...} with free text;
  an optional "id" (or "resume_id" / "job_id") names it, else a job object's
  `job_id`, else `<file stem>:<line>`;
- `*.csv`: a header with a text column — "text", or "resume_text" for
  resumes and "job_description_text" for jobs (the fit CSV's columns) — and
  an optional "id" column; other columns are ignored.
A pairs file (`read_pairs`) is the training JSONL layout, where "label" may
be left out to score unlabelled pairs, or the fit CSV layout
(`data.csv_import`).

Every document is kept: an empty text, a blank line, a malformed record,
a missing column or a repeated id raises `InputError` naming the file, the
line and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pathlib
from typing import Any, Callable, Iterator, Sequence

from absl import logging

from cacl_jax.common import textfile
from cacl_jax.data import csv_import, records

KINDS = ("resume", "job")
_CSV_TEXT_COLUMNS = {"resume": ("text", "resume_text"),
                     "job": ("text", "job_description_text")}
_ID_FIELDS = {"resume": ("id", "resume_id"), "job": ("id", "job_id")}

SkillExtractor = Callable[[str], Sequence[records.Skill]]


class InputError(ValueError):
  """A resume, job or pairs file that cannot be read, located by file, line
  and field."""


@dataclasses.dataclass(frozen=True)
class Document:
  """One resume or job to score: a §3.4 record, or free text (`record` None)."""
  doc_id: str
  record: records.Resume | records.Job | None = None
  text: str | None = None


@dataclasses.dataclass(frozen=True)
class PairInput:
  """A resume–job pair to score; `label` is None when the file gives none."""
  pair_id: str
  resume: records.Resume
  job: records.Job
  label: str | None = None


def _error(path, line: int | None, field: str | None, message: str
           ) -> InputError:
  return InputError(f"{textfile.location(path, line, 'field', field)}: "
                    f"{message}")


def _check_kind(kind: str) -> None:
  if kind not in KINDS:
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _lines(path: pathlib.Path) -> Iterator[tuple[int, str]]:
  try:
    for number, line in enumerate(textfile.iter_lines(path), start=1):
      yield number, line.rstrip("\r\n")
  except textfile.TextDecodeError as e:
    raise InputError(str(e)) from None


def _given_id(obj: dict, kind: str, path, line: int) -> str | None:
  for name in _ID_FIELDS[kind]:
    value = obj.get(name)
    if value is None:
      continue
    if not isinstance(value, (str, int)) or isinstance(value, bool) \
        or not str(value).strip():
      raise _error(path, line, name, f"expected a non-empty string or an "
                   f"integer, got {value!r}")
    return str(value)
  return None


def _json_object(path: pathlib.Path, line: int, text: str) -> dict:
  """The JSON object of one line; InputError for anything else."""
  if not text.strip():
    raise _error(path, line, None, "blank line; every line must hold a "
                 "JSON object")
  try:
    obj = json.loads(text)
  except json.JSONDecodeError as e:
    raise _error(path, line, None, f"not a JSON object ({e})") from None
  if not isinstance(obj, dict):
    raise _error(path, line, None, f"expected a JSON object, got "
                 f"{type(obj).__name__}")
  return obj


def _json_document(path: pathlib.Path, line: int, text: str,
                   kind: str) -> Document:
  obj = _json_object(path, line, text)
  doc_id = _given_id(obj, kind, path, line)
  default_id = f"{path.stem}:{line}"
  if "text" in obj:
    if not isinstance(obj["text"], str) or not obj["text"].strip():
      raise _error(path, line, "text", "expected a non-empty string")
    return Document(doc_id=doc_id or default_id, text=obj["text"])
  try:
    if kind == "resume":
      record = records.resume_from_dict(obj, source=str(path), line=line)
    else:
      record = records.job_from_dict(obj, source=str(path), line=line)
  except records.RecordError as e:
    raise InputError(str(e)) from None
  if doc_id is None:
    doc_id = record.job_id if kind == "job" else default_id
  return Document(doc_id=doc_id, record=record)


def _jsonl_documents(path: pathlib.Path, kind: str
                     ) -> Iterator[tuple[int, Document]]:
  for line, text in _lines(path):
    yield line, _json_document(path, line, text, kind)


def _csv_documents(path: pathlib.Path, kind: str
                   ) -> Iterator[tuple[int, Document]]:
  try:
    reader = csv.DictReader(textfile.iter_lines(path))
    header = reader.fieldnames or ()
    columns = [c for c in _CSV_TEXT_COLUMNS[kind] if c in header]
    if not columns:
      raise _error(path, 1, None, f"no text column: expected one of "
                   f"{', '.join(_CSV_TEXT_COLUMNS[kind])}, found "
                   f"{list(header)}")
    column = columns[0]
    line = reader.line_num + 1
    for row in reader:
      if None in row:
        raise _error(path, line, None, f"row has more fields than the "
                     f"header's {len(header)}; quote fields that contain "
                     "commas")
      text = row.get(column)
      if text is None or not text.strip():
        raise _error(path, line, column, "empty text")
      doc_id = _given_id({k: v for k, v in row.items() if v}, kind, path,
                         line)
      yield line, Document(doc_id=doc_id or f"{path.stem}:{line}",
                           text=text.strip())
      line = reader.line_num + 1
  except textfile.TextDecodeError as e:
    raise InputError(str(e)) from None


def _folder_documents(path: pathlib.Path
                      ) -> Iterator[tuple[int | None, Document]]:
  texts = sorted(p for p in path.iterdir()
                 if p.is_file() and p.suffix.lower() == ".txt")
  others = sorted(p.name for p in path.iterdir()
                  if not (p.is_file() and p.suffix.lower() == ".txt"))
  if others:
    logging.warning("%s: %d entries are not .txt files and were not read: "
                    "%s", path, len(others), ", ".join(others[:10]))
  if not texts:
    raise _error(path, None, None, "the folder holds no .txt file")
  for file in texts:
    text = "\n".join(line for _, line in _lines(file)).strip()
    if not text:
      raise _error(file, None, None, "empty text")
    yield None, Document(doc_id=file.stem, text=text)


def _unique(path: pathlib.Path, found: Iterator[tuple[int | None, Any]],
            key: Callable[[Any], str], field: str, what: str) -> list:
  """The items of `found` ((line, item) pairs) in order; InputError at the
  first whose `key` an earlier one has."""
  out, seen = [], {}
  for line, item in found:
    if key(item) in seen:
      raise _error(path, line, field, f"{field} {key(item)!r} already names "
                   f"the {what} of line {seen[key(item)]}")
    seen[key(item)] = line
    out.append(item)
  return out


def read_documents(path: str | os.PathLike, kind: str) -> list[Document]:
  """The resumes (`kind` "resume") or jobs ("job") of a file or folder, in
  order (see the module docstring)."""
  _check_kind(kind)
  path = pathlib.Path(path)
  if path.is_dir():
    found = _folder_documents(path)
  elif not path.is_file():
    raise InputError(f"{path}: no such file or folder")
  elif path.suffix.lower() == ".jsonl":
    found = _jsonl_documents(path, kind)
  elif path.suffix.lower() == ".csv":
    found = _csv_documents(path, kind)
  else:
    raise InputError(f"{path}: unsupported file type {path.suffix!r}; give "
                     "a .jsonl or .csv file or a folder of .txt files")
  return _unique(path, found, lambda d: d.doc_id, "id", "document")


def _json_pair(path: pathlib.Path, line: int, text: str) -> PairInput:
  obj = _json_object(path, line, text)
  try:
    if obj.get("label") is None:
      obj = dict(obj, label=records.LABELS[0])
      pair = records.pair_from_dict(obj, source=str(path), line=line)
      return PairInput(pair.pair_id, pair.resume, pair.job, None)
    pair = records.pair_from_dict(obj, source=str(path), line=line)
  except records.RecordError as e:
    raise InputError(str(e)) from None
  return PairInput(pair.pair_id, pair.resume, pair.job, pair.label)


def read_pairs(path: str | os.PathLike,
               extract_skills: Callable[[], SkillExtractor]) -> list[PairInput]:
  """The pairs of a JSONL or fit CSV file, in order.

  `extract_skills()` gives the skill extractor the fit CSV's texts need
  (called only for a CSV file).
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise InputError(f"{path}: no such file")
  if path.suffix.lower() == ".csv":
    try:
      pairs = csv_import.read_fit_csv(path, extract_skills())
    except (records.RecordError, textfile.TextDecodeError) as e:
      raise InputError(str(e)) from None
    return [PairInput(p.pair_id, p.resume, p.job, p.label) for p in pairs]
  return _unique(path, ((line, _json_pair(path, line, text))
                         for line, text in _lines(path)),
                 lambda p: p.pair_id, "pair_id", "pair")
