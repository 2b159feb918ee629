"""A trained model in use: score, rank and explain new resumes and jobs.

    matcher = cacl_jax.Matcher.load("workdirs/all/phase2/model")
    rankings = matcher.rank_jobs(resumes, jobs, top_k=10)

Resumes and jobs are §3.4 records (`data.records.Resume` / `Job`), free text
(a `str`) or `documents.Document`s read from files. They go the way training
pairs went: free text becomes a record whose skills the skill extractor
reads off it (`skills.extractor`; a record that lists no skill gets them the
same way), enrichment fills its empty role, level or title from its text
and maps its skills to ESCO URIs (`data.enrich`), the §5.3 text is embedded
by the frozen encoder through the embedding cache shared with training
(`<cache root>/embeddings`; the encoder is only loaded for texts not in it)
and projected by the Phase-1 head. So a training pair scores here exactly as
Phase 2 scored it.

Every result carries P(match) = σ(logit) of the Phase-2 classifier, whether
it reaches the bundle's tuned threshold, the Phase-1 cosine of the two
projections, and the ontology view of `serving.explain` (§4.4 similarity,
§4.5 OT distance, matched / missing / other relevant skills). Rankings walk
the whole resumes × jobs grid in chunks with a running top-k
(`serving.topk`) and compute exact logits, cosines and explanations for the
top-k only.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any, Callable, Sequence, Union

import jax.numpy as jnp
import ml_collections
import numpy as np
from scipy import special

from cacl_jax import pipeline
from cacl_jax.common import files
from cacl_jax.data import builtin, csv_import, enrich, records, serialize
from cacl_jax.encoder import embedding_cache
from cacl_jax.ontology import distance_cache, graph
from cacl_jax.phase1 import projection
from cacl_jax.phase2 import classifier
from cacl_jax.phase2 import evaluate as phase2_evaluate
from cacl_jax.serving import bundle as bundle_lib
from cacl_jax.serving import documents, explain, labelled, topk
from cacl_jax.skills import extractor as skill_extractor

ResumeInput = Union[records.Resume, str, documents.Document]
JobInput = Union[records.Job, str, documents.Document]


@dataclasses.dataclass(frozen=True)
class Match:
  """One resume–job result."""
  resume_id: str
  job_id: str
  logit: float
  p_match: float  # σ(logit), the Phase-2 probability of a good fit
  is_match: bool  # p_match ≥ the bundle's tuned threshold
  phase1_cosine: float
  explanation: explain.Explanation
  pair_id: str | None = None
  label: str | None = None

  @property
  def ontology_similarity(self) -> float | None:
    return self.explanation.ontology_similarity

  @property
  def ot_distance(self) -> float | None:
    return self.explanation.ot_distance

  def to_json(self) -> dict[str, Any]:
    head = {"pair_id": self.pair_id, "label": self.label} \
        if self.pair_id is not None else {}
    return {**head, "resume_id": self.resume_id, "job_id": self.job_id,
            "p_match": self.p_match, "logit": self.logit,
            "is_match": self.is_match, "phase1_cosine": self.phase1_cosine,
            "ontology_similarity": self.ontology_similarity,
            "ot_distance": self.ot_distance,
            "explanation": self.explanation.to_json()}


@dataclasses.dataclass(frozen=True)
class Ranking:
  """The top matches of one query (a resume or a job), best first."""
  query_id: str
  query_kind: str  # "resume" (jobs ranked for it) or "job"
  matches: tuple[Match, ...]

  def to_json(self) -> dict[str, Any]:
    return {f"{self.query_kind}_id": self.query_id,
            "matches": [dict(m.to_json(), rank=i + 1)
                        for i, m in enumerate(self.matches)]}


@dataclasses.dataclass(frozen=True)
class _Side:
  """Prepared resumes or jobs: ids, enriched records, their §5.3 texts,
  classifier inputs [n, E] and unit Phase-1 projections [n, E]."""
  ids: tuple[str, ...]
  records: tuple[Any, ...]
  texts: tuple[str, ...]
  input_NxE: np.ndarray
  unit_NxE: np.ndarray

  def uris(self, rows: Sequence[int]) -> list[tuple[str, ...]]:
    return [self.records[i].skill_uris for i in rows]


class _LazyEncoder:
  """The bundle's encoder, built only when the embedding cache misses."""

  def __init__(self, config: ml_collections.ConfigDict, identity: str,
               dim: int):
    self._config, self.identity, self.dim = config, identity, dim
    self._encoder = None

  def get(self):
    if self._encoder is None:
      self._encoder = pipeline.make_encoder(self._config)
      if self._encoder.identity != self.identity:
        raise bundle_lib.BundleError(
            f"encoder {self._config.model!r} now has identity "
            f"{self._encoder.identity!r}, the model was trained on "
            f"{self.identity!r}")
    return self._encoder

  def encode(self, texts, progress: bool = False) -> np.ndarray:
    return self.get().encode(texts, progress=progress)


