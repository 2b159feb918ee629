"""Tests of cacl_jax.data.generator_text: seeded draws and sentence builders."""

import collections
import random
import statistics

from cacl_jax.data import builtin
from cacl_jax.data import esco_tables
from cacl_jax.data import generator_text as text


def test_rng_is_built_on_random_random_only():
  reference = random.Random("seed").random
  rng = text.Rng("seed")
  expected = [reference() for _ in range(3)]
  assert [rng.uniform() for _ in range(3)] == expected
  rng = text.Rng("seed")
  assert rng.below(10) == int(expected[0] * 10)
  assert rng.uniform(2, 4) == 2 + 2 * expected[1]


def test_rng_draws_have_the_right_distributions():
  rng = text.Rng("dist")
  counts = collections.Counter(rng.categorical((0.2, 0.3, 0.5))
                               for _ in range(20_000))
  for i, p in enumerate((0.2, 0.3, 0.5)):
    assert abs(counts[i] / 20_000 - p) < 0.015
  normals = [rng.normal() for _ in range(20_000)]
  assert abs(statistics.mean(normals)) < 0.03
  assert abs(statistics.pstdev(normals) - 1) < 0.03
  below = collections.Counter(rng.below(4) for _ in range(8_000))
  assert set(below) == {0, 1, 2, 3}
  assert min(below.values()) > 1_800


def test_sample_and_shuffle_are_permutations():
  rng = text.Rng("perm")
  items = list(range(10))
  sample = rng.sample(items, 4)
  assert len(set(sample)) == 4 and set(sample) <= set(items)
  assert sorted(rng.sample(items, 20)) == items
  assert items == list(range(10))  # the input is not touched
  rng.shuffle(items)
  assert sorted(items) == list(range(10)) and items != list(range(10))
  firsts = collections.Counter(rng.sample("abc", 1)[0] for _ in range(3_000))
  assert min(firsts.values()) > 850


def test_title_case_keeps_mixed_case_words_and_small_words():
  assert text.title_case("software developer") == "Software Developer"
  assert text.title_case("DevOps engineer") == "DevOps Engineer"
  assert text.title_case("iOS developer") == "iOS Developer"
  assert text.title_case("head of technical") == "Head of Technical"
  assert text.title_case("and so on") == "And So on"


def test_job_title_adds_the_level_prefix():
  assert text.job_title("registered nurse", 0) == "Trainee Registered Nurse"
  assert text.job_title("registered nurse", 2) == "Registered Nurse"
  assert text.job_title("registered nurse", 4) == "Lead Registered Nurse"


def test_name_variant_uses_alternatives_at_the_given_rate():
  rng = text.Rng("names")
  names = collections.Counter(text.name_variant(rng, "cook", ("chef", "cuisinier"))
                              for _ in range(10_000))
  assert 0.33 < (names["chef"] + names["cuisinier"]) / 10_000 < 0.37
  assert text.name_variant(rng, "cook", ()) == "cook"


def test_first_sentence():
  assert text.first_sentence("Cooks cook.  They also clean. More.") == (
      "Cooks cook.")
  assert text.first_sentence("No full stop here") == "No full stop here"
  long = "word " * 100
  cut = text.first_sentence(long, max_chars=22)
  assert cut == "word word word word…"


def test_experience_description_names_every_skill_once():
  rng = text.Rng("exp")
  names = ["SQL", "visualise data", "clean data", "statistics", "R language"]
  description = text.experience_description(rng, "Senior Data Analyst", 3,
                                            names)
  assert description.split(". ")[0] in (
      "Worked three years as Senior Data Analyst",
      "Worked four years as Senior Data Analyst")
  assert all(description.count(name) == 1 for name in names)


def test_job_description_mentions_company_title_skills_and_years():
  rng = text.Rng("job")
  description = text.job_description(
      rng, company="Acme Ltd", title="Senior Cook",
      occupation_description="Cooks prepare food. They also order stock.",
      level=3, skill_names=["prepare sauces", "follow recipes", "plating"])
  assert "Acme Ltd" in description and "Senior Cook" in description
  assert "Cooks prepare food." in description
  assert "They also order stock" not in description
  assert "Key tasks: prepare sauces, follow recipes." in description
  assert "You will also need plating." in description
  assert text.YEARS_REQUIRED[3] in description


def _renderer():
  tables = esco_tables.load_tables(builtin.builtin_esco_dir())
  by_label = {o.label: o for o in tables.occupations.values()}
  return (text.RecordRenderer(tables.skills, text.Rng("render")), tables,
          by_label["registered nurse"])


def test_renderer_writes_jobs_with_and_without_uris():
  renderer, tables, nurse = _renderer()
  uris = tables.essential[nurse.uri][:5]
  job = renderer.job("job-1", nurse, 3, uris, uri_less=False)
  assert job.job_id == "job-1"
  assert job.title.startswith("Senior ")
  assert job.skill_uris == uris
  assert all(s.name in job.description for s in job.required_skills if s.uri)
  bare = renderer.job("job-2", nurse, 0, uris, uri_less=True)
  assert bare.title.startswith("Trainee ")
  assert bare.skill_uris == () and 3 <= len(bare.required_skills) <= 5
  assert all(s.name in text.FREE_TEXT_SKILLS for s in bare.required_skills)
  for uri in uris:  # the description still names every skill
    skill = tables.skills[uri]
    assert any(n in bare.description for n in (skill.label, *skill.alt_labels))


def test_renderer_writes_resumes_with_a_career():
  renderer, tables, nurse = _renderer()
  uris = tables.essential[nurse.uri][:6]
  resume = renderer.resume(nurse, 4, uris, uri_less=False)
  assert resume.experience_level == "Lead"
  assert resume.skill_uris == uris
  assert len(resume.experience) == 3  # levels 4, 3, 2: lead, senior, mid
  assert [e.title.split()[0] for e in resume.experience[:2]] == [
      "Lead", "Senior"]
  assert resume.experience[2].title.split()[0] not in text.TITLE_PREFIXES
  junior = renderer.resume(nurse, 0, uris, uri_less=True)
  assert junior.experience_level == "Entry-level"
  assert len(junior.experience) == 1 and junior.skill_uris == ()
  assert all(s.uri is None for s in junior.skills)
