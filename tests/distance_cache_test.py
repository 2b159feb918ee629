"""Tests for the on-disk, memory-mapped skill distance cache."""

import json
import logging
import shutil
import types

import numpy as np
import pytest

import esco_samples as es
from cacl_jax.common import files
from cacl_jax.data import builtin
from cacl_jax.ontology import distance_cache as dc
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph


@pytest.fixture
def esco_dir(tmp_path):
  folder = tmp_path / "esco"
  shutil.copytree(builtin.builtin_esco_dir(), folder)
  return folder


def _reference(esco_dir):
  o = graph.load_ontology(esco_dir)
  return dl.skill_distance_matrix(o.undirected_adjacency(), o.skill_nodes_S)


def test_build_then_reuse_memory_mapped(esco_dir, tmp_path):
  cache_dir = tmp_path / "cache"
  first = dc.open_distance_cache(esco_dir, cache_dir)
  assert first.rebuilt and first.reason == "no cache yet"
  np.testing.assert_array_equal(first.distances, _reference(esco_dir))
  second = dc.open_distance_cache(esco_dir, cache_dir)
  assert not second.rebuilt and second.reason == ""
  assert isinstance(second.distances, np.memmap)
  assert second.distances.dtype == np.uint8
  np.testing.assert_array_equal(second.distances, first.distances)
  manifest = json.loads((second.directory / dc.MANIFEST_FILE).read_text())
  assert manifest["code_version"] == dc.CODE_VERSION
  assert manifest["shape"] == list(first.distances.shape)
  assert manifest["no_path"] == dl.NO_PATH
  assert manifest["esco_files"]["occupationSkillRelations"]["name"] == (
      "occupationSkillRelations_en.csv")


def test_load_or_build_returns_the_matrix(esco_dir, tmp_path):
  d = dc.load_or_build_distances(esco_dir, tmp_path / "cache")
  np.testing.assert_array_equal(d, _reference(esco_dir))


def test_jax_backend_builds_the_same_matrix(esco_dir, tmp_path):
  d = dc.load_or_build_distances(esco_dir, tmp_path / "cache", backend="jax")
  np.testing.assert_array_equal(d, _reference(esco_dir))


def test_stale_after_esco_change(esco_dir, tmp_path):
  cache_dir = tmp_path / "cache"
  before = dc.open_distance_cache(esco_dir, cache_dir)
  relations = esco_dir / "occupationSkillRelations_en.csv"
  lines = relations.read_text(encoding="utf-8").splitlines()
  relations.write_text("\n".join(lines[:-40]) + "\n", encoding="utf-8")
  after = dc.open_distance_cache(esco_dir, cache_dir)
  assert after.rebuilt and after.directory != before.directory
  np.testing.assert_array_equal(after.distances, _reference(esco_dir))
  assert not np.array_equal(after.distances, before.distances)


def test_code_version_change_rebuilds(esco_dir, tmp_path, monkeypatch):
  cache_dir = tmp_path / "cache"
  dc.open_distance_cache(esco_dir, cache_dir)
  monkeypatch.setattr(dc, "CODE_VERSION", "skill-distances/next")
  again = dc.open_distance_cache(esco_dir, cache_dir)
  assert again.rebuilt and "code version" in again.reason
  assert not dc.open_distance_cache(esco_dir, cache_dir).rebuilt


@pytest.mark.parametrize("damage,reason", [
    ("flip_byte", "checksum"),
    ("truncate", "damaged matrix"),
    ("delete_matrix", "damaged matrix"),
    ("garbage_manifest", "damaged manifest"),
    ("manifest_missing_key", "damaged manifest"),
    ("delete_manifest", "incomplete cache"),
])
def test_damaged_cache_is_rebuilt(esco_dir, tmp_path, damage, reason):
  cache_dir = tmp_path / "cache"
  built = dc.open_distance_cache(esco_dir, cache_dir)
  expected = np.array(built.distances)
  matrix = built.directory / dc.MATRIX_FILE
  manifest = built.directory / dc.MANIFEST_FILE
  del built
  if damage == "flip_byte":
    data = bytearray(matrix.read_bytes())
    data[-1] ^= 0x01
    matrix.write_bytes(bytes(data))
  elif damage == "truncate":
    matrix.write_bytes(matrix.read_bytes()[:-100])
  elif damage == "delete_matrix":
    matrix.unlink()
  elif damage == "garbage_manifest":
    manifest.write_text("{not json", encoding="utf-8")
  elif damage == "manifest_missing_key":
    content = json.loads(manifest.read_text())
    del content["matrix_sha256"]
    manifest.write_text(json.dumps(content))
  else:
    manifest.unlink()
  again = dc.open_distance_cache(esco_dir, cache_dir)
  assert again.rebuilt and reason in again.reason
  np.testing.assert_array_equal(again.distances, expected)
  assert not dc.open_distance_cache(esco_dir, cache_dir).rebuilt


