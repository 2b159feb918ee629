"""Model bundle: export at the end of Phase 2, load round trip, damage and
identity checks, scripts/export.py."""

import json
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import phase2_synthetic
from cacl_jax import pipeline
from cacl_jax.common import training_loop
from cacl_jax.data import builtin
from cacl_jax.experiments import config as experiment_config
from cacl_jax.experiments import run as experiment_run
from cacl_jax.ontology import esco_files
from cacl_jax.phase1 import projection
from cacl_jax.phase2 import classifier, evaluate, train
from cacl_jax.serving import bundle

REPO = pathlib.Path(__file__).resolve().parents[1]
DIM = 32  # embedding width of the smoke config's tiny random encoder


@pytest.fixture(scope="module")
def data():
  return phase2_synthetic.make_data(dim=DIM)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
  """(phase-1 workdir, phase-1 params, phase-2 workdir, phase-2 config) of a
  two-epoch synthetic run."""
  phase1_dir = tmp_path_factory.mktemp("phase1")
  _, phase1_params = phase2_synthetic.write_phase1_checkpoint(
      phase1_dir, data, input_dim=DIM)
  config = experiment_run.phase_config(
      experiment_config.build("phase2", "smoke"), "phase2",
      phase1_workdir=str(phase1_dir))
  workdir = tmp_path_factory.mktemp("phase2")
  train.run(config, data, workdir)
  bundle.export(workdir, input_dim=DIM)
  return phase1_dir, phase1_params, workdir, config


@pytest.fixture()
def bundle_copy(trained, tmp_path):
  """A copy of the run's bundle that a test may damage."""
  return pathlib.Path(shutil.copytree(trained[2] / bundle.BUNDLE_DIR,
                                      tmp_path / "model"))


def _assert_trees_equal(got, want):
  flat_got = jax.tree_util.tree_leaves_with_path(got)
  flat_want = jax.tree_util.tree_leaves_with_path(want)
  assert [p for p, _ in flat_got] == [p for p, _ in flat_want]
  for (path, g), (_, w) in zip(flat_got, flat_want):
    np.testing.assert_array_equal(np.asarray(g), np.asarray(w),
                                  err_msg=jax.tree_util.keystr(path))


def test_round_trip_equals_checkpoints(trained):
  phase1_dir, phase1_params, workdir, config = trained
  loaded = bundle.load(workdir / bundle.BUNDLE_DIR)
  best, _ = training_loop.restore(
      workdir, train.create_state(config, loaded.phase1_config.model.dim))
  _assert_trees_equal(loaded.phase1_params, phase1_params)
  _assert_trees_equal(loaded.phase2_params, best.params)
  eval_json = json.loads((workdir / evaluate.EVAL_NAME).read_text())
  assert loaded.threshold == eval_json["threshold"]["tuned"]
  for phase_dir, got in ((phase1_dir, loaded.phase1_config),
                         (workdir, loaded.phase2_config)):
    assert got.to_dict() == json.loads((phase_dir / "config.json").read_text())
  assert loaded.encoder == {
      "model": "random-tiny", "dtype": "float32", "dim": DIM,
      "identity": pipeline.encoder_identity(config.encoder)}
  esco_dir = builtin.resolve_ontology_dir("builtin")
  assert loaded.ontology["fingerprint"] == \
      esco_files.locate_esco_files(esco_dir).fingerprint()
  assert loaded.ontology["path_hint"] == str(esco_dir.resolve())
  assert loaded.version == json.loads(
      (workdir / "run.json").read_text())["package_version"]


