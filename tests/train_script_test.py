"""scripts/train.py end to end: smoke commands, refused resumes, flag hints."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from cacl_jax.serving import bundle

ROOT = pathlib.Path(__file__).parents[1]


def _train(tmp_path, config, *flags):
  env = dict(os.environ, CACL_CACHE_DIR=str(tmp_path / "cache"),
             PYTHONPATH=os.pathsep.join(
                 [str(ROOT), os.environ.get("PYTHONPATH", "")]))
  return subprocess.run(
      [sys.executable, str(ROOT / "scripts" / "train.py"),
       f"--config={ROOT / 'configs' / config}", *flags],
      env=env, capture_output=True, text=True, check=False)


def test_phase1_smoke_command_trains_and_evaluates(tmp_path):
  workdir = tmp_path / "work"
  out = _train(tmp_path, "phase1.py:smoke", f"--workdir={workdir}",
               "--config.phase1.train.epochs=1",
               "--config.phase1.train.learning_rate=1e-3")
  assert out.returncode == 0, out.stderr[-3000:]
  assert "phase 1 AUC-ROC" in out.stdout
  result = json.loads((workdir / "phase1_eval.json").read_text())
  assert 0.0 <= result["auc_roc"] <= 1.0
  assert result["checkpoint"]["epoch"] == 1
  for rel in result["plots"].values():
    assert (workdir / rel).is_file()
  assert (workdir / "metrics.jsonl").is_file()
  assert (workdir / "data_summary.json").is_file()
  assert list((workdir / "tensorboard").iterdir())
  assert list((tmp_path / "cache" / "jax").iterdir())  # compilation cache

  assert json.loads((workdir / "config.json").read_text())["train"][
      "learning_rate"] == 1e-3

  # The same workdir with another learning rate is refused, not resumed...
  out = _train(tmp_path, "phase1.py:smoke", f"--workdir={workdir}",
               "--config.phase1.train.epochs=1",
               "--config.phase1.train.learning_rate=1e-2")
  assert out.returncode != 0
  assert "train.learning_rate: 0.001 → 0.01" in out.stderr
  assert "--overwrite" in out.stderr
  # ...until the old run is deleted explicitly.
  out = _train(tmp_path, "phase1.py:smoke", f"--workdir={workdir}",
               "--config.phase1.train.epochs=1",
               "--config.phase1.train.learning_rate=1e-2", "--overwrite")
  assert out.returncode == 0, out.stderr[-3000:]
  assert json.loads((workdir / "config.json").read_text())["train"][
      "learning_rate"] == 1e-2


def test_quickstart_smoke_runs_both_phases(tmp_path):
  """configs/default.py:smoke: data prepared once, Phase 1, then Phase 2."""
  out = _train(tmp_path, "default.py:smoke", f"--workdir={tmp_path / 'run'}")
  assert out.returncode == 0, out.stderr[-3000:]
  report = tmp_path / "run" / "phase2" / "report.md"
  assert f"report: {report}" in out.stdout
  saved = json.loads((tmp_path / "run" / "phase2" / "phase2_eval.json")
                     .read_text())
  assert saved["training"]["epochs"] == 2
  assert saved["phase1_summary"]["auc_roc"] is not None
  assert "| Metric | Phase 1 | Phase 2 |" in report.read_text()
  # The run ends with its model bundle, which loads and checks.
  model = bundle.load(tmp_path / "run" / "phase2" / "model")
  assert model.threshold == saved["threshold"]["tuned"]
  summaries = [json.loads((tmp_path / "run" / phase / "data_summary.json")
                          .read_text()) for phase in ("phase1", "phase2")]
  assert summaries[0] == summaries[1]
  assert summaries[0]["splits"]["train"]["pairs"] == 320  # 80 % of 400
  # Each phase records its own section of the config.
  for phase, field in (("phase1", "negatives"), ("phase2", "phase1_workdir")):
    recorded = json.loads((tmp_path / "run" / phase / "config.json")
                          .read_text())
    assert recorded["phase"] == phase and field in recorded
    assert "phase1" not in recorded and "phase2" not in recorded


@pytest.mark.parametrize("config, flag, paths", [
    ("default.py:smoke", "--config.train.epochs=1",
     ["phase1.train.epochs", "phase2.train.epochs"]),
    ("phase1.py:smoke", "--config.train.epochs=1",
     ["phase1.train.epochs", "phase2.train.epochs"]),
    ("phase2.py:smoke", "--config.train.epochs=1",
     ["phase1.train.epochs", "phase2.train.epochs"]),
    ("phase1.py:smoke", "--config.negatives.strategy=random",
     ["phase1.negatives.strategy"]),
    ("phase2.py", "--config.phase1_workdir=elsewhere",
     ["phase2.phase1_workdir"]),
    ("phase2.py", "--config.train.epoch=1", []),
])
def test_a_phase_field_without_its_phase_prefix_is_explained(
    tmp_path, config, flag, paths):
  out = _train(tmp_path, config, flag, f"--workdir={tmp_path / 'work'}")
  assert out.returncode == 1
  name = flag.split("=")[0]
  missing = name.split(".")[1]
  suggestion = (", so write " + " or ".join(f"--config.{p}=…" for p in paths)
                if paths else "")
  assert (f"{name}: the config has no field {missing!r}. Every config file "
          "has the same shape: phase settings live under phase1. and "
          "phase2. (data, encoder and seed are shared at the top level)"
          f"{suggestion}.") in out.stderr
  assert not (tmp_path / "work").exists()
