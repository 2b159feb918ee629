"""Reads the texts to extract skills from: one per line, or JSON lines.

A file named `*.jsonl` holds one JSON object per line with a string field
"text"; any other file holds one text per line (line endings dropped, an
empty line is an empty text). Output keeps one record per input line, so
every line counts, blank JSON lines excepted, which are errors. Problems
raise `TextInputError` naming the file and the line.
"""

from __future__ import annotations

import json
import os
import pathlib

from cacl_jax.common import textfile


class TextInputError(ValueError):
  """Bad input, located by file and line."""


def read_texts(path: os.PathLike | str) -> list[str]:
  """The texts of `path`, in order (see module docstring)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise TextInputError(f"{path}: no such file")
  as_json = path.suffix.lower() == ".jsonl"
  texts = []
  try:
    for number, line in enumerate(textfile.iter_lines(path), start=1):
      line = line.rstrip("\r\n")
      texts.append(_json_text(path, number, line) if as_json else line)
  except textfile.TextDecodeError as e:
    raise TextInputError(str(e)) from None
  return texts


def _json_text(path: pathlib.Path, number: int, line: str) -> str:
  where = textfile.location(path, number)
  try:
    record = json.loads(line)
  except json.JSONDecodeError as e:
    raise TextInputError(f"{where}: not a JSON object ({e})") from None
  if not isinstance(record, dict) or not isinstance(record.get("text"), str):
    raise TextInputError(f"{where}: needs a JSON object with a string field "
                         "'text'")
  return record["text"]
