"""Typed resume, job and pair records (§3.4) and their validated JSON form.

Records are frozen dataclasses so that enrichment produces new copies
(`dataclasses.replace`) rather than mutating shared state. Parsing never
guesses: every problem raises `RecordError` naming the source file, the line
and the dotted field path.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from cacl_jax.common import textfile

LABELS = ("good_fit", "potential_fit", "no_fit")
QUALITY_TIERS = ("A", "B", "C", "D", "F")


def binary_label(label: str) -> int:
  """good_fit → 1; potential_fit and no_fit → 0 (§3.1)."""
  if label not in LABELS:
    raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
  return 1 if label == "good_fit" else 0


class RecordError(ValueError):
  """A record that cannot be read, located by file, line and field."""

  def __init__(self, message: str, *, source: str = "<memory>",
               line: int | None = None, field: str | None = None):
    self.source, self.line, self.field = source, line, field
    super().__init__(
        f"{textfile.location(source, line, 'field', field)}: {message}")


@dataclasses.dataclass(frozen=True)
class Skill:
  name: str
  uri: str | None = None


@dataclasses.dataclass(frozen=True)
class ExperienceEntry:
  title: str
  company: str = ""
  description: str = ""


@dataclasses.dataclass(frozen=True)
class Resume:
  role: str
  experience_level: str
  skills: tuple[Skill, ...] = ()
  experience: tuple[ExperienceEntry, ...] = ()
  skill_uris: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Job:
  job_id: str
  title: str
  description: str
  required_skills: tuple[Skill, ...] = ()
  skill_uris: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PairMetadata:
  quality_tier: str | None = None
  ontology_similarity: float | None = None
  ot_distance: float | None = None


@dataclasses.dataclass(frozen=True)
class Pair:
  pair_id: str
  resume: Resume
  job: Job
  label: str
  metadata: PairMetadata = PairMetadata()

  @property
  def binary_label(self) -> int:
    return binary_label(self.label)


class _Reader:
  """Pulls typed fields out of parsed JSON, raising located `RecordError`s."""

  def __init__(self, source: str, line: int | None):
    self.source, self.line = source, line

  def error(self, field: str, message: str) -> RecordError:
    return RecordError(message, source=self.source, line=self.line,
                       field=field)

  def obj(self, value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
      raise self.error(field, f"expected an object, got {_kind(value)}")
    return value

  def get(self, obj: Mapping[str, Any], key: str, path: str, *,
          required: bool = True, default: Any = None) -> Any:
    if key not in obj or obj[key] is None:
      if required:
        raise self.error(_join(path, key), "missing required field")
      return default
    return obj[key]

  def string(self, obj, key, path, *, required=True, allow_empty=True):
    value = self.get(obj, key, path, required=required, default="")
    if not isinstance(value, str):
      raise self.error(_join(path, key),
                       f"expected a string, got {_kind(value)}")
    if not allow_empty and not value.strip():
      raise self.error(_join(path, key), "must not be empty")
    return value

  def optional_float(self, obj, key, path) -> float | None:
    value = self.get(obj, key, path, required=False)
    if value is None:
      return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise self.error(_join(path, key),
                       f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
      raise self.error(_join(path, key), f"must be finite, got {value}")
    return float(value)

  def array(self, obj, key, path, *, required=False) -> list[Any]:
    value = self.get(obj, key, path, required=required, default=[])
    if not isinstance(value, list):
      raise self.error(_join(path, key),
                       f"expected a list, got {_kind(value)}")
    return value

  def skills(self, obj, key, path) -> tuple[Skill, ...]:
    out = []
    for i, item in enumerate(self.array(obj, key, path)):
      item_path = f"{_join(path, key)}[{i}]"
      if isinstance(item, str):
        if not item.strip():
          raise self.error(item_path, "must not be empty")
        out.append(Skill(name=item))
        continue
      item = self.obj(item, item_path)
      name = self.string(item, "name", item_path, allow_empty=False)
      uri = self.string(item, "uri", item_path, required=False) or None
      out.append(Skill(name=name, uri=uri))
    return tuple(out)

  def strings(self, obj, key, path) -> tuple[str, ...]:
    values = self.array(obj, key, path)
    for i, v in enumerate(values):
      if not isinstance(v, str):
        raise self.error(f"{_join(path, key)}[{i}]",
                         f"expected a string, got {_kind(v)}")
      if not v.strip():
        raise self.error(f"{_join(path, key)}[{i}]", "must not be empty")
    return tuple(values)


def _join(path: str, key: str) -> str:
  return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
  return "null" if value is None else type(value).__name__


def _resume_from_dict(r: _Reader, obj: Any, path: str) -> Resume:
  obj = r.obj(obj, path)
  experience = []
  for i, item in enumerate(r.array(obj, "experience", path)):
    item_path = f"{path}.experience[{i}]"
    if isinstance(item, str):
      experience.append(ExperienceEntry(title="", description=item))
      continue
    item = r.obj(item, item_path)
    experience.append(ExperienceEntry(
        title=r.string(item, "title", item_path, required=False),
        company=r.string(item, "company", item_path, required=False),
        description=r.string(item, "description", item_path,
                             required=False)))
  return Resume(
      role=r.string(obj, "role", path),
      experience_level=r.string(obj, "experience_level", path,
                                required=False),
      skills=r.skills(obj, "skills", path),
      experience=tuple(experience),
      skill_uris=r.strings(obj, "skill_uris", path))


def _job_from_dict(r: _Reader, obj: Any, path: str) -> Job:
  obj = r.obj(obj, path)
  return Job(
      job_id=r.string(obj, "job_id", path, allow_empty=False),
      title=r.string(obj, "title", path),
      description=r.string(obj, "description", path, required=False),
      required_skills=r.skills(obj, "required_skills", path),
      skill_uris=r.strings(obj, "skill_uris", path))


def resume_from_dict(obj: Any, *, source: str = "<memory>",
                     line: int | None = None) -> Resume:
  """Validates one parsed JSON object into a `Resume` (§3.4 resume object)."""
  return _resume_from_dict(_Reader(source, line), obj, "resume")


def job_from_dict(obj: Any, *, source: str = "<memory>",
                  line: int | None = None) -> Job:
  """Validates one parsed JSON object into a `Job` (§3.4 job object)."""
  return _job_from_dict(_Reader(source, line), obj, "job")


def pair_from_dict(obj: Any, *, source: str = "<memory>",
                   line: int | None = None) -> Pair:
  """Validates one parsed JSON object into a `Pair`."""
  r = _Reader(source, line)
  obj = r.obj(obj, "<record>")
  label = r.string(obj, "label", "")
  if label not in LABELS:
    raise r.error("label", f"unknown label {label!r}; expected one of "
                  f"{', '.join(LABELS)}")
  if "binary_label" in obj and obj["binary_label"] is not None:
    given = obj["binary_label"]
    if given not in (0, 1) or isinstance(given, bool):
      raise r.error("binary_label", f"expected 0 or 1, got {given!r}")
    if given != binary_label(label):
      raise r.error("binary_label", f"{given} contradicts label {label!r}")
  meta = r.obj(r.get(obj, "metadata", "", required=False, default={}),
               "metadata")
  tier = r.string(meta, "quality_tier", "metadata", required=False) or None
  if tier is not None and tier not in QUALITY_TIERS:
    raise r.error("metadata.quality_tier",
                  f"unknown tier {tier!r}; expected one of {QUALITY_TIERS}")
  return Pair(
      pair_id=r.string(obj, "pair_id", "", allow_empty=False),
      resume=_resume_from_dict(r, r.get(obj, "resume", ""), "resume"),
      job=_job_from_dict(r, r.get(obj, "job", ""), "job"),
      label=label,
      metadata=PairMetadata(
          quality_tier=tier,
          ontology_similarity=r.optional_float(meta, "ontology_similarity",
                                               "metadata"),
          ot_distance=r.optional_float(meta, "ot_distance", "metadata")))


def _skills_to_list(skills: tuple[Skill, ...]) -> list[dict[str, Any]]:
  return [{"name": s.name, "uri": s.uri} for s in skills]


def pair_to_dict(pair: Pair) -> dict[str, Any]:
  """The JSON form read back by `pair_from_dict` (a lossless round trip)."""
  resume, job, meta = pair.resume, pair.job, pair.metadata
  return {
      "pair_id": pair.pair_id,
      "resume": {
          "role": resume.role,
          "experience_level": resume.experience_level,
          "skills": _skills_to_list(resume.skills),
          "experience": [dataclasses.asdict(e) for e in resume.experience],
          "skill_uris": list(resume.skill_uris),
      },
      "job": {
          "job_id": job.job_id,
          "title": job.title,
          "description": job.description,
          "required_skills": _skills_to_list(job.required_skills),
          "skill_uris": list(job.skill_uris),
      },
      "label": pair.label,
      "binary_label": pair.binary_label,
      "metadata": dataclasses.asdict(meta),
  }
