"""Tests of cacl_jax.data.text_fields: title, level and years read from text."""

import re
import string
import sys

import pytest

from cacl_jax.data import generator_text, records, text_fields as tf


@pytest.mark.parametrize("text, title", [
    ("Senior Data Analyst\nI turn data into decisions.", "Senior Data Analyst"),
    ("\n\n  Registered Nurse  \nTen years on wards.", "Registered Nurse"),
    ("Job Title: Software Engineer Location: NYC", "Software Engineer"),
    ("Job Title: Data Engineer Job Type: Full-time", "Data Engineer"),
    ("Acme Ltd is growing fast.\nPosition: Head of Marketing\nApply now.",
     "Head of Marketing"),
    ("About us:\nWe sell shoes.\n* Title - Store Manager *", "Store Manager"),
    ("Role: Barista  | Part-time", "Barista"),
    ("Current position: Accountant\n", "Accountant"),
    ("Data Analyst, Sr.\nSQL daily.", "Data Analyst, Sr."),
    ("# Backend Developer\nWe build APIs.", "Backend Developer"),
    # A name alone on the first line is title-shaped (documented limit).
    ("John Smith\nAccountant for ten years.", "John Smith"),
])
def test_find_title(text, title):
  assert tf.find_title(text) == title


@pytest.mark.parametrize("text", [
    "",
    "Summary\nSenior Data Analyst",  # a heading first: the line is not used
    "Professional Summary:\nAnalyst",
    "Nurse with ten years\nof ward experience",
    "We are hiring a senior engineer to lead our platform team",
    "Experienced accountant.",
    "SummaryHighly motivated Sales Associate with extensive customer service",
    "jane.doe@example.com",
    "Call 0123456789",
    "https://example.com/jobs/42",
    "Five Years Of Retail Experience",
    "An Analyst",
    "Role: We are looking for someone who enjoys solving hard problems "
    "every single day",
    "one two three four five six seven eight nine",
])
def test_find_title_finds_nothing(text):
  assert tf.find_title(text) == ""


@pytest.mark.parametrize("title, level", [
    ("Senior Data Analyst", "Senior"),
    ("Data Analyst (Senior)", "Senior"),
    ("Data Analyst - Junior", "Junior"),
    ("Sr. Accountant", "Senior"),
    ("Jr Developer", "Junior"),
    ("Entry-Level Analyst", "Entry-level"),
    ("Entry level Analyst", "Entry-level"),
    ("Marketing Intern", "Entry-level"),
    ("Graduate Engineer", "Entry-level"),
    ("Mid-Level Designer", "Mid-level"),
    ("Software Engineer, mid", "Mid-level"),
    ("Team Lead", "Lead"),
    ("Principal Engineer", "Lead"),
    ("Head of Sales", "Lead"),
    ("Senior Lead Engineer", "Lead"),  # the most senior word
    ("Junior to Senior Developer", "Senior"),
    ("Mid-Senior level", "Senior"),
    ("Lead Generation Specialist", ""),
    ("Data Analyst", ""),
    ("Forehead Seniority Leader", ""),  # words inside words do not count
])
def test_title_level(title, level):
  assert tf.title_level(title) == level


@pytest.mark.parametrize("text, years", [
    ("5+ years of experience", 5.0),
    ("3-5 years of experience in Python", 3.0),
    ("3 – 5 years experience", 3.0),
    ("5 to 7 years of relevant experience", 5.0),
    ("at least five years of relevant experience", 5.0),
    ("eight or more years of experience", 8.0),
    ("Ten years'\nward experience", 10.0),
    ("5 years' experience", 5.0),
    ("10+ yrs exp", 10.0),
    ("2.5 years of hands-on work experience", 2.5),
    ("10 years of professional software development experience", 10.0),
    ("Experience: 7 years", 7.0),
    ("experience of over 12 years", 12.0),
    ("no previous experience needed", 0.0),
    ("No prior work experience", 0.0),
    ("2 years of experience in Go and 10 years of experience overall", 10.0),
    ("no prior experience with Go; 4 years of experience", 4.0),
])
def test_find_years(text, years):
  assert tf.find_years(text) == years


@pytest.mark.parametrize("text", [
    "a 5 years old company with experience in logistics",
    "founded 30 years ago, our experience speaks",
    "a 20-year-old company",
    "5-year warranty",
    "60 years of experience in the market",  # over MAX_YEARS
    "Experience 2019 - 2021",
    "Python 3 years",
    "3 years and experience",
    "5 years experienced",
])
def test_find_years_finds_nothing(text):
  assert tf.find_years(text) is None


@pytest.mark.parametrize("years, level", [
    (0.0, "Entry-level"), (0.5, "Entry-level"), (1.0, "Junior"),
    (2.9, "Junior"), (3.0, "Mid-level"), (4.0, "Mid-level"), (5.0, "Senior"),
    (7.5, "Senior"), (8.0, "Lead"), (30.0, "Lead"),
])
def test_years_level_bands(years, level):
  assert tf.years_level(years) == level


