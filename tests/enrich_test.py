"""Tests for ESCO enrichment of pairs (§3.3) and scripts/prepare_data.py."""

import dataclasses
import gc
import logging
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import esco_samples as es
from cacl_jax.data import builtin
from cacl_jax.data import enrich
from cacl_jax.data import esco_tables
from cacl_jax.data import generator
from cacl_jax.data import jsonl_io
from cacl_jax.data import records
from cacl_jax.data import text_fields
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph
from cacl_jax.ontology import ot_distance as od
from cacl_jax.ontology import set_similarity as ss

REPO = pathlib.Path(__file__).resolve().parents[1]
S = records.Skill


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
  o = graph.load_ontology(es.write_mini_esco(tmp_path_factory.mktemp("e")))
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)
  return o, d


def _pair(pair_id, resume_skills, job_skills, resume_uris=(), job_uris=()):
  return records.Pair(
      pair_id=pair_id,
      resume=records.Resume(role="r", experience_level="Mid",
                            skills=tuple(resume_skills),
                            skill_uris=tuple(resume_uris)),
      job=records.Job(job_id=f"j-{pair_id}", title="t", description="d",
                      required_skills=tuple(job_skills),
                      skill_uris=tuple(job_uris)),
      label="good_fit")


def _sample_pairs():
  return [
      # Names only, mapped through the label index; both sides rich → A.
      _pair("a", [S("Python programming"), S("Java", es.JAVA)],
            [S("Statistical Analysis")]),
      # The job maps 1 of 3 listed skills → thin side → B.
      _pair("b", [S("python")],
            [S("basket weaving"), S("knitting"), S("java")]),
      # No URI on the resume side → C.
      _pair("c", [S("knitting")], [S("Java")]),
      # Unknown URIs are counted; a carried one stays a member without path;
      # carried URIs merge.
      _pair("d", [S("mystery", "http://x/unknown"), S("cooking")],
            [S("cook meals")], resume_uris=("http://x/other", es.COOKING)),
      # An outdated URI whose name still matches is replaced.
      _pair("e", [S("statistics", "http://old/statistics"), S("Java")],
            [S("Python"), S("Java")]),
      # Nothing listed at all → C.
      _pair("f", [], []),
  ]


@pytest.mark.parametrize("counts,tier", [
    ((2, 10, 2, 30), "A"),   # ≥ 2 URIs on each side
    ((1, 1, 1, 2), "A"),     # one URI, but half the listed skills
    ((1, 3, 5, 5), "B"),     # one URI of three listed: thin
    ((0, 0, 3, 3), "C"),
    ((4, 4, 0, 2), "C"),
])
def test_quality_tier_rule(counts, tier):
  assert enrich.quality_tier(*counts) == tier


def test_enriched_sample(mini):
  o, d = mini
  out, report = enrich.enrich_pairs(_sample_pairs(), o, d)
  by_id = {p.pair_id: p for p in out}
  assert [p.metadata.quality_tier for p in out] == ["A", "B", "C", "A", "A",
                                                    "C"]
  a = by_id["a"]
  assert a.resume.skill_uris == (es.PYTHON, es.JAVA)
  assert a.resume.skills[0] == S("Python programming", es.PYTHON)
  assert a.job.skill_uris == (es.STATS,)
  # dir(R→J) = (e^-1.4 + e^-2.8) / 2, dir(J→R) = e^-1.4 (§4.4 by hand).
  expected = 0.5 * ((math.exp(-1.4) + math.exp(-2.8)) / 2 + math.exp(-1.4))
  assert a.metadata.ontology_similarity == pytest.approx(expected, abs=1e-6)
  b = by_id["b"]
  assert b.job.skill_uris == (es.JAVA,)
  assert b.job.required_skills[0] == S("basket weaving")
  assert b.metadata.ot_distance == pytest.approx(2.0, abs=1e-5)
  c = by_id["c"]
  assert c.metadata.ontology_similarity is None
  assert c.metadata.ot_distance is None
  dd = by_id["d"]
  assert dd.resume.skill_uris == (es.COOKING, "http://x/other")
  assert dd.resume.skills[0] == S("mystery", "http://x/unknown")
  # {cooking, unknown} vs {cooking}: dir(R→J) = (1 + 0) / 2, dir(J→R) = 1;
  # OT moves the unknown URI's half of the mass at the no-path cost 10.
  assert dd.metadata.ontology_similarity == pytest.approx(0.75, abs=1e-6)
  assert dd.metadata.ot_distance == pytest.approx(5.0, abs=1e-5)
  e = by_id["e"]
  assert e.resume.skills[0] == S("statistics", es.STATS)
  assert report.pairs == 6
  assert report.skills_listed == 16
  assert report.matched_by_uri == 1
  assert report.matched_by_name == 11
  assert report.skills_matched == 12
  assert report.unknown_uris == 2
  assert report.tiers == {"A": 3, "B": 1, "C": 2}
  # Pair e (costs 2, 4 / 2, 0) needs ~600 Sinkhorn iterations at ε = 0.4;
  # after 200 its plan's marginals are off by 1.2e-4 (over the 1e-4
  # tolerance) in a direction that leaves its cost within 1e-6 of exact.
  assert report.ot_not_converged == 1
  assert e.metadata.ot_distance == pytest.approx(1.013386, abs=2e-6)
  assert "tiers A 3 (50.0%)" in report.summary()
  assert report.skills_left_out_of_text == 0


