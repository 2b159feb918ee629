"""Sentences, titles and vocabulary for the synthetic resume–job generator.

Everything the hidden label process can see is also written into the text:
the occupation (as a preferred or alternative label), the seniority (level
words and years of experience) and the skills (ontology labels), so a text
encoder can learn the label as well as a model on skill URIs can.

`RecordRenderer` turns the generator's latent resumes and jobs into records.
`Rng` draws everything from `random.Random.random()`, the one method whose
output Python guarantees to keep across versions, so a seed gives the same
data on every supported Python.
"""

from __future__ import annotations

import math
import random
from typing import Mapping, Sequence, TypeVar

from cacl_jax.data import esco_tables
from cacl_jax.data import records

T = TypeVar("T")

LEVEL_NAMES = ("Entry-level", "Junior", "Mid-level", "Senior", "Lead")
TITLE_PREFIXES = ("Trainee", "Junior", "", "Senior", "Lead")
YEARS_REQUIRED = (
    "no previous experience",
    "one to two years of relevant experience",
    "three to five years of relevant experience",
    "at least five years of relevant experience",
    "eight or more years of experience, including leading a team",
)
YEARS_IN_ROLE = (("six months", "under a year"), ("one year", "two years"),
                 ("two years", "three years"), ("three years", "four years"),
                 ("four years", "five years"))

# Skills that recruiters write but no ontology lists: they stay without URI.
FREE_TEXT_SKILLS = (
    "Jira", "Slack", "MS Teams", "Zoom", "Google Workspace", "MS Office",
    "Outlook", "Notion", "Miro", "Zendesk", "Airtable", "Dropbox",
    "teamwork spirit", "can-do attitude", "fast learner", "punctuality",
    "flexibility", "self-motivated", "good humour", "multitasking",
    "positive attitude", "reliability", "hard-working", "problem solver",
    "team player", "customer focus", "results-driven", "detail-oriented",
    "eager to learn", "stress resistant", "driving licence B",
    "good written English", "clean criminal record", "own transport",
)

_COMPANY_FIRST = (
    "Northwind", "Bluefield", "Harbor Point", "Summit", "Crescent",
    "Oakridge", "Silverline", "Redwood", "Brightwater", "Stonebridge",
    "Maple Leaf", "Evergreen", "Ironwood", "Lakeside", "Westbrook",
    "Pinecrest", "Clearview", "Highland", "Riverside", "Kingsway",
)
_COMPANY_LAST = ("Ltd", "Group", "& Co", "Services", "Holdings", "Partners",
                 "International", "Solutions")
_BENEFITS = (
    "flexible working hours", "a yearly training budget",
    "a friendly and supportive team", "a company pension scheme",
    "25 days of paid holiday", "clear paths for promotion",
    "a modern workplace close to public transport",
)
_SMALL_WORDS = frozenset(
    "a an and at by for in of on or the to with".split())


class Rng:
  """A seeded stream of draws built only on `random.Random.random()`."""

  __slots__ = ("_random",)

  def __init__(self, seed: str):
    self._random = random.Random(seed).random

  def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * self._random()

  def below(self, n: int) -> int:
    return min(int(self._random() * n), n - 1)

  def choice(self, seq: Sequence[T]) -> T:
    return seq[self.below(len(seq))]

  def sample(self, seq: Sequence[T], k: int) -> list[T]:
    """`k` distinct items of `seq` in random order (partial Fisher–Yates)."""
    pool = list(seq)
    k = min(k, len(pool))
    for i in range(k):
      j = i + self.below(len(pool) - i)
      pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]

  def shuffle(self, items: list[T]) -> None:
    for i in range(len(items) - 1, 0, -1):
      j = self.below(i + 1)
      items[i], items[j] = items[j], items[i]

  def categorical(self, probs: Sequence[float]) -> int:
    u = self._random() * sum(probs)
    for i, p in enumerate(probs):
      u -= p
      if u < 0:
        return i
    return len(probs) - 1

  def normal(self) -> float:
    """A standard normal draw (Box–Muller)."""
    u1, u2 = self._random(), self._random()
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2 * math.pi * u2)


def title_case(label: str) -> str:
  """'software developer' → 'Software Developer'; keeps 'DevOps', 'iOS'."""
  words = label.split()
  out = []
  for i, word in enumerate(words):
    if word.islower() and (i == 0 or word not in _SMALL_WORDS):
      word = word[0].upper() + word[1:]
    out.append(word)
  return " ".join(out)


def name_variant(rng: Rng, label: str, alt_labels: Sequence[str],
                 alt_rate: float = 0.35) -> str:
  """The preferred label, or with probability `alt_rate` an alternative one."""
  if alt_labels and rng.uniform() < alt_rate:
    return rng.choice(alt_labels)
  return label


def job_title(occupation_name: str, level: int) -> str:
  prefix = TITLE_PREFIXES[level]
  title = title_case(occupation_name)
  return f"{prefix} {title}" if prefix else title


def company_name(rng: Rng) -> str:
  return f"{rng.choice(_COMPANY_FIRST)} {rng.choice(_COMPANY_LAST)}"


def first_sentence(text: str, max_chars: int = 300) -> str:
  """The first sentence of an ontology description, at most `max_chars`."""
  text = " ".join(text.split())
  end = text.find(". ")
  if end >= 0:
    text = text[:end + 1]
  if len(text) > max_chars:
    text = text[:max_chars].rsplit(" ", 1)[0] + "…"
  return text


