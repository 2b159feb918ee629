"""pipeline.load_pairs on free text: skills come from the skill extractor
(its thresholded set), with the encoder of the config."""

import csv
import dataclasses
import logging

from cacl_jax import pipeline
from cacl_jax.data import config as data_config
from cacl_jax.data import jsonl_io, records
from cacl_jax.encoder import embedding_cache
from cacl_jax.ontology import graph
from cacl_jax.skills import extractor

import skill_samples


def test_fit_csv_skills_from_extractor(tmp_path):
  esco = skill_samples.write_skill_esco(tmp_path / "esco")
  path = tmp_path / "fit.csv"
  with path.open("w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["resume_text", "job_description_text", "label"])
    writer.writerow(["I write Python and use Docker.", "Cook meals daily.",
                     "No Fit"])
  data = data_config.data_fields()
  data.input, data.ontology = str(path), str(esco)
  data.cache_dir = str(tmp_path / "cache")
  encoder = data_config.encoder_fields()
  encoder.model = data_config.RANDOM_TINY_ENCODER
  [pair] = pipeline.load_pairs(data, graph.load_ontology(esco), encoder)

  text_encoder = pipeline.make_encoder(encoder)
  cache = embedding_cache.EmbeddingCache(tmp_path / "other", text_encoder)
  reference = extractor.build(esco, cache.get, text_encoder.identity,
                              text_encoder.dim, cache_dir=tmp_path / "idx")
  resume = reference.record_skills("I write Python and use Docker.")
  job = reference.record_skills("Cook meals daily.")
  assert pair.resume.skill_uris == tuple(s.uri for s in resume)
  assert pair.job.skill_uris == tuple(s.uri for s in job)
  # With random weights the dense scores mean nothing, but they run: both
  # texts name skills exactly, so their sets are not empty.
  assert pair.resume.skill_uris and pair.job.skill_uris
  assert list(pair.resume.skills) == resume
  assert list((tmp_path / "cache" / "skill_index").glob("*/manifest.json"))


def test_jsonl_sides_without_skills_get_extracted_skills(tmp_path, caplog):
  esco = skill_samples.write_skill_esco(tmp_path / "esco")
  listed = (records.Skill(name="cooking"),)
  base = records.Pair(
      pair_id="p0",
      resume=records.Resume(role="Developer", experience_level="",
                            experience=(records.ExperienceEntry(
                                title="", description="I write Python."),)),
      job=records.Job(job_id="j0", title="Cook", description="Cook meals.",
                      required_skills=listed),
      label="no_fit")
  other = dataclasses.replace(base, pair_id="p1")
  path = tmp_path / "pairs.jsonl"
  jsonl_io.write_pairs(path, [base, other])
  data = data_config.data_fields()
  data.input, data.ontology = str(path), str(esco)
  data.cache_dir = str(tmp_path / "cache")
  encoder = data_config.encoder_fields()
  encoder.model = data_config.RANDOM_TINY_ENCODER
  with caplog.at_level(logging.WARNING):
    pairs = pipeline.load_pairs(data, graph.load_ontology(esco), encoder)

  text_encoder = pipeline.make_encoder(encoder)
  cache = embedding_cache.EmbeddingCache(tmp_path / "other", text_encoder)
  reference = extractor.build(esco, cache.get, text_encoder.identity,
                              text_encoder.dim, cache_dir=tmp_path / "idx")
  expected = reference.record_skills("Developer. I write Python.")
  assert expected
  for pair in pairs:
    assert list(pair.resume.skills) == expected
    assert pair.resume.skill_uris == tuple(s.uri for s in expected)
    assert pair.job.required_skills == listed  # listed skills are kept
  assert ("1 resume and 0 job texts list no skill; their skills were read "
          "off the text by the skill extractor") in caplog.text
