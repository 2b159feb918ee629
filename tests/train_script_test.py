"""scripts/train.py end to end: the phase-1 smoke command."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[1]


def test_phase1_smoke_command_trains_and_evaluates(tmp_path):
  workdir = tmp_path / "work"
  env = dict(os.environ, CACL_CACHE_DIR=str(tmp_path / "cache"),
             PYTHONPATH=os.pathsep.join(
                 [str(ROOT), os.environ.get("PYTHONPATH", "")]))
  out = subprocess.run(
      [sys.executable, str(ROOT / "scripts" / "train.py"),
       f"--config={ROOT / 'configs' / 'phase1.py'}:smoke",
       f"--workdir={workdir}", "--config.train.epochs=1",
       "--config.train.learning_rate=1e-3"],
      env=env, capture_output=True, text=True, check=False)
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
