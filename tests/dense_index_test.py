"""Dense label index: exact chunked top k, cache with manifest, damage →
rebuild."""

import json

import numpy as np
import pytest

import skill_samples
from cacl_jax.common import files
from cacl_jax.ontology import esco_files
from cacl_jax.skills import concepts, dense_index


def _unit(rng, n, d):
  x = rng.normal(size=(n, d)).astype(np.float32)
  return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("n,k", [(300, 5), (300, 200), (7, 7), (1, 1)])
def test_chunked_top_k_matches_argsort(n, k):
  rng = np.random.default_rng(n + k)
  rows, queries = _unit(rng, n, 16), _unit(rng, 70, 16)
  search = dense_index.ChunkedSearch(rows, chunk_rows=128, query_rows=32)
  scores, found = search.top_k(queries, k)
  sim = queries @ rows.T
  expected = np.argsort(-sim, axis=1, kind="stable")[:, :k]
  np.testing.assert_array_equal(found, expected)
  np.testing.assert_allclose(scores, np.take_along_axis(sim, expected, 1),
                             rtol=1e-5, atol=1e-6)


def test_chunked_top_k_rejects_k_beyond_rows():
  search = dense_index.ChunkedSearch(np.eye(3, dtype=np.float32))
  with pytest.raises(ValueError, match="outside"):
    search.top_k(np.eye(3, dtype=np.float32), 4)


class FakeEmbed:
  """Deterministic unit vectors per text; counts the texts it encodes."""

  def __init__(self, dim=8):
    self.dim, self.calls = dim, 0

  def __call__(self, texts):
    self.calls += 1
    out = np.stack([np.random.default_rng([ord(c) for c in t] + [len(t)])
                    .normal(size=self.dim) for t in texts]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def esco_and_table(tmp_path):
  folder = skill_samples.write_skill_esco(tmp_path / "esco")
  return folder, concepts.label_table(concepts.read_skills(folder))


def test_build_then_reuse_with_manifest(tmp_path, esco_and_table):
  folder, table = esco_and_table
  embed = FakeEmbed()
  first = dense_index.load_or_build(folder, table, embed, "fake:1", 8,
                                    tmp_path / "cache")
  assert first.built and embed.calls == 1
  np.testing.assert_array_equal(first.emb_LxD, embed(list(table.texts)))
  manifest = json.loads((first.folder / "manifest.json").read_text())
  assert manifest["format"] == dense_index.FORMAT_VERSION
  assert manifest["identity"] == "fake:1"
  assert manifest["esco_fingerprint"] == \
      esco_files.locate_esco_files(folder).fingerprint()
  assert manifest["labels"] == 11 and manifest["dim"] == 8
  assert manifest["matrix_sha256"] == files.sha256_file(
      first.folder / "labels.npy")
  second = dense_index.load_or_build(folder, table, embed, "fake:1", 8,
                                     tmp_path / "cache")
  assert not second.built and embed.calls == 2   # the one check call above
  np.testing.assert_array_equal(second.emb_LxD, first.emb_LxD)
  other = dense_index.load_or_build(folder, table, embed, "fake:2", 8,
                                    tmp_path / "cache")
  assert other.built and other.folder != first.folder


@pytest.mark.parametrize("damage", ["matrix_bytes", "manifest_garbage",
                                    "matrix_missing", "manifest_labels"])
def test_damaged_cache_is_rebuilt_with_warning(tmp_path, esco_and_table,
                                               damage):
  folder, table = esco_and_table
  embed = FakeEmbed()
  index = dense_index.load_or_build(folder, table, embed, "fake:1", 8,
                                    tmp_path / "cache")
  matrix, manifest = (index.folder / "labels.npy",
                      index.folder / "manifest.json")
  if damage == "matrix_bytes":
    data = bytearray(matrix.read_bytes())
    data[-3] ^= 0xFF
    matrix.write_bytes(bytes(data))
  elif damage == "manifest_garbage":
    manifest.write_text("{not json")
  elif damage == "matrix_missing":
    matrix.unlink()
  else:
    fields = json.loads(manifest.read_text())
    fields["labels"] = 3
    manifest.write_text(json.dumps(fields))
  with pytest.warns(dense_index.IndexCacheWarning, match="rebuilding"):
    rebuilt = dense_index.load_or_build(folder, table, embed, "fake:1", 8,
                                        tmp_path / "cache")
  assert rebuilt.built and embed.calls == 2
  np.testing.assert_array_equal(rebuilt.emb_LxD, index.emb_LxD)
  again = dense_index.load_or_build(folder, table, embed, "fake:1", 8,
                                    tmp_path / "cache")
  assert not again.built


def test_embed_of_wrong_shape_is_refused(tmp_path, esco_and_table):
  folder, table = esco_and_table
  with pytest.raises(ValueError, match="expected finite float32"):
    dense_index.load_or_build(folder, table,
                              lambda t: np.zeros((1, 8), np.float32),
                              "fake:1", 8, tmp_path / "cache")
