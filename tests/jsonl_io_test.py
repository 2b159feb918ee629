"""Tests of cacl_jax.data.jsonl_io: streaming reader and atomic writer."""

import json
import os

import pytest

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