def _join(names: Sequence[str]) -> str:
  return ", ".join(names)


_EXPERIENCE_TEMPLATES = (
    "Main areas of work: {}.",
    "Applied the following on the job: {}.",
    "Key responsibilities covered {}.",
    "Worked hands-on with: {}.",
    "Regular duties: {}.",
    "Built expertise in {}.",
)
_OPENINGS = (
    "{company} is hiring a {title}.",
    "Join {company} as a {title}.",
    "{company} is looking for a {title} to strengthen its team.",
)


def experience_description(rng: Rng, role_title: str, level: int,
                           skill_names: Sequence[str]) -> str:
  """Time in a role at `level`, then sentences naming `skill_names`."""
  years = rng.choice(YEARS_IN_ROLE[level])
  sentences = [f"Worked {years} as {role_title}."]
  names = list(skill_names)
  while names:
    take = min(len(names), 1 + rng.below(3))
    sentences.append(rng.choice(_EXPERIENCE_TEMPLATES).format(
        _join(names[:take])))
    names = names[take:]
  return " ".join(sentences)


def job_description(rng: Rng, *, company: str, title: str,
                    occupation_description: str, level: int,
                    skill_names: Sequence[str]) -> str:
  """Opening, what the occupation does, its key skills, seniority, offer."""
  sentences = [rng.choice(_OPENINGS).format(company=company, title=title)]
  about = first_sentence(occupation_description)
  if about:
    sentences.append(about)
  names = list(skill_names)
  if names:
    split = max(1, (len(names) + 1) // 2)
    sentences.append(f"Key tasks: {_join(names[:split])}.")
    if names[split:]:
      sentences.append(f"You will also need {_join(names[split:])}.")
  sentences.append(f"The role requires {YEARS_REQUIRED[level]}.")
  sentences.append(f"We offer {rng.choice(_BENEFITS)}.")
  return " ".join(sentences)


class RecordRenderer:
  """Writes the records of latent resumes and jobs, drawing from `rng`.

  Ontology skills are named by their preferred or an alternative label and
  keep their URI, mixed with a few free-text skills. A URI-less side lists
  free-text skills only, while its experience or description still names the
  ontology skills so that the text carries what the label depends on.
  """

  def __init__(self, skills: Mapping[str, esco_tables.SkillConcept],
               rng: Rng):
    self.skills, self.rng = skills, rng

  def skill_name(self, uri: str) -> str:
    skill = self.skills[uri]
    return name_variant(self.rng, skill.label, skill.alt_labels,
                        alt_rate=0.3)

  def listed_skills(self, uris: Sequence[str], uri_less: bool,
                    max_extra: int) -> tuple[records.Skill, ...]:
    """Ontology skills with URIs plus free-text extras, or free text only."""
    rng = self.rng
    if uri_less:
      names = rng.sample(FREE_TEXT_SKILLS, 3 + rng.below(3))
      return tuple(records.Skill(name=n) for n in names)
    listed = [records.Skill(name=self.skill_name(u), uri=u) for u in uris]
    for name in rng.sample(FREE_TEXT_SKILLS, rng.below(max_extra + 1)):
      listed.insert(rng.below(len(listed) + 1), records.Skill(name=name))
    return tuple(listed)

  def _mentioned(self, listed: Sequence[records.Skill],
                 uris: Sequence[str], uri_less: bool) -> list[str]:
    if uri_less:
      return [self.skill_name(u) for u in uris]
    return [s.name for s in listed if s.uri]

  def job(self, job_id: str, occupation: esco_tables.Occupation, level: int,
          skill_uris: Sequence[str], uri_less: bool) -> records.Job:
    rng = self.rng
    title = job_title(
        name_variant(rng, occupation.label, occupation.alt_labels), level)
    required = self.listed_skills(skill_uris, uri_less, max_extra=1)
    mentioned = self._mentioned(required, skill_uris, uri_less)
    description = job_description(
        rng, company=company_name(rng), title=title,
        occupation_description=occupation.description, level=level,
        skill_names=mentioned)
    return records.Job(
        job_id=job_id, title=title, description=description,
        required_skills=required,
        skill_uris=tuple(s.uri for s in required if s.uri))

  def resume(self, occupation: esco_tables.Occupation, level: int,
             skill_uris: Sequence[str], uri_less: bool) -> records.Resume:
    """Current role plus up to two earlier ones at lower levels."""
    rng = self.rng
    listed = self.listed_skills(skill_uris, uri_less, max_extra=2)
    names = self._mentioned(listed, skill_uris, uri_less)
    n_entries = 1 + min(level, 2)
    experience = []
    for i in range(n_entries):
      entry_level = max(level - i, 0)
      role_title = job_title(
          name_variant(rng, occupation.label, occupation.alt_labels),
          entry_level)
      experience.append(records.ExperienceEntry(
          title=role_title, company=company_name(rng),
          description=experience_description(
              rng, role_title, entry_level, names[i::n_entries])))
    return records.Resume(
        role=title_case(
            name_variant(rng, occupation.label, occupation.alt_labels)),
        experience_level=LEVEL_NAMES[level],
        skills=listed, experience=tuple(experience),
        skill_uris=tuple(dict.fromkeys(s.uri for s in listed if s.uri)))
