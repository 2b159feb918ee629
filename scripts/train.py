r"""Trains and evaluates CACL: phase 1, phase 2, or both in sequence.

  python scripts/train.py --config=configs/phase1.py [--workdir=DIR] \
      [--config.phase1.train.learning_rate=1e-4 ...]

`config.phase` picks what runs: "phase1" (contrastive pretraining, §5),
"phase2" (classification fine-tuning, §6) or "all" (phase 1 in
`<workdir>/phase1`, then phase 2 on its best checkpoint in
`<workdir>/phase2`); the data are prepared once. Every config file has the
same shape, so a setting has one flag path: --config.phase1.… and
--config.phase2.… for the phases, --config.data.…, --config.encoder.… and
--config.seed shared. The default workdir is `workdirs/<phase>`. Runs on
whatever JAX's default backend is (CPU, GPU or TPU); an interrupted run
continues from its latest checkpoint when started again with the same
workdir (with the same data and training settings: a workdir records them,
and a run that differs is refused; `--overwrite` deletes the old run first).
On SIGTERM, training stops at its next checkpoint (every
`--config.phaseN.checkpoint.every_steps` steps, or at the epoch's end when
that is 0), prints "phase N preempted at step S; rerun the same command to
resume" and exits with status 75 (`training_loop.PREEMPTED_EXIT_CODE`).
Compiled programs are cached under the data cache folder.

Both phases train data-parallel over all devices JAX sees (or
--config.mesh.data of them; each batch size must be a multiple of it). A
run over several processes (GPU hosts, a TPU slice) starts the same command
in every process with --config.distributed.coordinator_address,
.num_processes and .process_id (or $JAX_COORDINATOR_ADDRESS,
$JAX_NUM_PROCESSES, $JAX_PROCESS_ID; --config.distributed.auto_detect=true
on a Cloud TPU slice, Slurm or Open MPI); process 0 writes the outputs.
"""

import pathlib
import re
import sys

import jax
from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from cacl_jax import pipeline
from cacl_jax.common import distributed, run_manifest, training_loop
from cacl_jax.experiments import config as experiment_config
from cacl_jax.experiments import run

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/phase1.py or "
    "configs/phase1.py:smoke.", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output folder (checkpoints, metrics, evaluation); "
    "default workdirs/<phase>.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Delete the workdir's earlier run (checkpoints, "
    "logs, reports) and train from scratch.")
flags.mark_flags_as_required(["config"])


def _sections_with(path: str) -> list[str]:
  """The phase sections whose default fields include the dotted `path`."""
  defaults = experiment_config.build("all")
  found = []
  for section in ("phase1", "phase2"):
    node = defaults[section]
    for name in path.split("."):
      node = (node.get(name)
              if isinstance(node, ml_collections.ConfigDict) else None)
    if node is not None:
      found.append(section)
  return found


def _unknown_field_hint(argv: list[str], missing: str) -> str | None:
  """Which --config.* override names a missing field, and where it lives;
  None when no override names it."""
  for arg in argv:
    match = re.match(r"--config\.([\w.]+)", arg)
    if match and missing in match.group(1).split("."):
      path = match.group(1)
      hint = f"{arg.split('=')[0]}: the config has no field {missing!r}."
      if not path.startswith(("phase1.", "phase2.")):
        hint += (" Every config file has the same shape: phase settings "
                 "live under phase1. and phase2. (data, encoder and seed are "
                 "shared at the top level)")
        sections = _sections_with(path)
        hint += (", so write " + " or ".join(f"--config.{s}.{path}=…"
                                             for s in sections) + "."
                 if sections else ".")
      return hint
  return None


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that turns an unknown config field into a usage error."""
  try:
    return flags.FLAGS(argv)
  except (KeyError, AttributeError) as e:
    # ml_collections raises KeyError for a missing nested field and
    # AttributeError for a missing top-level one.
    missing = str(e.args[0]).strip("'\"").split("'")[0] if e.args else ""
    hint = _unknown_field_hint(argv, missing)
    if hint is None:
      raise
    print(f"FATAL Flags parsing error: {hint}", file=sys.stderr)
    sys.exit(1)
  except flags.Error as e:
    print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
    print("Pass --helpshort or --helpfull to see help on flags.",
          file=sys.stderr)
    sys.exit(1)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  if config.phase not in experiment_config.PHASES:
    raise app.UsageError(f"config.phase must be one of "
                         f"{experiment_config.PHASES}, got {config.phase!r}")
  workdir = pathlib.Path(_WORKDIR.value or f"workdirs/{config.phase}")
  run.quiet_library_logs()
  distributed.initialize(config)
  logging.info("JAX backend %s, process %d of %d, devices %s",
               jax.default_backend(), jax.process_index(),
               jax.process_count(), jax.devices())
  pipeline.enable_compilation_cache(pipeline.cache_root(config.data))
  if (_OVERWRITE.value and distributed.is_main_process()
      and run_manifest.remove_run(workdir)):
    logging.warning("--overwrite: deleted the earlier run in %s", workdir)
  distributed.barrier("workdir ready")
  try:
    result = run.train_and_evaluate(config, workdir)
  except training_loop.Preempted as e:
    print(e, file=sys.stderr)
    sys.exit(training_loop.PREEMPTED_EXIT_CODE)
  if not distributed.is_main_process():
    return
  if config.phase == "phase1":
    print(f"phase 1 AUC-ROC {result['auc_roc']:.4f}; {result['eval_path']}")
  else:
    print(f"report: {result['report_path']}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