def test_skills_per_text_and_the_warning(mini, caplog):
  o, d = mini
  with caplog.at_level(logging.WARNING):
    _, report = enrich.enrich_pairs(_sample_pairs(), o, d)
  # Known URIs per resume a–f: 2, 1, 0, 1, 2, 0 (d's carried http://x/other
  # is unknown); per job: 1, 1, 1, 1, 2, 0. Percentiles interpolate between
  # the sorted counts at positions 0.5, 2.5 and 4.5 of 0–5.
  assert report.resume_skills == enrich.SkillsPerText(
      texts=6, mean=1.0, p10=0.0, p50=1.0, p90=2.0, without_skills=2)
  assert report.job_skills == enrich.SkillsPerText(
      texts=6, mean=1.0, p10=0.5, p50=1.0, p90=1.5, without_skills=1)
  assert ("known skills per resume: mean 1.00, p10 0, p50 1, p90 2, none "
          "2/6 (33.3%); per job: mean 1.00, p10 0.5, p50 1, p90 1.5, none "
          "1/6 (16.7%)") in report.summary()
  message = ("2 of 6 resumes (33.3%, over 25%) have no known skill URI; their "
             "pairs get quality tier C, without ontology similarity or OT "
             "distance (§3.3)")
  assert report.warnings() == [message]
  assert [r.getMessage() for r in caplog.records
          if r.levelno == logging.WARNING] == [message]


def test_skills_per_text_statistics():
  stats = enrich.skills_per_text([3, 0, 7, 1, 4, 0, 9, 2, 5, 6, 8])
  # Sorted 0 0 1 2 3 4 5 6 7 8 9: positions 1, 5 and 9 of 0–10.
  assert stats == enrich.SkillsPerText(
      texts=11, mean=45 / 11, p10=0.0, p50=4.0, p90=8.0, without_skills=2)
  assert enrich.skills_per_text([]) == enrich.SkillsPerText(0, 0, 0, 0, 0, 0)
  assert enrich.skills_per_text([5]).p90 == 5.0


def test_warning_only_above_a_quarter(mini):
  o, d = mini
  # 1 of 4 resumes and jobs without skills: exactly a quarter, no warning.
  pairs = [_pair(f"p{i}", [S("Java")] * (i > 0), [S("Python")] * (i < 3))
           for i in range(4)]
  pairs = [dataclasses.replace(p, resume=dataclasses.replace(
      p.resume, role=f"r{i}")) for i, p in enumerate(pairs)]
  _, report = enrich.enrich_pairs(pairs, o, d)
  assert report.resume_skills.without_skills == 1
  assert report.job_skills.without_skills == 1
  assert report.warnings() == []
  _, report = enrich.enrich_pairs(pairs[:3] + [pairs[0]], o, d)
  # Resumes and jobs count once per distinct record: 1 of 3 resumes and 0
  # of 3 jobs without.
  assert report.resume_skills.texts == 3
  assert (report.job_skills.texts, report.job_skills.without_skills) == (3, 0)
  assert report.warnings()[0].startswith("1 of 3 resumes (33.3%, over 25%)")


