"""Why a resume fits a job, in skills: explanations read off the ontology.

For a resume's skill URIs R and a job's skill URIs J, an `Explanation` has:

- `ontology_similarity` (§4.4) and `ot_distance` (§4.5): the values
  `pair_metrics.score_uri_pairs` gives, rounded to `DECIMALS` (6) as
  enrichment stores them for training (the same
  `set_similarity.set_similarity_pairs` and `ot_distance.ot_distance_pairs`;
  sets padded to another width differ in float32 rounding, which 200
  Sinkhorn steps carry to ~2e-6 of the cost). Both are None when a side
  has no URI the skill index knows (an empty side included): enrichment
  stores None for such pairs (quality tier C), and the functions'
  stand-ins there (0.0 and 10.0) measure nothing.
  `ot_converged` is the solver's flag (marginal error ≤ 1e-4, see
  `ot_distance`), True for an empty side.
- `matched`: (resume skill, job skill) pairs read off the §4.5 plan P.
  Repeats of a URI on one side are merged first (their plan entries add
  up), so each skill appears once. A pair's `mass` is its plan entry (all
  entries sum to 1; a job skill listed once among m receives 1/m, up to
  the solver's marginal error) and its `share` that mass over all the mass
  the plan moves to the job skill (unknown resume URIs included). A pair
  is listed when its share is at least `MIN_SHARE` (10 %) and its hop
  distance at most `max_hops` (2). The rule keeps a job skill's nearest
  resume skills and drops the entropic blur: the Gibbs kernel exp(−C/ε),
  ε = 0.4, weighs a resume skill one hop farther than another by
  exp(−2.5) ≈ 0.08 of it before the marginal scalings. Mass and share are
  rounded to `DECIMALS`; pairs are sorted by mass (as rounded: finer
  differences are float noise) descending, then hops, then the job
  skill's and the resume skill's position in its list.
- `missing`: the job skills with no resume skill within `max_hops` hops on
  the distance matrix (the plan plays no part), in job order. A job URI
  the skill index does not know is always missing. Matched and missing
  are disjoint, but a job skill can be neither: a resume skill lies within
  `max_hops`, yet brings under `MIN_SHARE` of the job skill's mass (the
  plan moves only 1/n from each of n resume skills and may spend it on
  other job skills).
- `other_relevant`: the resume skills in no listed matched pair that lie
  within `related_hops` (4) of some job skill, each with its nearest job
  skill (the first in job order at the least hops) and that distance,
  sorted by hops then resume order. Four hops join, e.g., skills of two
  occupations that share a skill or an ISCO group: what §4.4 calls
  "related but different occupations" (skill_sim = exp(−0.7 · 4) = 0.061);
  at 6 hops skill_sim is 0.015. The §5.6 negative buckets give no
  per-skill cut-off: they bucket set similarities at 0.7 and 0.4, and a
  set whose every skill is 2 hops from its best match already scores
  exp(−1.4) = 0.25, an easy negative.

Skills are `SkillRef`s: the URI and its preferred label in the ontology
graph, "" for a URI the skill index does not know. Unknown URIs are never
matched and never other_relevant (they have no path to any skill). An
empty side gives no matched or other_relevant skills; an empty resume
makes every job skill missing.

`explain_pairs` works on all pairs at once: both sides are padded to a
multiple of `_WIDTH_STEP` skills (few shapes, few compiles), the §4.4 and
§4.5 functions run vmapped in fixed-size chunks, and the selection is
vectorised over each chunk with numpy; `explain` is one pair of it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cacl_jax.data import enrich
from cacl_jax.ontology import graph as graph_lib
from cacl_jax.ontology import ot_distance
from cacl_jax.ontology import set_similarity
from cacl_jax.ontology.distances import NO_PATH

MAX_HOPS = 2
RELATED_HOPS = 4
MIN_SHARE = 0.1
DECIMALS = enrich.DECIMALS
_WIDTH_STEP = 8


@dataclasses.dataclass(frozen=True)
class SkillRef:
  """A skill URI and its preferred label ("" when the ontology lacks it)."""
  uri: str
  label: str

  def to_json(self) -> dict[str, Any]:
    return {"uri": self.uri, "label": self.label}


@dataclasses.dataclass(frozen=True)
class MatchedSkill:
  """A resume skill that the OT plan moves onto a job skill."""
  resume_skill: SkillRef
  job_skill: SkillRef
  hops: int
  # Plan entry (the whole plan sums to 1).
  mass: float
  # mass / all the mass the plan moves to job_skill.
  share: float

  def to_json(self) -> dict[str, Any]:
    return {"resume_skill": self.resume_skill.to_json(),
            "job_skill": self.job_skill.to_json(), "hops": self.hops,
            "mass": self.mass, "share": self.share}


@dataclasses.dataclass(frozen=True)
class RelatedSkill:
  """A resume skill near the job's skills, and the nearest of them."""
  resume_skill: SkillRef
  nearest_job_skill: SkillRef
  hops: int

  def to_json(self) -> dict[str, Any]:
    return {"resume_skill": self.resume_skill.to_json(),
            "nearest_job_skill": self.nearest_job_skill.to_json(),
            "hops": self.hops}