def test_bundle_reproduces_test_predictions(trained, data):
  workdir = trained[2]
  loaded = bundle.load(workdir / bundle.BUNDLE_DIR)
  config = loaded.phase2_config
  emb_TxE = projection.project(
      loaded.phase1_config.model, loaded.phase1_params, data.emb_TxD,
      normalize=config.phase1_normalized_input)
  test = data.test
  logits = classifier.predict_logits(
      config.model, loaded.phase2_params, emb_TxE,
      test.resume_row_R[test.resume_N], test.job_row_P[test.job_N])
  rows = [json.loads(line) for line in
          (workdir / evaluate.PREDICTIONS_NAME).read_text().splitlines()]
  assert [r["pair_id"] for r in rows] == list(test.pair_ids)
  np.testing.assert_allclose(logits, [r["logit"] for r in rows], rtol=0,
                             atol=1e-6)


def test_damaged_params_file_is_named(bundle_copy):
  path = bundle_copy / bundle.PHASE2_PARAMS_FILE
  raw = bytearray(path.read_bytes())
  raw[len(raw) // 2] ^= 0xFF
  path.write_bytes(bytes(raw))
  with pytest.raises(bundle.BundleError,
                     match=rf"{bundle.PHASE2_PARAMS_FILE} is damaged"):
    bundle.load(bundle_copy)


def test_missing_params_file_is_named(bundle_copy):
  (bundle_copy / bundle.PHASE1_PARAMS_FILE).unlink()
  with pytest.raises(bundle.BundleError,
                     match=rf"{bundle.PHASE1_PARAMS_FILE}: missing"):
    bundle.load(bundle_copy)


def test_ontology_checked_by_content_not_path(bundle_copy, tmp_path):
  same = shutil.copytree(builtin.resolve_ontology_dir("builtin"),
                         tmp_path / "esco_copy")
  assert bundle.load(bundle_copy, esco_dir=same).ontology["fingerprint"]
  other = shutil.copytree(same, tmp_path / "esco_other")
  skills = esco_files.locate_esco_files(other).path(esco_files.SKILLS)
  skills.write_text(skills.read_text() + "\n")
  expected = bundle.load(bundle_copy).ontology
  found = esco_files.locate_esco_files(other).fingerprint()
  with pytest.raises(bundle.BundleError) as e:
    bundle.load(bundle_copy, esco_dir=other)
  assert found[:16] in str(e.value)
  assert expected["fingerprint"][:16] in str(e.value)
  assert expected["path_hint"] in str(e.value)


def test_check_encoder(trained):
  loaded = bundle.load(trained[2] / bundle.BUNDLE_DIR)
  loaded.check_encoder(pipeline.encoder_identity(trained[3].encoder))
  with pytest.raises(bundle.BundleError) as e:
    loaded.check_encoder("other-model:sha256=0:max_len=8:dtype=float32")
  assert loaded.encoder["identity"] in str(e.value)
  assert "other-model:sha256=0" in str(e.value)


def test_export_script_on_end_to_end_layout(trained, tmp_path):
  workdir = trained[2]
  run_dir = tmp_path / "run"
  shutil.copytree(workdir, run_dir / "phase2",
                  ignore=shutil.ignore_patterns(bundle.BUNDLE_DIR))
  result = subprocess.run(
      [sys.executable, str(REPO / "scripts" / "export.py"),
       f"--workdir={run_dir}"], capture_output=True, text=True, cwd=REPO,
      check=False)
  assert result.returncode == 0, result.stderr
  out = run_dir / "phase2" / bundle.BUNDLE_DIR
  assert f"Model bundle written to {out}" in result.stdout
  exported, original = bundle.load(out), bundle.load(workdir / "model")
  _assert_trees_equal(exported.phase1_params, original.phase1_params)
  _assert_trees_equal(exported.phase2_params, original.phase2_params)
  assert exported.encoder == original.encoder
  assert exported.threshold == original.threshold


def test_export_script_names_a_folder_without_a_run(tmp_path):
  result = subprocess.run(
      [sys.executable, str(REPO / "scripts" / "export.py"),
       f"--workdir={tmp_path}"], capture_output=True, text=True, cwd=REPO,
      check=False)
  assert result.returncode != 0
  assert f"{tmp_path} holds no finished Phase-2 run" in result.stderr