def _free_text_pair(pair_id, role="", level="", title=""):
  return records.Pair(
      pair_id=pair_id,
      resume=records.Resume(
          role=role, experience_level=level, skills=(S("python"),),
          experience=(records.ExperienceEntry(
              "", "", "Senior Python Developer\nBuilt APIs; 7 years of "
              "experience."),)),
      job=records.Job(job_id=f"j-{pair_id}", title=title,
                      description="Position: Java Developer\n2+ years of "
                                  "experience", required_skills=(S("Java"),)),
      label="good_fit")


def test_free_text_fills_only_empty_fields_and_counts(mini):
  o, d = mini
  given = _free_text_pair("given", "Statistician", "Junior", "Data Scientist")
  out, report = enrich.enrich_pairs([_free_text_pair("free"), given], o, d)
  free = out[0]
  assert (free.resume.role, free.resume.experience_level,
          free.job.title) == ("Python Developer", "Senior", "Java Developer")
  assert (out[1].resume.role, out[1].resume.experience_level,
          out[1].job.title) == ("Statistician", "Junior", "Data Scientist")
  assert report.fields == text_fields.FieldCounts(
      resumes=2, jobs=2, resume_titles=2, resume_levels=2, resume_years=2,
      job_titles=2, roles_filled=1, levels_filled=1, titles_filled=1)
  assert report.summary().endswith(report.fields.summary())
  again, report_again = enrich.enrich_pairs(out, o, d)
  assert again == out
  assert report_again.fields == dataclasses.replace(
      report.fields, roles_filled=0, levels_filled=0, titles_filled=0)


def test_skills_too_long_for_the_text_are_counted(mini):
  o, d = mini
  long_name = "x" * 41
  pairs = [dataclasses.replace(
      p, resume=dataclasses.replace(
          p.resume, skills=p.resume.skills + (S(long_name),) * 2))
           for p in _sample_pairs()[:2]]
  _, report = enrich.enrich_pairs(pairs, o, d)
  assert report.skills_left_out_of_text == 4
  assert ("skill mentions left out of the texts (over 40 characters) 4"
          in report.summary())


def test_metrics_equal_the_direct_functions(mini):
  o, d = mini
  out, _ = enrich.enrich_pairs(_sample_pairs(), o, d)
  scored = [p for p in out if p.metadata.quality_tier != "C"]
  a = ss.pad_uri_sets(o.skill_index, [p.resume.skill_uris for p in scored])
  b = ss.pad_uri_sets(o.skill_index, [p.job.skill_uris for p in scored])
  sims = ss.set_similarity_pairs(d, *a, *b)
  ots, _, _ = od.ot_distance_pairs(d, *a, *b)
  np.testing.assert_allclose(
      [p.metadata.ontology_similarity for p in scored], sims, atol=1e-6)
  np.testing.assert_allclose([p.metadata.ot_distance for p in scored], ots,
                             atol=1e-6)


def test_idempotent(mini):
  o, d = mini
  once, report_once = enrich.enrich_pairs(_sample_pairs(), o, d)
  twice, report_twice = enrich.enrich_pairs(once, o, d, chunk=2)
  assert twice == once
  assert report_twice.tiers == report_once.tiers
  assert report_twice.matched_by_uri == report_once.skills_matched


def test_distance_shape_must_match(mini):
  o, _ = mini
  with pytest.raises(ValueError, match="do not match"):
    enrich.enrich_pairs(_sample_pairs(), o, np.zeros((3, 3), np.uint8))


