"""From a config to `PreparedData`: the one-way data flow before training.

records (JSONL, CSV, or the generated demo data) → ESCO enrichment (§3.3) →
sequential split (§3.2) → frozen-encoder embeddings through the on-disk cache
(§5.4) → per-resume candidate negatives by ontology similarity (§5.6) →
`PreparedData`.

The result is stored under the cache folder keyed by everything it depends
on (input bytes or generator settings, ontology files, encoder identity,
code version), so Phase 1, Phase 2 and later runs reuse it without loading
the encoder; a summary of what was prepared is written to
`<workdir>/data_summary.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import time
from typing import Iterator

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cacl_jax.common import distributed, files
from cacl_jax.data import builtin, config as data_config, csv_import, enrich
from cacl_jax.data import esco_tables, generator, jsonl_io, prepared, records
from cacl_jax.data import splits
from cacl_jax.encoder import embedding_cache, encode, weights
from cacl_jax.ontology import distance_cache, esco_files, graph
from cacl_jax.ontology import set_similarity
from cacl_jax.phase1 import negatives
from cacl_jax.skills import extractor as skill_extractor

CODE_VERSION = "prepared-data/4"


def cache_root(data: ml_collections.ConfigDict) -> pathlib.Path:
  """`data.cache_dir`, else $CACL_CACHE_DIR, else ~/.cache/cacl_jax."""
  return files.cache_root(data.cache_dir)


def enable_compilation_cache(root: pathlib.Path) -> None:
  """Keeps every compiled XLA program in `root/jax`, so that a rerun or a
  resumed run skips compilation ($JAX_COMPILATION_CACHE_DIR wins).

  JAX by default stores only programs that took over a second to compile,
  which makes what the cache holds depend on the machine's speed; here every
  program is stored, whatever its compile time or size.
  """
  if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", str(root / "jax"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def make_encoder(encoder: ml_collections.ConfigDict) -> encode.TextEncoder:
  """The frozen text encoder named by the config."""
  dtype = jnp.dtype(encoder.dtype)
  if encoder.model == data_config.RANDOM_TINY_ENCODER:
    return encode.TextEncoder.random(dtype=dtype,
                                     batch_tokens=encoder.batch_tokens)
  model_dir = weights.resolve_model_dir(encoder.model)
  return encode.TextEncoder.from_pretrained(
      model_dir, dtype=dtype, batch_tokens=encoder.batch_tokens)


def encoder_identity(encoder: ml_collections.ConfigDict) -> str:
  """The identity of the encoder `make_encoder` builds, found without
  loading real weights (the tiny random encoder is simply built)."""
  if encoder.model == data_config.RANDOM_TINY_ENCODER:
    return make_encoder(encoder).identity
  return encode.pretrained_identity(weights.resolve_model_dir(encoder.model),
                                    jnp.dtype(encoder.dtype))


def _source_key(data: ml_collections.ConfigDict) -> str:
  if data.input:
    return (f"input:{files.sha256_file(data.input)}:"
            f"extractor={skill_extractor.ExtractorConfig()!r}")
  return (f"demo:n={data.num_pairs}:seed={data.seed}:"
          f"noise={data.noise_rate}")


def make_skill_extractor(
    esco_dir: str | os.PathLike, text_encoder: encode.TextEncoder,
    root: pathlib.Path,
    config: skill_extractor.ExtractorConfig = skill_extractor.ExtractorConfig()
) -> skill_extractor.SkillExtractor:
  """The skill extractor over an ESCO folder with a frozen encoder; its label
  index and the texts' query embeddings are cached under `root`."""
  cache = embedding_cache.EmbeddingCache(root / "embeddings", text_encoder)
  return skill_extractor.build(
      esco_dir, lambda texts: cache.get(texts, progress=len(texts) > 1000),
      text_encoder.identity, text_encoder.dim, config,
      cache_dir=root / "skill_index")

def load_pairs(data: ml_collections.ConfigDict, ontology: graph.Ontology,
               encoder: ml_collections.ConfigDict | None = None
               ) -> list[records.Pair]:
  """The user's pairs (JSONL or fit CSV), or the generated demo pairs.

  Free text gets its skills from the skill extractor
  (`cacl_jax.skills.extractor`, its thresholded set): every text of a fit
  CSV, and the resumes and jobs of a JSONL file that list no skill at all
  (counted in the log). The extractor needs the frozen encoder named by
  `encoder`, which is built only then; its label index and the texts' query
  embeddings are cached under the cache root.
  """
  def extractor() -> skill_extractor.SkillExtractor:
    return make_skill_extractor(
        ontology.esco_dir,
        make_encoder(encoder or data_config.encoder_fields()),
        cache_root(data))

  if data.input:
    path = pathlib.Path(data.input)
    if path.suffix.lower() == ".csv":
      skills = extractor()
      return csv_import.read_fit_csv(path, skills.record_skills)
    pairs = jsonl_io.read_pairs(path)
    if any(not (p.resume.skills or p.resume.skill_uris)
           or not (p.job.required_skills or p.job.skill_uris) for p in pairs):
      skills = extractor()
      pairs, counts = skill_extractor.fill_missing_skills(
          pairs, skills.record_skills)
      logging.warning(
          "%s: %d resume and %d job texts list no skill; their skills were "
          "read off the text by the skill extractor", path,
          counts["resumes"], counts["jobs"])
    return pairs
  tables = esco_tables.load_tables(ontology.esco_dir)
  return list(generator.generate_pairs(tables, data.num_pairs, data.seed,
                                       data.noise_rate))


