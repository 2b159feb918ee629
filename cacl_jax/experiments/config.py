"""The one config shape that every file in configs/ builds.

Top level: `phase` (what runs: "phase1", "phase2" or "all"), `seed`, `data`,
`encoder` and `mesh` (shared by both phases), `distributed` (how the
process joins a multi-process run), `phase1` (every Phase-1 section, §5.9)
and `phase2` (every Phase-2 section, §6.4). The files differ only in
`phase` and the options they accept, so a setting has one flag path whatever
runs, e.g. --config.phase1.train.epochs=20 or
--config.phase2.phase1_workdir=workdirs/phase1.
"""

from __future__ import annotations

from typing import Sequence

import ml_collections

from cacl_jax.common import distributed
from cacl_jax.data import config as data_config
from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase2 import config as phase2_config

PHASES = ("phase1", "phase2", "all")
OPTIONS = ("smoke", "vanilla")


def _smoke(c: ml_collections.ConfigDict) -> None:
  """Seconds-long runs: tiny random encoder, ~400 pairs, 2 epochs a phase."""
  c.encoder.model = data_config.RANDOM_TINY_ENCODER
  c.data.num_pairs = 400
  c.phase1.model.hidden = 64
  c.phase1.model.dim = 32
  c.phase1.train.epochs = 2
  c.phase1.train.batch_size = 16
  phase2_config.smoke(c.phase2)


def build(phase: str, arg: str | None = None,
          allowed: Sequence[str] = OPTIONS) -> ml_collections.ConfigDict:
  """The config that runs `phase`, with the options of `arg` applied.

  `arg` is what follows the file name after ":" (comma separated, any of
  `allowed`): "smoke" shrinks everything to a seconds-long run (tests),
  "vanilla" makes Phase 1 the ablation baseline (random negatives, weight 1).
  """
  if phase not in PHASES:
    raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
  options = set(arg.split(",")) if arg else set()
  unknown = options - set(allowed)
  if unknown:
    raise ValueError(f"unknown config argument(s) {sorted(unknown)}; "
                     f"expected any of {tuple(allowed)}")
  c = ml_collections.ConfigDict()
  c.phase = phase
  c.seed = 0
  c.data = data_config.data_fields()
  c.encoder = data_config.encoder_fields()
  c.mesh = distributed.mesh_fields()
  c.distributed = distributed.distributed_fields()
  c.phase1 = phase1_config.phase1_fields(vanilla="vanilla" in options)
  c.phase2 = phase2_config.phase2_fields()
  if "smoke" in options:
    _smoke(c)
  return c
