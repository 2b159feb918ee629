"""Small random `PreparedData` for phase-1 tests and benchmarks.

Embeddings are random unit vectors with a planted signal: a resume's vector
leans towards the jobs it is a good fit for, so training has something to
learn. Ontology similarities, skill-URI flags, tiers and scores are random,
with missing scores (NaN) and resumes and jobs without URIs mixed in.
"""

from __future__ import annotations

import numpy as np

from cacl_jax.data import prepared, records
from cacl_jax.phase1 import negatives


def _unit(x: np.ndarray) -> np.ndarray:
  return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_split(rng: np.random.Generator, num_pairs: int, num_resumes: int,
               num_jobs: int, resume_row0: int, job_row0: int,
               positive_rate: float = 0.26, missing_rate: float = 0.2
               ) -> prepared.SplitArrays:
  """A split whose resumes use table rows resume_row0… and jobs job_row0…."""
  if num_pairs < max(num_resumes, num_jobs):
    raise ValueError("need at least one pair per resume and per job")
  resume_n = np.concatenate([np.arange(num_resumes),
                             rng.integers(0, num_resumes,
                                          num_pairs - num_resumes)])
  job_n = np.concatenate([rng.permutation(num_jobs),
                          rng.integers(0, num_jobs, num_pairs - num_jobs)])
  rng.shuffle(job_n)
  label_n = (rng.random(num_pairs) < positive_rate).astype(np.int32)
  original = np.where(label_n == 1, 0, rng.integers(1, 3, num_pairs))
  good = np.zeros((num_resumes, num_jobs), bool)
  good[resume_n[label_n == 1], job_n[label_n == 1]] = True

  def maybe_missing(values):
    values = values.astype(np.float32)
    values[rng.random(num_pairs) < missing_rate] = np.nan
    return values

  # Every fifth job has no URIs (a fixed pattern, no draw from `rng`) and so
  # §4.4 similarity 0 to every resume.
  job_has_uris = np.arange(num_jobs) % 5 != 4
  return prepared.SplitArrays(
      pair_ids=tuple(f"p{resume_row0}_{i}" for i in range(num_pairs)),
      resume_N=resume_n.astype(np.int32),
      job_N=job_n.astype(np.int32),
      label_N=label_n,
      original_label_N=original.astype(np.int32),
      tier_N=rng.integers(0, len(records.QUALITY_TIERS),
                          num_pairs).astype(np.int32),
      ontology_similarity_N=maybe_missing(rng.random(num_pairs)),
      ot_distance_N=maybe_missing(10 * rng.random(num_pairs)),
      resume_row_R=(resume_row0 + np.arange(num_resumes)).astype(np.int32),
      resume_has_uris_R=rng.random(num_resumes) < 0.8,
      job_row_P=(job_row0 + np.arange(num_jobs)).astype(np.int32),
      job_has_uris_P=job_has_uris,
      job_ids=tuple(f"j{job_row0 + i}" for i in range(num_jobs)),
      **prepared.candidate_fields(negatives.whole_pool_candidates(
          np.where(job_has_uris, rng.random((num_resumes, num_jobs)),
                   0.0).astype(np.float32), good)))


def make_prepared(seed: int = 0, dim: int = 768,
                  sizes=((300, 200, 40), (80, 60, 20), (80, 60, 20)),
                  signal: float = 0.5) -> prepared.PreparedData:
  """`sizes`: (pairs, resumes, jobs) of train, val, test; shared embeddings."""
  rng = np.random.default_rng(seed)
  splits, row = [], 0
  for num_pairs, num_resumes, num_jobs in sizes:
    split = make_split(rng, num_pairs, num_resumes, num_jobs, row,
                       row + num_resumes)
    splits.append(split)
    row += num_resumes + num_jobs
  emb = _unit(rng.normal(size=(row, dim)))
  for split in splits:
    jobs = emb[split.job_row_P]
    good = np.zeros((len(split.resume_row_R), len(split.job_row_P)),
                    np.float32)
    good[split.good_pairs()] = 1.0
    pull = good @ jobs
    emb[split.resume_row_R] = _unit(emb[split.resume_row_R] + signal * pull)
  return prepared.PreparedData(emb_TxD=emb, train=splits[0], val=splits[1],
                               test=splits[2])


def tiny_phase1_config(**train_overrides):
  """configs/phase1.py's numbers shrunk to a few seconds on random data."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import config as phase1_config  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict()
  c.phase = "phase1"
  c.seed = 0
  c.update(phase1_config.phase1_fields())
  c.model.hidden = 32
  c.model.dim = 16
  c.train.epochs = 3
  c.train.batch_size = 32
  c.train.learning_rate = 1e-3
  c.train.update(train_overrides)
  return c
