"""Tests of cacl_jax.data.serialize: the §5.3 text of resumes and jobs."""

import pytest

from cacl_jax.data import records
from cacl_jax.data import serialize

URI = "http://data.europa.eu/esco/skill/cccccccc-cccc-4ccc-8ccc-cccccccccccc"


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


def test_experience_text_joins_entries_as_prose():
  assert serialize.experience_text(_resume()) == (
      "Analyst at Acme: Built dashboards. Cleaned data. Globex: Ran A/B "
      "tests. Freelance work. Intern")


def test_serialize_resume_puts_position_then_skills_then_profile():
  assert serialize.serialize_resume(_resume()) == (
      "Position: Senior Data Analyst [SEP] Skills: SQL, Python 3 [SEP] "
      "Profile: Analyst at Acme: Built dashboards. Cleaned data. Globex: "
      "Ran A/B tests. Freelance work. Intern")


def test_serialize_resume_without_level_or_experience():
  resume = _resume(experience_level="", experience=(),
                   skills=(records.Skill("wound care"),))
  assert serialize.serialize_resume(resume) == (
      "Position: Data Analyst [SEP] Skills: wound care [SEP] Profile:")


def test_serialize_job_exact_text():
  job = records.Job(job_id="j1", title="Senior  ICU Nurse",
                    description="Care for\n critically ill patients.",
                    required_skills=(records.Skill("wound care", URI),
                                     records.Skill("CPR")))
  assert serialize.serialize_job(job) == (
      "Position: Senior ICU Nurse [SEP] Required Skills: wound care, CPR "
      "[SEP] Description: Care for critically ill patients.")


def test_truncate_text_cuts_at_the_last_word_boundary():
  assert serialize.truncate_text("aaa bbb ccc", 6) == "aaa"
  assert serialize.truncate_text("aaa bbb ccc", 11) == "aaa bbb ccc"
  assert serialize.truncate_text("aaa  bbb", 7) == "aaa bbb"  # squashed first
  assert serialize.truncate_text("abcdefgh", 3) == "abc"  # no space to cut at
  assert serialize.truncate_text("", 3) == ""


def test_truncate_text_keeps_a_word_that_ends_at_the_limit():
  assert serialize.truncate_text("aaa bbb ccc", 7) == "aaa bbb"


def test_long_experience_is_truncated_but_skills_survive():
  words = [f"w{i:03d}" for i in range(300)]  # 4 chars each
  resume = _resume(experience=(records.ExperienceEntry(
      "", "", " ".join(words)),))
  text = serialize.serialize_resume(resume)
  head = "Position: Senior Data Analyst [SEP] Skills: SQL, Python 3 [SEP] Profile: "
  assert text.startswith(head)
  profile = text[len(head):]
  assert len(profile) <= serialize.MAX_EXPERIENCE_CHARS
  # 160 words take 160 × 5 - 1 = 799 chars; the 161st would end at 804.
  assert profile == " ".join(words[:160])


def test_empty_skill_list_leaves_single_spaces():
  job = records.Job(job_id="j", title="Nurse", description="Care.")
  assert serialize.serialize_job(job) == (
      "Position: Nurse [SEP] Required Skills: [SEP] Description: Care.")
