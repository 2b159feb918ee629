"""Embedding cache: hits and misses, persistence, damage detection, full
disks and concurrent writers."""

import json
import multiprocessing
import types
import warnings

import numpy as np
import pytest

from cacl_jax.common import files
from cacl_jax.encoder import embedding_cache
from cacl_jax.encoder import encode


class FakeEncoder:
  """Deterministic vectors from a hash of each text; records its calls."""

  def __init__(self, identity="fake:v1", dim=8):
    self.identity, self.dim, self.calls = identity, dim, []

  def encode(self, texts, progress=False):
    del progress
    self.calls.append(list(texts))
    out = np.stack([np.random.default_rng(
        [ord(c) for c in t] + [len(t)]).normal(size=self.dim)
                    for t in texts]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def expected(texts, dim=8):
  return FakeEncoder(dim=dim).encode(texts)


def shard_paths(cache):
  return sorted(cache.folder.glob("shard-*.npy"))


def test_only_misses_are_encoded(tmp_path):
  enc = FakeEncoder()
  cache = embedding_cache.EmbeddingCache(tmp_path, enc)
  a = cache.get(["x", "y", "x"])
  np.testing.assert_array_equal(a, expected(["x", "y", "x"]))
  assert enc.calls == [["x", "y"]]
  b = cache.get(["y", "z", "x"])
  np.testing.assert_array_equal(b, expected(["y", "z", "x"]))
  assert enc.calls[1:] == [["z"]]
  assert cache.stats == {"hits": 2, "misses": 4, "encoded": 3, "size": 3}
  assert cache.get([]).shape == (0, 8)


def test_survives_restart_without_encoding(tmp_path):
  embedding_cache.EmbeddingCache(tmp_path, FakeEncoder()).get(["a", "b"])
  enc = FakeEncoder()
  cache = embedding_cache.EmbeddingCache(tmp_path, enc)
  np.testing.assert_array_equal(cache.get(["b", "a"]), expected(["b", "a"]))
  assert enc.calls == [] and cache.stats["hits"] == 2


def test_identity_separates_caches(tmp_path):
  embedding_cache.EmbeddingCache(tmp_path, FakeEncoder("m1")).get(["a"])
  other = FakeEncoder("m1:max_len=128")
  embedding_cache.EmbeddingCache(tmp_path, other).get(["a"])
  assert other.calls == [["a"]]
  assert len(list(tmp_path.iterdir())) == 2
  assert (embedding_cache.text_key("m1", "a") !=
          embedding_cache.text_key("m2", "a"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop_index_field",
                                    "bad_json", "delete_shard",
                                    "delete_index", "wrong_dim",
                                    "shards_not_list"])
def test_damage_is_detected_and_rebuilt(tmp_path, damage):
  cache = embedding_cache.EmbeddingCache(tmp_path, FakeEncoder())
  cache.get(["a", "b"])
  cache.get(["c"])
  shard = shard_paths(cache)[0]
  index_path = cache.folder / embedding_cache.INDEX_NAME
  index = json.loads(index_path.read_text())
  if damage == "truncate":
    shard.write_bytes(shard.read_bytes()[:-7])
  elif damage == "flip":
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0x40
    shard.write_bytes(bytes(data))
  elif damage == "drop_index_field":
    del index["keys"]
    index_path.write_text(json.dumps(index))
  elif damage == "bad_json":
    index_path.write_text(index_path.read_text()[:40])
  elif damage == "delete_shard":
    shard.unlink()
  elif damage == "delete_index":
    index_path.unlink()
  elif damage == "wrong_dim":
    index["dim"] = 9
    index_path.write_text(json.dumps(index))
  elif damage == "shards_not_list":
    index["shards"] = 3
    index_path.write_text(json.dumps(index))
  enc = FakeEncoder()
  with pytest.warns(embedding_cache.CacheCorruptionWarning, match="rebuild"):
    rebuilt = embedding_cache.EmbeddingCache(tmp_path, enc)
  assert len(rebuilt) == 0
  np.testing.assert_array_equal(rebuilt.get(["a", "c"]),
                                expected(["a", "c"]))
  assert enc.calls == [["a", "c"]]
  assert len(shard_paths(rebuilt)) == 1


def test_nan_shard_is_rejected(tmp_path):
  cache = embedding_cache.EmbeddingCache(tmp_path, FakeEncoder())
  cache.get(["a"])
  shard = shard_paths(cache)[0]
  bad = np.full((1, 8), np.nan, np.float32)
  np.save(shard, bad)
  index_path = cache.folder / embedding_cache.INDEX_NAME
  index = json.loads(index_path.read_text())
  index["shards"][0]["sha256"] = files.sha256_file(shard)
  index_path.write_text(json.dumps(index))
  with pytest.warns(embedding_cache.CacheCorruptionWarning, match="finite"):
    embedding_cache.EmbeddingCache(tmp_path, FakeEncoder())


def test_failed_write_keeps_previous_state(tmp_path, monkeypatch):
  cache = embedding_cache.EmbeddingCache(tmp_path, FakeEncoder())
  cache.get(["a"])

  def crash(*args, **kwargs):
    raise OSError("disk full")
  monkeypatch.setattr(embedding_cache.json, "dumps", crash)
  with pytest.raises(OSError, match="disk full"):
    cache.get(["b"])
  monkeypatch.undo()
  enc = FakeEncoder()
  reopened = embedding_cache.EmbeddingCache(tmp_path, enc)
  assert len(reopened) == 1 and len(shard_paths(reopened)) == 1
  assert not list(reopened.folder.glob("*.tmp"))
  reopened.get(["a", "b"])
  assert enc.calls == [["b"]]


def test_full_disk_names_the_shard(tmp_path, monkeypatch):
  cache = embedding_cache.EmbeddingCache(tmp_path, FakeEncoder())
  cache.get(["a"])

  def short_write(f, array, allow_pickle=True):
    del array, allow_pickle
    f.write(b"\0" * 2016)
    raise OSError("10240 requested and 2016 written")
  monkeypatch.setattr(embedding_cache.np, "save", short_write)
  monkeypatch.setattr(files.shutil, "disk_usage",
                      lambda path: types.SimpleNamespace(free=3 * 2**20))
  with pytest.raises(files.WriteError) as caught:
    cache.get(["b", "c"])
  message = str(caught.value)
  assert message.startswith(f"{cache.folder}/shard-")
  assert "10240 requested and 2016 written" in message
  assert "3.0 MiB free on its file system" in message
  assert "the file needs about 192 bytes" in message
  monkeypatch.undo()
  assert not list(cache.folder.glob("*.tmp"))
  enc = FakeEncoder()
  reopened = embedding_cache.EmbeddingCache(tmp_path, enc)
  np.testing.assert_array_equal(reopened.get(["a", "b"]),
                                expected(["a", "b"]))
  assert enc.calls == [["b"]]


def test_many_flushes_are_compacted(tmp_path, monkeypatch):
  monkeypatch.setattr(embedding_cache, "MAX_SHARDS", 3)
  cache = embedding_cache.EmbeddingCache(tmp_path, FakeEncoder())
  texts = [f"t{i}" for i in range(7)]
  for t in texts:
    cache.get([t])
    assert len(shard_paths(cache)) <= 3
  enc = FakeEncoder()
  reopened = embedding_cache.EmbeddingCache(tmp_path, enc)
  np.testing.assert_array_equal(reopened.get(texts), expected(texts))
  assert enc.calls == []


def test_bad_encoder_output_is_refused(tmp_path):
  class NanEncoder(FakeEncoder):
    def encode(self, texts, progress=False):
      return np.full((len(texts), self.dim), np.nan, np.float32)
  cache = embedding_cache.EmbeddingCache(tmp_path, NanEncoder())
  with pytest.raises(ValueError, match="finite"):
    cache.get(["a"])
  assert len(cache) == 0


def test_with_random_text_encoder(tmp_path):
  enc = encode.TextEncoder.random(seed=0)
  cache = embedding_cache.EmbeddingCache(tmp_path, enc)
  texts = ["Position: data analyst [SEP] Skills: sql", "Position: nurse"]
  first = cache.get(texts)
  np.testing.assert_allclose(first, enc.encode(texts), atol=1e-6)
  again = embedding_cache.EmbeddingCache(tmp_path, enc).get(texts[::-1])
  np.testing.assert_array_equal(again, first[::-1])
  assert first.shape == (2, enc.dim) and first.dtype == np.float32


def _writer(folder, texts_per_round, barrier, max_shards):
  """One process of the concurrency test: adds each round's texts after the
  barrier; a damage warning fails the process."""
  warnings.simplefilter("error", embedding_cache.CacheCorruptionWarning)
  embedding_cache.MAX_SHARDS = max_shards
  cache = embedding_cache.EmbeddingCache(folder, FakeEncoder())
  for texts in texts_per_round:
    barrier.wait(timeout=120)
    np.testing.assert_array_equal(cache.get(texts), expected(texts))


def test_concurrent_writers_keep_all_keys(tmp_path):
  rounds = 6
  per_process = {
      name: [[f"{name}{r}-{i}" for i in range(5)] + [f"shared{r}"]
             for r in range(rounds)]
      for name in ("p", "q")}
  ctx = multiprocessing.get_context("spawn")
  barrier = ctx.Barrier(len(per_process))
  workers = [ctx.Process(target=_writer,
                         args=(tmp_path, texts, barrier, 4))
             for texts in per_process.values()]
  for worker in workers:
    worker.start()
  for worker in workers:
    worker.join(timeout=300)
  assert [w.exitcode for w in workers] == [0, 0]
  everything = sorted({t for texts in per_process.values()
                       for round_texts in texts for t in round_texts})
  assert len(everything) == 2 * rounds * 5 + rounds
  enc = FakeEncoder()
  with warnings.catch_warnings():
    warnings.simplefilter("error", embedding_cache.CacheCorruptionWarning)
    reopened = embedding_cache.EmbeddingCache(tmp_path, enc)
  assert len(reopened) == len(everything)
  np.testing.assert_array_equal(reopened.get(everything), expected(everything))
  assert enc.calls == []
  index = json.loads((reopened.folder / embedding_cache.INDEX_NAME)
                     .read_text())
  assert sorted(index["keys"]) == sorted(
      embedding_cache.text_key("fake:v1", t) for t in everything)
  assert len(shard_paths(reopened)) == len(index["shards"]) <= 4
