r"""Phase 1: contrastive pretraining of the projection head (§5), then §7.1.

  python scripts/train.py --config=configs/phase1.py [--workdir=workdirs/phase1]

Without other flags this generates the built-in demo data (5,179 pairs),
prepares the ontology arrays and the encoder embeddings (cached) and trains
15 epochs with the numbers of §5.9. Arguments after the file name, comma
separated:

  configs/phase1.py:smoke     seconds-long run: tiny random-weight encoder,
                              ~400 pairs, 2 epochs, small batches (tests)
  configs/phase1.py:vanilla   ablation baseline: random negatives, weight 1

Any field can be overridden, e.g. --config.train.learning_rate=1e-4
--config.negatives.strategy=random --config.data.input=pairs.jsonl.
"""

import ml_collections

from cacl_jax.data import config as data_config
from cacl_jax.phase1 import config as phase1_config

_OPTIONS = ("smoke", "vanilla")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  options = set(arg.split(",")) if arg else set()
  unknown = options - set(_OPTIONS)
  if unknown:
    raise ValueError(f"configs/phase1.py: unknown argument(s) "
                     f"{sorted(unknown)}; expected any of {_OPTIONS}")
  c = ml_collections.ConfigDict()
  c.phase = "phase1"
  c.seed = 0
  c.data = data_config.data_fields()
  c.encoder = data_config.encoder_fields()
  c.update(phase1_config.phase1_fields(vanilla="vanilla" in options))
  if "smoke" in options:
    c.encoder.model = data_config.RANDOM_TINY_ENCODER
    c.data.num_pairs = 400
    c.model.hidden = 64
    c.model.dim = 32
    c.train.epochs = 2
    c.train.batch_size = 16
  return c