@dataclasses.dataclass(frozen=True)
class Explanation:
  """Ontology view of one resume–job pair (module docstring)."""
  ontology_similarity: float | None
  ot_distance: float | None
  ot_converged: bool
  matched: tuple[MatchedSkill, ...]
  missing: tuple[SkillRef, ...]
  other_relevant: tuple[RelatedSkill, ...]
  max_hops: int
  related_hops: int

  def to_json(self) -> dict[str, Any]:
    return {"ontology_similarity": self.ontology_similarity,
            "ot_distance": self.ot_distance,
            "ot_converged": self.ot_converged,
            "matched": [m.to_json() for m in self.matched],
            "missing": [s.to_json() for s in self.missing],
            "other_relevant": [r.to_json() for r in self.other_relevant],
            "max_hops": self.max_hops, "related_hops": self.related_hops}


@dataclasses.dataclass(frozen=True)
class _Selection:
  """Per-chunk arrays the explanations are built from (positions in the
  padded sets: resume k, job l)."""
  hops_NxKxL: np.ndarray
  mass_NxKxL: np.ndarray
  share_NxKxL: np.ndarray
  matched_NxKxL: np.ndarray
  missing_NxL: np.ndarray
  related_NxK: np.ndarray
  nearest_NxK: np.ndarray


