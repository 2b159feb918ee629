"""Tests of cacl_jax.data.serialize: the §5.3 text of resumes and jobs."""

import csv

import pytest

from cacl_jax.data import csv_import
from cacl_jax.data import records
from cacl_jax.data import serialize

URI = "http://data.europa.eu/esco/skill/cccccccc-cccc-4ccc-8ccc-cccccccccccc"
LONG_SKILL = "international financial reporting standards"  # 43 chars
SKILL_40 = "a" * 40


def _resume(**overrides) -> records.Resume:
  fields = dict(
      role="Data  Analyst",
      experience_level="Senior",
      skills=(records.Skill("SQL", URI), records.Skill(" Python\n 3 ")),
      experience=(
          records.ExperienceEntry("Analyst", "Acme",
                                  "Built  dashboards.\n Cleaned data."),
          records.ExperienceEntry("", "Globex", "Ran A/B tests."),
          records.ExperienceEntry("", "", "Freelance work."),
          records.ExperienceEntry("Intern", "", ""),
      ))
  fields.update(overrides)
  return records.Resume(**fields)


def _job(**overrides) -> records.Job:
  fields = dict(job_id="j1", title="Senior  ICU Nurse",
                description="Care for\n critically ill patients.",
                required_skills=(records.Skill("wound care", URI),
                                 records.Skill("CPR")))
  fields.update(overrides)
  return records.Job(**fields)


PROFILE = ("Analyst at Acme: Built dashboards. Cleaned data. Globex: Ran A/B "
           "tests. Freelance work. Intern")
WORDS = [f"w{i:03d}" for i in range(300)]  # 4 chars each
# 160 words take 160 × 5 - 1 = 799 chars; the 161st would end at 804.
CUT_PROFILE = " ".join(WORDS[:160]) + "..."


def test_experience_text_joins_entries_as_prose():
  assert serialize.experience_text(_resume()) == PROFILE


@pytest.mark.parametrize("overrides, expected", [
    ({}, "Position: Senior Data Analyst [SEP] Skills: SQL, Python 3 [SEP] "
         f"Profile: {PROFILE}"),
    (dict(experience_level=""),
     f"Position: Data Analyst [SEP] Skills: SQL, Python 3 [SEP] "
     f"Profile: {PROFILE}"),
    (dict(role=""),
     f"Position: Senior [SEP] Skills: SQL, Python 3 [SEP] Profile: {PROFILE}"),
    (dict(role="", experience_level=" "),
     f"Skills: SQL, Python 3 [SEP] Profile: {PROFILE}"),
    (dict(skills=()), f"Position: Senior Data Analyst [SEP] Profile: {PROFILE}"),
    (dict(experience=()),
     "Position: Senior Data Analyst [SEP] Skills: SQL, Python 3"),
    (dict(experience=(records.ExperienceEntry("", "", " \n "),)),
     "Position: Senior Data Analyst [SEP] Skills: SQL, Python 3"),
    (dict(experience=(records.ExperienceEntry("", "", " ".join(WORDS)),)),
     "Position: Senior Data Analyst [SEP] Skills: SQL, Python 3 [SEP] "
     f"Profile: {CUT_PROFILE}"),
    (dict(skills=(records.Skill(LONG_SKILL, URI), records.Skill("SQL"),
                  records.Skill(SKILL_40))),
     f"Position: Senior Data Analyst [SEP] Skills: SQL, {SKILL_40} [SEP] "
     f"Profile: {PROFILE}"),
    (dict(skills=(records.Skill(LONG_SKILL),), experience=()),
     "Position: Senior Data Analyst"),
    (dict(role="", experience_level="", skills=(), experience=()), ""),
], ids=["full", "no_level", "no_role", "no_position", "no_skills",
        "no_experience", "blank_experience", "long_experience",
        "long_skill_left_out", "only_long_skill", "all_empty"])
def test_serialize_resume_exact_text(overrides, expected):
  assert serialize.serialize_resume(_resume(**overrides)) == expected


