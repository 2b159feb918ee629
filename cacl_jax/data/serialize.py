"""Text serialization of resumes and jobs for the frozen encoder (§5.3).

Field order is fixed so that the most informative fields survive the encoder's
token limit: position, then skills, then free text. Where §5.3 is silent the
original implementation's behaviour is followed:

* a section whose content is empty is left out, with its `[SEP]`;
* the experience text is cut at a word boundary near `MAX_EXPERIENCE_CHARS`
  and marked with `CUT_MARKER`; the job description is not cut;
* a skill name longer than `MAX_SKILL_CHARS` is left out of the text (it stays
  in the record and its URI in the skill sets); `skills_left_out` counts these
  so that the omission can be reported.
"""

from __future__ import annotations

from typing import Sequence

from cacl_jax.data import records

SEP = "[SEP]"
MAX_EXPERIENCE_CHARS = 800
MAX_SKILL_CHARS = 40
CUT_MARKER = "..."


def _squash(text: str) -> str:
  return " ".join(text.split())


def truncate_text(text: str, max_chars: int = MAX_EXPERIENCE_CHARS) -> str:
  """Cuts `text` to at most `max_chars`, at the last word boundary if any.

  A cut text ends in `CUT_MARKER`, which comes on top of the `max_chars`.
  """
  text = _squash(text)
  if len(text) <= max_chars:
    return text
  cut = text[:max_chars]
  if text[max_chars] != " ":
    space = cut.rfind(" ")
    cut = cut[:space] if space > 0 else cut
  return cut + CUT_MARKER


def experience_text(resume: records.Resume) -> str:
  """Experience entries as prose: 'title at company: description' each."""
  parts = []
  for entry in resume.experience:
    head = entry.title
    if entry.company:
      head = f"{head} at {entry.company}" if head else entry.company
    body = _squash(entry.description)
    parts.append(f"{head}: {body}" if head and body else head or body)
  return " ".join(p for p in parts if p)


def _skill_names(skills: Sequence[records.Skill]) -> list[str]:
  names = (_squash(s.name) for s in skills)
  return [n for n in names if len(n) <= MAX_SKILL_CHARS]


def skills_left_out(skills: Sequence[records.Skill]) -> int:
  """How many of `skills` the serialized text omits as longer than
  `MAX_SKILL_CHARS` (counted after whitespace is squashed)."""
  return len(skills) - len(_skill_names(skills))


def _sections(*labelled: tuple[str, str]) -> str:
  """'label: content' for each non-empty content, joined by `SEP`."""
  return f" {SEP} ".join(f"{label}: {content}" for label, content in labelled
                         if content)


def serialize_resume(resume: records.Resume) -> str:
  return _sections(
      ("Position", _squash(f"{resume.experience_level} {resume.role}")),
      ("Skills", ", ".join(_skill_names(resume.skills))),
      ("Profile", truncate_text(experience_text(resume))))


def serialize_job(job: records.Job) -> str:
  return _sections(
      ("Position", _squash(job.title)),
      ("Required Skills", ", ".join(_skill_names(job.required_skills))),
      ("Description", _squash(job.description)))
