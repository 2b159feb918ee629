"""Reads a text file as strict UTF-8, line by line, with located errors.

Opening a file in text mode and hitting a stray Latin-1 byte gives a raw
`UnicodeDecodeError` whose offset counts from the start of an internal read
buffer, so it names neither the file nor the line. `iter_lines` reads bytes
and decodes one physical line at a time instead: undecodable bytes raise
`TextDecodeError` with the file, the 1-based line and character column, the
bytes in hex and how to fix the file.

Lines end at "\\n", "\\r\\n" or a lone "\\r", as in a file opened with
`newline=""`, and keep their endings, so `csv.reader` can consume the lines
(quoted fields spanning several lines included) and its `line_num` counts
physical lines. Neither "\\n" nor "\\r" can occur inside a multi-byte UTF-8
sequence, so decoding line by line accepts exactly the files that decoding
the whole file would.
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
from typing import BinaryIO, Iterator

PathLike = str | os.PathLike

_LONE_CR = re.compile(rb"\r(?!\n)")


def location(path: PathLike, line: int | None = None, kind: str = "",
             name: str | None = None) -> str:
  """How every located error starts: 'path', 'path:line', then e.g.
  ": field 'x'" for `kind` "field" and `name` "x"."""
  where = str(path) if line is None else f"{path}:{line}"
  return f"{where}: {kind} '{name}'" if name else where


class TextDecodeError(ValueError):
  """Bytes of a text file that are not UTF-8, located by line and column."""

  def __init__(self, path: PathLike, line: int, column: int,
               bad_bytes: bytes, reason: str):
    self.path, self.line, self.column = str(path), line, column
    self.bad_bytes = bad_bytes
    hex_bytes = " ".join(f"0x{b:02x}" for b in bad_bytes)
    super().__init__(
        f"{self.path}:{line}: column {column}: not valid UTF-8 "
        f"(byte{'s' if len(bad_bytes) > 1 else ''} {hex_bytes}: {reason}). "
        "Save the file as UTF-8, e.g. if it is Latin-1: iconv -f latin1 "
        f"-t utf-8 {shlex.quote(self.path)} > OUT")


def _physical_lines(f: BinaryIO) -> Iterator[bytes]:
  """The lines of `f`, split after "\\n", "\\r\\n" and a lone "\\r"."""
  for chunk in f:
    start = 0
    if b"\r" in chunk:
      for match in _LONE_CR.finditer(chunk):
        yield chunk[start:match.end()]
        start = match.end()
    if start < len(chunk):
      yield chunk[start:]


def iter_lines(path: PathLike) -> Iterator[str]:
  """Yields the decoded lines of `path`, endings kept, a leading BOM dropped.

  Raises `TextDecodeError` at the first line that is not valid UTF-8.
  """
  with open(path, "rb") as f:
    for line_no, raw in enumerate(_physical_lines(f), start=1):
      if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
      try:
        yield raw.decode("utf-8")
      except UnicodeDecodeError as e:
        column = len(raw[:e.start].decode("utf-8")) + 1
        raise TextDecodeError(path, line_no, column, raw[e.start:e.end],
                              e.reason) from None