def test_levels_are_the_generators_and_match_its_year_phrases():
  assert tf.LEVELS == generator_text.LEVEL_NAMES
  for level, phrase in enumerate(generator_text.YEARS_REQUIRED):
    text = f"The role requires {phrase}."
    assert tf.find_level(text) == (tf.LEVELS[level], tf.find_years(text))
    assert tf.read_text(text) == tf.TextFields("", tf.LEVELS[level],
                                               tf.find_years(text))


@pytest.mark.parametrize("text, title, level", [
    # Rule 1: the title wins over everything below it, the one read from the
    # text over the record's own.
    ("Junior Analyst\nLevel: Senior\n9 years of experience", "", "Junior"),
    ("Some text\n9 years of experience", "Senior Chef", "Senior"),
    ("Junior Cook\n9 years of experience", "Senior Chef", "Junior"),
    ("Cook\n9 years of experience", "Senior Chef", "Senior"),
    # Rule 2: labelled values, at a line start or (for "... level") anywhere.
    ("Analyst\nSeniority: Mid-Senior level\n1 year of experience", "",
     "Senior"),
    ("Analyst\nLevel - Junior\n9 years of experience", "", "Junior"),
    ("Type: Full-time Experience level: Entry level", "", "Entry-level"),
    ("Analyst\nLevel-headed team player", "", ""),
    # Rule 3: a level word before position / role / job / opportunity.
    ("This is an entry-level position in our team.", "", "Entry-level"),
    ("We offer a senior-level role.\n2 years of experience", "", "Senior"),
    # Rule 4: years.
    ("Analyst\nwith 6 years of experience", "", "Senior"),
    # Running text names no level of the writer.
    ("Analyst\nReported to senior management and mentored junior "
     "developers.", "", ""),
    ("Analyst\nI lead a team and took a lead role", "", ""),
])
def test_find_level_rule_order(text, title, level):
  assert tf.read_text(text, title).level == level
  assert tf.find_level(text, (tf.find_title(text), title))[0] == level


@pytest.mark.parametrize("title, role", [
    ("Senior Data Analyst", "Data Analyst"),
    ("Sr. Accountant", "Accountant"),
    ("Senior Lead Engineer", "Engineer"),
    ("Entry-Level Analyst", "Analyst"),
    ("Data Analyst (Senior)", "Data Analyst"),
    ("Data Analyst - Junior", "Data Analyst"),
    ("Data Analyst, Sr.", "Data Analyst"),
    ("Team Lead", "Team Lead"),
    ("Marketing Intern", "Marketing Intern"),
    ("Head Chef", "Head Chef"),
    ("Principal Engineer", "Principal Engineer"),
    ("Lead Generation Specialist", "Lead Generation Specialist"),
    ("Senior", "Senior"),
    ("Front-End Developer", "Front-End Developer"),
    ("", ""),
])
def test_role_without_level(title, role):
  assert tf.role_without_level(title) == role


def _resume(text, role="", level=""):
  return records.Resume(role=role, experience_level=level, experience=(
      records.ExperienceEntry(title="", description=text),))


def _pair(resume, job_text, title="", job_id="j"):
  return records.Pair(
      pair_id="p", resume=resume,
      job=records.Job(job_id=job_id, title=title, description=job_text),
      label="good_fit")


@pytest.mark.parametrize("resume, role, level", [
    (_resume("Senior Data Analyst\nSQL."), "Data Analyst", "Senior"),
    (_resume("Data Analyst\n6 years of experience"), "Data Analyst",
     "Senior"),
    # Given values are never changed; an empty level is filled.
    (_resume("Senior Data Analyst", role="Analyst"), "Analyst", "Senior"),
    (_resume("Analyst\n6 years of experience", role="Analyst", level="Junior"),
     "Analyst", "Junior"),
    (_resume("Data Analyst\n6 years of experience", role="Statistician"),
     "Statistician", "Senior"),
    # The role states its level already: the level stays empty.
    (_resume("I am\n6 years of experience", role="Senior Analyst"),
     "Senior Analyst", ""),
    (_resume("Team Lead\n6 years of experience"), "Team Lead", ""),
    # Whitespace is empty.
    (_resume("Cook\n1 year of experience", role=" ", level=" "), "Cook",
     "Junior"),
    (_resume("Summary: I cook."), "", ""),
])
def test_fill_resume(resume, role, level):
  filled, _, _, _ = tf.fill_resume(resume)
  assert (filled.role, filled.experience_level) == (role, level)


def test_fill_pair_reports_what_it_read_and_filled():
  pair = _pair(_resume("Junior Cook\nTwo years of kitchen experience."),
               "Head Chef\nKitchen of 12. 8+ years of experience.")
  filled, fields = tf.fill_pair(pair)
  assert filled.resume.role == "Cook"
  assert filled.resume.experience_level == "Junior"
  assert filled.job.title == "Head Chef"
  assert fields == tf.PairFields(
      resume=tf.TextFields("Junior Cook", "Junior", 2.0),
      job=tf.TextFields("Head Chef", "Lead", 8.0),
      role_filled=True, level_filled=True, title_filled=True)
  again, fields_again = tf.fill_pair(filled)
  assert again == filled
  assert (fields_again.role_filled, fields_again.level_filled,
          fields_again.title_filled) == (False, False, False)


