"""scripts/train.py end to end: the phase-1 smoke command."""

import json
import os
import pathlib
import subprocess
import sys

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
               "--config.train.epochs=1", "--config.train.learning_rate=1e-3")
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
               "--config.train.epochs=1", "--config.train.learning_rate=1e-2")
  assert out.returncode != 0
  assert "train.learning_rate: 0.001 → 0.01" in out.stderr
  assert "--overwrite" in out.stderr
  # ...until the old run is deleted explicitly.
  out = _train(tmp_path, "phase1.py:smoke", f"--workdir={workdir}",
               "--config.train.epochs=1", "--config.train.learning_rate=1e-2",
               "--overwrite")
  assert out.returncode == 0, out.stderr[-3000:]
  assert json.loads((workdir / "config.json").read_text())["train"][
      "learning_rate"] == 1e-2


def test_a_phase_field_without_its_phase_prefix_is_explained(tmp_path):
  out = _train(tmp_path, "default.py:smoke", "--config.train.epochs=1",
               f"--workdir={tmp_path / 'work'}")
  assert out.returncode == 1
  assert ("--config.train.epochs: the config has no field 'train'. In "
          "configs/default.py (both phases) phase settings live under phase1. "
          "and phase2.: write --config.phase1.train.epochs=… or "
          "--config.phase2.train.epochs=…") in out.stderr
  out = _train(tmp_path, "phase1.py:smoke", "--config.phase1.train.epochs=1")
  assert out.returncode == 1
  assert "fields sit at the top level: write --config.train.epochs=…" in \
      out.stderr
  assert not (tmp_path / "work").exists()
