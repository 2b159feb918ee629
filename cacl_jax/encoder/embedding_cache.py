"""On-disk cache of frozen-encoder embeddings (§5.4).

Only the frozen 768-d text embeddings are cached; the trainable projection
head runs on them fresh every step, so gradients still flow. Each text is
encoded once across epochs, phases and runs: a lookup encodes only the misses.

Keys are SHA-256 of the encoder identity (model name, weights hash, max
length, dtype) and the serialized text. One folder per identity holds

* `shard-<uuid>.npy`: float32 [n, dim] blocks, one per flush, append-only;
* `index.json`: format version, identity, dim, the shards with their row
  count and SHA-256, and the keys in row order.

Every file is written to a temporary name, fsync'ed and `os.replace`d, the
index last, so a crash leaves the previous consistent state plus at most an
orphan shard. On open, every shard is checked against the index (present,
shape, SHA-256, finite values); anything inconsistent — a truncated or
damaged shard, a malformed index — triggers a `CacheCorruptionWarning` and
the folder is emptied and rebuilt: cached vectors are never used unchecked.
One process writes a cache folder at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import tempfile
import uuid
import warnings
from typing import Sequence

import numpy as np

FORMAT_VERSION = 1
INDEX_NAME = "index.json"
# A flush that would leave more shards than this rewrites them as one.
MAX_SHARDS = 64
_SHARD_NAME = re.compile(r"^shard-[0-9a-f]{32}\.npy$")


class CacheCorruptionWarning(RuntimeWarning):
  """A cache folder failed its checks and was rebuilt."""


class _Damaged(Exception):
  pass


def _sha256(path: pathlib.Path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 22):
      h.update(chunk)
  return h.hexdigest()


def _atomic_write(path: pathlib.Path, write) -> None:
  """Calls write(binary file) on a temp file, then renames it to `path`."""
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                             dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise


def default_cache_dir() -> pathlib.Path:
  """`$CACL_CACHE_DIR/embeddings`, else `~/.cache/cacl_jax/embeddings`."""
  root = os.environ.get("CACL_CACHE_DIR")
  if root:
    return pathlib.Path(root).expanduser() / "embeddings"
  return pathlib.Path.home() / ".cache" / "cacl_jax" / "embeddings"


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
    hits / misses: requested texts found / not found in the cache, summed
      over `get` calls (a text repeated in one call counts each time).
    encoded: texts actually encoded (unique misses).
  """

  def __init__(self, cache_dir: str | os.PathLike, encoder):
    self.encoder = encoder
    self.identity = encoder.identity
    self.dim = int(encoder.dim)
    self.folder = pathlib.Path(cache_dir) / folder_name(self.identity)
    self.hits = self.misses = self.encoded = 0
    self._shards: list[dict] = []
    self._keys: list[str] = []
    self._row: dict[str, int] = {}
    self._vectors = np.zeros((0, self.dim), np.float32)
    self.folder.mkdir(parents=True, exist_ok=True)
    try:
      self._load()
    except _Damaged as e:
      warnings.warn(f"embedding cache {self.folder} is damaged ({e}); "
                    "rebuilding it from scratch", CacheCorruptionWarning,
                    stacklevel=2)
      self._reset()

  def __len__(self) -> int:
    return len(self._keys)

  @property
  def stats(self) -> dict[str, int]:
    return {"hits": self.hits, "misses": self.misses,
            "encoded": self.encoded, "size": len(self)}

  def _load(self) -> None:
    index_path = self.folder / INDEX_NAME
    if not index_path.exists():
      if any(_SHARD_NAME.match(p.name) for p in self.folder.iterdir()):
        raise _Damaged(f"shards present but {INDEX_NAME} is missing")
      return
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
    blocks = []
    for shard in shards:
      try:
        name, count, digest = shard["file"], shard["count"], shard["sha256"]
      except (KeyError, TypeError):
        raise _Damaged(f"{index_path}: malformed shard entry {shard!r}"
                       ) from None
      path = self.folder / str(name)
      if not _SHARD_NAME.match(str(name)) or not path.is_file():
        raise _Damaged(f"{path}: shard missing")
      if _sha256(path) != digest:
        raise _Damaged(f"{path}: SHA-256 differs from the index (truncated "
                       "or modified)")
      try:
        block = np.load(path, allow_pickle=False)
      except (OSError, ValueError) as e:
        raise _Damaged(f"{path}: unreadable: {e}") from None
      if block.dtype != np.float32 or block.shape != (count, self.dim):
        raise _Damaged(f"{path}: {block.dtype}{block.shape}, expected "
                       f"float32({count}, {self.dim})")
      if not np.isfinite(block).all():
        raise _Damaged(f"{path}: non-finite values")
      blocks.append(block)
    if len(keys) != sum(b.shape[0] for b in blocks) or \
        len(set(keys)) != len(keys):
      raise _Damaged(f"{index_path}: {len(keys)} keys for "
                     f"{sum(b.shape[0] for b in blocks)} rows, or duplicates")
    self._shards, self._keys = list(shards), list(keys)
    self._row = {k: i for i, k in enumerate(keys)}
    if blocks:
      self._vectors = np.concatenate(blocks)
    self._remove_orphans()

  def _remove_orphans(self) -> None:
    """Deletes shard and temp files the index does not list."""
    listed = {s["file"] for s in self._shards}
    for path in self.folder.iterdir():
      if ((_SHARD_NAME.match(path.name) and path.name not in listed) or
          path.name.endswith(".tmp")):
        path.unlink(missing_ok=True)

  def _reset(self) -> None:
    for path in self.folder.iterdir():
      if (_SHARD_NAME.match(path.name) or path.name == INDEX_NAME or
          path.name.endswith(".tmp")):
        path.unlink(missing_ok=True)
    self._shards, self._keys, self._row = [], [], {}
    self._vectors = np.zeros((0, self.dim), np.float32)

  def _write_shard(self, vectors: np.ndarray) -> dict:
    path = self.folder / f"shard-{uuid.uuid4().hex}.npy"
    _atomic_write(path, lambda f: np.save(f, vectors, allow_pickle=False))
    return {"file": path.name, "count": int(vectors.shape[0]),
            "sha256": _sha256(path)}

  def _append(self, keys: list[str], vectors: np.ndarray) -> None:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape != (len(keys), self.dim) or \
        not np.isfinite(vectors).all():
      raise ValueError(f"encoder returned {vectors.dtype}{vectors.shape} "
                       f"(finite: {np.isfinite(vectors).all()}), expected "
                       f"finite float32({len(keys)}, {self.dim})")
    all_vectors = np.concatenate([self._vectors, vectors])
    compact = len(self._shards) + 1 > MAX_SHARDS
    if compact:
      shards = [self._write_shard(all_vectors)]
    else:
      shards = self._shards + [self._write_shard(vectors)]
    all_keys = self._keys + keys
    index = {"format": FORMAT_VERSION, "identity": self.identity,
             "dim": self.dim, "dtype": "float32", "shards": shards,
             "keys": all_keys}
    _atomic_write(self.folder / INDEX_NAME,
                  lambda f: f.write(json.dumps(index).encode("utf-8")))
    self._shards, self._keys, self._vectors = shards, all_keys, all_vectors
    self._row.update((k, i) for i, k in enumerate(keys, len(self._row)))
    if compact:
      self._remove_orphans()

  def get(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
    """Embeddings [len(texts), dim] float32 in order; encodes only misses."""
    texts = list(texts)
    keys = [text_key(self.identity, t) for t in texts]
    found = sum(k in self._row for k in keys)
    self.hits += found
    self.misses += len(keys) - found
    todo = {k: t for k, t in zip(keys, texts) if k not in self._row}
    if todo:
      vectors = self.encoder.encode(list(todo.values()), progress=progress)
      self._append(list(todo), vectors)
      self.encoded += len(todo)
    if not keys:
      return np.zeros((0, self.dim), np.float32)
    return self._vectors[[self._row[k] for k in keys]]
