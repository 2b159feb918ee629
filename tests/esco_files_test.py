"""Tests for finding and reading ESCO CSV files by stem."""

import hashlib
import itertools
import pathlib

import pytest

from cacl_jax.common import textfile
from cacl_jax.ontology import esco_files as ef


def _touch(folder: pathlib.Path, *names: str) -> None:
  for name in names:
    (folder / name).write_text("a,b\n1,2\n", encoding="utf-8")


def test_finds_file_with_or_without_language_suffix(tmp_path):
  _touch(tmp_path, "occupationSkillRelations.csv", "skills_en.csv",
         "skillsHierarchy_en.csv", "skillGroups_en.csv")
  assert ef.find_esco_file(tmp_path, "occupationSkillRelations").name == (
      "occupationSkillRelations.csv")
  # 'skills' must not pick skillsHierarchy_en or skillGroups_en.
  assert ef.find_esco_file(tmp_path, "skills").name == "skills_en.csv"


def test_prefers_english_among_languages(tmp_path):
  _touch(tmp_path, "skills_de.csv", "skills_en.csv", "skills_fr.csv")
  assert ef.find_esco_file(tmp_path, "skills").name == "skills_en.csv"


def test_ambiguous_without_english_is_an_error(tmp_path):
  _touch(tmp_path, "skills_de.csv", "skills_fr.csv")
  with pytest.raises(ef.EscoFileError, match="ambiguous"):
    ef.find_esco_file(tmp_path, "skills")


def test_missing_required_file_names_folder_and_stem(tmp_path):
  with pytest.raises(ef.EscoFileError) as e:
    ef.find_esco_file(tmp_path, "occupations")
  assert str(tmp_path) in str(e.value) and "occupations" in str(e.value)
  assert ef.find_esco_file(tmp_path, "ISCOGroups", required=False) is None


def test_missing_folder_is_an_error(tmp_path):
  with pytest.raises(ef.EscoFileError, match="no such directory"):
    ef.find_esco_file(tmp_path / "nope", "skills")


def test_locate_reports_absent_optional_files(tmp_path):
  _touch(tmp_path, "skills_en.csv", "occupations_en.csv",
         "occupationSkillRelations_en.csv")
  files = ef.locate_esco_files(tmp_path)
  assert files.path(ef.ISCO_GROUPS) is None
  assert files.path(ef.SKILLS_HIERARCHY) is None
  assert files.path(ef.RELATIONS).name == "occupationSkillRelations_en.csv"


def test_fingerprint_follows_content_not_name(tmp_path):
  a, b = tmp_path / "a", tmp_path / "b"
  a.mkdir()
  b.mkdir()
  _touch(a, "skills_en.csv", "occupations_en.csv",
         "occupationSkillRelations.csv")
  _touch(b, "skills_en.csv", "occupations_en.csv",
         "occupationSkillRelations_en.csv")
  assert (ef.locate_esco_files(a).fingerprint()
          == ef.locate_esco_files(b).fingerprint())
  (b / "skills_en.csv").write_text("a,b\n1,3\n", encoding="utf-8")
  assert (ef.locate_esco_files(a).fingerprint()
          != ef.locate_esco_files(b).fingerprint())


def test_read_table_fills_missing_optional_columns(tmp_path):
  path = tmp_path / "skills_en.csv"
  path.write_text('conceptUri,preferredLabel\nu1,"multi\nline"\nu2,b\n',
                  encoding="utf-8")
  rows = list(ef.read_table(path, ef.SKILLS))
  assert [line for line, _ in rows] == [2, 4]
  assert rows[0][1]["preferredLabel"] == "multi\nline"
  assert rows[1][1] == {"conceptUri": "u2", "preferredLabel": "b",
                        "altLabels": "", "skillType": "", "reuseLevel": "",
                        "description": ""}


def test_read_table_handles_byte_order_mark(tmp_path):
  path = tmp_path / "skills_en.csv"
  path.write_text("\ufeffconceptUri,preferredLabel\nu1,a\n", encoding="utf-8")
  assert [r["conceptUri"] for _, r in ef.read_table(path, ef.SKILLS)] == ["u1"]


def test_read_table_counts_crlf_lines(tmp_path):
  path = tmp_path / "skills_en.csv"
  path.write_bytes(b'conceptUri,preferredLabel\r\nu1,"multi\r\nline"\r\n'
                   b"u2,b\r\n,c\r\n")
  rows = ef.read_table(path, ef.SKILLS)
  assert [line for line, _ in itertools.islice(rows, 2)] == [2, 4]
  with pytest.raises(ef.EscoFileError, match=f"{path}:5: column 'conceptUri'"):
    for line, row in rows:
      ef.require_value(row, "conceptUri", path, line)


def test_read_table_names_line_and_column_of_latin1_bytes(tmp_path):
  path = tmp_path / "skills_en.csv"
  path.write_bytes("\ufeffconceptUri,preferredLabel\nu1,a\n".encode()
                   + "u2,cuisson à la vapeur\n".encode("latin-1"))
  with pytest.raises(textfile.TextDecodeError) as e:
    list(ef.read_table(path, ef.SKILLS))
  assert (e.value.line, e.value.column) == (3, 12)
  assert str(e.value).startswith(f"{path}:3: column 12: not valid UTF-8 "
                                 "(byte 0xe0: invalid continuation byte)")


def test_file_sha256_hashes_the_bytes(tmp_path):
  path = tmp_path / "skills_en.csv"
  path.write_bytes(b"a,b\r\n1,2\r\n")
  assert ef.file_sha256(path) == hashlib.sha256(b"a,b\r\n1,2\r\n").hexdigest()


def test_missing_required_column_names_file_and_column(tmp_path):
  path = tmp_path / "occupations_en.csv"
  path.write_text("conceptUri,preferredLabel\nu,x\n", encoding="utf-8")
  with pytest.raises(ef.EscoFileError) as e:
    list(ef.read_table(path, ef.OCCUPATIONS))
  assert f"{path}:1: column 'iscoGroup'" in str(e.value)


def test_extra_fields_name_the_line(tmp_path):
  path = tmp_path / "skills_en.csv"
  path.write_text("conceptUri,preferredLabel\nu1,a\nu2,b,c\n",
                  encoding="utf-8")
  with pytest.raises(ef.EscoFileError, match=f"{path}:3"):
    list(ef.read_table(path, ef.SKILLS))


def test_require_value_names_line_and_column(tmp_path):
  with pytest.raises(ef.EscoFileError, match="f.csv:7: column 'skillUri'"):
    ef.require_value({"skillUri": ""}, "skillUri", tmp_path / "f.csv", 7)


def test_split_labels_newlines_and_pipes():
  assert ef.split_labels("a\nb | c\n\n a ") == ("a", "b", "c")
  assert ef.split_labels("") == ()
