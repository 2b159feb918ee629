"""Text serialization of resumes and jobs for the frozen encoder (§5.3).

Field order is fixed so that the most informative fields survive the encoder's
token limit: position, then skills, then free text. Only the experience text
is cut (at a word boundary near `MAX_EXPERIENCE_CHARS`), as §5.3 specifies.
"""

from __future__ import annotations

from cacl_jax.data import records

SEP = "[SEP]"
MAX_EXPERIENCE_CHARS = 800


def _squash(text: str) -> str:
  return " ".join(text.split())


def truncate_text(text: str, max_chars: int = MAX_EXPERIENCE_CHARS) -> str:
  """Cuts `text` to at most `max_chars`, at the last word boundary if any."""
  text = _squash(text)
  if len(text) <= max_chars:
    return text
  cut = text[:max_chars]
  if text[max_chars] == " ":
    return cut
  space = cut.rfind(" ")
  return cut[:space] if space > 0 else cut


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


def serialize_resume(resume: records.Resume) -> str:
  position = _squash(f"{resume.experience_level} {resume.role}")
  skills = ", ".join(_squash(s.name) for s in resume.skills)
  profile = truncate_text(experience_text(resume))
  return _squash(f"Position: {position} {SEP} Skills: {skills} {SEP} "
                 f"Profile: {profile}")


def serialize_job(job: records.Job) -> str:
  skills = ", ".join(_squash(s.name) for s in job.required_skills)
  return _squash(f"Position: {job.title} {SEP} Required Skills: {skills} "
                 f"{SEP} Description: {job.description}")
