"""Tests of cacl_jax.data.esco_tables: the generator's minimal ESCO reader."""

import csv
import shutil

import pytest

from cacl_jax.common import textfile
from cacl_jax.data import builtin
from cacl_jax.data import esco_tables
from cacl_jax.ontology import esco_files

BASE = "http://data.europa.eu/esco"
OCC_A = f"{BASE}/occupation/a"
OCC_B = f"{BASE}/occupation/b"
SKILL_1 = f"{BASE}/skill/1"
SKILL_2 = f"{BASE}/skill/2"


def _write(path, header, rows):
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


@pytest.fixture
def tiny(tmp_path):
  """A two-occupation folder with a multi-line altLabels field."""
  _write(tmp_path / "ISCOGroups_en.csv", ["conceptUri", "code", "preferredLabel"],
         [[f"{BASE}/isco/C2512", "2512", "Software developers"],
          [f"{BASE}/isco/C5120", "5120", "Cooks"]])
  _write(tmp_path / "occupations_en.csv",
         ["conceptUri", "iscoGroup", "preferredLabel", "altLabels", "description"],
         [[OCC_A, "2512", "software developer", "coder\nprogrammer\n\ncoder",
           "Writes\n  programs."],
          [OCC_B, "5120", "cook", "", ""]])
  _write(tmp_path / "skills_en.csv",
         ["conceptUri", "skillType", "preferredLabel", "altLabels", "description"],
         [[SKILL_1, "knowledge", "Python", "Python 3", "A language."],
          [SKILL_2, "skill/competence", "cook food", "", ""]])
  _write(tmp_path / "occupationSkillRelations.csv",
         ["occupationUri", "relationType", "skillType", "skillUri"],
         [[OCC_A, "essential", "knowledge", SKILL_1],
          [OCC_A, "optional", "skill/competence", SKILL_2],
          [OCC_B, "essential", "skill/competence", SKILL_2],
          [OCC_B, "essential", "skill/competence", SKILL_2],
          [OCC_B, "optional", "knowledge", f"{BASE}/skill/unknown"],
          [f"{BASE}/occupation/unknown", "essential", "knowledge", SKILL_1]])
  return tmp_path


def test_reads_the_tiny_folder(tiny):
  tables = esco_tables.load_tables(tiny)
  assert tables.folder == tiny
  assert tables.isco_groups == {"2512": "Software developers", "5120": "Cooks"}
  assert tables.occupations[OCC_A] == esco_tables.Occupation(
      uri=OCC_A, label="software developer", alt_labels=("coder", "programmer"),
      isco_group="2512", description="Writes programs.")
  assert tables.skills[SKILL_1] == esco_tables.SkillConcept(
      uri=SKILL_1, label="Python", alt_labels=("Python 3",),
      skill_type="knowledge", description="A language.")
  assert tables.essential == {OCC_A: (SKILL_1,), OCC_B: (SKILL_2,)}
  assert tables.optional == {OCC_A: (SKILL_2,)}
  assert tables.occupation_skills(OCC_A) == (SKILL_1, SKILL_2)
  assert tables.occupation_skills(f"{BASE}/occupation/none") == ()
  assert tables.skipped_relations == 2


def test_finds_tables_by_stem_and_reports_a_missing_one(tiny):
  shutil.copy(tiny / "skills_en.csv", tiny / "skills_de.csv")
  assert SKILL_1 in esco_tables.load_tables(tiny).skills  # English wins
  (tiny / "occupationSkillRelations.csv").unlink()
  with pytest.raises(esco_files.EscoFileError,
                     match="required ESCO file 'occupationSkillRelations'"):
    esco_tables.load_tables(tiny)
  with pytest.raises(esco_files.EscoFileError, match="not an ESCO folder"):
    esco_tables.load_tables(tiny / "absent")


def test_byte_order_mark_is_accepted(tiny):
  path = tiny / "skills_en.csv"
  path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
  assert SKILL_1 in esco_tables.load_tables(tiny).skills


def _expect_error(tiny, name, header, rows, *, line, column, message):
  _write(tiny / name, header, rows)
  with pytest.raises(esco_files.EscoFileError) as info:
    esco_tables.load_tables(tiny)
  error = info.value
  assert (error.path, error.line, error.column) == (str(tiny / name), line,
                                                     column)
  prefix = f"{tiny / name}:{line}: " + (f"column '{column}': " if column else "")
  assert str(error) == prefix + message


def test_missing_column_is_located(tiny):
  _expect_error(tiny, "skills_en.csv",
                ["conceptUri", "skillType", "altLabels", "description"],
                [[SKILL_1, "knowledge", "", ""]],
                line=1, column="preferredLabel",
                message="required column missing")


