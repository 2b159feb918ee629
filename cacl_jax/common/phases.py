"""Per-phase configs from an end-to-end ("all") config, and running both phases."""

from __future__ import annotations

import logging as std_logging
import os
import pathlib
from typing import Any

from absl import logging as absl_logging
import ml_collections

from cacl_jax.phase1 import train as phase1_train
from cacl_jax.phase2 import train as phase2_train

SHARED_FIELDS = ("seed", "data", "encoder")


def phase_config(config: ml_collections.ConfigDict, phase: str,
                 **extra) -> ml_collections.ConfigDict:
  """`config.<phase>` plus the shared top-level fields, as a phase's own config.

  The result looks like that phase's config file (`phase` = the phase name,
  `seed`, `data`, `encoder` at the top level); `extra` sets further fields,
  e.g. phase 2's `phase1_workdir`. The input config is not modified.
  """
  if phase not in config:
    raise KeyError(f"config has no {phase!r} section; found "
                   f"{sorted(config.keys())}")
  fields = config[phase].to_dict()
  for name in SHARED_FIELDS:
    value = config[name]
    fields[name] = (value.to_dict()
                    if isinstance(value, ml_collections.ConfigDict) else value)
  fields.update(phase=phase, **extra)
  return ml_collections.ConfigDict(fields)


def run_end_to_end(config: ml_collections.ConfigDict,
                   workdir: str | os.PathLike) -> dict[str, Any]:
  """Phase 1 in `<workdir>/phase1`, then Phase 2 on its best checkpoint in
  `<workdir>/phase2`; returns Phase 2's evaluation (with `report_path`)."""
  workdir = pathlib.Path(workdir)
  phase1_dir = workdir / "phase1"
  phase1_train.train_and_evaluate(phase_config(config, "phase1"), phase1_dir)
  return phase2_train.train_and_evaluate(
      phase_config(config, "phase2", phase1_workdir=str(phase1_dir)),
      workdir / "phase2")


def quiet_library_logs() -> None:
  """Drops Orbax's per-save INFO lines from the absl log; warnings stay."""
  def keep(record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING
            or f"{os.sep}orbax{os.sep}" not in record.pathname)
  absl_logging.get_absl_handler().addFilter(keep)
