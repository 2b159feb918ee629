"""ESCO enrichment of resume–job pairs (§3.3): URIs, quality tier, metrics.

For each side (resume skills, job required skills), every listed skill is
mapped to a URI of the ontology: its own `uri` if the ontology knows it,
else its name through the label index (`SkillIndex.lookup_name`), which
also fills the skill's `uri`. `skill_uris` becomes the mapped URIs in
listed order followed by any URIs the side already carried, without
repeats. A listed skill whose URI the ontology lacks and whose name matches
nothing keeps that URI in its `skill`; carried URIs the ontology lacks stay
in `skill_uris`, where the metrics treat them as members with no path (0 in
§4.4, the no-path cost in §4.5, see `ontology.set_similarity`). Both kinds
are counted in the report.

Quality tier (§3.4: A = both sides rich in URIs, C = one or both without),
with n = known URIs of a side and m = its listed skills:
- a side is *rich* when n ≥ 2, or n ≥ 1 and n ≥ m / 2;
- A: both sides rich; B: both sides have n ≥ 1 but one is not rich;
  C: a side has n = 0.
`ontology_similarity` (§4.4) and `ot_distance` (§4.5) are computed
(`ontology.pair_metrics.score_uri_pairs`) for tiers A and B and are None for
tier C. Values are rounded to 6 decimals.

Free text: a resume's empty role and experience level and a job's empty
title are first filled from the texts where they state them
(`text_fields.fill_pairs`, which never changes a given value), and the report
counts how often the texts state each and how many fields were filled. It also
gives the known skill URIs per distinct text (resumes by value, jobs by
job_id): mean, 10th, 50th and 90th percentile (numpy's linear
interpolation), and how many texts have none; `enrich_pairs` logs a warning
for a side where more than `MAX_SHARE_WITHOUT_SKILLS` of the texts have
none, since their pairs fall into tier C, without the §4.4 and §4.5
metrics.
The limit is a quarter: the method's own data has 22% of its pairs in tier C
(§3.3), and the generated demo data about as many, which should not warn.

Enrichment is idempotent: mapped URIs and filled fields are written back, so
enriching an enriched pair reproduces it exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from typing import Iterable, Iterator, Sequence

from absl import logging
import numpy as np
import tqdm

from cacl_jax.data import records, serialize, text_fields
from cacl_jax.ontology import pair_metrics
from cacl_jax.ontology import graph as graph_lib
from cacl_jax.ontology import skill_index as skill_index_lib

TIERS = ("A", "B", "C")
RICH_MIN_URIS = 2
RICH_MIN_COVERAGE = 0.5
DECIMALS = 6
MAX_SHARE_WITHOUT_SKILLS = 0.25


@dataclasses.dataclass(frozen=True)
class SkillsPerText:
  """Known skill URIs per distinct text of one side."""
  texts: int
  mean: float
  p10: float
  p50: float
  p90: float
  without_skills: int

  @property
  def share_without_skills(self) -> float:
    return self.without_skills / max(self.texts, 1)

  def summary(self) -> str:
    return (f"mean {self.mean:.2f}, p10 {self.p10:g}, p50 {self.p50:g}, "
            f"p90 {self.p90:g}, none {self.without_skills}/{self.texts} "
            f"({self.share_without_skills:.1%})")


def skills_per_text(counts: Sequence[int]) -> SkillsPerText:
  """Mean, percentiles and zeros of per-text skill counts (zeros if empty)."""
  if not counts:
    return SkillsPerText(0, 0.0, 0.0, 0.0, 0.0, 0)
  p10, p50, p90 = np.quantile(np.asarray(counts, float), [0.1, 0.5, 0.9])
  return SkillsPerText(texts=len(counts), mean=float(np.mean(counts)),
                       p10=float(p10), p50=float(p50), p90=float(p90),
                       without_skills=sum(c == 0 for c in counts))


@dataclasses.dataclass(frozen=True)
class EnrichReport:
  """What enrichment matched and how the pairs were graded."""
  pairs: int
  skills_listed: int
  skills_matched: int
  matched_by_uri: int
  matched_by_name: int
  # Listed skills or carried skill_uris whose URI the ontology lacks.
  unknown_uris: int
  tiers: dict[str, int]
  ot_not_converged: int
  resume_skills: SkillsPerText
  job_skills: SkillsPerText
  fields: text_fields.FieldCounts
  # Skill mentions (per pair and side) too long for the §5.3 text.
  skills_left_out_of_text: int = 0

  def warnings(self) -> list[str]:
    """One message per side where too many texts have no known skill."""
    return [
        f"{stats.without_skills} of {stats.texts} {side} "
        f"({stats.share_without_skills:.1%}, over "
        f"{MAX_SHARE_WITHOUT_SKILLS:.0%}) have no known skill URI; their "
        "pairs get quality tier C, without ontology similarity or OT "
        "distance (§3.3)"
        for side, stats in (("resumes", self.resume_skills),
                            ("jobs", self.job_skills))
        if stats.share_without_skills > MAX_SHARE_WITHOUT_SKILLS]

  def summary(self) -> str:
    share = self.skills_matched / max(self.skills_listed, 1)
    tiers = ", ".join(
        f"{t} {n} ({n / max(self.pairs, 1):.1%})"
        for t, n in self.tiers.items())
    return (f"{self.pairs} pairs; skills matched {self.skills_matched}/"
            f"{self.skills_listed} ({share:.1%}: {self.matched_by_uri} by URI, "
            f"{self.matched_by_name} by name); unknown URIs "
            f"{self.unknown_uris}; tiers {tiers}; OT not converged "
            f"{self.ot_not_converged}; skill mentions left out of the "
            f"texts (over {serialize.MAX_SKILL_CHARS} characters) "
            f"{self.skills_left_out_of_text}; known skills per resume: "
            f"{self.resume_skills.summary()}; per job: "
            f"{self.job_skills.summary()}; {self.fields.summary()}")


@dataclasses.dataclass
class _Counts:
  listed: int = 0
  by_uri: int = 0
  by_name: int = 0
  unknown: int = 0


def _map_side(skills: Sequence[records.Skill], carried: Sequence[str],
              index: skill_index_lib.SkillIndex, counts: _Counts
              ) -> tuple[tuple[records.Skill, ...], tuple[str, ...], int]:
  """(skills with URIs filled, skill_uris, how many of them are known)."""
  mapped, unknown = [], set()
  for skill in skills:
    counts.listed += 1
    if skill.uri is not None and skill.uri in index.uri_to_row:
      counts.by_uri += 1
      mapped.append(skill)
      continue
    uri = index.lookup_name(skill.name)
    if uri is None:
      if skill.uri is not None:
        unknown.add(skill.uri)
      mapped.append(skill)
    else:
      counts.by_name += 1
      mapped.append(dataclasses.replace(skill, uri=uri))
  listed_uris = [s.uri for s in mapped if s.uri in index.uri_to_row]
  uris = tuple(dict.fromkeys(listed_uris + list(carried)))
  _, unknown_carried = index.rows_for_uris(uris)
  counts.unknown += len(unknown.union(unknown_carried))
  return tuple(mapped), uris, len(uris) - len(unknown_carried)


def enrich_resume(resume: records.Resume,
                  index: skill_index_lib.SkillIndex) -> records.Resume:
  """One resume as `enrich_pairs` enriches it inside a pair: empty role and
  level filled from its text, skills mapped to URIs, `skill_uris` set."""
  resume, _, _, _ = text_fields.fill_resume(resume)
  skills, uris, _ = _map_side(resume.skills, resume.skill_uris, index,
                              _Counts())
  return dataclasses.replace(resume, skills=skills, skill_uris=uris)


def enrich_job(job: records.Job,
               index: skill_index_lib.SkillIndex) -> records.Job:
  """One job as `enrich_pairs` enriches it inside a pair: empty title filled
  from its description, skills mapped to URIs, `skill_uris` set."""
  job, _, _ = text_fields.fill_job(job)
  skills, uris, _ = _map_side(job.required_skills, job.skill_uris, index,
                              _Counts())
  return dataclasses.replace(job, required_skills=skills, skill_uris=uris)


def _skills_left_out(pairs: Sequence[records.Pair]) -> int:
  """Skill mentions, per pair and side, that the §5.3 texts leave out
  (each distinct record, shared by its pairs, counted once per pair)."""
  per_record: dict[int, int] = {}
  total = 0
  for pair in pairs:
    for record, skills in ((pair.resume, pair.resume.skills),
                           (pair.job, pair.job.required_skills)):
      if id(record) not in per_record:
        per_record[id(record)] = serialize.skills_left_out(skills)
      total += per_record[id(record)]
  return total


def quality_tier(resume_known: int, resume_listed: int, job_known: int,
                 job_listed: int) -> str:
  """A / B / C from the known-URI and listed-skill counts of both sides."""
  def rich(known: int, listed: int) -> bool:
    return known >= RICH_MIN_URIS or (
        known >= 1 and known >= RICH_MIN_COVERAGE * listed)
  if resume_known == 0 or job_known == 0:
    return "C"
  if rich(resume_known, resume_listed) and rich(job_known, job_listed):
    return "A"
  return "B"


def _first_equal(items: Sequence) -> list[int]:
  """For each item, the index of the first item equal to it. An object that
  occurs many times is hashed once: a record's hash covers all its fields,
  nested ones included, which is slow."""
  by_id: dict[int, int] = {}
  by_value: dict = {}
  first = []
  for i, item in enumerate(items):
    found = by_id.get(id(item))
    if found is None:
      found = by_id[id(item)] = by_value.setdefault(item, i)
    first.append(found)
  return first


def _fill_fields(pairs: Sequence[records.Pair]
                 ) -> tuple[list[records.Resume], list[records.Job],
                            text_fields.FieldCounts]:
  """The resume and job of every pair with empty fields filled from their
  texts, and the counts of `text_fields.fill_pairs` over the pairs that first
  hold a distinct resume (by value) or job (by job_id). Each distinct record
  is read once and its filled record is one object shared by every pair that
  holds it. A pair's job is the filled job of the last of those pairs with
  its job_id (the same record unless pairs give one job_id different jobs)."""
  resume_first = _first_equal([pair.resume for pair in pairs])
  job_first: dict[str, int] = {}
  for i, pair in enumerate(pairs):
    job_first.setdefault(pair.job.job_id, i)
  job_last = dict(job_first)
  for i in set(resume_first):
    job_id = pairs[i].job.job_id
    job_last[job_id] = max(job_last[job_id], i)
  resumes = {i: text_fields.fill_resume(pairs[i].resume)
             for i in dict.fromkeys(resume_first)}
  jobs: dict[int, tuple[records.Job, text_fields.TextFields, bool]] = {}
  for i in (*job_first.values(), *job_last.values()):
    if id(pairs[i].job) not in jobs:
      jobs[id(pairs[i].job)] = text_fields.fill_job(pairs[i].job)
  counts = text_fields.count_fields(
      [resumes[i][1:] for i in dict.fromkeys(resume_first)],
      [jobs[id(pairs[i].job)][1:] for i in job_first.values()])
  filled_jobs = {job_id: jobs[id(pairs[i].job)][0]
                 for job_id, i in job_last.items()}
  return ([resumes[i][0] for i in resume_first],
          [filled_jobs[pair.job.job_id] for pair in pairs], counts)


class _SideMapper:
  """`_map_side` once per distinct record; `counts()` adds its counts once
  per use."""

  def __init__(self, index: skill_index_lib.SkillIndex):
    self._index, self._done, self._uses = index, {}, {}

  def __call__(self, key, skills, carried):
    if key not in self._done:
      own = _Counts()
      self._done[key] = (_map_side(skills, carried, self._index, own), own)
      self._uses[key] = 0
    self._uses[key] += 1
    return self._done[key][0]

  def counts(self) -> _Counts:
    total = _Counts()
    for key, (_, own) in self._done.items():
      for field in dataclasses.fields(_Counts):
        setattr(total, field.name, getattr(total, field.name)
                + getattr(own, field.name) * self._uses[key])
    return total


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
  """Python's cyclic garbage collector off, then back as it was. Enrichment
  keeps nearly every object it makes, so the collections it would trigger
  only walk the growing heap (about a quarter of its time at 100k pairs);
  the records it makes hold no reference cycles."""
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if enabled:
      gc.enable()


def enrich_pairs(pairs: Iterable[records.Pair],
                 ontology: graph_lib.Ontology, distances: np.ndarray, *,
                 progress: bool = False, chunk: int = 1024
                 ) -> tuple[list[records.Pair], EnrichReport]:
  """Enriched copies of `pairs` and a report of the matching and tiers.

  `distances` is the uint8 [S, S] matrix of `ontology` (row order of its
  `SkillIndex`), e.g. from `distance_cache.load_or_build_distances`. The
  report's `warnings()` are logged. Each distinct resume and job is read and
  mapped once, and its enriched record is shared by the pairs holding it.
  """
  with _gc_paused():
    return _enrich(list(pairs), ontology.skill_index, distances, progress,
                   chunk)


def _enrich(pairs: list[records.Pair], index: skill_index_lib.SkillIndex,
            distances: np.ndarray, progress: bool, chunk: int
            ) -> tuple[list[records.Pair], EnrichReport]:
  """`enrich_pairs` of `pairs`."""
  resumes, jobs, fields = _fill_fields(pairs)
  map_side = _SideMapper(index)
  # Equal records are one object after `_fill_fields`: keyed by identity.
  enriched: dict[int, object] = {}
  tiers, resume_known, job_known = [], {}, {}
  for resume, job in tqdm.tqdm(zip(resumes, jobs), total=len(pairs),
                               desc="map skills", unit="pair",
                               disable=not progress):
    r_skills, r_uris, r_known = map_side(
        id(resume), resume.skills, resume.skill_uris)
    j_skills, j_uris, j_known = map_side(
        id(job), job.required_skills, job.skill_uris)
    if id(resume) not in enriched:
      enriched[id(resume)] = dataclasses.replace(
          resume, skills=r_skills, skill_uris=r_uris)
    if id(job) not in enriched:
      enriched[id(job)] = dataclasses.replace(
          job, required_skills=j_skills, skill_uris=j_uris)
    tiers.append(quality_tier(r_known, len(r_skills), j_known, len(j_skills)))
    resume_known.setdefault(id(resume), r_known)
    job_known.setdefault(job.job_id, j_known)

  scored = [i for i, t in enumerate(tiers) if t != "C"]
  sims, ots, converged = pair_metrics.score_uri_pairs(
      index, distances, [enriched[id(resumes[i])].skill_uris for i in scored],
      [enriched[id(jobs[i])].skill_uris for i in scored], chunk=chunk,
      progress=progress)
  values = {i: (round(float(s), DECIMALS), round(float(o), DECIMALS))
            for i, s, o in zip(scored, sims, ots)}
  out = []
  for i, (pair, tier) in enumerate(zip(pairs, tiers)):
    sim, ot = values.get(i, (None, None))
    out.append(dataclasses.replace(
        pair, resume=enriched[id(resumes[i])], job=enriched[id(jobs[i])],
        metadata=records.PairMetadata(
            quality_tier=tier, ontology_similarity=sim, ot_distance=ot)))
  counts = map_side.counts()
  report = EnrichReport(
      pairs=len(out), skills_listed=counts.listed,
      skills_matched=counts.by_uri + counts.by_name,
      matched_by_uri=counts.by_uri, matched_by_name=counts.by_name,
      unknown_uris=counts.unknown,
      tiers={t: tiers.count(t) for t in TIERS},
      ot_not_converged=int((~converged).sum()),
      resume_skills=skills_per_text(list(resume_known.values())),
      job_skills=skills_per_text(list(job_known.values())),
      fields=fields,
      skills_left_out_of_text=_skills_left_out(out))
  for message in report.warnings():
    logging.warning("%s", message)
  return out, report
