"""Small synthetic `PreparedData` for phase-2 tests (imported, not collected).

Resumes and jobs belong to one of four categories; a pair is a good fit when
the categories agree, a potential fit when they are neighbours, otherwise no
fit. Embeddings are the category direction plus noise, so the labels are
learnable from them.
"""

import numpy as np

from cacl_jax.data import prepared
from cacl_jax.phase1 import negatives

NUM_CATEGORIES = 4


def _split(rng, row0, num_resumes, num_jobs, num_pairs, emb_rows):
  cat_r = rng.integers(0, NUM_CATEGORIES, num_resumes)
  cat_p = rng.integers(0, NUM_CATEGORIES, num_jobs)
  resume_n = rng.integers(0, num_resumes, num_pairs)
  # A third of the pairs pick a job of the resume's own category.
  job_n = rng.integers(0, num_jobs, num_pairs)
  for i in range(0, num_pairs, 3):
    same = np.flatnonzero(cat_p == cat_r[resume_n[i]])
    if same.size:
      job_n[i] = rng.choice(same)
  gap = np.abs(cat_r[resume_n] - cat_p[job_n])
  original = np.where(gap == 0, 0, np.where(gap == 1, 1, 2)).astype(np.int32)
  label = (original == 0).astype(np.int32)
  good = np.zeros((num_resumes, num_jobs), bool)
  good[resume_n[label == 1], job_n[label == 1]] = True
  resume_rows = np.arange(row0, row0 + num_resumes, dtype=np.int32)
  job_rows = np.arange(row0 + num_resumes, row0 + num_resumes + num_jobs,
                       dtype=np.int32)
  emb_rows.extend(list(cat_r) + list(cat_p))
  sim = (cat_r[:, None] == cat_p[None, :]).astype(np.float32)
  split = prepared.SplitArrays(
      pair_ids=tuple(f"p{row0}_{i}" for i in range(num_pairs)),
      resume_N=resume_n.astype(np.int32), job_N=job_n.astype(np.int32),
      label_N=label, original_label_N=original,
      tier_N=rng.integers(0, 5, num_pairs).astype(np.int32),
      ontology_similarity_N=rng.random(num_pairs).astype(np.float32),
      ot_distance_N=rng.random(num_pairs).astype(np.float32),
      resume_row_R=resume_rows, resume_has_uris_R=np.ones(num_resumes, bool),
      job_row_P=job_rows, job_has_uris_P=np.ones(num_jobs, bool),
      job_ids=tuple(f"j{row0}_{i}" for i in range(num_jobs)),
      **prepared.candidate_fields(
          negatives.whole_pool_candidates(sim, good)))
  return split, row0 + num_resumes + num_jobs


def make_data(seed=0, dim=16, sizes=((60, 30, 240), (20, 12, 64),
                                     (20, 12, 64))) -> prepared.PreparedData:
  """Train/val/test splits of (resumes, jobs, pairs) sizes over one table."""
  rng = np.random.default_rng(seed)
  emb_rows, splits, row = [], [], 0
  for num_r, num_p, num_n in sizes:
    split, row = _split(rng, row, num_r, num_p, num_n, emb_rows)
    splits.append(split)
  directions = rng.normal(size=(NUM_CATEGORIES, dim))
  emb = directions[np.asarray(emb_rows)] + 0.5 * rng.normal(
      size=(len(emb_rows), dim))
  emb /= np.linalg.norm(emb, axis=1, keepdims=True)
  return prepared.PreparedData(emb.astype(np.float32), *splits)


def write_phase1_checkpoint(workdir, data, hidden=64, dim=32, input_dim=16,
                            epoch=3, seed=0):
  """A Phase-1 best checkpoint (random head) saved the way phase 1 saves it,
  with the run record (config.json, run.json) of a Phase-1 run on `data`."""
  import jax  # pylint: disable=g-import-not-at-top
  from cacl_jax.common import run_manifest, training_loop  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import config as phase1_config  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import state as phase1_state  # pylint: disable=g-import-not-at-top
  cfg = phase1_config.phase1_fields()
  cfg.model.hidden, cfg.model.dim = hidden, dim
  run_manifest.start_run(workdir, cfg, prepared.fingerprint(data))
  state = phase1_state.create_state(cfg, input_dim, jax.random.key(seed))
  with training_loop.open_checkpoints(workdir) as ckpts:
    ckpts.save(10 * epoch, training_loop.checkpoint_item(state, epoch),
               {"val_loss": 0.72, "train_loss": 0.5, "epoch": epoch})
  return cfg.model, state.params
