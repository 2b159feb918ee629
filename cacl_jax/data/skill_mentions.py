"""Finds ontology skill labels mentioned in free text (resumes, job postings).

Free-text data sets carry no skill lists, so skills are read off the text:
every run of words whose normalised form is a preferred or alternative label
of the ontology counts as a mention. Longer labels win over the shorter
labels inside them ("project management" before "management"), mentions do
not overlap, and each skill is reported once, in order of first mention.
"""

from __future__ import annotations

from cacl_jax.data import records
from cacl_jax.ontology import skill_index as skill_index_lib


class SkillMentionExtractor:
  """Callable text → skills, for `csv_import.iter_fit_csv`."""

  def __init__(self, index: skill_index_lib.SkillIndex, max_words: int = 6):
    self._labels = index.label_to_uri
    longest = max((len(k.split()) for k in self._labels), default=1)
    self._max_words = max(1, min(max_words, longest))

  def __call__(self, text: str) -> list[records.Skill]:
    words = skill_index_lib.normalize_label(text).split()
    found: dict[str, records.Skill] = {}
    i = 0
    while i < len(words):
      for n in range(min(self._max_words, len(words) - i), 0, -1):
        label = " ".join(words[i:i + n])
        uri = self._labels.get(label)
        if uri is not None:
          found.setdefault(uri, records.Skill(name=label, uri=uri))
          i += n
          break
      else:
        i += 1
    return list(found.values())
