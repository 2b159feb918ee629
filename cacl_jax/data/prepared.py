"""Splits as fixed-size arrays over a shared embedding table: the training input.

Everything the jitted training and evaluation steps read is here, computed once
from validated records: pair labels and ontology metadata, the unique resumes
and the unique job pool of each split (§5.9), the resumes × pool ontology
similarity used for curriculum negatives (§5.6) and the good-fit mask that
keeps a resume's own matches out of its negatives. Embeddings are stored once
per unique text and addressed by row.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable, Sequence

import numpy as np

from cacl_jax.data import records, serialize, splits as splits_lib

EmbedFn = Callable[[Sequence[str]], np.ndarray]
SimilarityFn = Callable[[Sequence[Sequence[str]], Sequence[Sequence[str]]],
                        np.ndarray]

_SPLIT_NAMES = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class SplitArrays:
  """One split: N pairs over R unique resumes and a pool of P unique jobs."""
  pair_ids: tuple[str, ...]
  resume_N: np.ndarray  # int32, index into the split's unique resumes
  job_N: np.ndarray  # int32, index into the split's job pool
  label_N: np.ndarray  # int32, binary label (good_fit = 1)
  original_label_N: np.ndarray  # int32, index into records.LABELS
  tier_N: np.ndarray  # int32, index into records.QUALITY_TIERS
  ontology_similarity_N: np.ndarray  # float32, NaN where not available
  ot_distance_N: np.ndarray  # float32, NaN where not available
  resume_row_R: np.ndarray  # int32, row of the resume text in the table
  resume_has_uris_R: np.ndarray  # bool
  job_row_P: np.ndarray  # int32, row of the job text in the table
  job_ids: tuple[str, ...]
  sim_RxP: np.ndarray  # float32, ontology_set_similarity (§4.4)
  good_RxP: np.ndarray  # bool, the resume is a good fit for that job here

  @property
  def num_pairs(self) -> int:
    return len(self.pair_ids)


@dataclasses.dataclass(frozen=True)
class PreparedData:
  emb_TxD: np.ndarray  # float32, frozen encoder embedding of every text
  train: SplitArrays
  val: SplitArrays
  test: SplitArrays

  def split(self, name: str) -> SplitArrays:
    if name not in _SPLIT_NAMES:
      raise KeyError(f"unknown split {name!r}; expected one of {_SPLIT_NAMES}")
    return getattr(self, name)


def _split_arrays(pairs: Sequence[records.Pair], text_row: dict[str, int],
                  similarity: SimilarityFn) -> SplitArrays:
  resume_index: dict[str, int] = {}
  resumes: list[records.Resume] = []
  pool = splits_lib.unique_jobs(pairs)
  job_index = {job.job_id: i for i, job in enumerate(pool)}
  resume_n, job_n, tier_n = [], [], []
  for pair in pairs:
    key = serialize.serialize_resume(pair.resume)
    if key not in resume_index:
      resume_index[key] = len(resumes)
      resumes.append(pair.resume)
    resume_n.append(resume_index[key])
    job_n.append(job_index[pair.job.job_id])
    if pair.metadata.quality_tier is None:
      raise ValueError(f"pair {pair.pair_id!r} has no quality_tier: enrich "
                       "the data first (scripts/prepare_data.py)")
    tier_n.append(records.QUALITY_TIERS.index(pair.metadata.quality_tier))
  resume_n = np.asarray(resume_n, np.int32)
  job_n = np.asarray(job_n, np.int32)
  label_n = np.asarray([p.binary_label for p in pairs], np.int32)
  good = np.zeros((len(resumes), len(pool)), bool)
  good[resume_n[label_n == 1], job_n[label_n == 1]] = True

  def optional(values):
    return np.asarray([np.nan if v is None else v for v in values],
                      np.float32)

  return SplitArrays(
      pair_ids=tuple(p.pair_id for p in pairs),
      resume_N=resume_n,
      job_N=job_n,
      label_N=label_n,
      original_label_N=np.asarray([records.LABELS.index(p.label)
                                   for p in pairs], np.int32),
      tier_N=np.asarray(tier_n, np.int32),
      ontology_similarity_N=optional(p.metadata.ontology_similarity
                                     for p in pairs),
      ot_distance_N=optional(p.metadata.ot_distance for p in pairs),
      resume_row_R=np.asarray([text_row[k] for k in resume_index], np.int32),
      resume_has_uris_R=np.asarray([bool(r.skill_uris) for r in resumes]),
      job_row_P=np.asarray([text_row[serialize.serialize_job(j)]
                            for j in pool], np.int32),
      job_ids=tuple(job.job_id for job in pool),
      sim_RxP=np.asarray(similarity([r.skill_uris for r in resumes],
                                    [j.skill_uris for j in pool]),
                         np.float32).reshape(len(resumes), len(pool)),
      good_RxP=good)


def unique_texts(pairs: Sequence[records.Pair]) -> list[str]:
  """Every distinct serialized resume and job text, in first-seen order."""
  texts: dict[str, None] = {}
  for pair in pairs:
    texts.setdefault(serialize.serialize_resume(pair.resume))
    texts.setdefault(serialize.serialize_job(pair.job))
  return list(texts)


def build_prepared(data: splits_lib.Splits, embed: EmbedFn,
                   similarity: SimilarityFn) -> PreparedData:
  """Turns enriched, split records into `PreparedData`.

  `embed` maps texts to L2-normalised encoder embeddings (a cache in front of
  the frozen encoder); `similarity` maps resume and job skill-URI lists to
  their ontology_set_similarity grid.
  """
  texts = unique_texts([p for _, part in data.items() for p in part])
  emb = np.asarray(embed(texts), np.float32)
  if emb.shape[0] != len(texts):
    raise ValueError(f"embed returned {emb.shape[0]} rows for {len(texts)} "
                     "texts")
  text_row = {t: i for i, t in enumerate(texts)}
  return PreparedData(
      emb_TxD=emb,
      **{name: _split_arrays(part, text_row, similarity)
         for name, part in data.items()})


def save_prepared(path: str | pathlib.Path, data: PreparedData) -> None:
  """Writes all arrays to one .npz (atomic replace)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  arrays = {"emb_TxD": data.emb_TxD}
  for name in _SPLIT_NAMES:
    for field in dataclasses.fields(SplitArrays):
      value = getattr(data.split(name), field.name)
      arrays[f"{name}/{field.name}"] = np.asarray(value)
  tmp = path.with_name(path.name + ".tmp.npz")
  np.savez(tmp, **arrays)
  tmp.replace(path)


def load_prepared(path: str | pathlib.Path) -> PreparedData:
  with np.load(path, allow_pickle=False) as z:
    parts = {}
    for name in _SPLIT_NAMES:
      kwargs = {}
      for field in dataclasses.fields(SplitArrays):
        value = z[f"{name}/{field.name}"]
        kwargs[field.name] = (tuple(value.tolist())
                              if field.name in ("pair_ids", "job_ids")
                              else value)
      parts[name] = SplitArrays(**kwargs)
    return PreparedData(emb_TxD=z["emb_TxD"], **parts)
