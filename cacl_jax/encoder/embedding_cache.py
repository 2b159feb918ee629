"""On-disk cache of frozen-encoder embeddings (§5.4).

Only the frozen 768-d text embeddings are cached; the trainable projection
head runs on them fresh every step, so gradients still flow. Each text is
encoded once across epochs, phases and runs: a lookup encodes only the misses.

Keys are SHA-256 of the encoder identity (model name, weights hash, max
length, dtype) and the serialized text. One folder per identity holds

* `shard-<uuid>.npy`: float32 [n, dim] blocks, one per flush, append-only;
* `index.json`: format version, identity, dim, the shards with their row
  count and SHA-256, and the keys in row order;
* `.lock`: the file writers lock to take turns.

Every file is written with `common.files.atomic_write` (temporary name,
fsync, rename), the index last, so a crash leaves the previous consistent
state plus at most an orphan shard, and a full disk raises a `WriteError`
naming the file. On open, every shard is checked against the index
(present, shape, SHA-256, finite values); anything inconsistent — a
truncated or damaged shard, a malformed index — triggers a
`CacheCorruptionWarning` and the folder is emptied and rebuilt: cached
vectors are never used unchecked. Damage a later flush finds is reported
the same way, and the folder is rewritten from the vectors in memory.

Several processes may use one folder at once. Every change to the shards
and the index runs under an exclusive `fcntl.flock` on `.lock`: opening
(with its cleanup), and each flush, which re-reads the index, takes in the
shards other processes added since (checked as on open), writes one shard
with the keys the index lacks and then the merged index. A lookup with
misses first takes in what others added, so a text is encoded twice only
when two processes miss it at the same time, and then only one copy is
kept. Shards no index lists and temporary files are deleted only under the
lock, when no other process can be writing one.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import uuid
import warnings
from typing import Sequence

import numpy as np

from cacl_jax.common import files

FORMAT_VERSION = 1
INDEX_NAME = "index.json"
LOCK_NAME = ".lock"
# A flush that would leave more shards than this rewrites them as one.
MAX_SHARDS = 64
_SHARD_NAME = re.compile(r"^shard-[0-9a-f]{32}\.npy$")


class CacheCorruptionWarning(RuntimeWarning):
  """A cache folder failed its checks and was rebuilt."""


class _Damaged(Exception):
  pass


def default_cache_dir() -> pathlib.Path:
  """`$CACL_CACHE_DIR/embeddings`, else `~/.cache/cacl_jax/embeddings`."""
  return files.cache_root() / "embeddings"


def text_key(identity: str, text: str) -> str:
  """Cache key of `text` under an encoder identity (hex SHA-256)."""
  return hashlib.sha256(f"{identity}\n{text}".encode("utf-8")).hexdigest()


def folder_name(identity: str) -> str:
  """Readable, filesystem-safe folder name unique to `identity`."""
  readable = re.sub(r"[^A-Za-z0-9._-]+", "_", identity)[:80]
  digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
  return f"{readable}-{digest}"


class EmbeddingCache:
  """Embeddings of texts under one encoder, computed once and kept on disk.

  `encoder` needs `identity: str`, `dim: int` and
  `encode(texts, progress=False) -> float32 [n, dim]` (e.g.
  `encode.TextEncoder`).

  Attributes:
    folder: this encoder's cache folder inside `cache_dir`.
    hits / misses: requested texts found / not found in the cache (this
      process's or, after a re-read of the index, other processes'), summed
      over `get` calls (a text repeated in one call counts each time).
    encoded: texts actually encoded (unique misses).
  """

  def __init__(self, cache_dir: str | os.PathLike, encoder):
    self.encoder = encoder
    self.identity = encoder.identity
    self.dim = int(encoder.dim)
    self.folder = pathlib.Path(cache_dir) / folder_name(self.identity)
    self.hits = self.misses = self.encoded = 0
    # Rows of `_vectors` in order, their keys' rows, and the index's shards
    # whose rows are in memory.
    self._keys: list[str] = []
    self._row: dict[str, int] = {}
    self._vectors = np.zeros((0, self.dim), np.float32)
    self._shards_read: set[str] = set()
    self.folder.mkdir(parents=True, exist_ok=True)
    with self._lock():
      try:
        shards, keys = self._read_index()
        self._take_in(shards, keys)
        self._remove_orphans(shards)
      except _Damaged as e:
        warnings.warn(f"embedding cache {self.folder} is damaged ({e}); "
                      "rebuilding it from scratch", CacheCorruptionWarning,
                      stacklevel=2)
        self._keys, self._row = [], {}
        self._vectors = np.zeros((0, self.dim), np.float32)
        self._clear_folder()

  def __len__(self) -> int:
    return len(self._keys)

  @property
  def stats(self) -> dict[str, int]:
    return {"hits": self.hits, "misses": self.misses,
            "encoded": self.encoded, "size": len(self)}

  def _lock(self):
    return files.locked(self.folder / LOCK_NAME)

  def _read_index(self) -> tuple[list[dict], list[str]]:
    """The index's shard entries and keys, checked for form, not content."""
    index_path = self.folder / INDEX_NAME
    if not index_path.exists():
      if any(_SHARD_NAME.match(p.name) for p in self.folder.iterdir()):
        raise _Damaged(f"shards present but {INDEX_NAME} is missing")
      return [], []
    try:
      index = json.loads(index_path.read_text(encoding="utf-8"))
      version, identity = index["format"], index["identity"]
      dim, shards, keys = index["dim"], index["shards"], index["keys"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError,
            TypeError) as e:
      raise _Damaged(f"{index_path}: unreadable index: {e!r}") from None
    if not isinstance(shards, list) or not isinstance(keys, list):
      raise _Damaged(f"{index_path}: fields 'shards' and 'keys' must be lists")
    if version != FORMAT_VERSION or identity != self.identity or \
        dim != self.dim:
      raise _Damaged(f"{index_path}: written for format {version!r}, "
                     f"identity {identity!r}, dim {dim!r}")
    for shard in shards:
      if not (isinstance(shard, dict) and
              _SHARD_NAME.match(str(shard.get("file"))) and
              isinstance(shard.get("count"), int) and shard["count"] >= 0 and
              isinstance(shard.get("sha256"), str)):
        raise _Damaged(f"{index_path}: malformed shard entry {shard!r}")
    if not all(isinstance(k, str) for k in keys):
      raise _Damaged(f"{index_path}: keys must be strings")
    rows = sum(shard["count"] for shard in shards)
    if len(keys) != rows or len(set(keys)) != len(keys):
      raise _Damaged(f"{index_path}: {len(keys)} keys for {rows} rows, or "
                     "duplicates")
    return shards, keys

  def _read_shard(self, shard: dict) -> np.ndarray:
    """The vectors of one index entry, checked against it."""
    path = self.folder / shard["file"]
    if not path.is_file():
      raise _Damaged(f"{path}: shard missing")
    if files.sha256_file(path) != shard["sha256"]:
      raise _Damaged(f"{path}: SHA-256 differs from the index (truncated "
                     "or modified)")
    try:
      block = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
      raise _Damaged(f"{path}: unreadable: {e}") from None
    if block.dtype != np.float32 or block.shape != (shard["count"], self.dim):
      raise _Damaged(f"{path}: {block.dtype}{block.shape}, expected "
                     f"float32({shard['count']}, {self.dim})")
    if not np.isfinite(block).all():
      raise _Damaged(f"{path}: non-finite values")
    return block

  def _take_in(self, shards: list[dict], keys: list[str]) -> None:
    """Adds the rows of the listed shards not read yet to memory."""
    start = 0
    for shard in shards:
      end = start + shard["count"]
      if shard["file"] not in self._shards_read:
        self._add(keys[start:end], self._read_shard(shard))
      start = end
    self._shards_read = {shard["file"] for shard in shards}

  def _add(self, keys: list[str], vectors: np.ndarray) -> None:
    """Adds the rows whose keys memory lacks: a key keeps its first vector."""
    fresh = [i for i, k in enumerate(keys) if k not in self._row]
    self._row.update((keys[i], len(self._keys) + j)
                     for j, i in enumerate(fresh))
    self._keys.extend(keys[i] for i in fresh)
    if fresh:
      self._vectors = np.concatenate([self._vectors, vectors[fresh]])

  def _remove_orphans(self, shards: list[dict]) -> None:
    """Deletes shard and temp files the index does not list (under the
    lock, so none of them is being written)."""
    listed = {s["file"] for s in shards}
    for path in self.folder.iterdir():
      if ((_SHARD_NAME.match(path.name) and path.name not in listed) or
          path.name.endswith(".tmp")):
        path.unlink(missing_ok=True)

  def _clear_folder(self) -> None:
    """Deletes every shard, the index and temp files (under the lock)."""
    for path in self.folder.iterdir():
      if (_SHARD_NAME.match(path.name) or path.name == INDEX_NAME or
          path.name.endswith(".tmp")):
        path.unlink(missing_ok=True)
    self._shards_read = set()

  def _write_shard(self, keys: list[str]) -> dict:
    vectors = self._vectors[[self._row[k] for k in keys]]
    path = self.folder / f"shard-{uuid.uuid4().hex}.npy"
    files.atomic_write(path, lambda f: np.save(f, vectors, allow_pickle=False),
                       needed_bytes=vectors.nbytes + 128)
    return {"file": path.name, "count": len(keys),
            "sha256": files.sha256_file(path)}

  def _write_index(self, shards: list[dict], keys: list[str]) -> None:
    data = json.dumps({"format": FORMAT_VERSION, "identity": self.identity,
                       "dim": self.dim, "dtype": "float32",
                       "shards": shards, "keys": keys}).encode("utf-8")
    files.atomic_write(self.folder / INDEX_NAME, lambda f: f.write(data),
                       needed_bytes=len(data))

  def _sync(self, keys: Sequence[str] = (),
            vectors: np.ndarray | None = None) -> None:
    """Under the lock: takes in what other processes added, adds `keys`
    (those still missing) to memory, and writes every key in memory that
    the index lacks as one shard, then the merged index."""
    with self._lock():
      try:
        shards, disk_keys = self._read_index()
        self._take_in(shards, disk_keys)
      except _Damaged as e:
        warnings.warn(f"embedding cache {self.folder} is damaged ({e}); "
                      "rewriting it from the vectors in memory",
                      CacheCorruptionWarning)
        self._clear_folder()
        shards, disk_keys = [], []
      if vectors is not None:
        self._add(list(keys), vectors)
      listed = set(disk_keys)
      missing = [k for k in self._keys if k not in listed]
      if missing:
        self._write(shards, disk_keys, missing)

  def _write(self, shards: list[dict], disk_keys: list[str],
             missing: list[str]) -> None:
    """Under the lock: appends a shard of `missing` to the index, or
    rewrites all rows as one shard if there would be over `MAX_SHARDS`;
    the new shard is deleted again if the index cannot be written."""
    keys = disk_keys + missing
    if len(shards) + 1 > MAX_SHARDS:
      shards = [self._write_shard(keys)]
    else:
      shards = shards + [self._write_shard(missing)]
    try:
      self._write_index(shards, keys)
    except BaseException:
      (self.folder / shards[-1]["file"]).unlink(missing_ok=True)
      raise
    self._shards_read = {shard["file"] for shard in shards}
    self._remove_orphans(shards)

  def get(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
    """Embeddings [len(texts), dim] float32 in order; encodes only misses."""
    texts = list(texts)
    keys = [text_key(self.identity, t) for t in texts]
    if any(k not in self._row for k in keys):
      self._sync()
    found = sum(k in self._row for k in keys)
    self.hits += found
    self.misses += len(keys) - found
    todo = {k: t for k, t in zip(keys, texts) if k not in self._row}
    if todo:
      vectors = self.encoder.encode(list(todo.values()), progress=progress)
      self._check_encoded(len(todo), vectors)
      self._sync(list(todo), np.asarray(vectors, np.float32))
      self.encoded += len(todo)
    if not keys:
      return np.zeros((0, self.dim), np.float32)
    return self._vectors[[self._row[k] for k in keys]]

  def _check_encoded(self, count: int, vectors: np.ndarray) -> None:
    """Refuses encoder output of the wrong shape or with non-finite values."""
    vectors = np.asarray(vectors)
    if vectors.shape != (count, self.dim) or \
        not np.isfinite(vectors).all():
      raise ValueError(f"encoder returned {vectors.dtype}{vectors.shape} "
                       f"(finite: {np.isfinite(vectors).all()}), expected "
                       f"finite float32({count}, {self.dim})")
