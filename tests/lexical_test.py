"""Lexical skill matching: spans, longest match, generic names by document
frequency."""

import pytest

import skill_samples
from cacl_jax.skills import concepts, lexical


@pytest.fixture
def table_and_corpus(tmp_path):
  folder = skill_samples.write_skill_esco(tmp_path / "esco")
  skills = concepts.read_skills(folder)
  return (concepts.label_table(skills),
          concepts.description_corpus(folder, skills))


def test_label_table_rows_preferred_first(table_and_corpus):
  table, corpus = table_and_corpus
  assert len(table.skills) == 6 and len(table) == 11
  assert table.texts[:3] == ("Python", "python programming", "data")
  assert table.skill_L.tolist()[:3] == [0, 0, 1]
  assert table.preferred_L.tolist()[:3] == [True, False, True]
  assert len(corpus) == 8


def test_document_frequency_counts_documents_not_occurrences():
  docs = ["data and more data", "big data", "nothing here", "data science"]
  df = lexical.document_frequency(["data", "big data", "science", "x"], docs,
                                  max_words=2)
  assert df == {"data": 0.75, "big data": 0.25, "science": 0.25, "x": 0.0}


def test_generic_names_by_document_frequency(table_and_corpus):
  table, corpus = table_and_corpus
  matcher = lexical.LexicalMatcher(table, corpus, max_df=0.3)
  # 'data' is in 6 of 8 documents, 'management' in 4 (of 8): both above 0.3;
  # 'python' in 1 (0.125), 'docker' in none.
  assert matcher.df["data"] == 6 / 8
  assert matcher.df["management"] == 4 / 8
  assert matcher.df["python"] == 1 / 8
  assert matcher.generic == {"data", "management"}


def test_hits_keep_spans_and_prefer_longest(table_and_corpus):
  table, corpus = table_and_corpus
  matcher = lexical.LexicalMatcher(table, corpus, max_df=0.3)
  text = "Strong PYTHON, project-management and data skills; Docker too."
  hits = matcher.find(text)
  uris = [table.skills[h.skill].uri for h in hits]
  assert uris == [skill_samples.PYTHON, skill_samples.PM,
                  skill_samples.DOCKER]
  assert [text[h.start:h.end] for h in hits] == [
      "PYTHON", "project-management", "Docker"]
  assert [h.label for h in hits] == ["python", "project management",
                                     "docker"]


def test_without_filter_generic_names_match(table_and_corpus):
  table, corpus = table_and_corpus
  matcher = lexical.LexicalMatcher(table, corpus, max_df=1.0)
  hits = matcher.find("data management")
  assert [table.skills[h.skill].uri for h in hits] == [
      skill_samples.DATA, skill_samples.MANAGEMENT]


def test_tokenize_offsets():
  tokens = lexical.tokenize("C++ and C#, Ünïcode_x!")
  assert [(t.word, t.start, t.end) for t in tokens] == [
      ("c++", 0, 3), ("and", 4, 7), ("c#", 8, 10), ("ünïcode", 12, 19),
      ("x", 20, 21)]