def candidate_settings(config: ml_collections.ConfigDict
                       ) -> negatives.CandidateSettings:
  """The candidate lists' bucket bounds from `config.phase1.negatives`."""
  n = config.phase1.negatives
  return negatives.CandidateSettings(
      hard_max_distance=n.hard_max_distance,
      medium_max_distance=n.medium_max_distance)


class _OntologyPool:
  """A split's job pool against resumes' skill-URI lists (`prepared.JobPool`)
  on the skill distances of the ontology."""

  def __init__(self, ontology: graph.Ontology, distances: np.ndarray,
               job_uris):
    self._index = ontology.skill_index
    self._pool = set_similarity.PoolSimilarity(
        distances, *set_similarity.pad_uri_sets(self._index, job_uris))

  def sets(self, resume_uris) -> set_similarity.SetsAgainstPool:
    return self._pool.sets(*set_similarity.pad_uri_sets(self._index,
                                                        resume_uris))


def prepare_data(config: ml_collections.ConfigDict,
                 workdir: str | os.PathLike | None = None
                 ) -> prepared.PreparedData:
  """Builds (or reuses from the cache) the arrays that training reads."""
  data, root = config.data, cache_root(config.data)
  esco_dir = builtin.resolve_ontology_dir(data.ontology)
  key = hashlib.sha256("|".join([
      CODE_VERSION, _source_key(data), repr(candidate_settings(config)),
      esco_files.locate_esco_files(esco_dir).fingerprint(),
      encoder_identity(config.encoder)]).encode()).hexdigest()[:24]
  path = root / "prepared" / f"{key}.npz"
  cached = None
  try:
    cached = prepared.load_cached(path)
    logging.info("Reusing prepared data %s", path)
  except prepared.PreparedCacheMissing:
    logging.info("No prepared data at %s yet; preparing it", path)
  except prepared.PreparedCacheError as e:
    logging.warning("Prepared data cache unusable, rebuilding it: %s", e)
  if cached is None:
    cached = _prepare(config, esco_dir, root)
    prepared.save_cached(path, *cached)
  result, summary = cached
  if workdir is not None and distributed.is_main_process():
    files.write_json(pathlib.Path(workdir) / "data_summary.json",
                     {**summary, "prepared": str(path)})
  return result


@contextlib.contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
  """Adds the wall time of the block to `seconds[stage]`."""
  start = time.perf_counter()
  yield
  seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


def _prepare(config, esco_dir, root):
  data = config.data
  seconds: dict[str, float] = {}
  with _timed(seconds, "ontology"):
    ontology = graph.load_ontology(esco_dir)
  with _timed(seconds, "pairs"):
    pairs = load_pairs(data, ontology, config.encoder)
    splits.check_splits(splits.sequential_split(pairs),
                        data.input or "the generated demo data")
  warnings = splits.small_split_warnings(splits.sequential_split(pairs))
  for message in warnings:
    logging.warning("%s", message)
  with _timed(seconds, "ontology"):
    distances = distance_cache.load_or_build_distances(
        esco_dir, root / "ontology", ontology=ontology, progress=True)
  logging.info("Read %d pairs; enriching with %s", len(pairs), esco_dir)
  with _timed(seconds, "enrichment"):
    pairs, report = enrich.enrich_pairs(pairs, ontology, distances,
                                        progress=True)
  print(report.summary())
  parts = splits.sequential_split(pairs)
  encoder = make_encoder(config.encoder)
  cache = embedding_cache.EmbeddingCache(root / "embeddings", encoder)

  def embed(texts):
    with _timed(seconds, "embedding"):
      return cache.get(texts, progress=True)

  with _timed(seconds, "preparation"):
    result = prepared.build_prepared(
        parts, embed,
        lambda job_uris: _OntologyPool(ontology, distances, job_uris),
        candidate_settings(config), pools=True)
  summary = {
      "source": data.input or f"built-in demo data ({data.num_pairs} pairs, "
                              f"seed {data.seed})",
      "ontology": str(esco_dir),
      "encoder": encoder.identity,
      "texts": int(result.emb_TxD.shape[0]),
      "enrichment": report.summary(),
      "warnings": warnings + report.warnings(),
      "splits": {
          name: {"pairs": part.num_pairs,
                 "positives": int(part.label_N.sum()),
                 "unique_resumes": int(part.resume_row_R.shape[0]),
                 "unique_jobs": len(part.job_ids)}
          for name, part in (("train", result.train), ("val", result.val),
                             ("test", result.test))},
      # Wall time of each stage when the data were prepared ("preparation":
      # embedding, its share under "embedding", and the arrays).
      "seconds": seconds,
  }
  return result, summary
