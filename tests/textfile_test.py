"""Tests of cacl_jax.common.textfile: strict UTF-8 lines with located errors."""

from __future__ import annotations

import csv

import pytest

from cacl_jax.common import textfile


def _lines(tmp_path, data: bytes) -> list[str]:
  path = tmp_path / "f.txt"
  path.write_bytes(data)
  return list(textfile.iter_lines(path))


def _error(tmp_path, data: bytes) -> textfile.TextDecodeError:
  path = tmp_path / "bad.csv"
  path.write_bytes(data)
  with pytest.raises(textfile.TextDecodeError) as info:
    list(textfile.iter_lines(path))
  assert info.value.path == str(path)
  return info.value


def test_lines_keep_every_kind_of_ending(tmp_path):
  assert _lines(tmp_path, b"a\nb\r\nc\rd") == ["a\n", "b\r\n", "c\r", "d"]
  assert _lines(tmp_path, b"\r\r\n\n") == ["\r", "\r\n", "\n"]
  assert _lines(tmp_path, b"") == []


def test_only_a_leading_byte_order_mark_is_dropped(tmp_path):
  bom = "\ufeff".encode()
  assert _lines(tmp_path, bom + b"x\n" + bom + b"y\n") == ["x\n",
                                                         "\ufeffy\n"]


def test_multi_byte_characters_are_decoded(tmp_path):
  assert _lines(tmp_path, "Süd 🌙\r\nnaïve\n".encode()) == ["Süd 🌙\r\n",
                                                            "naïve\n"]


def test_latin1_byte_names_file_line_and_column(tmp_path):
  error = _error(tmp_path, "a,b\nc,d\ncafé au lait\n".encode("latin-1"))
  assert (error.line, error.column, error.bad_bytes) == (3, 4, b"\xe9")
  assert str(error) == (
      f"{error.path}:3: column 4: not valid UTF-8 (byte 0xe9: invalid "
      "continuation byte). Save the file as UTF-8, e.g. if it is Latin-1: "
      f"iconv -f latin1 -t utf-8 {error.path} > OUT")


def test_column_counts_characters_and_skips_the_bom(tmp_path):
  error = _error(tmp_path, b"\xef\xbb\xbf" + "naïve ".encode() + b"\xff\n")
  assert (error.line, error.column) == (1, 7)
  error = _error(tmp_path, "x\r\n€".encode() + b"\xe2\x82")
  assert (error.line, error.column, error.bad_bytes) == (2, 2, b"\xe2\x82")
  assert "(bytes 0xe2 0x82: unexpected end of data)" in str(error)


def test_lines_before_the_bad_one_are_yielded_first(tmp_path):
  path = tmp_path / "f.txt"
  path.write_bytes(b"ok\n\xe9\n")
  lines = textfile.iter_lines(path)
  assert next(lines) == "ok\n"
  with pytest.raises(textfile.TextDecodeError, match=r"f\.txt:2: column 1:"):
    next(lines)


def test_csv_reader_counts_physical_lines(tmp_path):
  path = tmp_path / "t.csv"
  path.write_bytes(b'\xef\xbb\xbfid,text\r\n1,"two\r\nlines"\r\n2,x\r\n'
                   b'3,"a\rb"\r4,y\n')
  reader = csv.reader(textfile.iter_lines(path))
  rows = []
  for row in reader:
    rows.append((reader.line_num, row))
  assert rows == [(1, ["id", "text"]), (3, ["1", "two\r\nlines"]),
                  (4, ["2", "x"]), (6, ["3", "a\rb"]), (7, ["4", "y"])]
