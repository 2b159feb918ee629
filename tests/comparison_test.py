"""experiments.comparison: configs per variant, mean ± std by hand, orchestration."""

import importlib.util
import json
import math
import pathlib

import pytest

from cacl_jax.experiments import comparison

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _default_config(arg=None):
  spec = importlib.util.spec_from_file_location("default_config",
                                                ROOT / "configs/default.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg)
  config.lock()
  return config


def test_variant_config():
  base = _default_config("smoke,vanilla")
  ontology = comparison.variant_config(base, "ontology", 7)
  vanilla = comparison.variant_config(base, "vanilla", 8)
  assert (ontology.seed, vanilla.seed, base.seed) == (7, 8, 0)
  assert ontology.phase1.negatives.strategy == "ontology"
  assert ontology.phase1.weighting.enabled
  assert vanilla.phase1.negatives.strategy == "random"
  assert not vanilla.phase1.weighting.enabled
  assert base.phase1.negatives.strategy == "random"  # not modified
  with pytest.raises(ValueError, match="unknown variant"):
    comparison.variant_config(base, "fancy", 0)


def _fake_eval(auc, f1=0.5):
  summary = {f: None for f in comparison._SUMMARY_FIELDS}
  summary.update(auc_roc=auc, f1=f1)
  cut = {"accuracy": 0.7, "precision": 0.6, "recall": 0.5, "f1": f1}
  return {"summary": summary, "phase1_summary": {"auc_roc": auc - 0.1},
          "test": {"at_default": cut, "at_tuned": cut},
          "threshold": {"tuned": 0.4}}


def test_aggregate_hand_computed():
  runs = {"ontology": {s: comparison.run_metrics(_fake_eval(a))
                       for s, a in zip((0, 1, 2), (0.80, 0.82, 0.78))},
          "vanilla": {s: comparison.run_metrics(_fake_eval(a))
                      for s, a in zip((0, 1, 2), (0.75, 0.79, 0.74))}}
  out = comparison.aggregate(runs)
  auc = out["variants"]["ontology"]["metrics"]["phase2/auc_roc"]
  assert auc["mean"] == pytest.approx(0.80)
  # Sample std: sqrt((0² + 0.02² + 0.02²) / 2) = 0.02.
  assert auc["std"] == pytest.approx(0.02) and auc["n"] == 3
  auc = out["variants"]["vanilla"]["metrics"]["phase2/auc_roc"]
  assert auc["mean"] == pytest.approx(0.76)
  assert auc["std"] == pytest.approx(math.sqrt((0.01**2 + 0.03**2
                                                + 0.02**2) / 2))
  diff = out["difference"]["metrics"]["phase2/auc_roc"]
  # Per-seed differences 0.05, 0.03, 0.04.
  assert diff["mean"] == pytest.approx(0.04)
  assert diff["std"] == pytest.approx(0.01)
  assert out["difference"]["metrics"]["phase1/auc_roc"]["mean"] == (
      pytest.approx(0.04))
  # Metrics a run does not have (None) give NaN, not a crash.
  assert out["variants"]["vanilla"]["metrics"]["phase2/job_map"]["n"] == 0

  text = comparison.comparison_markdown(out)
  assert "| phase2/auc_roc | 0.800 ± 0.020 | 0.760 ± 0.026 | +0.040 ± 0.010 |" \
      in text
  assert "| phase2/job_map | — | — | — |" in text


def test_compare_runs_every_variant_and_seed(tmp_path):
  calls = []

  def fake_run(config, run_dir):
    calls.append((config.phase1.negatives.strategy, config.seed,
                  run_dir.relative_to(tmp_path).as_posix()))
    bonus = 0.05 if config.phase1.negatives.strategy == "ontology" else 0
    return _fake_eval(0.7 + bonus + 0.01 * config.seed)

  out = comparison.compare(_default_config("smoke"), [0, 1], tmp_path,
                           fake_run)
  assert calls == [("ontology", 0, "ontology/seed_0"),
                   ("random", 0, "vanilla/seed_0"),
                   ("ontology", 1, "ontology/seed_1"),
                   ("random", 1, "vanilla/seed_1")]
  saved = json.loads((tmp_path / "comparison.json").read_text(),
                     parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
  diff = saved["difference"]["metrics"]["phase2/auc_roc"]
  assert diff["mean"] == pytest.approx(0.05) and diff["std"] == pytest.approx(0)
  assert saved["runs"]["vanilla"]["1"]["phase2/auc_roc"] == pytest.approx(0.71)
  assert out["markdown_path"] == str(tmp_path / "comparison.md")
  assert "ontology (n=2)" in (tmp_path / "comparison.md").read_text()


def test_needs_end_to_end_config():
  spec = importlib.util.spec_from_file_location("phase2_config",
                                                ROOT / "configs/phase2.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  with pytest.raises(ValueError, match="end-to-end"):
    comparison.variant_config(module.get_config(), "vanilla", 0)
