r"""Phase 2: classification head on the frozen Phase-1 embeddings (§6), then §7.2 eval.

  python scripts/train.py --config=configs/phase2.py [--workdir=workdirs/phase2] \
      [--config.phase2.phase1_workdir=workdirs/phase1]

Restores the best checkpoint of the Phase-1 run in `phase2.phase1_workdir`
(the head's shape is read from that run's config.json), trains 10 epochs
with the numbers of §6.4 on the same (cached) data and writes
`phase2_eval.json`, `report.md` and plots into the workdir. The config has
the shape of every config file (`phase1` is there but unused), so Phase-2
settings live under `phase2`, e.g. --config.phase2.train.pos_weight=1.0.
Arguments after the file name:

  configs/phase2.py:smoke   seconds-long run on the output of
                            configs/phase1.py:smoke (tiny random encoder,
                            ~400 pairs, 2 epochs)
"""

import ml_collections

from cacl_jax.experiments import config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config.build("phase2", arg, allowed=("smoke",))
