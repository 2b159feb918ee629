"""Ontology-aware vs vanilla CACL over several seeds: mean ± std of every metric.

The method's claim is that ESCO-guided negatives and ontology weights (§5.6,
§5.7) beat plain contrastive pretraining; single runs differ by up to ±0.04
AUC between seeds, so the comparison runs the whole pipeline per (variant,
seed) and reports each metric's mean ± sample standard deviation, and the
mean ± std of the per-seed difference ontology − vanilla (paired: both
variants share the data and the seed). The data set stays fixed
(`config.data.seed`); `config.seed` changes initialisation, batch order,
dropout and negative sampling.
"""

from __future__ import annotations

import copy
import math
import pathlib
from typing import Any, Callable, Mapping, Sequence

import ml_collections
import numpy as np

from cacl_jax.common import files
from cacl_jax.evaluation import report
from cacl_jax.phase1 import config as phase1_config

VARIANTS = ("ontology", "vanilla")
JSON_NAME = "comparison.json"
MARKDOWN_NAME = "comparison.md"

RunFn = Callable[[ml_collections.ConfigDict, pathlib.Path], Mapping[str, Any]]

_SUMMARY_FIELDS = [f for f in report.PhaseSummary.__dataclass_fields__
                   if f != "score_kind"]
_CLASSIFICATION_FIELDS = ("accuracy", "precision", "recall", "f1")


def variant_config(config: ml_collections.ConfigDict, variant: str,
                   seed: int) -> ml_collections.ConfigDict:
  """A copy of an end-to-end config for one variant and seed.

  The variant sets what distinguishes `phase1_fields(vanilla=...)`: the
  negative strategy and whether ontology weights are used.
  """
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; expected one of "
                     f"{VARIANTS}")
  if config.phase != "all":
    raise ValueError("the comparison needs an end-to-end config "
                     f"(phase 'all', e.g. configs/default.py), got phase "
                     f"{config.phase!r}")
  c = copy.deepcopy(config)
  reference = phase1_config.phase1_fields(vanilla=variant == "vanilla")
  with c.unlocked():
    c.seed = int(seed)
    c.phase1.negatives.strategy = reference.negatives.strategy
    c.phase1.weighting.enabled = reference.weighting.enabled
  return c


def run_metrics(phase2_eval: Mapping[str, Any]) -> dict[str, float]:
  """The scalar metrics of one end-to-end run, from its phase2_eval.json."""
  out = {}
  phase1 = phase2_eval.get("phase1_summary") or {}
  for name in _SUMMARY_FIELDS:
    if phase1.get(name) is not None:
      out[f"phase1/{name}"] = float(phase1[name])
  for name in _SUMMARY_FIELDS:
    value = phase2_eval["summary"].get(name)
    out[f"phase2/{name}"] = np.nan if value is None else float(value)
  for cut in ("at_default", "at_tuned"):
    for name in _CLASSIFICATION_FIELDS:
      value = phase2_eval["test"][cut][name]
      out[f"phase2/test_{cut}/{name}"] = (np.nan if value is None
                                          else float(value))
  out["phase2/threshold_tuned"] = float(phase2_eval["threshold"]["tuned"])
  return out


def _stats(values: Sequence[float]) -> dict[str, float]:
  v = np.asarray(values, np.float64)
  v = v[~np.isnan(v)]
  return {"mean": float(v.mean()) if v.size else math.nan,
          "std": float(v.std(ddof=1)) if v.size > 1 else math.nan,
          "n": int(v.size)}


def aggregate(runs: Mapping[str, Mapping[int, Mapping[str, float]]]
              ) -> dict[str, Any]:
  """Mean ± std per variant and of the paired difference ontology − vanilla.

  `runs[variant][seed]` holds `run_metrics` of one run. The standard
  deviation is the sample one (ddof 1); NaN with a single value.
  """
  out: dict[str, Any] = {"variants": {}}
  for variant, by_seed in runs.items():
    names = sorted({k for m in by_seed.values() for k in m})
    out["variants"][variant] = {
        "seeds": sorted(by_seed),
        "metrics": {k: _stats([m.get(k, math.nan) for m in by_seed.values()])
                    for k in names}}
  if all(v in runs for v in VARIANTS):
    a, b = (runs[v] for v in VARIANTS)
    seeds = sorted(set(a) & set(b))
    names = sorted(set.intersection(*(set(a[s]) & set(b[s]) for s in seeds))
                   if seeds else set())
    out["difference"] = {
        "label": f"{VARIANTS[0]} - {VARIANTS[1]}", "seeds": seeds,
        "metrics": {k: _stats([a[s][k] - b[s][k] for s in seeds])
                    for k in names}}
  return out


def _cell(stats: Mapping[str, float] | None, signed: bool = False) -> str:
  if not stats or math.isnan(stats["mean"]):
    return "—"
  mean = f"{stats['mean']:+.3f}" if signed else f"{stats['mean']:.3f}"
  if math.isnan(stats["std"]):
    return mean
  return f"{mean} ± {stats['std']:.3f}"


def comparison_markdown(result: Mapping[str, Any]) -> str:
  variants = result["variants"]
  diff = result.get("difference")
  names = sorted({k for v in variants.values() for k in v["metrics"]})
  header = [f"{v} (n={len(variants[v]['seeds'])})" for v in variants]
  if diff:
    header.append(f"{diff['label']} (paired, n={len(diff['seeds'])})")
  lines = ["# CACL variants: ontology-aware vs vanilla", "",
           "Mean ± sample std over seeds of every metric of the end-to-end "
           "run (Phase 1 on the validation split, Phase 2 on the test split; "
           "F1 at the threshold tuned on validation unless marked "
           "`at_default`). The last column is the mean ± std of the per-seed "
           "difference.", "",
           "| Metric | " + " | ".join(header) + " |",
           "|---" * (len(header) + 1) + "|"]
  for name in names:
    cells = [_cell(variants[v]["metrics"].get(name)) for v in variants]
    if diff:
      cells.append(_cell(diff["metrics"].get(name), signed=True))
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def compare(config: ml_collections.ConfigDict, seeds: Sequence[int],
            workdir: str | pathlib.Path, run_fn: RunFn,
            variants: Sequence[str] = VARIANTS) -> dict[str, Any]:
  """Runs every (variant, seed) in `<workdir>/<variant>/seed_<seed>` and compares.

  `run_fn(config, run_dir)` runs the end-to-end pipeline (e.g.
  `run.train_and_evaluate`) and returns the content of its
  phase2_eval.json. Runs resume from their checkpoints, so an interrupted
  comparison continues where it stopped. Writes
  `comparison.json` and `comparison.md` into `workdir`.
  """
  workdir = pathlib.Path(workdir)
  runs: dict[str, dict[int, dict[str, float]]] = {}
  for seed in seeds:
    for variant in variants:
      run_dir = workdir / variant / f"seed_{seed}"
      result = run_fn(variant_config(config, variant, seed), run_dir)
      runs.setdefault(variant, {})[int(seed)] = run_metrics(result)
  result = aggregate(runs)
  result["runs"] = runs
  workdir.mkdir(parents=True, exist_ok=True)
  files.write_json(workdir / JSON_NAME, result)
  markdown = comparison_markdown(result).encode("utf-8")
  files.atomic_write(workdir / MARKDOWN_NAME, lambda f: f.write(markdown))
  return dict(result, json_path=str(workdir / JSON_NAME),
              markdown_path=str(workdir / MARKDOWN_NAME))