def test_generated_builtin_pairs_follow_the_spec_mix():
  folder = builtin.builtin_esco_dir()
  o = graph.load_ontology(folder)
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)
  pairs = list(generator.generate_pairs(esco_tables.load_tables(folder), 400))
  out, report = enrich.enrich_pairs(pairs, o, d)
  assert report.pairs == 400 and report.unknown_uris == 0
  # §3.3: 78 % of the pairs have URIs on both sides (tiers A and B).
  share = (report.tiers["A"] + report.tiers["B"]) / 400
  assert 0.7 < share < 0.86
  for p in out:
    m = p.metadata
    if m.quality_tier == "C":
      assert m.ontology_similarity is None and m.ot_distance is None
    else:
      assert 0.0 <= m.ontology_similarity <= 1.0
      assert 0.0 <= m.ot_distance <= od.NO_PATH_COST + 1e-4


def test_prepare_data_script(tmp_path):
  pairs = [dataclasses.replace(p, pair_id=f"p{i}")
           for i, p in enumerate(_sample_pairs()[:3])]
  folder = es.write_mini_esco(tmp_path / "esco")
  src, out, again = (tmp_path / "in.jsonl", tmp_path / "out.jsonl",
                     tmp_path / "again.jsonl")
  jsonl_io.write_pairs(src, pairs)
  stdout = subprocess.run(
      [sys.executable, str(REPO / "scripts/prepare_data.py"),
       f"--esco={folder}", f"--input={src}", f"--output={out}",
       f"--cache_dir={tmp_path / 'cache'}"],
      cwd=REPO, capture_output=True, text=True, check=True).stdout
  assert "skills matched 6/9" in stdout
  assert "tiers A 1 (33.3%), B 1 (33.3%), C 1 (33.3%)" in stdout
  assert "(built: no cache yet)" in stdout
  enriched = jsonl_io.read_pairs(out)
  assert [p.metadata.quality_tier for p in enriched] == ["A", "B", "C"]
  # Enriching the script's output again rewrites the same bytes.
  o = graph.load_ontology(folder)
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)
  jsonl_io.write_pairs(again, enrich.enrich_pairs(enriched, o, d)[0])
  assert out.read_bytes() == again.read_bytes()


def test_repeated_records_are_enriched_once_and_shared(mini):
  o, d = mini
  first, second = _sample_pairs()[:2]
  # Three pairs of one resume (two equal copies) and two of one job.
  pairs = [first,
           dataclasses.replace(second, resume=dataclasses.replace(
               first.resume)),
           dataclasses.replace(first, pair_id="again")]
  out, report = enrich.enrich_pairs(pairs, o, d)
  assert out[0].resume is out[1].resume is out[2].resume
  assert out[0].job is out[2].job
  # Each pair is what enriching it alone gives; counts are per pair.
  for pair, got in zip(pairs, out):
    alone, _ = enrich.enrich_pairs([pair], o, d)
    assert got == alone[0]
  singles = [enrich.enrich_pairs([p], o, d)[1] for p in pairs]
  assert report.skills_listed == sum(r.skills_listed for r in singles)
  assert report.skills_matched == sum(r.skills_matched for r in singles)
  assert report.fields.resumes == 1 and report.fields.jobs == 2


def test_first_equal_hashes_by_value():
  a, b = records.Skill("a"), records.Skill("b")
  items = [a, b, records.Skill("a"), b, records.Skill("c"), a]
  assert enrich._first_equal(items) == [0, 1, 0, 1, 4, 0]


def test_one_job_id_gets_one_job(mini):
  o, d = mini
  cook, waiter = (
      records.Job(job_id="x", title="", description=f"Position: {title}")
      for title in ("Cook", "Waiter"))
  pairs = [
      records.Pair(pair_id=str(i), label="good_fit", job=job,
                   resume=records.Resume(role=role, experience_level="Mid"))
      for i, (role, job) in enumerate([("A", cook), ("B", waiter)])]
  out, report = enrich.enrich_pairs(pairs, o, d)
  # The job read last for the job_id, that of the first pair of resume B,
  # goes to both pairs; the counts read the first.
  assert out[0].job is out[1].job
  assert out[0].job.title == "Waiter"
  assert (report.fields.jobs, report.fields.titles_filled) == (1, 1)


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_kept(mini, enabled):
  o, d = mini
  was = gc.isenabled()
  try:
    gc.enable() if enabled else gc.disable()
    enrich.enrich_pairs(_sample_pairs(), o, d)
    assert gc.isenabled() == enabled
  finally:
    gc.enable() if was else gc.disable()
