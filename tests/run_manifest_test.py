"""Workdir run records: a resume with other data or settings is refused."""

import json

import ml_collections
import pytest

from cacl_jax.common import run_manifest


def _config(lr=1e-3, log_every=1):
  return ml_collections.ConfigDict({
      "seed": 0, "train": {"learning_rate": lr, "log_every": log_every,
                           "ratios": (0.2, 0.8)},
      "data": {"cache_dir": "/a"}})


def test_fresh_run_writes_config_and_run_record(tmp_path):
  run = run_manifest.start_run(tmp_path, _config(), "f" * 64,
                               {"phase1_run_id": "abc"})
  saved = json.loads((tmp_path / "config.json").read_text())
  assert saved == {"seed": 0, "train": {"learning_rate": 1e-3, "log_every": 1,
                                        "ratios": [0.2, 0.8]},
                   "data": {"cache_dir": "/a"}}
  assert json.loads((tmp_path / "run.json").read_text()) == run
  assert run["data_fingerprint"] == "f" * 64
  assert run["links"] == {"phase1_run_id": "abc"}
  assert len(run["run_id"]) == 32


def test_same_run_resumes_with_its_id_and_resumable_fields_may_change(
    tmp_path):
  first = run_manifest.start_run(tmp_path, _config(), "f" * 64)
  config = _config(log_every=10)
  config.data.cache_dir = "/elsewhere"
  again = run_manifest.start_run(tmp_path, config, "f" * 64)
  assert again["run_id"] == first["run_id"]
  assert json.loads((tmp_path / "config.json").read_text())[
      "train"]["log_every"] == 10


def test_device_count_and_checkpoint_interval_may_change_on_resume(tmp_path):
  config = _config()
  config.mesh = {"data": 0}
  config.checkpoint = {"every_steps": 0}
  first = run_manifest.start_run(tmp_path, config, "f" * 64)
  config.mesh.data, config.checkpoint.every_steps = 8, 5
  assert run_manifest.start_run(tmp_path, config, "f" * 64)["run_id"] == \
      first["run_id"]


def test_check_run_writes_nothing(tmp_path):
  run = run_manifest.check_run(tmp_path, _config(), "f" * 64)
  assert list(tmp_path.iterdir()) == []
  run_manifest.write_run(tmp_path, _config(), run)
  assert json.loads((tmp_path / "run.json").read_text()) == run
  with pytest.raises(run_manifest.RunMismatch, match="learning_rate"):
    run_manifest.check_run(tmp_path, _config(lr=0.1), "f" * 64)


def test_changed_setting_or_data_is_named_with_the_way_out(tmp_path):
  run_manifest.start_run(tmp_path, _config(), "a" * 64)
  with pytest.raises(run_manifest.RunMismatch) as e:
    run_manifest.start_run(tmp_path, _config(lr=1e-4), "b" * 64)
  message = str(e.value)
  assert str(tmp_path) in message
  assert "train.learning_rate: 0.001 → 0.0001" in message
  assert f"data fingerprint: {'a' * 16} → {'b' * 16}" in message
  assert "--workdir=NEW_DIR" in message and "--overwrite" in message
  # The refused run changed nothing on disk.
  assert json.loads((tmp_path / "config.json").read_text())[
      "train"]["learning_rate"] == 1e-3


def test_added_field_and_changed_link_are_differences(tmp_path):
  run_manifest.start_run(tmp_path, _config(), "a" * 64, {"phase1_run_id": "x"})
  config = _config()
  config.train.new_field = 3
  with pytest.raises(run_manifest.RunMismatch,
                     match=r"train.new_field: '<absent>' → 3"):
    run_manifest.start_run(tmp_path, config, "a" * 64, {"phase1_run_id": "x"})
  with pytest.raises(run_manifest.RunMismatch,
                     match=r"phase1_run_id: 'x' → 'y'"):
    run_manifest.start_run(tmp_path, _config(), "a" * 64,
                           {"phase1_run_id": "y"})


def test_checkpoints_without_a_record_and_a_damaged_record_are_refused(
    tmp_path):
  (tmp_path / "checkpoints" / "3").mkdir(parents=True)
  with pytest.raises(run_manifest.RunMismatch,
                     match="holds checkpoints but no run.json"):
    run_manifest.start_run(tmp_path, _config(), "a" * 64)
  (tmp_path / "run.json").write_text("{trunc")
  with pytest.raises(run_manifest.RunMismatch, match="run.json is damaged"):
    run_manifest.start_run(tmp_path, _config(), "a" * 64)


def test_require_same_data(tmp_path):
  with pytest.raises(run_manifest.RunMismatch,
                     match="the Phase-1 run .* has no run.json"):
    run_manifest.require_same_data(tmp_path, "a" * 64, "the Phase-1 run")
  run = run_manifest.start_run(tmp_path, _config(), "a" * 64)
  assert run_manifest.require_same_data(tmp_path, "a" * 64, "x") == run
  with pytest.raises(run_manifest.RunMismatch,
                     match=f"trained on other data .*{'a' * 16}.*{'b' * 16}"):
    run_manifest.require_same_data(tmp_path, "b" * 64, "the Phase-1 run")


def test_remove_run_deletes_only_a_workdir_of_ours(tmp_path):
  assert not run_manifest.remove_run(tmp_path / "absent")
  foreign = tmp_path / "photos"
  foreign.mkdir()
  (foreign / "cat.jpg").write_bytes(b"\xff")
  with pytest.raises(run_manifest.RunMismatch, match="not deleting it"):
    run_manifest.remove_run(foreign)
  assert (foreign / "cat.jpg").exists()
  ours = tmp_path / "run"
  run_manifest.start_run(ours / "phase1", _config(), "a" * 64)
  assert run_manifest.remove_run(ours)
  assert not ours.exists()