def test_fill_pairs_counts_distinct_records():
  cook = _resume("Junior Cook\nTwo years of kitchen experience.")
  pairs = [
      _pair(cook, "Head Chef\nWe cook.", job_id="j1"),
      _pair(cook, "Head Chef\nWe cook.", job_id="j1"),
      _pair(_resume("I cook.", role="Cook"), "We cook.", job_id="j2"),
      _pair(_resume("Waiter"), "Host\nsmile", title="Maitre d'", job_id="j3"),
  ]
  out, counts = tf.fill_pairs(pairs)
  assert [p.job.title for p in out] == ["Head Chef", "Head Chef", "",
                                        "Maitre d'"]
  assert counts == tf.FieldCounts(
      resumes=3, jobs=3, resume_titles=2, resume_levels=1, resume_years=1,
      job_titles=2, roles_filled=2, levels_filled=1, titles_filled=1)
  assert counts.summary() == (
      "stated in the texts: resume title 2/3, level 1/3, years of experience "
      "1/3; job title 2/3; empty fields filled from them: role 2, experience "
      "level 1, job title 1")


# The patterns ignore case as Python's re does: İ and ı match "i", ſ matches
# "s"; Unicode spaces are whitespace.
@pytest.mark.parametrize("text, fields", [
    ("EXPERİENCE: 5 YEARS", tf.TextFields("", "Senior", 5.0)),
    ("We need no prİor experİence", tf.TextFields("", "Entry-level", 0.0)),
    ("Poſition: Senior Nurſe",
     tf.TextFields("Senior Nurſe", "Senior", None)),
    ("Tİtle: Data Analyst", tf.TextFields("Data Analyst", "", None)),
    ("DESİGNATİON: Nurse", tf.TextFields("Nurse", "", None)),
    ("An ſenior role", tf.TextFields("", "Senior", None)),
    ("Level – ſr.", tf.TextFields("", "Senior", None)),
    ("5 years\u00a0experience", tf.TextFields("", "Senior", 5.0)),
    ("Position:\u2003Lead Nurse", tf.TextFields("Lead Nurse", "Lead", None)),
])
def test_read_text_ignores_case_as_re_does(text, fields):
  assert tf.read_text(text) == fields


def _pre_check_texts():
  """Texts that state titles, levels and years in many ways, with odd case."""
  parts = ["Job Title: Data Analyst", "Designation – Chief Nurse",
           "Current role: Cook", "Seniority: Mid", "Career level - Junior",
           "an entry-level position", "a Senior-level role",
           "5+ years of relevant experience", "Experience: 7 yrs",
           "three to five years' experience", "no previous work experience",
           "10 YRS EXP", "Built expertise in SQL", "Worked two years as cook"]
  odd = str.maketrans({"i": "İ", "s": "ſ", " ": "\u00a0"})
  texts = []
  for i, first in enumerate(parts):
    for second in parts[i:]:
      texts += [f"{first}\n{second}", f"{second}. {first}",
                f"{first}\n{second}".upper(),
                f"{second}  {first}".translate(odd)]
  return texts


def test_pre_checks_change_no_result(monkeypatch):
  texts = _pre_check_texts()
  found = [(tf.read_text(t), tf.find_years(t), tf.find_level(t)) for t in texts]
  monkeypatch.setattr(tf._PreCheck, "passes", lambda self, folded: True)
  assert found == [(tf.read_text(t), tf.find_years(t), tf.find_level(t))
                   for t in texts]
  assert sum(f.title != "" for f, _, _ in found) > 100
  assert sum(years is not None for _, years, _ in found) > 100


def test_fold_keeps_what_the_patterns_match():
  chars = "".join(chr(c) for c in range(sys.maxunicode + 1)
                  if not 0xD800 <= c < 0xE000)
  folded = tf._fold(chars)
  # One character for each, in place.
  assert len(folded) == len(chars)
  for pattern in (r"\w", r"\s", r"\d"):
    assert ([m.start() for m in re.finditer(pattern, chars)]
            == [m.start() for m in re.finditer(pattern, folded)])
  assert all(folded[m.start()] == m.group()
             for m in re.finditer(r"\s|\d", chars))
  # Whatever a letter or separator of the patterns matches becomes it.
  for literal in string.ascii_lowercase + ":–—-":
    for m in re.finditer(re.escape(literal), chars, re.I):
      assert folded[m.start()] == literal, hex(ord(m.group()))


def test_fill_resume_copies_only_a_changed_resume():
  unchanged = _resume("Summary: I cook.", role="Cook", level="Junior")
  assert tf.fill_resume(unchanged)[0] is unchanged
  # A blank role becomes "" even where no title is found.
  blank = _resume("Summary: I cook.", role="  ", level=" ")
  filled, _, role_filled, level_filled = tf.fill_resume(blank)
  assert (filled.role, filled.experience_level) == ("", " ")
  assert (role_filled, level_filled) == (False, False)
