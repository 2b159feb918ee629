"""serving.documents: resumes, jobs and pairs from JSONL, CSV and folders of
.txt files; every bad input fails naming the file, line and field."""

import json
import logging

from absl import logging as absl_logging
import pytest

from cacl_jax.data import jsonl_io, records
from cacl_jax.serving import documents

RESUME = {"role": "Data Analyst", "experience_level": "Senior",
          "skills": ["SQL"], "experience": []}
JOB = {"job_id": "j1", "title": "Analyst", "description": "SQL reports",
       "required_skills": [{"name": "SQL"}]}


def _write(path, lines):
  path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
  return path


def test_jsonl_records_and_texts(tmp_path):
  path = _write(tmp_path / "r.jsonl", [
      json.dumps(RESUME), json.dumps({"text": "I write SQL.", "id": 7}),
      json.dumps(dict(RESUME, resume_id="cv-9"))])
  docs = documents.read_documents(path, "resume")
  assert [d.doc_id for d in docs] == ["r:1", "7", "cv-9"]
  assert docs[0].record == records.resume_from_dict(RESUME)
  assert docs[0].record.skills == (records.Skill("SQL"),)
  assert docs[1].text == "I write SQL." and docs[1].record is None


def test_jobs_are_named_by_their_job_id(tmp_path):
  path = _write(tmp_path / "j.jsonl", [json.dumps(JOB),
                                      json.dumps({"text": "Hiring a cook"})])
  docs = documents.read_documents(path, "job")
  assert [d.doc_id for d in docs] == ["j1", "j:2"]
  assert docs[0].record.job_id == "j1"


def test_csv_with_a_text_column(tmp_path):
  path = tmp_path / "jobs.csv"
  path.write_text('id,job_description_text,other\n'
                  'a,"Cook, line",x\n'
                  ',Baker,y\n', encoding="utf-8")
  docs = documents.read_documents(path, "job")
  assert [(d.doc_id, d.text) for d in docs] == [("a", "Cook, line"),
                                                ("jobs:3", "Baker")]


def test_folder_of_text_files(tmp_path):
  (tmp_path / "b.txt").write_text("second\ntext\n", encoding="utf-8")
  (tmp_path / "a.txt").write_text("first", encoding="utf-8")
  (tmp_path / "notes.md").write_text("not read", encoding="utf-8")
  messages = []
  handler = logging.Handler()
  handler.emit = lambda record: messages.append(record.getMessage())
  absl_logging.get_absl_logger().addHandler(handler)
  try:
    docs = documents.read_documents(tmp_path, "resume")
  finally:
    absl_logging.get_absl_logger().removeHandler(handler)
  assert [(d.doc_id, d.text) for d in docs] == [("a", "first"),
                                                ("b", "second\ntext")]
  assert any("1 entries are not .txt files" in m and "notes.md" in m
             for m in messages)


@pytest.mark.parametrize("name, content, kind, message", [
    ("r.jsonl", ['{"text": "a"}', ""], "resume", r"r\.jsonl:2: blank line"),
    ("r.jsonl", ["{not json"], "resume", r"r\.jsonl:1: not a JSON object"),
    ("r.jsonl", ["[1, 2]"], "resume", "expected a JSON object, got list"),
    ("r.jsonl", ['{"text": ""}'], "resume",
     r"r\.jsonl:1: field 'text': expected a non-empty string"),
    ("r.jsonl", ['{"role": 3}'], "resume",
     r"r\.jsonl:1: field 'resume\.role': expected a string"),
    ("j.jsonl", ['{"title": "x", "description": "y"}'], "job",
     r"j\.jsonl:1: field 'job\.job_id': missing required field"),
    ("r.jsonl", ['{"text": "a", "id": "x"}', '{"text": "b", "id": "x"}'],
     "resume", r"r\.jsonl:2: field 'id': id 'x' already names the document "
     "of line 1"),
    ("r.jsonl", ['{"text": "a", "id": true}'], "resume",
     r"field 'id': expected a non-empty string or an integer"),
    ("r.csv", ["name,body", "a,b"], "resume", r"r\.csv:1: no text column"),
    ("r.csv", ["text", "a", "  "], "resume", r"r\.csv:3: field 'text': empty "
     "text"),
    ("r.csv", ["text,id", "a,1,extra"], "resume",
     r"r\.csv:2: row has more fields"),
    ("r.txt", ["a"], "resume", "unsupported file type '.txt'"),
])
def test_bad_documents(tmp_path, name, content, kind, message):
  path = _write(tmp_path / name, content)
  with pytest.raises(documents.InputError, match=message):
    documents.read_documents(path, kind)


