"""Text → ranked ESCO skills, each with a score and its evidencing span.

Two kinds of evidence (`fusion`):
- lexical: non-generic preferred or alternative labels found verbatim
  (`lexical.LexicalMatcher`);
- dense: the text's queries, encoded by the frozen encoder, against every
  label of the dense index (`dense_index`). The queries are each sentence of
  the text and every window of `window_sizes` consecutive words in it; a
  skill's dense score is the best cosine similarity over its labels and the
  queries, a window's similarity lowered by `window_penalty` (0 by default:
  penalties of 0.05 and 0.1 lowered RP@5 on the validation split), plus
  `context_weight` times its best similarity to a sentence of the text (a
  window that matches a label out of context gains little). Each query
  retrieves its `label_k` nearest labels; a skill none of them names but a
  lexical hit does gets its exact score from its own labels.

The lexical side matches preferred and alternative labels; the dense index
holds the preferred labels only unless `dense_alt_labels`: on the skillbench
validation split, alternative labels in the dense index lowered RP@5 and
MRR (many are loose synonyms that short windows match exactly), so they
serve as exact names only.

The ranked list holds the best `max_ranked` candidates, best first;
`skill_set` keeps those at or above `threshold` and within `set_margin` of
the best skill (a sentence about one skill rarely also asks for the skills
that only come close to it), and `extract_sets` applies it to each sentence
of a text: the set the rest of the pipeline uses. Defaults are
the setting chosen on the skillbench validation split (`benchmarks/
skills_ablation.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Callable, Sequence

import numpy as np
import tqdm

from cacl_jax.data import records, serialize
from cacl_jax.skills import concepts, dense_index, fusion, lexical

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\s*\n\s*")


@dataclasses.dataclass(frozen=True)
class ExtractorConfig:
  """Settings of the extractor (see the module docstring)."""
  use_lexical: bool = True
  use_dense: bool = True
  max_df: float = 0.005
  window_sizes: tuple[int, ...] = (1, 2, 3, 4)
  window_penalty: float = 0.0
  context_weight: float = 0.5
  dense_alt_labels: bool = False
  lexical_weight: float = 0.1
  threshold: float = 1.0
  set_margin: float = 0.05
  label_k: int = 64
  max_ranked: int = 50


@dataclasses.dataclass(frozen=True)
class ScoredSkill:
  uri: str
  label: str
  score: float
  span: str

  def to_json(self) -> dict:
    return {"uri": self.uri, "label": self.label, "score": self.score,
            "span": self.span}


@dataclasses.dataclass(frozen=True)
class Query:
  """A piece of a text the dense side encodes; `window` lowers its score."""
  text: str
  window: bool


def sentences(text: str) -> list[str]:
  """The non-empty sentences of `text` (split after . ! ? ; : and at line
  breaks), stripped."""
  return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def queries(text: str, window_sizes: Sequence[int]) -> list[Query]:
  """The sentences of `text` and their word windows, each piece once."""
  found: dict[str, Query] = {}
  for sentence in sentences(text):
    found.setdefault(sentence, Query(sentence, False))
    tokens = lexical.tokenize(sentence)
    for n in window_sizes:
      for i in range(len(tokens) - n + 1):
        piece = sentence[tokens[i].start:tokens[i + n - 1].end]
        found.setdefault(piece, Query(piece, True))
  return list(found.values())


class SkillExtractor:
  """Ranks the skills of a `LabelTable` for texts (see module docstring).

  `embed(texts) -> float32 [n, dim]` must be the encoder that built `index`
  (an `EmbeddingCache.get` keeps query embeddings on disk).
  """

  def __init__(self, matcher: lexical.LexicalMatcher,
               index: dense_index.DenseLabelIndex,
               embed: Callable[[Sequence[str]], np.ndarray],
               config: ExtractorConfig = ExtractorConfig()):
    self.matcher, self.index, self.embed = matcher, index, embed
    self.config = config
    table = index.table
    self._labels_of = [[] for _ in table.skills]
    for row, skill in enumerate(table.skill_L.tolist()):
      self._labels_of[skill].append(row)

  def _lexical(self, text: str) -> dict[int, fusion.Evidence]:
    evidence: dict[int, fusion.Evidence] = {}
    for hit in self.matcher.find(text):
      evidence.setdefault(hit.skill,
                          fusion.Evidence(1.0, text[hit.start:hit.end]))
    return evidence

  def _dense(self, pieces: list[Query], emb_QxD: np.ndarray,
             score_QxK: np.ndarray, label_QxK: np.ndarray,
             extra: Sequence[int]) -> dict[int, fusion.Evidence]:
    """Best penalised similarity per skill over the text's queries (their
    embeddings and nearest labels), for the retrieved skills and the
    `extra` ones."""
    cfg, table = self.config, self.index.table
    penalty_Q = np.asarray([cfg.window_penalty * q.window for q in pieces],
                           np.float32)
    score_QxK = score_QxK - penalty_Q[:, None]
    best: dict[int, fusion.Evidence] = {}
    for q, (scores, labels) in enumerate(zip(score_QxK.tolist(),
                                             label_QxK.tolist())):
      for score, label in zip(scores, labels):
        skill = int(table.skill_L[label])
        if skill not in best or score > best[skill].score:
          best[skill] = fusion.Evidence(score, pieces[q].text)
    for skill in set(extra) - best.keys():
      sim_QxL = emb_QxD @ self.index.emb_LxD[self._labels_of[skill]].T
      sim_Q = sim_QxL.max(axis=1) - penalty_Q
      q = int(np.argmax(sim_Q))
      best[skill] = fusion.Evidence(float(sim_Q[q]), pieces[q].text)
    if cfg.context_weight:
      sentences = [q for q, piece in enumerate(pieces) if not piece.window]
      context_S = self.index.skill_scores(emb_QxD[sentences]).max(axis=0)
      best = {s: fusion.Evidence(e.score + cfg.context_weight *
                                 float(context_S[s]), e.span)
              for s, e in best.items()}
    return best

  def rank(self, texts: Sequence[str], progress: bool = False,
           batch_texts: int = 64) -> list[list[ScoredSkill]]:
    """Per text, up to `max_ranked` skills, best first."""
    cfg = self.config
    ranked = []
    with tqdm.tqdm(total=len(texts), unit=" texts", desc="skills",
                   disable=not progress) as bar:
      for start in range(0, len(texts), batch_texts):
        batch = list(texts[start:start + batch_texts])
        pieces = [queries(t, cfg.window_sizes) if cfg.use_dense else []
                  for t in batch]
        flat = [q.text for p in pieces for q in p]
        if flat:
          emb_NxD = np.asarray(self.embed(flat), np.float32)
          score_NxK, label_NxK = self.index.search.top_k(
              emb_NxD, min(cfg.label_k, len(self.index.table)))
        offset = 0
        for text, piece in zip(batch, pieces):
          lex = self._lexical(text) if cfg.use_lexical else {}
          part = slice(offset, offset + len(piece))
          dense = (self._dense(piece, emb_NxD[part], score_NxK[part],
                               label_NxK[part], list(lex)) if piece else {})
          offset += len(piece)
          ranked.append(self._scored(
              fusion.fuse(dense, lex, cfg.lexical_weight)))
        bar.update(len(batch))
    return ranked

  def _scored(self, fused: list[fusion.Fused]) -> list[ScoredSkill]:
    skills = self.index.table.skills
    return [ScoredSkill(skills[f.skill].uri, skills[f.skill].label,
                        round(float(f.score), 6), f.span)
            for f in fused[:self.config.max_ranked]]

  def extract_sets(self, texts: Sequence[str], progress: bool = False
                   ) -> list[list[ScoredSkill]]:
    """Per text, the union of its sentences' `skill_set`s, best first (a
    skill found in several sentences keeps its best score and span).

    The set rule is per sentence, as tuned on single sentences: in a long
    text (a resume) the margin to the text's one best skill would drop the
    skills of every other sentence.
    """
    parts = [sentences(t) for t in texts]
    ranked = iter(self.rank([s for p in parts for s in p], progress))
    result = []
    for part in parts:
      best: dict[str, ScoredSkill] = {}
      for _ in part:
        for skill in self.skill_set(next(ranked)):
          if skill.uri not in best or skill.score > best[skill.uri].score:
            best[skill.uri] = skill
      result.append(sorted(best.values(), key=lambda s: -s.score))
    return result

  def record_skills(self, text: str) -> list[records.Skill]:
    """The skill set of one text (`extract_sets`) as `records.Skill`s
    (name = the preferred label), for `csv_import.iter_fit_csv`."""
    [chosen] = self.extract_sets([text])
    return [records.Skill(name=s.label, uri=s.uri) for s in chosen]

  def skill_set(self, ranked: list[ScoredSkill]) -> list[ScoredSkill]:
    """The skills of a ranked list (best first) scored at least `threshold`
    and within `set_margin` of the best one."""
    if not ranked:
      return []
    floor = max(self.config.threshold, ranked[0].score - self.config.set_margin)
    return [s for s in ranked if s.score >= floor]


def build(esco_dir: os.PathLike | str, embed: Callable, identity: str,
          dim: int, config: ExtractorConfig = ExtractorConfig(),
          cache_dir: os.PathLike | str | None = None,
          label_embed: Callable | None = None) -> SkillExtractor:
  """An extractor over the skills of `esco_dir`. Queries are encoded with
  `embed`; the dense label matrix is read from the cache, else encoded with
  `label_embed` (default `embed`) and cached, `cache_dir` defaulting to
  `<files.cache_root()>/skill_index`."""
  skills = concepts.read_skills(esco_dir)
  matcher = lexical.LexicalMatcher(
      concepts.label_table(skills),
      concepts.description_corpus(esco_dir, skills), config.max_df)
  index = dense_index.load_or_build(
      esco_dir, concepts.label_table(skills, config.dense_alt_labels),
      label_embed or embed, identity, dim, cache_dir)
  return SkillExtractor(matcher, index, embed, config)


def resume_text(resume: records.Resume) -> str:
  """The free text of a resume the extractor reads: role and experience."""
  return ". ".join(t for t in (resume.role, serialize.experience_text(resume))
                   if t.strip())


def job_text(job: records.Job) -> str:
  """The free text of a job the extractor reads: title and description."""
  return ". ".join(t for t in (job.title, job.description) if t.strip())


def _with_uris(skills: Sequence[records.Skill]) -> tuple[str, ...]:
  return tuple(dict.fromkeys(s.uri for s in skills if s.uri))


def fill_resume_skills(resume: records.Resume,
                       record_skills: Callable[[str], list[records.Skill]]
                       ) -> tuple[records.Resume, bool]:
  """(the resume, whether it was filled): a resume that lists no skill and
  no skill URI gets the skills `record_skills` reads off its text."""
  if resume.skills or resume.skill_uris:
    return resume, False
  found = tuple(record_skills(resume_text(resume)))
  return dataclasses.replace(resume, skills=found,
                             skill_uris=_with_uris(found)), True


def fill_job_skills(job: records.Job,
                    record_skills: Callable[[str], list[records.Skill]]
                    ) -> tuple[records.Job, bool]:
  """(the job, whether it was filled): a job that lists no skill and no
  skill URI gets the skills `record_skills` reads off its text."""
  if job.required_skills or job.skill_uris:
    return job, False
  found = tuple(record_skills(job_text(job)))
  return dataclasses.replace(job, required_skills=found,
                             skill_uris=_with_uris(found)), True


def fill_missing_skills(pairs: Sequence[records.Pair],
                        record_skills: Callable[[str], list[records.Skill]]
                        ) -> tuple[list[records.Pair], dict[str, int]]:
  """Pairs whose resume or job lists no skill (and no skill URI) get the
  skills `record_skills` reads off its text; returns the pairs and how many
  distinct resumes and jobs were filled. Listed skills are never changed."""
  cached = functools.lru_cache(maxsize=None)(record_skills)
  filled: dict[str, set] = {"resumes": set(), "jobs": set()}
  out = []
  for pair in pairs:
    resume, resume_filled = fill_resume_skills(pair.resume, cached)
    job, job_filled = fill_job_skills(pair.job, cached)
    if resume_filled:
      filled["resumes"].add(resume_text(resume))
    if job_filled:
      filled["jobs"].add(job_text(job))
    out.append(dataclasses.replace(pair, resume=resume, job=job))
  return out, {kind: len(texts) for kind, texts in filled.items()}
