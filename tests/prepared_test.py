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

import esco_samples as es
import synthetic_data
from cacl_jax import pipeline
from cacl_jax.common import files
from cacl_jax.data import prepared
from cacl_jax.data import records
from cacl_jax.data import splits
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph
from cacl_jax.ontology import set_similarity as ss

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


UNKNOWN = "http://example.org/skill/not-in-esco"


def _pair(pair_id, resume_uris, job_id, job_uris, label):
  return records.Pair(
      pair_id=pair_id,
      resume=records.Resume(role=f"role {resume_uris}",
                            experience_level="Mid",
                            skill_uris=tuple(resume_uris)),
      job=records.Job(job_id=job_id, title=f"title {job_id}",
                      description="d", skill_uris=tuple(job_uris)),
      label=label, metadata=records.PairMetadata(quality_tier="A"))


def test_build_prepared_from_records(tmp_path):
  o = graph.load_ontology(es.write_mini_esco(tmp_path / "esco"))
  d = dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)

  def similarity(resume_uris, job_uris):
    return ss.set_similarity_grid(d, *ss.pad_uri_sets(o.skill_index,
                                                      resume_uris),
                                  *ss.pad_uri_sets(o.skill_index, job_uris))

  known = [es.PYTHON, UNKNOWN]
  train = [_pair("t0", known, "j1", [es.PYTHON], "good_fit"),
           _pair("t1", known, "j2", [], "no_fit"),
           _pair("t2", [], "j3", [UNKNOWN], "no_fit"),
           _pair("t3", [], "j1", [es.PYTHON], "potential_fit")]
  val = [_pair("v0", [es.JAVA], "j4", [es.STATS], "good_fit")]
  test = [_pair("s0", [es.JAVA], "j5", [], "no_fit")]
  texts = []

  def embed(batch):
    texts.extend(batch)
    return np.arange(len(batch) * 2, dtype=np.float32).reshape(-1, 2)

  data = prepared.build_prepared(splits.Splits(train, val, test), embed,
                                 similarity)
  tr = data.train
  assert texts == prepared.unique_texts(train + val + test)
  assert data.emb_TxD.shape == (len(texts), 2)
  assert tr.job_ids == ("j1", "j2", "j3")
  np.testing.assert_array_equal(tr.resume_N, [0, 0, 1, 1])
  np.testing.assert_array_equal(tr.job_N, [0, 1, 2, 0])
  np.testing.assert_array_equal(tr.label_N, [1, 0, 0, 0])
  np.testing.assert_array_equal(tr.resume_has_uris_R, [True, False])
  # j3's only URI is unknown to the ontology: it has URIs, none with a path.
  np.testing.assert_array_equal(tr.job_has_uris_P, [True, False, True])
  # {Python, unknown} vs {Python}: (1 + 0) / 2 one way, 1 the other (§4.4).
  # A pool this small is listed whole, in pool order, good fits left out.
  np.testing.assert_array_equal(tr.cand_job_RxM, [[0, 1, 2], [0, 1, 2]])
  np.testing.assert_allclose(tr.cand_sim_RxM,
                             [[0.75, 0.0, 0.0], [0.0, 0.0, 0.0]], rtol=1e-6)
  for mask in (tr.cand_ontology_RxM, tr.cand_uniform_RxM):
    np.testing.assert_array_equal(mask, [[False, True, True],
                                         [True, True, True]])
  np.testing.assert_array_equal(np.stack(tr.good_pairs()), [[0], [0]])
  np.testing.assert_array_equal(data.test.job_has_uris_P, [False])
  np.testing.assert_allclose(data.val.cand_sim_RxM, [[np.exp(-2.8)]],
                             rtol=1e-6)
  loaded, _ = prepared.load_cached(saved(tmp_path, data))
  assert_same(data, loaded)


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
     r"^format 'prepared-cache/1', expected 'prepared-cache/3'$"),
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
    manifest["format"] = "prepared-cache/1"   # before job_has_uris_P
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
    (lambda a: a.pop("train/job_has_uris_P"),
     "array train/job_has_uris_P missing"),
    (lambda a: a.update(
        {"test/job_has_uris_P": a["test/job_has_uris_P"].astype(np.int32)}),
     "array test/job_has_uris_P is int32(6,), expected bool(6,)"),
    (lambda a: a.pop("emb_TxD"),
     "array emb_TxD is missing, expected float32 [T, D]"),
    (lambda a: a.update(
        {"train/label_N": a["train/label_N"].astype(np.int64)}),
     "array train/label_N is int64(60,), expected int32(60,)"),
    (lambda a: a.update({"test/cand_sim_RxM":
                             a["test/cand_sim_RxM"][:, :-1]}),
     "array test/cand_sim_RxM is float32(15, 5), expected float32(15, 6)"),
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
