"""Prepared-data cache: round trip, fingerprint, damage, full disk, and the
rebuild through `pipeline.prepare_data`."""

import dataclasses
import importlib.util
import json
import logging
import pathlib
import re
import types

import numpy as np
import pytest

import synthetic_data
from cacl_jax import pipeline
from cacl_jax.common import files
from cacl_jax.data import prepared

ROOT = pathlib.Path(__file__).resolve().parents[1]
SUMMARY = {"source": "synthetic", "texts": 200, "splits": {"train": 60}}


def small_data(seed=0):
  return synthetic_data.make_prepared(
      seed=seed, dim=16, sizes=((60, 40, 12), (20, 15, 6), (20, 15, 6)))


def assert_same(a: prepared.PreparedData, b: prepared.PreparedData):
  np.testing.assert_array_equal(a.emb_TxD, b.emb_TxD)
  assert a.emb_TxD.dtype == b.emb_TxD.dtype
  for name in ("train", "val", "test"):
    for field in dataclasses.fields(prepared.SplitArrays):
      x, y = getattr(a.split(name), field.name), getattr(b.split(name),
                                                          field.name)
      if isinstance(x, tuple):
        assert x == y and all(type(v) is str for v in y)
      else:
        np.testing.assert_array_equal(x, y)
        assert x.dtype == y.dtype and x.shape == y.shape


def saved(tmp_path, data=None):
  path = tmp_path / "prepared" / "key.npz"
  prepared.save_cached(path, data or small_data(), SUMMARY)
  return path


def test_round_trip_keeps_every_array(tmp_path):
  data = small_data()
  path = saved(tmp_path, data)
  loaded, summary = prepared.load_cached(path)
  assert_same(data, loaded)
  assert summary == SUMMARY
  assert sorted(p.name for p in path.parent.iterdir()) == [
      "key.json", "key.lock", "key.manifest.json", "key.npz"]
  manifest = json.loads((path.parent / "key.manifest.json").read_text())
  assert manifest["format"] == prepared.CACHE_FORMAT
  assert manifest["files"]["npz"] == {
      "name": "key.npz", "size": path.stat().st_size,
      "sha256": files.sha256_file(path)}
  assert manifest["files"]["summary"]["name"] == "key.json"


def test_fingerprint_is_stable_and_sensitive(tmp_path):
  data = small_data()
  fp = prepared.fingerprint(data)
  assert len(fp) == 64 and fp == prepared.fingerprint(small_data())
  loaded, _ = prepared.load_cached(saved(tmp_path, data))
  assert prepared.fingerprint(loaded) == fp
  assert prepared.fingerprint(small_data(seed=1)) != fp
  label = data.val.label_N.copy()
  label[0] = 1 - label[0]
  changed = dataclasses.replace(
      data, val=dataclasses.replace(data.val, label_N=label))
  assert prepared.fingerprint(changed) != fp
  renamed = dataclasses.replace(data, test=dataclasses.replace(
      data.test, job_ids=("other",) + data.test.job_ids[1:]))
  assert prepared.fingerprint(renamed) != fp
  wider = dataclasses.replace(data, emb_TxD=data.emb_TxD.astype(np.float64))
  assert prepared.fingerprint(wider) != fp


def _flip_byte(path):
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0x01
  path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage,file,reason", [
    ("truncate_npz", "key.npz", r"^\d+ bytes, the manifest says \d+$"),
    ("flip_npz", "key.npz",
     r"^SHA-256 differs from the manifest \(modified or damaged\)$"),
    ("empty_summary", "key.json", r"^0 bytes, the manifest says \d+$"),
    ("delete_npz", "key.npz", r"^file missing$"),
    ("delete_manifest", "key.manifest.json",
     r"^manifest missing \(an interrupted write, or an older version's "
     r"cache\)$"),
    ("garbage_manifest", "key.manifest.json",
     r"^unreadable manifest \(JSONDecodeError: "),
    ("manifest_without_files", "key.manifest.json",
     r"^unreadable manifest \(KeyError: 'files'\)$"),
    ("old_format", "key.manifest.json",
     r"^format 'prepared-cache/0', expected 'prepared-cache/1'$"),
])
def test_damage_is_detected(tmp_path, damage, file, reason):
  path = saved(tmp_path)
  folder = path.parent
  manifest_path = folder / "key.manifest.json"
  manifest = json.loads(manifest_path.read_text())
  if damage == "truncate_npz":
    path.write_bytes(path.read_bytes()[:-100])
  elif damage == "flip_npz":
    _flip_byte(path)
  elif damage == "empty_summary":
    (folder / "key.json").write_text("")
  elif damage == "delete_npz":
    path.unlink()
  elif damage == "delete_manifest":
    manifest_path.unlink()
  elif damage == "garbage_manifest":
    manifest_path.write_text("{\"format\": ")
  elif damage == "manifest_without_files":
    del manifest["files"]
    manifest_path.write_text(json.dumps(manifest))
  else:
    manifest["format"] = "prepared-cache/0"
    manifest_path.write_text(json.dumps(manifest))
  with pytest.raises(prepared.PreparedCacheError) as caught:
    prepared.load_cached(path)
  assert not isinstance(caught.value, prepared.PreparedCacheMissing)
  assert caught.value.path == folder / file
  assert str(caught.value) == f"{folder / file}: {caught.value.reason}"
  assert re.search(reason, caught.value.reason)