def test_empty_required_value_is_located_after_multiline_fields(tiny):
  _expect_error(tiny, "skills_en.csv",
                ["conceptUri", "skillType", "preferredLabel", "altLabels",
                 "description"],
                [[SKILL_1, "knowledge", "Python", "a\nb\nc", ""],
                 ["", "knowledge", "Java", "", ""]],
                line=5, column="conceptUri", message="empty value")


def test_unknown_relation_type_is_located(tiny):
  _expect_error(tiny, "occupationSkillRelations.csv",
                ["occupationUri", "relationType", "skillType", "skillUri"],
                [[OCC_A, "essential", "knowledge", SKILL_1],
                 [OCC_A, "required", "knowledge", SKILL_2]],
                line=3, column="relationType",
                message="unknown relation type 'required'; expected one of "
                "('essential', 'optional')")


def test_unknown_isco_group_is_located(tiny):
  _expect_error(tiny, "occupations_en.csv",
                ["conceptUri", "iscoGroup", "preferredLabel", "altLabels",
                 "description"],
                [[OCC_A, "9999", "astronaut", "", ""]],
                line=2, column="iscoGroup", message="unknown ISCO group '9999'")


def test_duplicate_skill_is_located(tiny):
  _expect_error(tiny, "skills_en.csv",
                ["conceptUri", "skillType", "preferredLabel", "altLabels",
                 "description"],
                [[SKILL_1, "knowledge", "Python", "", ""],
                 [SKILL_1, "knowledge", "Python again", "", ""]],
                line=3, column="conceptUri",
                message=f"duplicate skill {SKILL_1}")


def test_row_longer_than_header_is_located(tiny):
  _expect_error(tiny, "ISCOGroups_en.csv", ["conceptUri", "code", "preferredLabel"],
                [[f"{BASE}/isco/C2512", "2512", "Software developers", "extra"]],
                line=2, column=None, message="1 more fields than the header")


@pytest.mark.parametrize("name, what", [("skills_en.csv", "skill"),
                                        ("occupations_en.csv", "occupation")])
def test_header_only_table_is_named(tiny, name, what):
  path = tiny / name
  path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n",
                  encoding="utf-8")
  with pytest.raises(esco_files.EscoFileError) as info:
    esco_tables.load_tables(tiny)
  assert str(info.value) == f"{path}: has no {what} rows (only a header)"


def test_isco_groups_file_is_optional(tiny):
  (tiny / "ISCOGroups_en.csv").unlink()
  _write(tiny / "occupations_en.csv",
         ["conceptUri", "iscoGroup", "preferredLabel"],
         [[OCC_A, "2512", "software developer"], [OCC_B, "9999", "cook"]])
  tables = esco_tables.load_tables(tiny)
  assert tables.isco_groups == {}
  assert [o.isco_group for o in tables.occupations.values()] == ["2512",
                                                                 "9999"]


def test_latin1_bytes_are_located(tiny):
  path = tiny / "skills_en.csv"
  path.write_bytes(path.read_bytes().replace(b"cook food", b"cr\xe8me"))
  with pytest.raises(textfile.TextDecodeError) as info:
    esco_tables.load_tables(tiny)
  assert (info.value.path, info.value.line, info.value.column) == (
      str(path), 3, len(f"{SKILL_2},skill/competence,cr") + 1)


def test_reads_the_builtin_ontology():
  tables = esco_tables.load_tables(builtin.builtin_esco_dir())
  assert len(tables.occupations) == 30
  assert len(tables.skills) == 201
  assert sum(map(len, tables.essential.values())) == 252
  assert sum(map(len, tables.optional.values())) == 115
  assert tables.skipped_relations == 0
  by_label = {o.label: o for o in tables.occupations.values()}
  developer = by_label["software developer"]
  assert developer.isco_group == "2512"
  assert "software engineer" in developer.alt_labels
  assert tables.isco_groups["2512"] == "Software developers"
  names = {tables.skills[u].label for u in tables.essential[developer.uri]}
  assert {"Python programming", "Java programming"} <= names


@pytest.mark.parametrize("version, counts", [
    # occupations, skills, essential, optional, skipped (an occupation that
    # only occupationSkillRelations.csv of v1.1.1 names: 67 rows)
    ("v1.2.0", (3039, 13939, 67622, 61382, 0)),
    ("v1.1.1", (3007, 13896, 64891, 58897, 67)),
])
def test_reads_real_esco(esco_root, version, counts):
  tables = esco_tables.load_tables(esco_root / version)
  assert (len(tables.occupations), len(tables.skills),
          sum(map(len, tables.essential.values())),
          sum(map(len, tables.optional.values())),
          tables.skipped_relations) == counts
  assert len(tables.isco_groups) == 619
  assert all(len(o.isco_group) == 4 for o in tables.occupations.values())
