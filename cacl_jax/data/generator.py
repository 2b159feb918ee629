"""Synthetic resume–job pairs over an ontology in the ESCO layout (§3).

The real pairs of the method are private, so demos, tests and benchmarks use
pairs made here, shaped like §3: a stationary stream in which

- jobs come from a pool of `active_jobs` open postings; one posting is
  replaced every 1 / `job_turnover` pairs, so a job recurs in
  several nearby pairs and a window of n pairs holds about
  `active_jobs + job_turnover * n` unique jobs (§3.2: 381 in 4,143 pairs);
- each resume applies to 1–4 consecutive jobs: one it was drawn against
  (same occupation, same ISCO group or unrelated) and others from the pool,
  preferring its own ISCO group;
- a hidden score decides the label: occupation match + covered fraction of
  the job's skills − seniority gap + Gaussian noise, cut at thresholds that
  are set from the score quantiles of the seed's stream so that the
  final mix (after flipping a `noise_rate` fraction of labels) is
  `label_mix` (§3.1: 26/22/52 %);
- a fixed share of jobs, and as many resumes as keep `uri_coverage` (§3.3:
  78 %) of pairs with URIs on both sides, list only free-text skills (no
  URI), while their experience or description still names the ontology
  skills.

Random draws that decide the score come from one stream and those that only
shape the text from another, so calibration runs the process without text.
A seed fixes everything; the first n pairs do not depend on `num_pairs`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator, Sequence

from cacl_jax.data import esco_tables
from cacl_jax.data import generator_text as text
from cacl_jax.data import records

SAME_OCCUPATION, SAME_GROUP, UNRELATED = 0, 1, 2
OCCUPATION_WEIGHT = (1.0, 0.5, 0.0)
OVERLAP_WEIGHT = 1.5
UNDERQUALIFIED_PENALTY = 0.4   # per level below the job's
OVERQUALIFIED_PENALTY = 0.2    # per level beyond one above the job's
JOB_LEVEL_MIX = (0.1, 0.25, 0.35, 0.2, 0.1)
LEVEL_GAPS = (-2, -1, 0, 1, 2)        # resume level − level of the job it
LEVEL_GAP_MIX = (0.1, 0.2, 0.4, 0.2, 0.1)  # was drawn against
MAX_RESUME_SKILLS = 14
MIN_ESSENTIAL_SKILLS = 4
DEFAULT_NOISE_RATE = 0.05


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
  """Shape of the generated stream; the defaults reproduce §3's statistics.

  label_mix: final good / potential / no fit shares (after label noise).
  active_jobs, job_turnover: open postings, and postings replaced per pair.
  jobs_per_resume: probabilities of a resume applying to 1, 2, 3, 4 jobs.
  match_mix: probabilities that a resume's occupation is the one of the job
    it is drawn against, another of the same ISCO group, or an unrelated one.
  related_job_rate: chance that each further job is from the resume's group.
  uri_coverage: share of pairs with skill URIs on both sides.
  job_uri_less_rate: share of postings that list free-text skills only.
  score_noise: standard deviation of the unobserved part of the score.
  max_occupations: size of the occupation subset drawn from a large ontology.
  calibration_pairs: pairs whose scores set the label thresholds.
  """
  label_mix: tuple[float, float, float] = (0.26, 0.22, 0.52)
  active_jobs: int = 135
  job_turnover: float = 0.067
  jobs_per_resume: tuple[float, ...] = (0.3, 0.3, 0.25, 0.15)
  match_mix: tuple[float, float, float] = (0.45, 0.2, 0.35)
  related_job_rate: float = 0.6
  uri_coverage: float = 0.78
  job_uri_less_rate: float = 0.06
  score_noise: float = 0.25
  max_occupations: int = 150
  calibration_pairs: int = 20_000


@dataclasses.dataclass(frozen=True)
class _Occupation:
  concept: esco_tables.Occupation
  essential: tuple[str, ...]
  optional: tuple[str, ...]

  @property
  def group(self) -> str:
    return self.concept.isco_group


@dataclasses.dataclass(frozen=True, eq=False)
class _World:
  """The occupations jobs are drawn from, and their ISCO groups."""
  tables: esco_tables.EscoTables
  occupations: tuple[_Occupation, ...]
  by_group: dict[str, tuple[int, ...]]


def _build_world(tables: esco_tables.EscoTables, max_occupations: int,
                 seed: int) -> _World:
  """Occupations with enough skills; on a large ontology a seeded subset.

  The subset takes up to three occupations from each of a shuffled list of
  ISCO groups, so that same-group resumes and jobs exist.
  """
  eligible: dict[str, list[str]] = {}
  for uri, occ in tables.occupations.items():
    if len(tables.essential.get(uri, ())) >= MIN_ESSENTIAL_SKILLS:
      eligible.setdefault(occ.isco_group, []).append(uri)
  if not eligible:
    raise ValueError(f"{tables.folder}: no occupation has "
                     f"{MIN_ESSENTIAL_SKILLS} or more essential skills")
  chosen = [u for uris in eligible.values() for u in uris]
  if len(chosen) > max_occupations:
    rng = text.Rng(f"cacl-jax/occupations/{seed}")
    groups = sorted(eligible)
    rng.shuffle(groups)
    chosen = []
    for group in groups:
      chosen += rng.sample(eligible[group], 3)[:max_occupations - len(chosen)]
      if len(chosen) == max_occupations:
        break
  occupations = []
  by_group: dict[str, list[int]] = {}
  for uri in chosen:
    occ = tables.occupations[uri]
    by_group.setdefault(occ.isco_group, []).append(len(occupations))
    occupations.append(_Occupation(
        concept=occ, essential=tables.essential[uri],
        optional=tables.optional.get(uri, ())))
  return _World(tables=tables, occupations=tuple(occupations),
                by_group={g: tuple(v) for g, v in by_group.items()})


class _Quota:
  """Says yes to a `rate` share of calls, evenly spaced, from a seeded phase.

  Systematic rather than Bernoulli choice keeps per-seed counts (unique
  jobs, URI coverage) close to their targets.
  """

  __slots__ = ("rate", "credit")

  def __init__(self, rate: float, phase: float):
    self.rate, self.credit = rate, phase

  def take(self) -> bool:
    self.credit += self.rate
    if self.credit >= 1.0:
      self.credit -= 1.0
      return True
    return False


class _Coverage:
  """Picks the resumes that list no URIs, keeping coverage on target.

  A resume goes without URIs when that keeps the count of pairs with URIs on
  both sides closer to `target` × pairs so far (its jobs may lack URIs too),
  so every prefix of the stream is on target.
  """

  __slots__ = ("target", "pairs", "both")

  def __init__(self, target: float):
    self.target, self.pairs, self.both = target, 0, 0

  def resume_uri_less(self, n_pairs: int, n_jobs_with_uris: int) -> bool:
    self.pairs += n_pairs
    goal = self.target * self.pairs
    uri_less = (abs(self.both - goal)
                < abs(self.both + n_jobs_with_uris - goal))
    if not uri_less:
      self.both += n_jobs_with_uris
    return uri_less


@dataclasses.dataclass(eq=False)
class _JobState:
  record: records.Job | None
  occupation: int
  level: int
  skills: frozenset[str]


@dataclasses.dataclass(eq=False)
class _ResumeState:
  occupation: int
  level: int
  skills: tuple[str, ...]


class _Process:
  """The stationary stream of (resume, job, hidden score) triples."""

  def __init__(self, world: _World, config: GeneratorConfig, seed: str,
               render: bool):
    self.world, self.config, self.render = world, config, render
    self.rng = text.Rng(f"cacl-jax/structure/{seed}")
    self.renderer = text.RecordRenderer(world.tables.skills,
                                        text.Rng(f"cacl-jax/text/{seed}"))
    self.turnover = _Quota(config.job_turnover, self.rng.uniform())
    self.uri_less_jobs = _Quota(config.job_uri_less_rate,
                                self.renderer.rng.uniform())
    self.coverage = _Coverage(config.uri_coverage)
    self.jobs_made = 0
    self.active = [self._new_job() for _ in range(config.active_jobs)]
    self.active_by_group: dict[str, list[_JobState]] = {}
    for job in self.active:
      self._group_jobs(job).append(job)

  def _group_jobs(self, job: _JobState) -> list[_JobState]:
    group = self.world.occupations[job.occupation].group
    return self.active_by_group.setdefault(group, [])

  def _new_job(self) -> _JobState:
    rng = self.rng
    occ_index = rng.below(len(self.world.occupations))
    occ = self.world.occupations[occ_index]
    n_optional = min(rng.below(3), len(occ.optional))
    n_essential = min(5 + rng.below(4) - n_optional, len(occ.essential))
    skills = (rng.sample(occ.essential, n_essential)
              + rng.sample(occ.optional, n_optional))
    level = rng.categorical(JOB_LEVEL_MIX)
    job_id = f"job-{self.jobs_made:06d}"
    self.jobs_made += 1
    record = None
    if self.render:
      record = self.renderer.job(job_id, occ.concept, level, skills,
                                 uri_less=self.uri_less_jobs.take())
    return _JobState(record=record, occupation=occ_index, level=level,
                     skills=frozenset(skills))

  def _replace_job(self) -> None:
    slot = self.rng.below(len(self.active))
    old = self.active[slot]
    self._group_jobs(old).remove(old)
    new = self._new_job()
    self.active[slot] = new
    self._group_jobs(new).append(new)

  def _resume_occupation(self, anchor: _JobState, match: int) -> int:
    occupations = self.world.occupations
    group = occupations[anchor.occupation].group
    if match == SAME_GROUP:
      others = [i for i in self.world.by_group[group]
                if i != anchor.occupation]
      return self.rng.choice(others) if others else anchor.occupation
    if match == UNRELATED and len(self.world.by_group) > 1:
      while True:
        i = self.rng.below(len(occupations))
        if occupations[i].group != group:
          return i
    return anchor.occupation

  def _new_resume(self, anchor: _JobState) -> _ResumeState:
    rng = self.rng
    match = rng.categorical(self.config.match_mix)
    occ_index = self._resume_occupation(anchor, match)
    occ = self.world.occupations[occ_index]
    gap = LEVEL_GAPS[rng.categorical(LEVEL_GAP_MIX)]
    level = min(max(anchor.level + gap, 0), len(text.LEVEL_NAMES) - 1)
    coverage = rng.uniform(0.3, 0.95)
    skills = [s for s in occ.essential if rng.uniform() < coverage]
    skills += [s for s in occ.optional if rng.uniform() < 0.6 * coverage]
    if len(skills) < 3:
      skills = rng.sample(occ.essential, 3)
    rng.shuffle(skills)
    return _ResumeState(occupation=occ_index, level=level,
                        skills=tuple(skills[:MAX_RESUME_SKILLS]))

  def _jobs_for(self, resume: _ResumeState,
                anchor: _JobState) -> list[_JobState]:
    rng = self.rng
    n_jobs = 1 + rng.categorical(self.config.jobs_per_resume)
    n_jobs = min(n_jobs, len(self.active))
    group = self.world.occupations[resume.occupation].group
    chosen = [anchor]
    while len(chosen) < n_jobs:
      related = [j for j in self.active_by_group.get(group, ())
                 if j not in chosen]
      if related and rng.uniform() < self.config.related_job_rate:
        chosen.append(rng.choice(related))
        continue
      job = rng.choice(self.active)
      if job not in chosen:
        chosen.append(job)
    rng.shuffle(chosen)
    return chosen

  def score(self, resume: _ResumeState, job: _JobState) -> float:
    occupations = self.world.occupations
    if resume.occupation == job.occupation:
      match = SAME_OCCUPATION
    elif (occupations[resume.occupation].group
          == occupations[job.occupation].group):
      match = SAME_GROUP
    else:
      match = UNRELATED
    overlap = len(job.skills.intersection(resume.skills)) / len(job.skills)
    gap = resume.level - job.level
    seniority = (UNDERQUALIFIED_PENALTY * gap if gap < 0
                 else -OVERQUALIFIED_PENALTY * max(gap - 1, 0))
    return (OCCUPATION_WEIGHT[match] + OVERLAP_WEIGHT * overlap + seniority
            + self.config.score_noise * self.rng.normal())

  def triples(self) -> Iterator[tuple[records.Resume | None,
                                      records.Job | None, float]]:
    """Yields (resume record, job record, hidden score) forever."""
    while True:
      anchor = self.rng.choice(self.active)
      resume = self._new_resume(anchor)
      jobs = self._jobs_for(resume, anchor)
      record = None
      if self.render:
        uri_less = self.coverage.resume_uri_less(
            len(jobs), sum(bool(j.record.skill_uris) for j in jobs))
        record = self.renderer.resume(
            self.world.occupations[resume.occupation].concept, resume.level,
            resume.skills, uri_less=uri_less)
      for job in jobs:
        yield record, job.record, self.score(resume, job)
        if self.turnover.take():
          self._replace_job()


def _pre_noise_mix(label_mix: Sequence[float],
                   noise_rate: float) -> list[float]:
  """Mix before noise that flips `noise_rate` of labels to another class.

  After flipping to one of the two other classes uniformly, a class of
  share p ends at p (1 - 3η/2) + η/2; this inverts that map.
  """
  mix = [(q - noise_rate / 2) / (1 - 1.5 * noise_rate) for q in label_mix]
  if min(mix) < 0:
    raise ValueError(f"noise_rate {noise_rate} is too high for label_mix "
                     f"{tuple(label_mix)}: each class needs ≥ noise_rate/2")
  return mix


@functools.lru_cache(maxsize=8)
def _calibrate(world: _World, config: GeneratorConfig, noise_rate: float,
              seed: int) -> tuple[float, float]:
  """Score thresholds (good_fit, potential_fit) giving `config.label_mix`.

  Quantiles of the hidden score over the first `calibration_pairs` pairs of
  the seed's own stream (run without text). Which occupations hold open
  postings drifts slowly, so a separate run would leave each seed's mix off
  target by about a point; the seed's own stream keeps it on target.
  """
  mix = _pre_noise_mix(config.label_mix, noise_rate)
  process = _Process(world, config, seed=str(seed), render=False)
  triples = process.triples()
  scores = sorted(next(triples)[2] for _ in range(config.calibration_pairs))
  n = len(scores)
  good = scores[min(int(n * (1 - mix[0])), n - 1)]
  potential = scores[min(int(n * (1 - mix[0] - mix[1])), n - 1)]
  return good, potential


@functools.lru_cache(maxsize=8)
def _world_for(tables: esco_tables.EscoTables, max_occupations: int,
               seed: int) -> _World:
  return _build_world(tables, max_occupations, seed)


def generate_pairs(tables: esco_tables.EscoTables, num_pairs: int,
                   seed: int = 0, noise_rate: float = DEFAULT_NOISE_RATE,
                   config: GeneratorConfig = GeneratorConfig()
                   ) -> Iterator[records.Pair]:
  """Streams `num_pairs` labelled pairs, deterministic for `seed`.

  Arguments are checked and the label thresholds set at the call; pairs are
  made as the iterator is consumed. Pair ids are `pair-0000000`, … in
  stream order, job ids `job-000000`, … in order of posting.
  """
  if num_pairs < 0:
    raise ValueError(f"num_pairs must be ≥ 0, got {num_pairs}")
  if not 0.0 <= noise_rate < 1.0:
    raise ValueError(f"noise_rate must be in [0, 1), got {noise_rate}")
  world = _world_for(tables, config.max_occupations, seed)
  thresholds = _calibrate(world, config, noise_rate, seed)
  return _labelled_pairs(_Process(world, config, seed=str(seed), render=True),
                         thresholds, num_pairs, seed, noise_rate)


def _labelled_pairs(process: _Process, thresholds: tuple[float, float],
                    num_pairs: int, seed: int,
                    noise_rate: float) -> Iterator[records.Pair]:
  good, potential = thresholds
  noise = text.Rng(f"cacl-jax/noise/{seed}")
  triples = process.triples()
  for index in range(num_pairs):
    resume, job, score = next(triples)
    label = 0 if score >= good else 1 if score >= potential else 2
    if noise.uniform() < noise_rate:
      label = (label + 1 + noise.below(2)) % 3
    yield records.Pair(pair_id=f"pair-{index:07d}", resume=resume, job=job,
                       label=records.LABELS[label])
