"""Tests of cacl_jax.data.jsonl_io: streaming reader and atomic writer."""

import json
import os

import pytest

from cacl_jax.common import textfile
from cacl_jax.data import jsonl_io
from cacl_jax.data import records

URI_A = "http://data.europa.eu/esco/skill/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
URI_B = "http://data.europa.eu/esco/skill/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


def _pair(i: int, label: str = "no_fit") -> records.Pair:
  return records.Pair(
      pair_id=f"p{i}",
      resume=records.Resume(
          role="Pflegefachkraft – Intensivstation", experience_level="Junior",
          skills=(records.Skill("wound care", URI_A),
                  records.Skill("teamwork spirit")),
          experience=(records.ExperienceEntry("Nurse", "Klinikum Süd",
                                              "Cared for\n\"ICU\" patients."),),
          skill_uris=(URI_A,)),
      job=records.Job(job_id=f"j{i % 2}", title="ICU Nurse",
                      description="Night shifts 🌙.",
                      required_skills=(records.Skill("CPR", URI_B),),
                      skill_uris=(URI_B,)),
      label=label,
      metadata=records.PairMetadata(quality_tier="B",
                                    ontology_similarity=1 / 3,
                                    ot_distance=None))


def _write_lines(path, objs):
  path.write_text("".join(
      (o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs),
      encoding="utf-8")


def test_write_then_read_round_trip_is_lossless(tmp_path):
  pairs = [_pair(i, label) for i, label in enumerate(records.LABELS * 2)]
  path = tmp_path / "sub" / "pairs.jsonl"
  assert jsonl_io.write_pairs(path, iter(pairs)) == len(pairs)
  assert jsonl_io.read_pairs(path) == pairs
  lines = path.read_text(encoding="utf-8").splitlines()
  assert len(lines) == len(pairs)
  assert json.loads(lines[0])["binary_label"] == 1
  assert "Süd" in lines[0]  # written as UTF-8, not \u escapes


def test_reader_streams_and_skips_blank_lines(tmp_path):
  path = tmp_path / "pairs.jsonl"
  good = records.pair_to_dict(_pair(0))
  _write_lines(path, [good, "", "   ", "{broken"])
  stream = jsonl_io.iter_pairs(path)
  assert next(stream) == _pair(0)  # the bad line 4 is not read yet
  with pytest.raises(records.RecordError, match=r":4: malformed JSON"):
    next(stream)


def _error_for(tmp_path, bad_line) -> records.RecordError:
  path = tmp_path / "bad.jsonl"
  _write_lines(path, [records.pair_to_dict(_pair(0)),
                      records.pair_to_dict(_pair(1)), bad_line])
  with pytest.raises(records.RecordError) as info:
    jsonl_io.read_pairs(path)
  error = info.value
  assert error.source == str(path)
  assert error.line == 3
  assert str(error).startswith(f"{path}:3: ")
  return error


def test_malformed_json_names_file_line_and_column(tmp_path):
  error = _error_for(tmp_path, '{"pair_id": "p9", "label": }')
  assert error.field is None
  assert "malformed JSON (Expecting value at column 28)" in str(error)


def test_missing_required_field_names_the_field(tmp_path):
  obj = records.pair_to_dict(_pair(9))
  del obj["job"]["title"]
  error = _error_for(tmp_path, obj)
  assert error.field == "job.title"
  assert f"{tmp_path / 'bad.jsonl'}:3: field 'job.title': missing" in str(error)


def test_unknown_label_names_the_field(tmp_path):
  obj = records.pair_to_dict(_pair(9))
  obj["label"], obj["binary_label"] = "maybe_fit", None
  error = _error_for(tmp_path, obj)
  assert error.field == "label"
  assert "unknown label 'maybe_fit'" in str(error)


def test_wrong_type_names_the_field(tmp_path):
  obj = records.pair_to_dict(_pair(9))
  obj["resume"]["skills"] = {"name": "SQL"}
  error = _error_for(tmp_path, obj)
  assert error.field == "resume.skills"
  assert "expected a list, got dict" in str(error)


def test_duplicate_pair_id_names_both_lines(tmp_path):
  error = _error_for(tmp_path, records.pair_to_dict(_pair(0)))
  assert error.field == "pair_id"
  assert "duplicate pair_id 'p0' (first seen on line 1)" in str(error)


@pytest.mark.parametrize("field, change", [
    ("title", lambda job: job.update(title="Ward Nurse")),
    ("description", lambda job: job.update(description="Day shifts.")),
    ("required_skills",
     lambda job: job["required_skills"].append({"name": "triage"})),
    ("skill_uris", lambda job: job.update(skill_uris=[URI_B, URI_A])),
])
def test_job_id_with_a_different_job_names_both_lines(tmp_path, field,
                                                      change):
  obj = records.pair_to_dict(_pair(2))  # job j0, as on line 1
  change(obj["job"])
  error = _error_for(tmp_path, obj)
  assert error.field == f"job.{field}"
  assert str(error) == (
      f"{tmp_path / 'bad.jsonl'}:3: field 'job.{field}': job_id 'j0' first "
      f"appears on line 1 with a different job.{field}; one job_id must name "
      "one job (give different jobs different ids)")


def test_latin1_text_names_line_and_column(tmp_path):
  path = tmp_path / "latin1.jsonl"
  lines = [json.dumps(records.pair_to_dict(_pair(i))) for i in range(3)]
  lines[2] = lines[2].replace("ICU Nurse", "Infirmière")
  path.write_bytes("\n".join(lines).encode("latin-1"))
  with pytest.raises(textfile.TextDecodeError) as info:
    jsonl_io.read_pairs(path)
  column = lines[2].index("è") + 1
  assert (info.value.line, info.value.column) == (3, column)
  assert str(info.value).startswith(f"{path}:3: column {column}: not valid "
                                    "UTF-8 (byte 0xe8")


def test_byte_order_mark_and_crlf_keep_line_numbers(tmp_path):
  path = tmp_path / "crlf.jsonl"
  good = json.dumps(records.pair_to_dict(_pair(0)))
  path.write_bytes(("\ufeff" + good + "\r\n\r\n{broken\r\n").encode())
  stream = jsonl_io.iter_pairs(path)
  assert next(stream) == _pair(0)
  with pytest.raises(records.RecordError, match=r"crlf\.jsonl:3: malformed"):
    next(stream)


def test_missing_file_is_reported(tmp_path):
  with pytest.raises(FileNotFoundError, match="no such data file"):
    jsonl_io.read_pairs(tmp_path / "absent.jsonl")


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
  path = tmp_path / "pairs.jsonl"
  jsonl_io.write_pairs(path, [_pair(0)])
  before = path.read_bytes()

  def failing():
    yield _pair(1)
    raise RuntimeError("generator crashed")

  with pytest.raises(RuntimeError, match="generator crashed"):
    jsonl_io.write_pairs(path, failing())
  assert path.read_bytes() == before
  assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl"]


def test_failed_first_write_creates_no_file(tmp_path):
  path = tmp_path / "new.jsonl"

  def failing():
    raise RuntimeError("no data")
    yield  # pylint: disable=unreachable

  with pytest.raises(RuntimeError):
    jsonl_io.write_pairs(path, failing())
  assert list(tmp_path.iterdir()) == []


def test_written_file_gets_the_usual_permissions(tmp_path):
  path = tmp_path / "pairs.jsonl"
  jsonl_io.write_pairs(path, [])
  umask = os.umask(0)
  os.umask(umask)
  assert path.stat().st_mode & 0o777 == 0o666 & ~umask
