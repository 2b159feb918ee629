"""Tests of cacl_jax.data.records: typed pairs and their validated JSON form."""

import copy
import math

import pytest

from cacl_jax.data import records

SKILL_URI = "http://data.europa.eu/esco/skill/11111111-1111-4111-8111-111111111111"


def _sample_dict():
  return {
      "pair_id": "p-1",
      "resume": {
          "role": "Data Analyst",
          "experience_level": "Senior",
          "skills": [{"name": "SQL", "uri": SKILL_URI},
                     {"name": "Jira", "uri": None}],
          "experience": [{"title": "Analyst", "company": "Acme",
                          "description": "Built dashboards."}],
          "skill_uris": [SKILL_URI],
      },
      "job": {
          "job_id": "j-1",
          "title": "Senior Data Analyst",
          "description": "Analyse sales data.",
          "required_skills": [{"name": "SQL", "uri": SKILL_URI}],
          "skill_uris": [SKILL_URI],
      },
      "label": "good_fit",
      "binary_label": 1,
      "metadata": {"quality_tier": "A", "ontology_similarity": 0.75,
                   "ot_distance": 2},
  }


def _sample_pair():
  sql = records.Skill(name="SQL", uri=SKILL_URI)
  return records.Pair(
      pair_id="p-1",
      resume=records.Resume(
          role="Data Analyst", experience_level="Senior",
          skills=(sql, records.Skill(name="Jira")),
          experience=(records.ExperienceEntry(
              title="Analyst", company="Acme",
              description="Built dashboards."),),
          skill_uris=(SKILL_URI,)),
      job=records.Job(job_id="j-1", title="Senior Data Analyst",
                      description="Analyse sales data.",
                      required_skills=(sql,), skill_uris=(SKILL_URI,)),
      label="good_fit",
      metadata=records.PairMetadata(quality_tier="A",
                                    ontology_similarity=0.75,
                                    ot_distance=2.0))


def _error(obj, **kwargs) -> records.RecordError:
  with pytest.raises(records.RecordError) as info:
    records.pair_from_dict(obj, source="data.jsonl", line=7, **kwargs)
  return info.value


def test_binary_label_maps_good_fit_only_to_positive():
  assert [records.binary_label(l) for l in records.LABELS] == [1, 0, 0]
  with pytest.raises(ValueError, match="unknown label 'great_fit'"):
    records.binary_label("great_fit")


def test_record_error_message_names_file_line_and_field():
  error = records.RecordError("boom", source="f.jsonl", line=3,
                              field="job.title")
  assert str(error) == "f.jsonl:3: field 'job.title': boom"
  assert (error.source, error.line, error.field) == ("f.jsonl", 3,
                                                     "job.title")
  assert str(records.RecordError("boom")) == "<memory>: boom"


def test_pair_from_dict_builds_the_expected_records():
  pair = records.pair_from_dict(_sample_dict())
  assert pair == _sample_pair()
  assert pair.binary_label == 1
  assert isinstance(pair.metadata.ot_distance, float)


def test_round_trip_through_dict_is_lossless():
  pair = _sample_pair()
  as_dict = records.pair_to_dict(pair)
  assert as_dict == _sample_dict() | {
      "metadata": {"quality_tier": "A", "ontology_similarity": 0.75,
                   "ot_distance": 2.0}}
  assert records.pair_from_dict(as_dict) == pair


def test_skills_and_experience_may_be_plain_strings():
  obj = _sample_dict()
  obj["resume"]["skills"] = ["SQL", "Python"]
  obj["resume"]["experience"] = ["Five years of analytics."]
  pair = records.pair_from_dict(obj)
  assert pair.resume.skills == (records.Skill("SQL"), records.Skill("Python"))
  assert pair.resume.experience == (records.ExperienceEntry(
      title="", description="Five years of analytics."),)