@pytest.mark.parametrize("overrides, expected", [
    ({}, "Position: Senior ICU Nurse [SEP] Required Skills: wound care, CPR "
         "[SEP] Description: Care for critically ill patients."),
    (dict(description=""),
     "Position: Senior ICU Nurse [SEP] Required Skills: wound care, CPR"),
    (dict(required_skills=()),
     "Position: Senior ICU Nurse [SEP] Description: Care for critically ill "
     "patients."),
    (dict(title=" "),
     "Required Skills: wound care, CPR [SEP] Description: Care for critically "
     "ill patients."),
    (dict(required_skills=(records.Skill("CPR"),
                           records.Skill(f"  {LONG_SKILL}\n"))),
     "Position: Senior ICU Nurse [SEP] Required Skills: CPR [SEP] "
     "Description: Care for critically ill patients."),
    (dict(description=" ".join(WORDS)),
     "Position: Senior ICU Nurse [SEP] Required Skills: wound care, CPR "
     f"[SEP] Description: {' '.join(WORDS)}"),
], ids=["full", "no_description", "no_skills", "no_title", "long_skill",
        "long_description_is_not_cut"])
def test_serialize_job_exact_text(overrides, expected):
  assert serialize.serialize_job(_job(**overrides)) == expected


def test_left_out_skills_stay_in_the_record_and_are_counted():
  skills = (records.Skill(LONG_SKILL, URI), records.Skill("SQL"),
            records.Skill(SKILL_40), records.Skill("x " * 25))
  resume = _resume(skills=skills)
  serialize.serialize_resume(resume)
  assert resume.skills == skills
  # "x " * 25 squashes to 49 chars; SKILL_40 is exactly at the limit.
  assert serialize.skills_left_out(skills) == 2
  assert serialize.skills_left_out(_job().required_skills) == 0
  assert serialize.skills_left_out(()) == 0


def test_truncate_text_cuts_at_the_last_word_boundary_and_marks_the_cut():
  assert serialize.truncate_text("aaa bbb ccc", 6) == "aaa..."
  assert serialize.truncate_text("aaa bbb ccc", 11) == "aaa bbb ccc"
  assert serialize.truncate_text("aaa  bbb", 7) == "aaa bbb"  # squashed first
  assert serialize.truncate_text("abcdefgh", 3) == "abc..."  # no space
  assert serialize.truncate_text("", 3) == ""


def test_truncate_text_keeps_a_word_that_ends_at_the_limit():
  assert serialize.truncate_text("aaa bbb ccc", 7) == "aaa bbb..."


def test_long_experience_is_cut_near_the_limit_but_skills_survive():
  resume = _resume(skills=(records.Skill("SQL"),), experience=(
      records.ExperienceEntry("", "", " ".join(WORDS)),))
  head = "Position: Senior Data Analyst [SEP] Skills: SQL [SEP] Profile: "
  text = serialize.serialize_resume(resume)
  assert text.startswith(head)
  profile = text[len(head):]
  assert len(profile) == 799 + len(serialize.CUT_MARKER)
  assert profile == CUT_PROFILE


def test_long_csv_resume_serializes_with_the_read_position_and_a_cut(
    tmp_path):
  path = tmp_path / "fit.csv"
  with path.open("w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerows([
        ("resume_text", "job_description_text", "label"),
        ("Senior Data Analyst\n" + " ".join(WORDS),
         "Job Title: Data Engineer\n" + " ".join(WORDS), "Good Fit")])
  pair, = csv_import.read_fit_csv(
      path, lambda text: [records.Skill("SQL")] if "w001" in text else [])
  # The profile keeps the whole text: the title line (20 characters with its
  # newline as a space) and then 156 of the 4-character words fill 799
  # characters; the 157th would cross 800.
  profile = "Senior Data Analyst " + " ".join(WORDS[:156]) + "..."
  assert len(profile) == 799 + len(serialize.CUT_MARKER)
  assert serialize.serialize_resume(pair.resume) == (
      f"Position: Senior Data Analyst [SEP] Skills: SQL [SEP] Profile: "
      f"{profile}")
  assert serialize.serialize_job(pair.job) == (
      "Position: Data Engineer [SEP] Required Skills: SQL [SEP] Description: "
      f"Job Title: Data Engineer {' '.join(WORDS)}")