def test_missing_cache_is_its_own_error(tmp_path):
  for path in (tmp_path / "none" / "key.npz", tmp_path / "key.npz"):
    with pytest.raises(prepared.PreparedCacheMissing, match="no cache yet"):
      prepared.load_cached(path)


def _rewrite_npz(path, change):
  with np.load(path) as z:
    arrays = {k: z[k] for k in z.files}
  change(arrays)
  np.savez(path, **arrays)


@pytest.mark.parametrize("change,reason", [
    (lambda a: a.pop("val/job_ids"), "array val/job_ids missing"),
    (lambda a: a.pop("emb_TxD"),
     "array emb_TxD is missing, expected float32 [T, D]"),
    (lambda a: a.update(
        {"train/label_N": a["train/label_N"].astype(np.int64)}),
     "array train/label_N is int64(60,), expected int32(60,)"),
    (lambda a: a.update({"test/sim_RxP": a["test/sim_RxP"][:, :-1]}),
     "array test/sim_RxP is float32(15, 5), expected float32(15, 6)"),
    (lambda a: a.update({"val/job_N": a["val/job_N"] + 6}),
     "array val/job_N holds indices outside [0, 6)"),
])
def test_arrays_are_checked(tmp_path, change, reason):
  path = tmp_path / "data.npz"
  prepared.save_prepared(path, small_data())
  assert_same(prepared.load_prepared(path), small_data())
  _rewrite_npz(path, change)
  with pytest.raises(prepared.PreparedCacheError) as caught:
    prepared.load_prepared(path)
  assert str(caught.value) == f"{path}: {reason}"


def test_full_disk_names_the_npz(tmp_path, monkeypatch):
  path = saved(tmp_path)
  with np.load(path) as z:
    needed = sum(z[k].nbytes for k in z.files)

  def short_write(f, **arrays):
    del arrays
    f.write(b"\0" * 2016)
    raise OSError("10240 requested and 2016 written")
  monkeypatch.setattr(prepared.np, "savez", short_write)
  monkeypatch.setattr(files.shutil, "disk_usage",
                      lambda p: types.SimpleNamespace(free=2016))
  with pytest.raises(files.WriteError) as caught:
    prepared.save_cached(path, small_data(seed=1), SUMMARY)
  assert str(caught.value).startswith(
      f"{path}: could not write the file (10240 requested and 2016 written); "
      f"2.0 KiB free on its file system; the file needs about "
      f"{needed / 2**10:,.1f} KiB. Free some space")
  monkeypatch.undo()
  assert sorted(p.name for p in path.parent.iterdir()) == [
      "key.json", "key.lock", "key.npz"]
  with pytest.raises(prepared.PreparedCacheError, match="manifest missing"):
    prepared.load_cached(path)


def _smoke_config(cache_dir):
  spec = importlib.util.spec_from_file_location("default_config",
                                                ROOT / "configs/default.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("smoke")
  config.data.cache_dir = str(cache_dir)
  return config


def _absl_records(caplog):
  return [(r.levelno, r.getMessage()) for r in caplog.records
          if r.name == "absl" and "prepared data" in r.getMessage().lower()]


def test_prepare_data_rebuilds_a_damaged_cache(tmp_path, caplog):
  caplog.set_level(logging.INFO, logger="absl")
  config = _smoke_config(tmp_path / "cache")
  first = pipeline.prepare_data(config)
  [npz] = (tmp_path / "cache" / "prepared").glob("*.npz")
  assert _absl_records(caplog) == [
      (logging.INFO, f"No prepared data at {npz} yet; preparing it")]
  caplog.clear()
  _flip_byte(npz)
  rebuilt = pipeline.prepare_data(config)
  assert _absl_records(caplog) == [
      (logging.WARNING, f"Prepared data cache unusable, rebuilding it: {npz}: "
                        "SHA-256 differs from the manifest (modified or "
                        "damaged)")]
  assert_same(first, rebuilt)
  assert prepared.fingerprint(rebuilt) == prepared.fingerprint(first)
  caplog.clear()
  reused = pipeline.prepare_data(config, workdir=tmp_path / "work")
  assert _absl_records(caplog) == [
      (logging.INFO, f"Reusing prepared data {npz}")]
  assert_same(first, reused)
  summary = json.loads((tmp_path / "work" / "data_summary.json").read_text())
  assert summary["prepared"] == str(npz)
  assert summary["texts"] == first.emb_TxD.shape[0]