def test_optional_fields_default_when_absent_or_null():
  obj = _sample_dict()
  del obj["metadata"], obj["binary_label"], obj["resume"]["skill_uris"]
  obj["resume"]["experience_level"] = None
  obj["job"]["description"] = None
  pair = records.pair_from_dict(obj)
  assert pair.metadata == records.PairMetadata()
  assert pair.resume.skill_uris == ()
  assert pair.resume.experience_level == ""
  assert pair.job.description == ""


@pytest.mark.parametrize("path", [
    ("pair_id",), ("label",), ("resume",), ("job",), ("resume", "role"),
    ("job", "job_id"), ("job", "title"),
])
def test_missing_required_field_is_located(path):
  obj = _sample_dict()
  target = obj
  for key in path[:-1]:
    target = target[key]
  del target[path[-1]]
  error = _error(obj)
  assert error.field == ".".join(path)
  assert str(error).startswith(f"data.jsonl:7: field '{'.'.join(path)}'")
  assert "missing required field" in str(error)


@pytest.mark.parametrize("mutate, field, message", [
    (lambda o: o.update(pair_id=5), "pair_id", "expected a string, got int"),
    (lambda o: o["resume"].update(skills="SQL"), "resume.skills",
     "expected a list, got str"),
    (lambda o: o["resume"]["skills"].append(3), "resume.skills[2]",
     "expected an object, got int"),
    (lambda o: o["job"]["required_skills"][0].update(uri=7),
     "job.required_skills[0].uri", "expected a string, got int"),
    (lambda o: o["job"]["required_skills"][0].update(name=" "),
     "job.required_skills[0].name", "must not be empty"),
    (lambda o: o["job"].update(skill_uris=[SKILL_URI, 1]), "job.skill_uris[1]",
     "expected a string, got int"),
    (lambda o: o["resume"]["experience"].append(2.5), "resume.experience[1]",
     "expected an object, got float"),
    (lambda o: o.update(job=[]), "job", "expected an object, got list"),
    (lambda o: o["metadata"].update(ontology_similarity="high"),
     "metadata.ontology_similarity", "expected a number, got str"),
    (lambda o: o["metadata"].update(ot_distance=True), "metadata.ot_distance",
     "expected a number, got bool"),
    (lambda o: o["metadata"].update(ot_distance=math.inf),
     "metadata.ot_distance", "must be finite"),
    (lambda o: o["metadata"].update(quality_tier="Z"), "metadata.quality_tier",
     "unknown tier 'Z'"),
    (lambda o: o["job"].update(job_id=""), "job.job_id", "must not be empty"),
    (lambda o: o["resume"].update(skills=["SQL", " "]), "resume.skills[1]",
     "must not be empty"),
    (lambda o: o["job"].update(skill_uris=[""]), "job.skill_uris[0]",
     "must not be empty"),
])
def test_wrong_type_or_value_is_located(mutate, field, message):
  obj = _sample_dict()
  mutate(obj)
  error = _error(obj)
  assert error.field == field
  assert str(error).startswith(f"data.jsonl:7: field '{field}': ")
  assert message in str(error)


def test_unknown_label_is_rejected_with_the_allowed_ones():
  obj = _sample_dict()
  obj["label"] = "Good Fit"
  error = _error(obj)
  assert error.field == "label"
  assert "unknown label 'Good Fit'" in str(error)
  assert "good_fit, potential_fit, no_fit" in str(error)


@pytest.mark.parametrize("given, message", [
    (0, "0 contradicts label 'good_fit'"),
    (2, "expected 0 or 1, got 2"),
    (True, "expected 0 or 1, got True"),
])
def test_binary_label_must_agree_with_label(given, message):
  obj = copy.deepcopy(_sample_dict())
  obj["binary_label"] = given
  error = _error(obj)
  assert error.field == "binary_label"
  assert message in str(error)


def test_top_level_must_be_an_object():
  error = _error(["not", "a", "pair"])
  assert error.field == "<record>"
  assert "expected an object, got list" in str(error)
