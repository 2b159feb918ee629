"""experiments.run: per-phase views, data prepared once for both phases,
checks before the preparation, library log filter."""

import json
import logging

from absl import logging as absl_logging
import pytest

import phase2_synthetic
import synthetic_data
from cacl_jax import pipeline
from cacl_jax.common import checkpoints, files, run_manifest
from cacl_jax.experiments import config as experiment_config
from cacl_jax.experiments import run


def test_phase_config_lifts_shared_fields():
  c = experiment_config.build("all")
  c.seed = 7
  c.data.num_pairs = 123
  c.phase2.train.pos_weight = 1.0
  c.lock()
  p1 = run.phase_config(c, "phase1")
  assert p1.phase == "phase1" and p1.seed == 7
  assert p1.data.num_pairs == 123
  assert p1.encoder.model == c.encoder.model
  assert p1.train.learning_rate == pytest.approx(8.5e-5)
  assert "phase2" not in p1 and "phase1" not in p1
  p2 = run.phase_config(c, "phase2", phase1_workdir="/w/phase1")
  assert p2.phase == "phase2" and p2.seed == 7
  assert p2.phase1_workdir == "/w/phase1" and p2.train.pos_weight == 1.0
  assert c.phase2.phase1_workdir == "workdirs/phase1"  # input untouched
  p1.train.epochs = 1  # the result is a free, editable copy
  assert c.phase1.train.epochs == 15


def test_phase_config_unknown_phase():
  with pytest.raises(KeyError, match="phase3"):
    run.phase_config(experiment_config.build("all"), "phase3")


class _FakePreparation:
  """Stands in for pipeline.prepare_data: synthetic data, a summary file."""

  def __init__(self, data):
    self.data = data
    self.calls = []

  def __call__(self, config, workdir=None):
    self.calls.append(workdir)
    files.write_json(workdir / "data_summary.json", {"source": "synthetic"})
    return self.data


@pytest.fixture
def prepare(monkeypatch):
  fake = _FakePreparation(synthetic_data.make_prepared(dim=32, signal=0.3))
  monkeypatch.setattr(pipeline, "prepare_data", fake)
  return fake


def _config(phase):
  c = experiment_config.build(phase, "smoke")
  c.phase1.train.epochs = 1
  c.phase2.train.epochs = 1
  return c


def test_all_prepares_the_data_once_for_both_phases(tmp_path, prepare):
  out = run.train_and_evaluate(_config("all"), tmp_path)
  phase1_dir, phase2_dir = tmp_path / "phase1", tmp_path / "phase2"
  assert prepare.calls == [phase1_dir]
  for workdir in (phase1_dir, phase2_dir):
    assert json.loads((workdir / "data_summary.json").read_text()) == {
        "source": "synthetic"}
  assert (phase1_dir / "phase1_eval.json").is_file()
  assert out["report_path"] == str(phase2_dir / "report.md")
  # Phase 2 built on this run's Phase 1, not on phase2.phase1_workdir.
  phase2_config = json.loads((phase2_dir / "config.json").read_text())
  assert phase2_config["phase1_workdir"] == str(phase1_dir)
  assert run_manifest.read_run(phase2_dir)["links"]["phase1_run_id"] == \
      run_manifest.read_run(phase1_dir)["run_id"]


def test_phase1_runs_in_the_workdir_itself(tmp_path, prepare):
  out = run.train_and_evaluate(_config("phase1"), tmp_path)
  assert prepare.calls == [tmp_path]
  assert out["eval_path"] == str(tmp_path / "phase1_eval.json")
  assert (tmp_path / "data_summary.json").is_file()
  assert json.loads((tmp_path / "config.json").read_text())["phase"] == \
      "phase1"


def test_phase2_needs_a_phase1_run_before_the_data_are_prepared(tmp_path,
                                                                prepare):
  config = _config("phase2")
  config.phase2.phase1_workdir = str(tmp_path / "p1")
  with pytest.raises(checkpoints.CheckpointError,
                     match="no Phase-1 checkpoints"):
    run.train_and_evaluate(config, tmp_path / "p2")
  phase2_synthetic.write_phase1_checkpoint(tmp_path / "p1",
                                           phase2_synthetic.make_data())
  (tmp_path / "p1" / run_manifest.CONFIG_FILE).unlink()
  with pytest.raises(run_manifest.RunMismatch, match="train Phase 1 again"):
    run.train_and_evaluate(config, tmp_path / "p2")
  assert prepare.calls == []


@pytest.mark.parametrize("phase, field, message", [
    ("phase1", "phase1", "train.epochs"),
    ("phase2", "phase2", "train.epochs"),
    ("all", "phase2", "train.epochs"),
])
def test_bad_settings_fail_before_the_data_are_prepared(tmp_path, prepare,
                                                        phase, field,
                                                        message):
  config = _config(phase)
  config[field].train.epochs = 0
  with pytest.raises(ValueError, match=message):
    run.train_and_evaluate(config, tmp_path)
  assert prepare.calls == []


def test_unknown_phase(tmp_path, prepare):
  config = _config("all")
  config.phase = "phase3"
  with pytest.raises(ValueError, match="phase3"):
    run.train_and_evaluate(config, tmp_path)


def test_quiet_library_logs_drops_orbax_info_only():
  run.quiet_library_logs()
  handler = absl_logging.get_absl_handler()

  def record(level, path):
    return logging.LogRecord("absl", level, path, 1, "message", None, None)

  orbax_file = "/site-packages/orbax/checkpoint/manager.py"
  assert not handler.filter(record(logging.INFO, orbax_file))
  assert handler.filter(record(logging.WARNING, orbax_file))
  assert handler.filter(record(logging.INFO, "/work/cacl_jax/pipeline.py"))
