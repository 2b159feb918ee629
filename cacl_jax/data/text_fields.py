"""The role or title and the experience level, read from free text (§5.3).

Free-text records (the fit CSV layout, JSONL records with empty fields) carry
their position only inside the text, yet the §5.3 text starts with it
("Position: {exp_level} {role}", "Position: {title}"). These pure functions
read it where the text states it, by the rules below, and give "" (or None)
where it does not; they never infer a position from the rest of the wording.

Title (`find_title`):
1. a labelled value: "Job title:" or "Position title:" anywhere, or "Title:",
   "Position:", "Role:", "Designation:", "Current position:" (… role, title)
   at the start of a line, with ":" or a dash; the value runs to the end of
   its line, two spaces, " | " or the next "Label:";
2. else the first non-empty line of the text.
Either is taken only if it is title-shaped (`is_title_shaped`): 1–8 words and
at most 80 characters with a letter; no sentence end (. ! ? :, though "Sr."
and "Jr." may end it), "@", web address or run of 5 or more digits; not a
section heading (`HEADINGS`); neither "with" nor year(s) in it; not starting
with a pronoun, article or verb of a sentence (`SENTENCE_STARTS`). A line
holding only a person's name passes these tests and is taken as a title,
which is one reason enrichment reports how often a title was read.

Level (`find_level`), one of `LEVELS`, the level names of the generated data
(`generator_text.LEVEL_NAMES`) so that real and generated texts name levels
alike. The first rule that finds one wins:
1. seniority words in the title read from the text, else in the record's own
   title or role (`title_level`): the most senior one;
2. seniority words in the first three words of a labelled value
   ("Seniority:", "Level:" at a line start, "Experience level:",
   "Career level:", "Job level:", "Seniority level:");
3. "entry-level", "junior", "mid-level" or "senior" (optionally "-level")
   directly before position, role, job or opportunity ("an entry-level
   position", "a senior role");
4. the years of experience (`find_years`) in the bands of the generator's
   texts: under 1 Entry-level, 1 to under 3 Junior, 3 to under 5 Mid-level,
   5 to under 8 Senior, 8 and more Lead.
Seniority words (`_LEVEL_WORDS`): entry-level, intern(ship), trainee,
apprentice(ship), graduate → Entry-level; junior, jr → Junior; mid-level,
middle-level, mid, intermediate → Mid-level; senior, sr → Senior; lead (not
"lead generation"), principal, head, chief → Lead. Outside rule 3 they count
only in a title or a labelled value: in running text "senior management",
"mentored junior developers" or "lead a team" name no level of the writer.

Years (`find_years`): a number (digits, or a word from zero to twenty) with an
optional "+", "plus", "or more" or range ("3-5", "3 to 5": its lower bound),
then "years" or "yrs", then an optional "of" and up to three words (none of
`_YEARS_BREAKS`) before "experience" or "exp"; or "experience" followed by
such a number of years ("Experience: 5 years", "experience of over 10
years"); or "no previous" / "no prior" (one word may follow) "experience",
which states 0 years. The largest number found counts (a resume's total
rather than one tool's, a posting's strictest requirement); numbers over
`MAX_YEARS` are ignored. "A 5 years old company" or "founded 30 years ago"
state no experience.

Records (`fill_pair`): only empty (or all-whitespace) fields are filled,
given values are never changed. A resume's text is its experience descriptions, one per line; a
job's is its description. A resume's empty role becomes the title read from
its text without the seniority words that the level states in the §5.3 text
(`role_without_level`): leading ones ("Senior Data Analyst" → "Data
Analyst") and a trailing one after a separator ("Data Analyst (Senior)");
head, chief and principal are part of the role's name and stay. An empty
experience level is filled unless the role (given or just filled) still
holds a seniority word, which the Position text would then say twice. Records
have no field for a job's level or years: a job's empty title becomes the
title as stated, seniority words included.

Speed: a pattern runs only on a text that holds what each of its matches
holds (`_PreCheck`, words looked up in the lower-cased text), so most texts
skip most patterns without any result changing.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Sequence

from cacl_jax.data import generator_text, records

LEVELS = generator_text.LEVEL_NAMES
MAX_TITLE_WORDS = 8
MAX_TITLE_CHARS = 80
MAX_YEARS = 50
# Upper year limits (exclusive) of the first four levels; the rest is Lead.
YEAR_BANDS = (1.0, 3.0, 5.0, 8.0)

HEADINGS = frozenset((
    "summary", "professional summary", "summary of qualifications", "profile",
    "professional profile", "resume", "résumé", "curriculum vitae", "cv",
    "objective", "career objective", "about", "about us", "about the role",
    "about the job", "about the company", "job description", "description",
    "overview", "company overview", "experience", "work experience",
    "professional experience", "employment history", "skills", "key skills",
    "education", "contact", "contact information", "personal details",
    "personal information", "responsibilities", "requirements",
    "qualifications", "who we are", "what you'll do"))
SENTENCE_STARTS = frozenset((
    "i", "we", "we're", "our", "my", "you", "your", "the", "a", "an", "this",
    "are", "is", "join", "looking", "seeking"))

_LEVEL_WORDS = (
    ("Entry-level", r"entry[- ]?level|intern(?:ship)?|trainee"
                    r"|apprentice(?:ship)?|graduate"),
    ("Junior", r"junior|jr\b\.?"),
    ("Mid-level", r"mid(?:dle)?[- ]?level|mid|intermediate"),
    ("Senior", r"senior|sr\b\.?"),
    ("Lead", r"lead(?![- ]generation)|principal|head|chief"),
)
_LEVEL_RES = tuple((level, re.compile(rf"\b(?:{words})(?!\w)", re.I))
                   for level, words in _LEVEL_WORDS)
# Words that name the role itself; they stay in it (Head Chef, Chief Nurse).
_ROLE_BOUND = re.compile(r"^(?:principal|head|chief)$", re.I)
_SEPARATOR = r"\s*(?:[,(/|]|\s[-–—])\s*"

_TITLE_LABEL = re.compile(
    r"\b(?:job|position)\s+title\s*(?::|\s[-–—])\s*(?P<value>[^\n]+)"
    r"|^[ \t*#•-]*(?:title|position|role|designation|current\s+"
    r"(?:position|role|title))\s*(?::|\s[-–—])\s*(?P<line_value>[^\n]+)",
    re.I | re.M)
_LEVEL_LABEL = re.compile(
    r"\b(?:experience|career|job|seniority)\s+level\s*[:–—-]\s*"
    r"(?P<value>[^\n]+)"
    r"|^[ \t*#•-]*(?:level|seniority)\s*[:–—-]\s*(?P<line_value>[^\n]+)",
    re.I | re.M)
_VALUE_END = re.compile(
    r"\s{2,}|\s\|\s|\s(?:(?:Job|Employment|Contract|Work|Pay)\s)?[A-Z][\w-]*:")
_LEVEL_PHRASE = re.compile(
    r"\b(entry[- ]?level|junior|mid[- ]?level|senior)(?:[- ]level)?\s+"
    r"(?:position|role|job|opportunity)\b", re.I)

_NUMBER_WORDS = {w: float(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
    .split())}
_NUM = r"(?:\d{1,2}(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + r")"
_YEARS_BREAKS = ("old", "ago", "with", "and", "or", "but", "to", "which",
                 "that", "who", "where")
_YEARS_WORD = r"(?:years?|yrs?)\b\.?['’]?"
_YEARS_RES = (
    re.compile(
        rf"\b(?P<low>{_NUM})\s*(?:\+|plus)?"
        rf"(?:\s*(?:-|–|—|to)\s*{_NUM}\s*\+?)?"
        rf"(?:\s+or\s+more)?\s*{_YEARS_WORD}"
        r"(?:\s+of)?"
        rf"(?:\s+(?!(?:{'|'.join(_YEARS_BREAKS)})\b)[a-z][\w/-]*){{0,3}}?"
        r"\s+(?:experience|exp)\b", re.I),
    re.compile(
        r"\bexperience\s*(?:of|:|-|–)?\s*(?:over\s+|more\s+than\s+|at\s+least"
        rf"\s+)?(?P<low>{_NUM})\s*\+?\s*{_YEARS_WORD}", re.I),
)
_NO_EXPERIENCE = re.compile(
    r"\bno\s+(?:previous|prior)\s+(?:\w+\s+)?experience\b", re.I)

# Characters that IGNORECASE matches with an ASCII letter although str.lower
# does not turn them into it: İ and ı match "i", ſ matches "s" (the only ones
# among all code points; the Kelvin sign, which matches "k", lowers to "k").
_ODD_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def _fold(text: str) -> str:
  """`text` with every character that the patterns above (which ignore case)
  match with an ASCII letter turned into that lower-case letter. Every
  character keeps its place, and whitespace, digits and the separators
  ": – — -" stay as they are, word characters stay word characters: a
  case-sensitive pattern of lower-case letters, those separators and
  whitespace, digit and word-boundary tests that matches `text` ignoring case
  also matches the result (`_PreCheck` relies on this)."""
  if not text.isascii():
    text = text.translate(_ODD_FOLDS)
  return text.lower()


@dataclasses.dataclass(frozen=True)
class _PreCheck:
  """What every match of one of the patterns above holds, cheap to look for
  in the `_fold` of a text: a word of each of `groups` and a match of
  `ending` (a part of the pattern, case-sensitive). Where a text fails the
  check the pattern cannot match it, so it is not run."""
  groups: tuple[tuple[str, ...], ...]
  ending: re.Pattern | None = None

  def passes(self, folded: str) -> bool:
    for group in self.groups:
      if not any(map(folded.__contains__, group)):
        return False
    return self.ending is None or self.ending.search(folded) is not None


_TITLE_LABEL_CHECK = _PreCheck(
    (("title", "position", "role", "designation"),),
    re.compile(r"(?:title|position|role|designation)\s*(?::|\s[-–—])"))
_LEVEL_LABEL_CHECK = _PreCheck(
    (("level", "seniority"),), re.compile(r"(?:level|seniority)\s*[:–—-]"))
# Every level phrase ends its level word(s) with "level", "junior" or
# "senior".
_LEVEL_PHRASE_CHECK = _PreCheck(
    (("junior", "senior", "level"),),
    re.compile(r"(?:junior|senior|level)\s+"
               r"(?:position|role|job|opportunity)\b"))
_YEARS_CHECKS = (
    _PreCheck((("year", "yr"),), re.compile(r"(?:experience|exp)\b")),
    _PreCheck((("experience",), ("year", "yr"))),
)
_NO_EXPERIENCE_CHECK = _PreCheck((("experience",), ("previous", "prior")))


@dataclasses.dataclass(frozen=True)
class TextFields:
  """What a text states: title ("" if none), level ("" if none), years."""
  title: str = ""
  level: str = ""
  years: float | None = None


def _squash(text: str) -> str:
  return " ".join(text.split())


def _clean_line(line: str) -> str:
  """A title candidate without list marks, emphasis and trailing separators."""
  return _squash(line.strip(" \t*#•_\"'").rstrip(" -–—,;|/"))


def _clean_value(value: str) -> str:
  """A labelled value up to its end (`_VALUE_END`), cleaned."""
  return _clean_line(_VALUE_END.split(value.strip(), maxsplit=1)[0])


def is_title_shaped(line: str) -> bool:
  """Whether `line` looks like a title rather than a sentence or heading."""
  words = line.split()
  if not words or len(words) > MAX_TITLE_WORDS or len(line) > MAX_TITLE_CHARS:
    return False
  lower = line.lower()
  return (re.search(r"[^\W\d_]", line) is not None
          and not re.search(r"(?<!\b[SsJj]r)\.$|[!?:]$|@|https?://|www\.|\d{5}",
                            line)
          and lower.rstrip(":") not in HEADINGS
          and not re.search(r"\b(?:with|years?)\b", lower)
          and words[0].lower() not in SENTENCE_STARTS)


def find_title(text: str) -> str:
  """The title the text states (rules 1–2 of the module docstring), or ""."""
  return _find_title(text, _fold(text))


def _find_title(text: str, folded: str) -> str:
  if _TITLE_LABEL_CHECK.passes(folded):
    for match in _TITLE_LABEL.finditer(text):
      value = _clean_value(match.group("value") or match.group("line_value"))
      if is_title_shaped(value):
        return value
  for line in text.splitlines():
    if line.strip():
      value = _clean_line(line)
      return value if is_title_shaped(value) else ""
  return ""


def title_level(title: str) -> str:
  """The most senior level named by seniority words in `title`, or ""."""
  found = [level for level, pattern in _LEVEL_RES if pattern.search(title)]
  return found[-1] if found else ""


def find_years(text: str) -> float | None:
  """The largest number of years of experience the text states, or None."""
  return _find_years(text, _fold(text))


def _find_years(text: str, folded: str) -> float | None:
  years = ([0.0] if _NO_EXPERIENCE_CHECK.passes(folded)
           and _NO_EXPERIENCE.search(text) else [])
  for pattern, check in zip(_YEARS_RES, _YEARS_CHECKS):
    if not check.passes(folded):
      continue
    for match in pattern.finditer(text):
      low = match.group("low").lower()
      value = _NUMBER_WORDS.get(low)
      value = float(low) if value is None else value
      if value <= MAX_YEARS:
        years.append(value)
  return max(years) if years else None


def years_level(years: float) -> str:
  """The level of `years` of experience by `YEAR_BANDS`."""
  return LEVELS[sum(years >= bound for bound in YEAR_BANDS)]


def _labelled_level(text: str, folded: str) -> str:
  if not _LEVEL_LABEL_CHECK.passes(folded):
    return ""
  for match in _LEVEL_LABEL.finditer(text):
    value = match.group("value") or match.group("line_value")
    level = title_level(" ".join(value.split()[:3]))
    if level:
      return level
  return ""


def find_level(text: str, titles: Sequence[str] = ()
               ) -> tuple[str, float | None]:
  """(level, years): the level by rules 1–4 of the module docstring, rule 1
  on the first of `titles` that names one, and the years of experience."""
  return _find_level(text, _fold(text), titles)


def _find_level(text: str, folded: str, titles: Sequence[str]
                ) -> tuple[str, float | None]:
  years = _find_years(text, folded)
  level = next(filter(None, map(title_level, titles)), "")
  level = level or _labelled_level(text, folded)
  if not level and _LEVEL_PHRASE_CHECK.passes(folded):
    phrase = _LEVEL_PHRASE.search(text)
    level = title_level(phrase.group(1)) if phrase else ""
  if not level and years is not None:
    level = years_level(years)
  return level, years


def read_text(text: str, title: str = "") -> TextFields:
  """Title, level and years stated by `text`; the level comes from the
  title read from the text, else from `title` (the record's own), else from
  rules 2–4. Reading a filled record again gives the same fields."""
  folded = _fold(text)
  found = _find_title(text, folded)
  level, years = _find_level(text, folded, (found, title))
  return TextFields(title=found, level=level, years=years)


def role_without_level(title: str) -> str:
  """`title` without the seniority words that the level states: leading
  ones and one trailing group after a separator; "" stays ""."""
  words = title.split()
  while (len(words) > 1 and _strippable(words[0])
         and title_level(" ".join(words[:2]))):
    words.pop(0)
  role = " ".join(words)
  parts = re.split(_SEPARATOR, role)
  if len(parts) > 1 and all(_strippable(w) for w in
                            parts[-1].strip(" )").split()):
    role = role[:role.rfind(parts[-1])]
    role = re.sub(_SEPARATOR + r"$", "", role).strip()
  return role


def _strippable(word: str) -> bool:
  word = word.strip(",()")
  return (bool(word) and not _ROLE_BOUND.match(word)
          and any(p.fullmatch(word) for _, p in _LEVEL_RES))


def resume_text(resume: records.Resume) -> str:
  """The text the rules read for a resume: its experience descriptions."""
  return "\n".join(e.description for e in resume.experience
                   if e.description.strip())


@dataclasses.dataclass(frozen=True)
class PairFields:
  """What a pair's texts state and which empty fields were filled."""
  resume: TextFields
  job: TextFields
  role_filled: bool
  level_filled: bool
  title_filled: bool


def fill_resume(resume: records.Resume
                ) -> tuple[records.Resume, TextFields, bool, bool]:
  """(resume with empty role and level filled, itself where that changes
  nothing, what its text states, whether the role was filled, whether the
  level was filled)."""
  stated = read_text(resume_text(resume), resume.role)
  role = (resume.role if resume.role.strip()
          else role_without_level(stated.title))
  level = resume.experience_level
  fill_level = (not level.strip() and bool(stated.level)
                and not title_level(role))
  if fill_level:
    level = stated.level
  role_filled = bool(role) and role != resume.role
  if role != resume.role or fill_level:
    resume = dataclasses.replace(resume, role=role, experience_level=level)
  return resume, stated, role_filled, fill_level


def fill_job(job: records.Job) -> tuple[records.Job, TextFields, bool]:
  """(job with an empty title filled, what its description states, whether
  the title was filled)."""
  stated = read_text(job.description, job.title)
  if job.title.strip() or not stated.title:
    return job, stated, False
  return dataclasses.replace(job, title=stated.title), stated, True


def fill_pair(pair: records.Pair) -> tuple[records.Pair, PairFields]:
  """`pair` with its empty role, level and title filled from its texts."""
  resume, r_stated, role_filled, level_filled = fill_resume(pair.resume)
  job, j_stated, title_filled = fill_job(pair.job)
  return (dataclasses.replace(pair, resume=resume, job=job),
          PairFields(resume=r_stated, job=j_stated, role_filled=role_filled,
                     level_filled=level_filled, title_filled=title_filled))


@dataclasses.dataclass(frozen=True)
class FieldCounts:
  """Per distinct record (resumes by value, jobs by job_id, first seen): how
  many state a title, level or years, and how many empty fields were
  filled."""
  resumes: int = 0
  jobs: int = 0
  resume_titles: int = 0
  resume_levels: int = 0
  resume_years: int = 0
  job_titles: int = 0
  roles_filled: int = 0
  levels_filled: int = 0
  titles_filled: int = 0

  def summary(self) -> str:
    r, j = self.resumes, self.jobs
    return (f"stated in the texts: resume title {self.resume_titles}/{r}, "
            f"level {self.resume_levels}/{r}, years of experience "
            f"{self.resume_years}/{r}; job title {self.job_titles}/{j}; "
            f"empty fields filled from them: role {self.roles_filled}, "
            f"experience level {self.levels_filled}, job title "
            f"{self.titles_filled}")


def fill_pairs(pairs: Iterable[records.Pair]
               ) -> tuple[list[records.Pair], FieldCounts]:
  """Every pair through `fill_pair`, and the counts over distinct records."""
  out, resumes, jobs = [], {}, {}
  for pair in pairs:
    filled, fields = fill_pair(pair)
    out.append(filled)
    resumes.setdefault(pair.resume, fields)
    jobs.setdefault(pair.job.job_id, fields)
  return out, count_fields(
      [(f.resume, f.role_filled, f.level_filled) for f in resumes.values()],
      [(f.job, f.title_filled) for f in jobs.values()])


def count_fields(resumes: Sequence[tuple[TextFields, bool, bool]],
                 jobs: Sequence[tuple[TextFields, bool]]) -> FieldCounts:
  """The counts over distinct records: per resume what its text states,
  whether its role and whether its level were filled (`fill_resume`); per
  job what its description states and whether its title was filled."""
  return FieldCounts(
      resumes=len(resumes), jobs=len(jobs),
      resume_titles=sum(bool(stated.title) for stated, _, _ in resumes),
      resume_levels=sum(bool(stated.level) for stated, _, _ in resumes),
      resume_years=sum(stated.years is not None for stated, _, _ in resumes),
      job_titles=sum(bool(stated.title) for stated, _ in jobs),
      roles_filled=sum(role for _, role, _ in resumes),
      levels_filled=sum(level for _, _, level in resumes),
      titles_filled=sum(title for _, title in jobs))