def _absl_records(caplog):
  return [(r.levelno, r.getMessage()) for r in caplog.records
          if r.name == "absl"]


def test_rebuild_of_existing_cache_is_a_warning(esco_dir, tmp_path, caplog):
  caplog.set_level(logging.INFO, logger="absl")
  cache_dir = tmp_path / "cache"
  built = dc.open_distance_cache(esco_dir, cache_dir)
  directory = built.directory
  del built
  assert _absl_records(caplog) == [
      (logging.INFO, f"Building skill distances in {directory}: no cache yet")]
  caplog.clear()
  (directory / dc.MANIFEST_FILE).write_text("{not json", encoding="utf-8")
  again = dc.open_distance_cache(esco_dir, cache_dir)
  assert _absl_records(caplog) == [
      (logging.WARNING,
       f"Rebuilding skill distances in {directory}: {again.reason}")]
  assert again.reason.startswith("damaged manifest (JSONDecodeError")
  caplog.clear()
  assert not dc.open_distance_cache(esco_dir, cache_dir).rebuilt
  assert _absl_records(caplog) == []


def test_full_disk_names_the_matrix(esco_dir, tmp_path, monkeypatch):
  def short_write(f, array):
    del array
    f.write(b"\0" * 2016)
    raise OSError("10240 requested and 2016 written")
  monkeypatch.setattr(dc.np, "save", short_write)
  monkeypatch.setattr(files.shutil, "disk_usage",
                      lambda path: types.SimpleNamespace(free=1536))
  with pytest.raises(files.WriteError) as caught:
    dc.open_distance_cache(esco_dir, tmp_path / "cache")
  message = str(caught.value)
  size = len(graph.load_ontology(esco_dir).skill_index) ** 2
  directory = next((tmp_path / "cache").iterdir())
  assert message.startswith(f"{directory / dc.MATRIX_FILE}: could not write "
                            "the file (10240 requested and 2016 written); "
                            "1.5 KiB free on its file system; the file needs "
                            f"about {size / 2**10:,.1f} KiB.")
  assert sorted(p.name for p in directory.iterdir()) == []


def test_verify_false_skips_checksum(esco_dir, tmp_path):
  cache_dir = tmp_path / "cache"
  built = dc.open_distance_cache(esco_dir, cache_dir)
  matrix = built.directory / dc.MATRIX_FILE
  del built
  data = bytearray(matrix.read_bytes())
  data[-1] ^= 0x01
  matrix.write_bytes(bytes(data))
  assert not dc.open_distance_cache(esco_dir, cache_dir, verify=False).rebuilt
  assert dc.open_distance_cache(esco_dir, cache_dir).rebuilt


def test_given_ontology_is_used_and_checked(esco_dir, tmp_path):
  o = graph.load_ontology(esco_dir)
  cache = dc.open_distance_cache(esco_dir, tmp_path / "cache", ontology=o)
  assert cache.distances.shape == (len(o.skill_index),) * 2
  other = es.write_mini_esco(tmp_path / "mini")
  with pytest.raises(ValueError, match="ontology of"):
    dc.open_distance_cache(other, tmp_path / "cache", ontology=o)


def test_versions_share_a_cache_dir(esco_dir, tmp_path):
  cache_dir = tmp_path / "cache"
  mini = es.write_mini_esco(tmp_path / "mini")
  a = dc.open_distance_cache(esco_dir, cache_dir)
  b = dc.open_distance_cache(mini, cache_dir)
  assert a.directory != b.directory and b.distances.shape == (5, 5)
  assert not dc.open_distance_cache(esco_dir, cache_dir).rebuilt
