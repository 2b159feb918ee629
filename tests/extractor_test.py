"""Skill extractor: queries, dense scores against a numpy reference, fusion
with lexical hits, the thresholded set."""

import dataclasses

import numpy as np
import pytest

import skill_samples
from cacl_jax.encoder import encode
from cacl_jax.skills import extractor


@pytest.fixture(scope="module")
def encoder():
  return encode.TextEncoder.random()


@pytest.fixture
def esco(tmp_path):
  return skill_samples.write_skill_esco(tmp_path / "esco")


def _build(esco, encoder, tmp_path, **changes):
  config = dataclasses.replace(extractor.ExtractorConfig(), max_df=0.3,
                               **changes)
  return extractor.build(esco, encoder.encode, encoder.identity, encoder.dim,
                         config, tmp_path / "cache")


def test_queries_sentences_and_windows():
  found = extractor.queries("Use Python daily. Cook meals!", (1, 2))
  assert [(q.text, q.window) for q in found] == [
      ("Use Python daily.", False), ("Use", True), ("Python", True),
      ("daily", True), ("Use Python", True), ("Python daily", True),
      ("Cook meals!", False), ("Cook", True), ("meals", True),
      ("Cook meals", True)]


def test_lexical_only_ranks_hits_in_row_order(esco, encoder, tmp_path):
  ex = _build(esco, encoder, tmp_path, use_dense=False, lexical_weight=1.0)
  [ranked] = ex.rank(["docker, python and data"])
  assert [s.uri for s in ranked] == [skill_samples.PYTHON,
                                     skill_samples.DOCKER]
  assert [s.span for s in ranked] == ["python", "docker"]
  assert [s.score for s in ranked] == [1.0, 1.0]


def test_dense_scores_match_numpy_reference(esco, encoder, tmp_path):
  ex = _build(esco, encoder, tmp_path, label_k=11, window_sizes=(1, 2),
              window_penalty=0.1, lexical_weight=0.5, threshold=0.9,
              context_weight=0.3, dense_alt_labels=True)
  text = "We cook meals and write python code."
  [ranked] = ex.rank([text])
  pieces = extractor.queries(text, (1, 2))
  emb_QxD = encoder.encode([q.text for q in pieces])
  table = ex.index.table
  sim_QxL = emb_QxD @ ex.index.emb_LxD.T - 0.1 * np.array(
      [[q.window] for q in pieces])
  # The sentence is query 0 (no window penalty): the context term.
  dense = {s: sim_QxL[:, table.skill_L == s].max()
              + 0.3 * sim_QxL[0, table.skill_L == s].max() for s in range(6)}
  lexical_hits = {0, 4}   # 'python' and 'cook meals'
  expected = {table.skills[s].uri: dense[s] + 0.5 * (s in lexical_hits)
              for s in range(6)}
  assert len(ranked) == 6
  assert [s.uri for s in ranked] == sorted(expected, key=lambda u:
                                           -expected[u])
  for s in ranked:
    assert s.score == pytest.approx(expected[s.uri], abs=1e-5)
  spans = {s.uri: s.span for s in ranked}
  assert spans[skill_samples.PYTHON] == "python"
  assert spans[skill_samples.COOKING] == "cook meals"
  floor = max(0.9, ranked[0].score - ex.config.set_margin)
  assert ex.skill_set(ranked) == [s for s in ranked if s.score >= floor]


def test_lexical_skill_outside_dense_top_gets_exact_score(esco, encoder,
                                                          tmp_path):
  ex = _build(esco, encoder, tmp_path, label_k=1, window_sizes=(),
              lexical_weight=0.0, context_weight=0.0)
  text = "docker"
  [ranked] = ex.rank([text])
  emb = encoder.encode([text])
  table = ex.index.table
  rows = table.skill_L == 5   # its preferred label only (the default)
  assert table.texts[int(rows.argmax())] == \
      "manage ICT virtualisation machines" and rows.sum() == 1
  by_uri = {s.uri: s.score for s in ranked}
  assert by_uri[skill_samples.DOCKER] == pytest.approx(
      float((emb @ ex.index.emb_LxD[rows].T).max()), abs=1e-5)


def test_empty_text_has_no_skills(esco, encoder, tmp_path):
  ex = _build(esco, encoder, tmp_path)
  assert ex.rank(["", "   "]) == [[], []]