class Matcher:
  """Scores, ranks and explains resumes and jobs with a model bundle."""

  def __init__(self, model: bundle_lib.Bundle, ontology: graph.Ontology,
               distances: np.ndarray, cache_root: pathlib.Path):
    self.bundle, self.ontology, self.distances = model, ontology, distances
    self.threshold = model.threshold
    self._root = cache_root
    encoder = model.phase2_config.encoder
    identity = pipeline.encoder_identity(encoder)
    model.check_encoder(identity)
    self._encoder = _LazyEncoder(encoder, identity, model.encoder["dim"])
    self._embeddings = embedding_cache.EmbeddingCache(
        cache_root / "embeddings", self._encoder)
    self._extractor: skill_extractor.SkillExtractor | None = None
    self._normalized = bool(model.phase2_config.phase1_normalized_input)

  @classmethod
  def load(cls, path: str | os.PathLike, *,
           esco_dir: str | os.PathLike | None = None,
           cache_dir: str | os.PathLike | None = None) -> "Matcher":
    """The bundle in `path` with its ontology.

    `esco_dir` is the ESCO folder the model was trained with; by default
    the folder recorded in the bundle, else the built-in demo ontology when
    that is the one. Its files must hash to the bundle's fingerprint.
    `cache_dir` is the cache root (default $CACL_CACHE_DIR, else
    ~/.cache/cacl_jax), where the distance matrix, embeddings and skill
    index are kept.
    """
    model = bundle_lib.load(path)
    folder = _ontology_folder(model, esco_dir)
    bundle_lib.check_ontology(model, folder)
    root = files.cache_root(cache_dir)
    ontology = graph.load_ontology(folder)
    distances = distance_cache.load_or_build_distances(
        folder, root / "ontology", ontology=ontology)
    return cls(model, ontology, distances, root)

  def skill_reader(self) -> Callable[[str], list[records.Skill]]:
    """The skill extractor's `record_skills` (built on first use), which
    reads a free text's skills the way training did."""
    if self._extractor is None:
      self._extractor = pipeline.make_skill_extractor(
          self.ontology.esco_dir, self._encoder.get(), self._root)
    return self._extractor.record_skills

  def _record(self, item, kind: str):
    """(id, the §3.4 record with its skills) of one input."""
    if isinstance(item, documents.Document):
      doc_id, record, text = item.doc_id, item.record, item.text
    elif isinstance(item, str):
      doc_id, record, text = None, None, item
    elif isinstance(item, records.Resume if kind == "resume"
                    else records.Job):
      doc_id, record, text = None, item, None
    else:
      raise TypeError(f"a {kind} must be a records."
                      f"{'Resume' if kind == 'resume' else 'Job'}, a str or "
                      f"a documents.Document, got {type(item).__name__}")
    if record is None:
      record = (csv_import.resume_from_text(text, self.skill_reader())
                if kind == "resume" else
                csv_import.job_from_text(text, self.skill_reader(), doc_id))
    elif kind == "resume":  # the extractor is built only if it is needed
      record, _ = skill_extractor.fill_resume_skills(
          record, lambda text: self.skill_reader()(text))
    else:
      record, _ = skill_extractor.fill_job_skills(
          record, lambda text: self.skill_reader()(text))
    return doc_id, record

  def _prepare(self, items: Sequence, kind: str) -> _Side:
    """Enriched records, texts, embeddings and projections of the inputs."""
    ids, enriched = [], []
    index = self.ontology.skill_index
    for i, item in enumerate(items):
      doc_id, record = self._record(item, kind)
      if kind == "resume":
        enriched.append(enrich.enrich_resume(record, index))
        ids.append(doc_id or str(i))
      else:
        enriched.append(enrich.enrich_job(record, index))
        ids.append(doc_id or record.job_id)
    texts = [serialize.serialize_resume(r) if kind == "resume"
             else serialize.serialize_job(r) for r in enriched]
    emb_NxD = (self._embeddings.get(texts, progress=len(texts) > 1000)
               if texts else np.zeros((0, self._encoder.dim), np.float32))
    input_NxE = self._project(emb_NxD, self._normalized)
    unit_NxE = (input_NxE if self._normalized else
                np.asarray(projection.l2_normalize(jnp.asarray(input_NxE))))
    return _Side(ids=tuple(ids), records=tuple(enriched), texts=tuple(texts),
                 input_NxE=input_NxE, unit_NxE=unit_NxE)

  def _project(self, emb_NxD: np.ndarray, normalize: bool) -> np.ndarray:
    model = self.bundle.phase1_config.model
    if not len(emb_NxD):
      return np.zeros((0, model.dim), np.float32)
    return projection.project(model, self.bundle.phase1_params, emb_NxD,
                              normalize=normalize)

  def _matches(self, resumes: _Side, jobs: _Side, r_N: np.ndarray,
               j_N: np.ndarray) -> list[Match]:
    """Exact results of the pairs (resumes[r_N[i]], jobs[j_N[i]])."""
    if not len(r_N):
      return []
    table = np.concatenate([resumes.input_NxE, jobs.input_NxE])
    logits = classifier.predict_logits(
        self.bundle.phase2_config.model, self.bundle.phase2_params, table,
        r_N, len(resumes.ids) + j_N)
    probs = special.expit(logits.astype(np.float64))
    cosines = np.einsum("ne,ne->n", resumes.unit_NxE[r_N],
                        jobs.unit_NxE[j_N])
    explanations = explain.explain_pairs(
        self.ontology, self.distances, resumes.uris(r_N), jobs.uris(j_N))
    return [Match(resume_id=resumes.ids[r], job_id=jobs.ids[j],
                  logit=float(logit), p_match=float(p),
                  is_match=bool(p >= self.threshold),
                  phase1_cosine=float(c), explanation=e)
            for r, j, logit, p, c, e in zip(r_N, j_N, logits, probs, cosines,
                                            explanations)]

  def _score(self, pairs: Sequence) -> tuple[list[Match], _Side, _Side]:
    resumes, jobs, ids, labels = [], [], [], []
    for i, pair in enumerate(pairs):
      if isinstance(pair, (documents.PairInput, records.Pair)):
        resumes.append(pair.resume)
        jobs.append(pair.job)
        ids.append(pair.pair_id)
        labels.append(pair.label)
      else:
        resume, job = pair
        resumes.append(resume)
        jobs.append(job)
        ids.append(str(i))
        labels.append(None)
    r_side = self._prepare(resumes, "resume")
    j_side = self._prepare(jobs, "job")
    rows = np.arange(len(resumes))
    matches = [dataclasses.replace(m, pair_id=pair_id, label=label)
               for m, pair_id, label in zip(
                   self._matches(r_side, j_side, rows, rows), ids, labels)]
    return matches, r_side, j_side

  def score_pairs(self, pairs: Sequence) -> list[Match]:
    """The results of given pairs, in order: `documents.PairInput`s,
    `records.Pair`s or (resume, job) tuples of any accepted input."""
    return self._score(pairs)[0]

  def evaluate_pairs(self, pairs: Sequence
                     ) -> tuple[list[Match], dict[str, Any] | None]:
    """`score_pairs`, and the metrics of the labelled pairs among them
    (`serving.labelled`; None when no pair has a label).

    The rankings are Phase 2's (`phase2.evaluate.rankings`).
    """
    matches, r_side, j_side = self._score(pairs)
    rows = np.asarray([i for i, m in enumerate(matches)
                       if m.label is not None], np.int64)
    if not rows.size:
      return matches, None
    resume_N, num_r = labelled.unique_index(r_side.texts[i] for i in rows)
    job_N, _ = labelled.unique_index(j_side.records[i].job_id for i in rows)
    r_rows = rows[np.unique(resume_N, return_index=True)[1]]
    j_rows = rows[np.unique(job_N, return_index=True)[1]]
    picked = [matches[i] for i in rows]
    label_N = np.asarray([records.binary_label(m.label) for m in picked],
                         np.int32)
    metrics = labelled.evaluate(
        label_N, np.asarray([m.p_match for m in picked]),
        np.asarray([m.logit for m in picked], np.float32),
        phase2_evaluate.RankedPairs(
            resume_row_R=np.arange(num_r, dtype=np.int32),
            job_row_P=num_r + np.arange(len(j_rows), dtype=np.int32),
            resume_N=resume_N, job_N=job_N, label_N=label_N),
        np.concatenate([r_side.input_NxE[r_rows], j_side.input_NxE[j_rows]]),
        self.bundle.phase2_config.model, self.bundle.phase2_params,
        self.threshold, self.bundle.phase2_config.eval)
    return matches, dict(metrics, unlabelled=len(matches) - len(picked))

  def _rank(self, queries: _Side, items: _Side, top_k: int,
            query_is_resume: bool) -> list[Ranking]:
    if top_k < 1:
      raise ValueError(f"top_k must be at least 1, got {top_k}")
    if not queries.ids or not items.ids:
      return [Ranking(q, "resume" if query_is_resume else "job", ())
              for q in queries.ids]
    _, best_QxK = topk.top_k_logits(
        self.bundle.phase2_config.model, self.bundle.phase2_params,
        queries.input_NxE, items.input_NxE, top_k,
        query_is_resume=query_is_resume)
    q_N = np.repeat(np.arange(len(queries.ids)), best_QxK.shape[1])
    i_N = best_QxK.reshape(-1)
    matches = (self._matches(queries, items, q_N, i_N) if query_is_resume
               else self._matches(items, queries, i_N, q_N))
    # Exact logits can reorder near-ties of the grid's float32 scores.
    kind, k = ("resume" if query_is_resume else "job"), best_QxK.shape[1]
    return [Ranking(query_id, kind, tuple(sorted(
                matches[q * k:(q + 1) * k], key=lambda m: -m.logit)))
            for q, query_id in enumerate(queries.ids)]

  def rank_jobs(self, resumes: Sequence[ResumeInput],
                jobs: Sequence[JobInput], top_k: int = 10) -> list[Ranking]:
    """For every resume, the `top_k` jobs of highest P(match)."""
    return self._rank(self._prepare(resumes, "resume"),
                      self._prepare(jobs, "job"), top_k, True)

  def rank_resumes(self, jobs: Sequence[JobInput],
                   resumes: Sequence[ResumeInput],
                   top_k: int = 10) -> list[Ranking]:
    """For every job, the `top_k` resumes of highest P(match)."""
    return self._rank(self._prepare(jobs, "job"),
                      self._prepare(resumes, "resume"), top_k, False)

  def explain(self, resume: ResumeInput, job: JobInput) -> Match:
    """The result of one resume against one job, with its explanation."""
    return self.score_pairs([(resume, job)])[0]


def _ontology_folder(model: bundle_lib.Bundle,
                     esco_dir: str | os.PathLike | None) -> pathlib.Path:
  """`esco_dir`, else the bundle's recorded folder, else the built-in demo
  ontology when its files are the model's."""
  if esco_dir is not None:
    return pathlib.Path(esco_dir)
  hint = pathlib.Path(model.ontology["path_hint"])
  if hint.is_dir():
    return hint
  folder = builtin.builtin_esco_dir()
  try:
    bundle_lib.check_ontology(model, folder)
  except bundle_lib.BundleError:
    raise bundle_lib.BundleError(
        f"the ESCO folder the model in {model.path} was trained with "
        f"({hint}) is not here: pass a copy of it as esco_dir (--esco)"
        ) from None
  return folder
