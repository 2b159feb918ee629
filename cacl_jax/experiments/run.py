"""The top-level run: prepare the data once, then Phase 1, Phase 2 or both.

`train_and_evaluate(config, workdir)` runs what `config.phase` names:
"phase1" in `workdir`, "phase2" in `workdir` on the Phase-1 run of
`config.phase2.phase1_workdir`, or "all": Phase 1 in `<workdir>/phase1`,
then Phase 2 on its best checkpoint in `<workdir>/phase2`. The data are
prepared (or read from the cache) once and handed to each phase, and each
phase workdir gets the summary of what was prepared (`data_summary.json`).
Phase code receives a per-phase view of the config (`phase_config`).
"""

from __future__ import annotations

import logging as std_logging
import os
import pathlib
from typing import Any, Sequence

from absl import logging as absl_logging
import ml_collections

from cacl_jax import pipeline
from cacl_jax.common import distributed, files
from cacl_jax.data import prepared
from cacl_jax.experiments import config as config_lib
from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase1 import train as phase1_train
from cacl_jax.phase2 import config as phase2_config
from cacl_jax.phase2 import pretrained
from cacl_jax.phase2 import train as phase2_train
from cacl_jax.serving import bundle

SHARED_FIELDS = ("seed", "data", "encoder", "mesh")
# The summary `pipeline.prepare_data` writes into the workdir it is given.
DATA_SUMMARY = "data_summary.json"


def phase_config(config: ml_collections.ConfigDict, phase: str,
                 **extra) -> ml_collections.ConfigDict:
  """`config.<phase>` plus the shared top-level fields: what a phase reads.

  The view has `phase` (the phase name), `seed`, `data`, `encoder`, `mesh`
  and the phase's own sections at the top level; `extra` sets further
  fields, e.g. phase 2's `phase1_workdir`. The result is a free copy: the
  input config is not modified.
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


def prepare_data(config: ml_collections.ConfigDict,
                 workdirs: Sequence[pathlib.Path]) -> prepared.PreparedData:
  """Prepares (or reuses from the cache) the data once, and writes its
  summary into every workdir of `workdirs` (process 0 alone)."""
  first, *others = workdirs
  data = pipeline.prepare_data(config, first)
  if not distributed.is_main_process():
    return data
  summary = (first / DATA_SUMMARY).read_bytes()
  for workdir in others:
    files.atomic_write(workdir / DATA_SUMMARY, lambda f: f.write(summary))
  return data


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str | os.PathLike) -> dict[str, Any]:
  """Runs `config.phase` in `workdir`; returns the last phase's evaluation.

  That is the content of `phase1_eval.json` (with "eval_path") for "phase1",
  of `phase2_eval.json` (with "report_path" and "model_path", the exported
  bundle) otherwise. Settings and, for
  "phase2", the Phase-1 run are checked before the data are prepared.
  """
  workdir = pathlib.Path(workdir)
  if config.phase not in config_lib.PHASES:
    raise ValueError(f"config.phase must be one of {config_lib.PHASES}, "
                     f"got {config.phase!r}")
  if config.phase == "phase1":
    view = phase_config(config, "phase1")
    _validate(view)
    return phase1_train.run(view, prepare_data(config, [workdir]), workdir)
  if config.phase == "phase2":
    view = phase_config(config, "phase2")
    _validate(view)
    pretrained.recorded_model(view.phase1_workdir)  # fails before preparing
    return _run_phase2(view, prepare_data(config, [workdir]), workdir)
  phase1_dir, phase2_dir = workdir / "phase1", workdir / "phase2"
  phase1 = phase_config(config, "phase1")
  phase2 = phase_config(config, "phase2", phase1_workdir=str(phase1_dir))
  _validate(phase1)
  _validate(phase2)
  data = prepare_data(config, [phase1_dir, phase2_dir])
  phase1_train.run(phase1, data, phase1_dir)
  return _run_phase2(phase2, data, phase2_dir)


def _validate(view: ml_collections.ConfigDict) -> None:
  """Raises ValueError for a bad setting of a phase's view, a batch size
  that the devices of the mesh cannot share evenly included."""
  {"phase1": phase1_config.validate,
   "phase2": phase2_config.validate}[view.phase](view)
  distributed.training_mesh(view)


def _run_phase2(view: ml_collections.ConfigDict, data: prepared.PreparedData,
                workdir: pathlib.Path) -> dict[str, Any]:
  """Phase 2, then the model bundle of the run (`<workdir>/model`)."""
  out = phase2_train.run(view, data, workdir)
  out["model_path"] = str(bundle.export(workdir,
                                        input_dim=data.emb_TxD.shape[1]))
  absl_logging.info("Model bundle: %s", out["model_path"])
  return out


def quiet_library_logs() -> None:
  """Drops Orbax's per-save INFO lines from the absl log; warnings stay."""
  def keep(record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING
            or f"{os.sep}orbax{os.sep}" not in record.pathname)
  absl_logging.get_absl_handler().addFilter(keep)
