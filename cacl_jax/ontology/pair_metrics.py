"""ontology_similarity (§4.4) and ot_distance (§4.5) of pairs of URI lists.

The metric half of ESCO enrichment (§3.3), on skill-URI lists only: the
record half (skill names → URIs, quality tiers, values written into pairs)
is `cacl_jax.data.enrich`, which calls `score_uri_pairs` for the pairs it
scores. A URI the skill index does not know stays a member of its set with
no path to any skill (`set_similarity.pad_uri_sets`), so it lowers both
metrics instead of being dropped.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np
import tqdm

from cacl_jax.ontology import ot_distance
from cacl_jax.ontology import set_similarity
from cacl_jax.ontology import skill_index as skill_index_lib


def score_uri_pairs(index: skill_index_lib.SkillIndex, distances: np.ndarray,
                    resume_uris: Sequence[Sequence[str]],
                    job_uris: Sequence[Sequence[str]], *, chunk: int = 1024,
                    progress: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(similarity float32 [N], ot_distance float32 [N], converged bool [N])
  of resume_uris[i] against job_uris[i].

  `distances` is the uint8 [S, S] matrix in `index` row order, e.g. from
  `distance_cache.load_or_build_distances`; `converged` is the OT flag of
  `ot_distance.ot_distance_pairs`. Pairs run in chunks of `chunk`, with a
  progress bar when `progress`.
  """
  if distances.shape != (len(index), len(index)):
    raise ValueError(f"distances {distances.shape} do not match the "
                     f"{len(index)} skills of the skill index")
  if len(resume_uris) != len(job_uris):
    raise ValueError(f"{len(resume_uris)} resume URI lists but "
                     f"{len(job_uris)} job URI lists")
  a_idx, a_mask = set_similarity.pad_uri_sets(index, resume_uris)
  b_idx, b_mask = set_similarity.pad_uri_sets(index, job_uris)
  dist = jnp.asarray(distances)   # one host → device copy for all chunks
  parts = []
  for start in tqdm.tqdm(range(0, max(len(a_idx), 1), chunk),
                         desc="similarity+OT", unit="chunk",
                         disable=not progress):
    block = [x[start:start + chunk] for x in (a_idx, a_mask, b_idx, b_mask)]
    sim = set_similarity.set_similarity_pairs(dist, *block)
    ot, _, converged = ot_distance.ot_distance_pairs(dist, *block)
    parts.append((sim, ot, converged))
  sims, ots, converged = (np.concatenate(p) for p in zip(*parts))
  return sims, ots, converged