def _padded_width(uri_lists: Sequence[Sequence[str]]) -> int:
  longest = max((len(uris) for uris in uri_lists), default=0)
  return max(-(-longest // _WIDTH_STEP), 1) * _WIDTH_STEP


def _first_positions(idx_NxK: np.ndarray, mask_NxK: np.ndarray) -> np.ndarray:
  """int [N, K]: the first position in its set holding the same row."""
  same_NxKxK = ((idx_NxK[:, :, None] == idx_NxK[:, None, :])
                & mask_NxK[:, None, :])
  return same_NxKxK.argmax(axis=2)


def _select(dist_SxS: jax.Array, a_idx_NxK: np.ndarray,
            a_mask_NxK: np.ndarray, b_idx_NxL: np.ndarray,
            b_mask_NxL: np.ndarray, plan_NxKxL: np.ndarray, max_hops: int,
            related_hops: int) -> _Selection:
  n, k, l = plan_NxKxL.shape
  known_a = set_similarity.has_row(a_idx_NxK, a_mask_NxK)
  known_b = set_similarity.has_row(b_idx_NxL, b_mask_NxL)
  first_a, first_b = (_first_positions(a_idx_NxK, a_mask_NxK),
                      _first_positions(b_idx_NxL, b_mask_NxL))
  canon_a = known_a & (first_a == np.arange(k))
  canon_b = known_b & (first_b == np.arange(l))
  # Plan mass of repeated URIs gathered on their first position.
  flat_NxKxL = ((np.arange(n)[:, None, None] * k + first_a[:, :, None]) * l
                + first_b[:, None, :])
  mass_NxKxL = np.bincount(flat_NxKxL.ravel(), plan_NxKxL.ravel(),
                           minlength=n * k * l).reshape(n, k, l)
  column_NxL = mass_NxKxL.sum(axis=1)
  share_NxKxL = np.divide(mass_NxKxL, column_NxL[:, None, :],
                          out=np.zeros_like(mass_NxKxL),
                          where=column_NxL[:, None, :] > 0)
  d_NxKxL = np.asarray(
      dist_SxS[set_similarity.safe_rows(a_idx_NxK)[:, :, None],
               set_similarity.safe_rows(b_idx_NxL)[:, None, :]])
  hops_NxKxL = np.where(known_a[:, :, None] & known_b[:, None, :], d_NxKxL,
                        np.uint8(NO_PATH))
  matched_NxKxL = (canon_a[:, :, None] & canon_b[:, None, :]
                   & (hops_NxKxL <= max_hops) & (share_NxKxL >= MIN_SHARE))
  return _Selection(
      hops_NxKxL=hops_NxKxL, mass_NxKxL=mass_NxKxL, share_NxKxL=share_NxKxL,
      matched_NxKxL=matched_NxKxL,
      missing_NxL=b_mask_NxL & (hops_NxKxL.min(axis=1) > max_hops),
      related_NxK=(canon_a & ~matched_NxKxL.any(axis=2)
                   & (hops_NxKxL.min(axis=2) <= related_hops)),
      nearest_NxK=hops_NxKxL.argmin(axis=2))


class _Refs(dict):
  """URI → its `SkillRef`, made on first use."""

  def __init__(self, ontology: graph_lib.Ontology):
    super().__init__()
    self._known = ontology.skill_index.uri_to_row
    self._nodes = ontology.graph.nodes

  def __missing__(self, uri: str) -> SkillRef:
    label = self._nodes[uri]["label"] if uri in self._known else ""
    ref = self[uri] = SkillRef(uri, label)
    return ref


def _matched_lists(sel: _Selection, resume_uris, job_uris,
                   refs: _Refs) -> list[list[MatchedSkill]]:
  """Matched pairs of every pair of the chunk, in the documented order."""
  n_i, k_i, l_i = np.nonzero(sel.matched_NxKxL)
  mass = np.round(sel.mass_NxKxL[n_i, k_i, l_i], DECIMALS)
  share = np.round(sel.share_NxKxL[n_i, k_i, l_i], DECIMALS)
  hops = sel.hops_NxKxL[n_i, k_i, l_i]
  order = np.lexsort((k_i, l_i, hops, -mass, n_i))
  out: list[list[MatchedSkill]] = [[] for _ in resume_uris]
  for n, k, l, h, m, s in zip(*(x[order].tolist() for x in
                                (n_i, k_i, l_i, hops, mass, share))):
    out[n].append(MatchedSkill(refs[resume_uris[n][k]], refs[job_uris[n][l]],
                               h, m, s))
  return out


def _missing(sel: _Selection, n: int, job_uris: Sequence[str],
             refs: _Refs) -> tuple[SkillRef, ...]:
  uris = dict.fromkeys(
      job_uris[l] for l in np.flatnonzero(sel.missing_NxL[n]).tolist())
  return tuple(refs[uri] for uri in uris)


def _related(sel: _Selection, n: int, resume_uris: Sequence[str],
             job_uris: Sequence[str], refs: _Refs
             ) -> tuple[RelatedSkill, ...]:
  ks = np.flatnonzero(sel.related_NxK[n])
  nearest = sel.nearest_NxK[n, ks]
  hops = sel.hops_NxKxL[n, ks, nearest]
  order = np.lexsort((ks, hops))
  return tuple(
      RelatedSkill(refs[resume_uris[k]], refs[job_uris[l]], h)
      for k, l, h in zip(*(x[order].tolist() for x in (ks, nearest, hops))))


def _check_arguments(ontology: graph_lib.Ontology, distances, resume_uris_list,
                     job_uris_list, max_hops: int, related_hops: int) -> None:
  size = len(ontology.skill_index)
  if tuple(distances.shape) != (size, size):
    raise ValueError(f"distances {tuple(distances.shape)} do not match the "
                     f"{size} skills of the ontology")
  if len(resume_uris_list) != len(job_uris_list):
    raise ValueError(f"{len(resume_uris_list)} resume URI lists but "
                     f"{len(job_uris_list)} job URI lists")
  for name, hops in (("max_hops", max_hops), ("related_hops", related_hops)):
    if not 0 <= hops < NO_PATH:
      raise ValueError(f"{name}={hops} must be in [0, {NO_PATH})")


def explain_pairs(ontology: graph_lib.Ontology, distances,
                  resume_uris_list: Sequence[Sequence[str]],
                  job_uris_list: Sequence[Sequence[str]], *,
                  max_hops: int = MAX_HOPS, related_hops: int = RELATED_HOPS,
                  chunk: int = 1024) -> list[Explanation]:
  """The explanation of resume_uris_list[i] against job_uris_list[i], for
  every i (module docstring).

  `distances` is the uint8 [S, S] matrix in the skill index's row order
  (`distance_cache.load_or_build_distances`), numpy (copied to the device
  once per call) or jax (not copied: the cheaper choice for repeated
  calls, 206 MB for ESCO v1.2.0). Pairs run in chunks of
  `chunk`; the selection holds a few float64 arrays of chunk · K · L
  entries per chunk, for K resume and L job skills (padded).
  """
  _check_arguments(ontology, distances, resume_uris_list, job_uris_list,
                   max_hops, related_hops)
  index = ontology.skill_index
  a_idx, a_mask = set_similarity.pad_uri_sets(
      index, resume_uris_list, _padded_width(resume_uris_list))
  b_idx, b_mask = set_similarity.pad_uri_sets(
      index, job_uris_list, _padded_width(job_uris_list))
  dist = jnp.asarray(distances)
  refs = _Refs(ontology)
  out = []
  for start in range(0, len(a_idx), chunk):
    block = [x[start:start + chunk] for x in (a_idx, a_mask, b_idx, b_mask)]
    resumes = resume_uris_list[start:start + chunk]
    jobs = job_uris_list[start:start + chunk]
    sims = set_similarity.set_similarity_pairs(dist, *block, chunk=chunk)
    ots, plans, converged = ot_distance.ot_distance_pairs(dist, *block,
                                                          chunk=chunk)
    sel = _select(dist, *block, plans, max_hops, related_hops)
    scored = (set_similarity.has_row(block[0], block[1]).any(axis=1)
              & set_similarity.has_row(block[2], block[3]).any(axis=1))
    for n, matched in enumerate(_matched_lists(sel, resumes, jobs, refs)):
      out.append(Explanation(
          ontology_similarity=(round(float(sims[n]), DECIMALS) if scored[n]
                               else None),
          ot_distance=round(float(ots[n]), DECIMALS) if scored[n] else None,
          ot_converged=bool(converged[n]), matched=tuple(matched),
          missing=_missing(sel, n, jobs[n], refs),
          other_relevant=_related(sel, n, resumes[n], jobs[n], refs),
          max_hops=max_hops, related_hops=related_hops))
  return out


def explain(ontology: graph_lib.Ontology, distances,
            resume_uris: Sequence[str], job_uris: Sequence[str],
            **kwargs) -> Explanation:
  """`explain_pairs` of one pair (same keyword arguments)."""
  return explain_pairs(ontology, distances, [resume_uris], [job_uris],
                       **kwargs)[0]
