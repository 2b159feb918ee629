"""pipeline.load_pairs on a fit CSV: skills come from the skill extractor
(its thresholded set), with the encoder of the config."""

import csv

from cacl_jax import pipeline
from cacl_jax.data import config as data_config
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
