r"""The whole method: Phase 1 (§5), then Phase 2 on its best checkpoint (§6, §7).

  python scripts/train.py --config=configs/default.py [--workdir=workdirs/all]

Generates the built-in demo data, trains Phase 1 in `<workdir>/phase1` and
Phase 2 in `<workdir>/phase2`, and prints where the report is. Phase-specific
fields live under `phase1` and `phase2`; `data`, `encoder` and `seed` are
shared. Arguments after the file name, comma separated:

  configs/default.py:smoke     seconds-long run: tiny random encoder,
                               ~400 pairs, 2 epochs per phase (tests)
  configs/default.py:vanilla   ablation baseline: Phase 1 with random
                               negatives and no ontology weighting

e.g. --config.phase1.train.epochs=20 --config.phase2.train.pos_weight=1.0.
"""

import ml_collections

from cacl_jax.data import config as data_config
from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase2 import config as phase2_config

_OPTIONS = ("smoke", "vanilla")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  options = set(arg.split(",")) if arg else set()
  unknown = options - set(_OPTIONS)
  if unknown:
    raise ValueError(f"configs/default.py: unknown argument(s) "
                     f"{sorted(unknown)}; expected any of {_OPTIONS}")
  c = ml_collections.ConfigDict()
  c.phase = "all"
  c.seed = 0
  c.data = data_config.data_fields()
  c.encoder = data_config.encoder_fields()
  c.phase1 = phase1_config.phase1_fields(vanilla="vanilla" in options)
  c.phase2 = phase2_config.phase2_fields()
  # One object: overriding config.phase1.model also tells phase 2 what
  # head shape to restore.
  c.phase2.phase1_model = c.phase1.model
  if "smoke" in options:
    c.encoder.model = data_config.RANDOM_TINY_ENCODER
    c.data.num_pairs = 400
    c.phase1.model.hidden = 64
    c.phase1.model.dim = 32
    c.phase1.train.epochs = 2
    c.phase1.train.batch_size = 16
    phase2_config.smoke(c.phase2)
  return c
