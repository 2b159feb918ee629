r"""Ontology-aware vs vanilla CACL over several seeds: mean ± std of every metric.

  python scripts/compare_variants.py [--config=configs/default.py] \
      [--seeds=0,1,2] [--workdir=workdirs/compare]

Runs Phase 1 and Phase 2 for each seed and each variant (ontology: ESCO
curriculum negatives and ontology weights; vanilla: random negatives, no
weights) in `<workdir>/<variant>/seed_<seed>/{phase1,phase2}`, then writes
`<workdir>/comparison.json` and `<workdir>/comparison.md`. Both variants
use the same data and seeds, so the difference column is paired. Config
overrides apply to every run, e.g. --config.phase1.train.epochs=5; a quick
check: --config=configs/default.py:smoke --seeds=0,1.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from cacl_jax.experiments import comparison, run

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/default.py", "End-to-end config (phase 'all').",
    lock_config=True)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run.")
_VARIANTS = flags.DEFINE_list("variants", list(comparison.VARIANTS),
                              "Variants to run.")
_WORKDIR = flags.DEFINE_string("workdir", "workdirs/compare",
                               "Output folder.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  run.quiet_library_logs()
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError as e:
    raise app.UsageError(f"--seeds must be integers: {e}") from e
  result = comparison.compare(_CONFIG.value, seeds, _WORKDIR.value,
                              run.train_and_evaluate, _VARIANTS.value)
  logging.info("comparison written to %s", result["json_path"])
  print(f"comparison: {result['markdown_path']}")


if __name__ == "__main__":
  app.run(main)
