r"""Phase 1: contrastive pretraining of the projection head (§5), then §7.1.

  python scripts/train.py --config=configs/phase1.py [--workdir=workdirs/phase1]

Without other flags this generates the built-in demo data (5,179 pairs),
prepares the ontology arrays and the encoder embeddings (cached) and trains
15 epochs with the numbers of §5.9. The config has the shape of every config
file (`phase2` is there but unused), so Phase-1 settings live under
`phase1`, e.g. --config.phase1.train.learning_rate=1e-4
--config.phase1.negatives.strategy=random --config.data.input=pairs.jsonl.
Arguments after the file name, comma separated:

  configs/phase1.py:smoke     seconds-long run: tiny random-weight encoder,
                              ~400 pairs, 2 epochs, small batches (tests)
  configs/phase1.py:vanilla   ablation baseline: random negatives, weight 1
"""

import ml_collections

from cacl_jax.experiments import config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config.build("phase1", arg)
