"""Tests for reading free-text fit CSVs (the public resume-job-description-fit layout)."""

import csv

import pytest

from cacl_jax.common import textfile
from cacl_jax.data import csv_import, records, text_fields


def _write(path, rows, header=("resume_text", "job_description_text", "label")):
  with path.open("w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)
  return path


def test_reads_rows_labels_and_shared_jobs(tmp_path):
  path = _write(tmp_path / "train.csv", [
      ("Nurse with ten years\nof ward experience", "Ward nurse wanted", "Good Fit"),
      ("Accountant", "Ward nurse wanted", "No Fit"),
      ("Barista", "Head chef", "Potential Fit"),
  ])
  pairs = csv_import.read_fit_csv(path)
  assert [p.label for p in pairs] == ["good_fit", "no_fit", "potential_fit"]
  assert [p.binary_label for p in pairs] == [1, 0, 0]
  assert pairs[0].job.job_id == pairs[1].job.job_id != pairs[2].job.job_id
  assert pairs[0].resume.experience[0].description == (
      "Nurse with ten years\nof ward experience")
  assert [p.pair_id for p in pairs] == ["train-0000000", "train-0000001",
                                        "train-0000002"]


def test_skill_extractor_fills_skills_and_uris(tmp_path):
  path = _write(tmp_path / "d.csv", [("knows python and sql", "python dev", "Good Fit")])

  def extract(text):
    return [records.Skill(name=w, uri=f"u:{w}") for w in ("python", "sql") if w in text]

  pair, = csv_import.read_fit_csv(path, extract)
  assert pair.resume.skill_uris == ("u:python", "u:sql")
  assert pair.job.skill_uris == ("u:python",)
  assert pair.job.required_skills == (records.Skill("python", "u:python"),)


def test_unknown_label_names_file_line_and_field(tmp_path):
  # The first row spans two physical lines, so the bad row starts on line 4.
  path = _write(tmp_path / "bad.csv", [("a\nb", "job", "Good Fit"), ("c", "job", "Maybe")])
  with pytest.raises(records.RecordError) as e:
    csv_import.read_fit_csv(path)
  assert e.value.line == 4 and e.value.field == "label"
  assert f"{path}:4: field 'label'" in str(e.value)


def test_missing_column_and_empty_text(tmp_path):
  path = _write(tmp_path / "cols.csv", [("a", "Good Fit")], header=("resume_text", "label"))
  with pytest.raises(records.RecordError, match="job_description_text"):
    csv_import.read_fit_csv(path)
  path = _write(tmp_path / "empty.csv", [("a", "job", "No Fit"), ("  ", "job", "No Fit")])
  with pytest.raises(records.RecordError) as e:
    csv_import.read_fit_csv(path)
  assert (e.value.line, e.value.field) == (3, "resume_text")


def test_row_with_more_fields_than_the_header_is_rejected(tmp_path):
  path = _write(tmp_path / "extra.csv", [("a\nb", "job", "Good Fit"),
                                         ("c", "job", "No Fit", "extra")])
  with pytest.raises(records.RecordError) as e:
    csv_import.read_fit_csv(path)
  assert (e.value.line, e.value.field) == (4, None)
  assert str(e.value) == (f"{path}:4: row has 4 fields but the header has 3; "
                          "quote fields that contain commas")


def test_latin1_text_names_line_and_column(tmp_path):
  path = tmp_path / "latin1.csv"
  path.write_bytes("resume_text,job_description_text,label\n"
                   "Nurse,Ward nurse,Good Fit\n"
                   "Cook,Chef de cuisine (m/f) à Paris,No Fit\n"
                   .encode("latin-1"))
  with pytest.raises(textfile.TextDecodeError) as e:
    csv_import.read_fit_csv(path)
  assert (e.value.line, e.value.column) == (3, 28)
  assert str(e.value).startswith(f"{path}:3: column 28: not valid UTF-8")


def test_byte_order_mark_and_crlf_multiline_rows_keep_line_numbers(tmp_path):
  # csv.writer ends rows with CRLF; the quoted resume spans lines 2-3.
  path = _write(tmp_path / "bom.csv", [("a\r\nb", "job", "Good Fit"),
                                       ("c", "job", "Maybe")])
  path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
  pairs = csv_import.iter_fit_csv(path)
  assert next(pairs).resume.experience[0].description == "a\r\nb"
  with pytest.raises(records.RecordError, match=f"{path}:4: field 'label'"):
    next(pairs)


def test_role_level_and_title_are_read_from_the_texts_and_counted(tmp_path):
  path = _write(tmp_path / "fit.csv", [
      ("Senior Data Analyst\nBuilt dashboards in SQL for 6 years.",
       "Job Title: Data Engineer Location: Berlin\n3-5 years of experience",
       "Good Fit"),
      ("Summary\nCook with 2 years of kitchen experience.",
       "Head Chef\nRun our kitchen.", "No Fit"),
      ("Barista\nEspresso and latte art.", "Head Chef\nRun our kitchen.",
       "Potential Fit"),
  ])
  pairs = csv_import.read_fit_csv(path)
  assert [(p.resume.role, p.resume.experience_level) for p in pairs] == [
      ("Data Analyst", "Senior"), ("", "Junior"), ("Barista", "")]
  assert [p.job.title for p in pairs] == ["Data Engineer", "Head Chef",
                                          "Head Chef"]
  # The texts stay whole; the reader filled every field, so counting over
  # the read pairs finds nothing left to fill.
  assert pairs[0].resume.experience[0].description.startswith(
      "Senior Data Analyst\n")
  again, counts = text_fields.fill_pairs(pairs)
  assert again == pairs
  assert counts == text_fields.FieldCounts(
      resumes=3, jobs=2, resume_titles=2, resume_levels=2, resume_years=1,
      job_titles=2)
