r"""The whole method: Phase 1 (§5), then Phase 2 on its best checkpoint (§6, §7).

  python scripts/train.py --config=configs/default.py [--workdir=workdirs/all]

Generates the built-in demo data, prepares it once, trains Phase 1 in
`<workdir>/phase1` and Phase 2 in `<workdir>/phase2`, and prints where the
report is. Like every config file: `data`, `encoder` and `seed` are shared
at the top level, Phase-1 settings live under `phase1` and Phase-2 settings
under `phase2`, e.g. --config.phase1.train.epochs=20
--config.phase2.train.pos_weight=1.0 --config.data.input=pairs.jsonl.
Both phases train data-parallel over every device JAX sees
(--config.mesh.data=N: N of them); --config.distributed.* joins a run of
several processes (README, "Scale").
Arguments after the file name, comma separated:

  configs/default.py:smoke     seconds-long run: tiny random encoder,
                               ~400 pairs, 2 epochs per phase (tests)
  configs/default.py:vanilla   ablation baseline: Phase 1 with random
                               negatives and no ontology weighting
"""

import ml_collections

from cacl_jax.experiments import config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config.build("all", arg)
