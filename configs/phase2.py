r"""Phase 2: classification head on the frozen Phase-1 embeddings (§6), then §7.2 eval.

  python scripts/train.py --config=configs/phase2.py [--workdir=workdirs/phase2] \
      [--config.phase1_workdir=workdirs/phase1]

Restores the best checkpoint of the Phase-1 run in `phase1_workdir` (its
head shape in `phase1_model`, default that of configs/phase1.py), trains 10
epochs with the numbers of §6.4 on the same (cached) data and writes
`phase2_eval.json`, `report.md` and plots into the workdir. Arguments after
the file name:

  configs/phase2.py:smoke   seconds-long run on the output of
                            configs/phase1.py:smoke (tiny random encoder,
                            ~400 pairs, 2 epochs)

Any field can be overridden, e.g. --config.train.pos_weight=1.0.
"""

import ml_collections

from cacl_jax.data import config as data_config
from cacl_jax.phase2 import config as phase2_config

_OPTIONS = ("smoke",)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  options = set(arg.split(",")) if arg else set()
  unknown = options - set(_OPTIONS)
  if unknown:
    raise ValueError(f"configs/phase2.py: unknown argument(s) "
                     f"{sorted(unknown)}; expected any of {_OPTIONS}")
  c = ml_collections.ConfigDict()
  c.phase = "phase2"
  c.seed = 0
  c.data = data_config.data_fields()
  c.encoder = data_config.encoder_fields()
  c.update(phase2_config.phase2_fields())
  if "smoke" in options:
    c.encoder.model = data_config.RANDOM_TINY_ENCODER
    c.data.num_pairs = 400
    # The head of configs/phase1.py:smoke.
    c.phase1_model.hidden = 64
    c.phase1_model.dim = 32
    phase2_config.smoke(c)
  return c