def test_not_utf8_names_the_line(tmp_path):
  path = tmp_path / "r.jsonl"
  path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
  with pytest.raises(documents.InputError, match=r"r\.jsonl:2: .*UTF-8"):
    documents.read_documents(path, "resume")


def test_missing_path_and_empty_folder(tmp_path):
  with pytest.raises(documents.InputError, match="no such file or folder"):
    documents.read_documents(tmp_path / "nope", "job")
  (tmp_path / "empty").mkdir()
  with pytest.raises(documents.InputError, match="holds no .txt file"):
    documents.read_documents(tmp_path / "empty", "job")
  (tmp_path / "empty" / "x.txt").write_text(" \n", encoding="utf-8")
  with pytest.raises(documents.InputError, match=r"x\.txt: empty text"):
    documents.read_documents(tmp_path / "empty", "job")
  with pytest.raises(ValueError, match="kind"):
    documents.read_documents(tmp_path, "candidate")


def _pair(pair_id, label):
  pair = {"pair_id": pair_id, "resume": RESUME, "job": JOB}
  if label is not None:
    pair["label"] = label
  return pair


def test_pairs_with_and_without_labels(tmp_path):
  path = _write(tmp_path / "p.jsonl", [json.dumps(_pair("a", "good_fit")),
                                      json.dumps(_pair("b", None))])
  pairs = documents.read_pairs(path, lambda: pytest.fail("no extractor"))
  assert [(p.pair_id, p.label) for p in pairs] == [("a", "good_fit"),
                                                   ("b", None)]
  assert pairs[1].resume == records.resume_from_dict(RESUME)


def test_pairs_round_trip_the_training_layout(tmp_path):
  written = [records.pair_from_dict(_pair(f"p{i}", "no_fit"))
             for i in range(3)]
  path = tmp_path / "p.jsonl"
  jsonl_io.write_pairs(path, written)
  pairs = documents.read_pairs(path, lambda: pytest.fail("no extractor"))
  assert [(p.pair_id, p.resume, p.job, p.label) for p in pairs] == [
      (p.pair_id, p.resume, p.job, p.label) for p in written]


@pytest.mark.parametrize("lines, message", [
    ([json.dumps(_pair("a", "great"))], r"p\.jsonl:1: field 'label': "
     "unknown label"),
    ([json.dumps(_pair("a", None)), json.dumps(_pair("a", None))],
     r"p\.jsonl:2: field 'pair_id': pair_id 'a' already names the pair of "
     "line 1"),
    (["", json.dumps(_pair("a", None))], r"p\.jsonl:1: blank line"),
])
def test_bad_pairs(tmp_path, lines, message):
  path = _write(tmp_path / "p.jsonl", lines)
  with pytest.raises(documents.InputError, match=message):
    documents.read_pairs(path, lambda: pytest.fail("no extractor"))


def test_fit_csv_pairs_use_the_extractor(tmp_path):
  path = tmp_path / "fit.csv"
  path.write_text("resume_text,job_description_text,label\n"
                  "I know SQL,We need SQL,Good Fit\n", encoding="utf-8")
  calls = []

  def extractor():
    calls.append(1)
    return lambda text: [records.Skill("SQL")]

  pairs = documents.read_pairs(path, extractor)
  assert calls == [1]
  assert pairs[0].label == "good_fit"
  assert pairs[0].resume.skills == (records.Skill("SQL"),)
  path.write_text("resume_text,job_description_text,label\n"
                  "I know SQL,We need SQL,Great\n", encoding="utf-8")
  with pytest.raises(documents.InputError, match=r"fit\.csv:2: field "
                     "'label'"):
    documents.read_pairs(path, extractor)
