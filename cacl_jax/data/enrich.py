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

Enrichment is idempotent: mapped URIs are written back, so enriching an
enriched pair reproduces it exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np
import tqdm

from cacl_jax.data import records, serialize
from cacl_jax.ontology import pair_metrics
from cacl_jax.ontology import graph as graph_lib
from cacl_jax.ontology import skill_index as skill_index_lib

TIERS = ("A", "B", "C")
RICH_MIN_URIS = 2
RICH_MIN_COVERAGE = 0.5
DECIMALS = 6


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
  # Skill mentions (per pair and side) too long for the §5.3 text.
  skills_left_out_of_text: int = 0

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
            f"{self.skills_left_out_of_text}")


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


def enrich_pairs(pairs: Iterable[records.Pair],
                 ontology: graph_lib.Ontology, distances: np.ndarray, *,
                 progress: bool = False, chunk: int = 1024
                 ) -> tuple[list[records.Pair], EnrichReport]:
  """Enriched copies of `pairs` and a report of the matching and tiers.

  `distances` is the uint8 [S, S] matrix of `ontology` (row order of its
  `SkillIndex`), e.g. from `distance_cache.load_or_build_distances`.
  """
  index = ontology.skill_index
  counts = _Counts()
  mapped, tiers = [], []
  for pair in tqdm.tqdm(pairs, desc="map skills", unit="pair",
                        disable=not progress):
    r_skills, r_uris, r_known = _map_side(
        pair.resume.skills, pair.resume.skill_uris, index, counts)
    j_skills, j_uris, j_known = _map_side(
        pair.job.required_skills, pair.job.skill_uris, index, counts)
    mapped.append(dataclasses.replace(
        pair,
        resume=dataclasses.replace(pair.resume, skills=r_skills,
                                   skill_uris=r_uris),
        job=dataclasses.replace(pair.job, required_skills=j_skills,
                                skill_uris=j_uris)))
    tiers.append(quality_tier(r_known, len(r_skills), j_known, len(j_skills)))

  scored = [i for i, t in enumerate(tiers) if t != "C"]
  sims, ots, converged = pair_metrics.score_uri_pairs(
      index, distances, [mapped[i].resume.skill_uris for i in scored],
      [mapped[i].job.skill_uris for i in scored], chunk=chunk,
      progress=progress)
  values = {i: (round(float(s), DECIMALS), round(float(o), DECIMALS))
            for i, s, o in zip(scored, sims, ots)}
  out = []
  for i, (pair, tier) in enumerate(zip(mapped, tiers)):
    sim, ot = values.get(i, (None, None))
    out.append(dataclasses.replace(pair, metadata=records.PairMetadata(
        quality_tier=tier, ontology_similarity=sim, ot_distance=ot)))
  report = EnrichReport(
      pairs=len(out), skills_listed=counts.listed,
      skills_matched=counts.by_uri + counts.by_name,
      matched_by_uri=counts.by_uri, matched_by_name=counts.by_name,
      unknown_uris=counts.unknown,
      tiers={t: tiers.count(t) for t in TIERS},
      ot_not_converged=int((~converged).sum()),
      skills_left_out_of_text=sum(
          serialize.skills_left_out(p.resume.skills)
          + serialize.skills_left_out(p.job.required_skills) for p in out))
  return out, report
