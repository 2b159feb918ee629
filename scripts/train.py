r"""Trains and evaluates CACL: phase 1, phase 2, or both in sequence.

  python scripts/train.py --config=configs/phase1.py [--workdir=DIR] \
      [--config.train.learning_rate=1e-4 ...]

`config.phase` picks what runs: "phase1" (contrastive pretraining, §5),
"phase2" (classification fine-tuning, §6) or "all" (phase 1 in
`<workdir>/phase1`, then phase 2 on its best checkpoint in
`<workdir>/phase2`). The default workdir is `workdirs/<phase>`. Runs on
whatever JAX's default backend is (CPU, GPU or TPU); an interrupted run
continues from its latest checkpoint when started again with the same
workdir (with the same data and training settings: a workdir records them,
and a run that differs is refused; `--overwrite` deletes the old run first).
Compiled programs are cached under the data cache folder.
"""

import pathlib
import re
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from cacl_jax import pipeline
from cacl_jax.common import phases, run_manifest
from cacl_jax.phase1 import train as phase1_train
from cacl_jax.phase2 import train as phase2_train

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


def _unknown_field_hint(argv: list[str], missing: str) -> str:
  """Which --config.* override names a missing field, and where it lives."""
  for arg in argv:
    match = re.match(r"--config\.([\w.]+)", arg)
    if match and missing in match.group(1).split("."):
      path = match.group(1)
      hint = (f"{arg.split('=')[0]}: the config has no field {missing!r}.")
      if not path.startswith(("phase1.", "phase2.")):
        hint += (f" In configs/default.py (both phases) phase settings live "
                 f"under phase1. and phase2.: write --config.phase1.{path}=… "
                 f"or --config.phase2.{path}=…; data, encoder and seed are "
                 "shared at the top level.")
      else:
        rest = path.split(".", 1)[1]
        hint += (" In a one-phase config (configs/phase1.py, "
                 "configs/phase2.py) fields sit at the top level: write "
                 f"--config.{rest}=….")
      return hint
  return f"the config has no field {missing!r}"


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that turns an unknown config field into a usage error."""
  try:
    return flags.FLAGS(argv)
  except KeyError as e:
    missing = str(e.args[0]).strip("'\"").split("'")[0]
    print(f"FATAL Flags parsing error: {_unknown_field_hint(argv, missing)}",
          file=sys.stderr)
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
  workdir = pathlib.Path(_WORKDIR.value or f"workdirs/{config.phase}")
  phases.quiet_library_logs()
  logging.info("JAX backend %s, devices %s", jax.default_backend(),
               jax.devices())
  pipeline.enable_compilation_cache(pipeline.cache_root(config.data))
  if _OVERWRITE.value and run_manifest.remove_run(workdir):
    logging.warning("--overwrite: deleted the earlier run in %s", workdir)
  if config.phase == "phase1":
    result = phase1_train.train_and_evaluate(config, workdir)
    print(f"phase 1 AUC-ROC {result['auc_roc']:.4f}; {result['eval_path']}")
  elif config.phase == "phase2":
    result = phase2_train.train_and_evaluate(config, workdir)
    print(f"report: {result['report_path']}")
  elif config.phase == "all":
    result = phases.run_end_to_end(config, workdir)
    print(f"report: {result['report_path']}")
  else:
    raise app.UsageError(f"config.phase must be phase1, phase2 or all, got "
                         f"{config.phase!r}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
