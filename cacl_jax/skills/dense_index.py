"""Dense index of ESCO skill names: the frozen encoder's label matrix, kept
on disk, and exact top-k search in jitted chunks.

Every label row of a `concepts.LabelTable` (preferred and alternative
labels) is encoded once; the matrix is stored under
`<cache root>/skill_index/<key>/` as `labels.npy` with `manifest.json`
(format version, encoder identity, ESCO fingerprint
`esco_files.EscoFiles.fingerprint`, label count, dim, SHA-256 of the label
texts and of the matrix file). The key hashes the format, the identity, the
fingerprint and the label texts, so a new model, ESCO release or label
choice gets its own folder. A folder whose manifest or
matrix fails a check (missing, unreadable, other hash or shape, non-finite
values) is rebuilt with an `IndexCacheWarning`. Writers hold a lock on the
folder, so processes sharing it take turns.

Search is exact: the label matrix is split into chunks of `CHUNK_ROWS`
rows (the last one padded and masked), and one jitted step scores a block
of `QUERY_ROWS` queries against a chunk and merges the chunk's top k into
the running top k. Every call has the same shapes, so the step compiles
once per k.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import warnings
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cacl_jax.common import files
from cacl_jax.ontology import esco_files
from cacl_jax.skills import concepts

FORMAT_VERSION = 1
MATRIX_NAME = "labels.npy"
MANIFEST_NAME = "manifest.json"
CHUNK_ROWS = 4096
QUERY_ROWS = 64

Embed = Callable[[Sequence[str]], np.ndarray]


class IndexCacheWarning(RuntimeWarning):
  """A cached label matrix failed its checks and was rebuilt."""


class _Damaged(Exception):
  pass


@functools.partial(jax.jit, static_argnames=("k",))
def _merge_chunk(query_QxD, chunk_CxD, valid_C, offset, best_QxK, rows_QxK,
                 *, k: int):
  """Scores a chunk and merges its top min(k, C) into the running top k."""
  score_QxC = jnp.where(valid_C[None, :], query_QxD @ chunk_CxD.T, -jnp.inf)
  top_QxM, idx_QxM = jax.lax.top_k(score_QxC, min(k, chunk_CxD.shape[0]))
  all_QxA = jnp.concatenate([best_QxK, top_QxM], axis=1)
  rows_QxA = jnp.concatenate([rows_QxK, idx_QxM + offset], axis=1)
  best_QxK, pick_QxK = jax.lax.top_k(all_QxA, k)
  return best_QxK, jnp.take_along_axis(rows_QxA, pick_QxK, axis=1)


class ChunkedSearch:
  """Exact inner-product top k of queries against fixed rows.

  Chunks hold `chunk_rows` rows (fewer, rounded up to 128, for a smaller
  matrix); queries go in blocks of `query_rows`.
  """

  def __init__(self, rows_NxD: np.ndarray, chunk_rows: int = CHUNK_ROWS,
               query_rows: int = QUERY_ROWS):
    rows_NxD = np.asarray(rows_NxD, np.float32)
    self.num_rows, self.dim = rows_NxD.shape
    self.query_rows = query_rows
    chunk_rows = min(chunk_rows, -(-self.num_rows // 128) * 128)
    chunks = -(-self.num_rows // chunk_rows)
    padded = np.zeros((chunks * chunk_rows, self.dim), np.float32)
    padded[:self.num_rows] = rows_NxD
    valid = np.arange(len(padded)) < self.num_rows
    self._chunks = [(jnp.asarray(padded[i:i + chunk_rows]),
                     jnp.asarray(valid[i:i + chunk_rows]), i)
                    for i in range(0, len(padded), chunk_rows)]

  def top_k(self, query_QxD: np.ndarray, k: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """(scores [Q, k] best first, row numbers [Q, k]); k ≤ the row count."""
    if not 1 <= k <= self.num_rows:
      raise ValueError(f"k={k} outside [1, {self.num_rows}]")
    query_QxD = np.asarray(query_QxD, np.float32).reshape(-1, self.dim)
    scores = np.zeros((len(query_QxD), k), np.float32)
    rows = np.zeros((len(query_QxD), k), np.int32)
    for start in range(0, len(query_QxD), self.query_rows):
      part = query_QxD[start:start + self.query_rows]
      block = np.zeros((self.query_rows, self.dim), np.float32)
      block[:len(part)] = part
      best = jnp.full((self.query_rows, k), -jnp.inf)
      found = jnp.zeros((self.query_rows, k), jnp.int32)
      for chunk, valid, offset in self._chunks:
        best, found = _merge_chunk(block, chunk, valid, offset, best, found,
                                   k=k)
      scores[start:start + len(part)] = np.asarray(best)[:len(part)]
      rows[start:start + len(part)] = np.asarray(found)[:len(part)]
    return scores, rows


@dataclasses.dataclass(frozen=True, eq=False)
class DenseLabelIndex:
  """The label matrix of a `LabelTable` and its search.

  Attributes:
    table: the skills and label rows the matrix rows stand for.
    emb_LxD: L2-normalised embedding of each label row.
    folder: where the matrix is cached.
    built: whether this call encoded the labels (False: read from cache).
  """
  table: concepts.LabelTable
  emb_LxD: np.ndarray
  folder: pathlib.Path
  built: bool

  @functools.cached_property
  def search(self) -> ChunkedSearch:
    return ChunkedSearch(self.emb_LxD)

  @functools.cached_property
  def _skill_starts(self) -> np.ndarray:
    """First label row of each skill (label rows are grouped by skill)."""
    skill_L = self.table.skill_L
    if np.any(np.diff(skill_L) < 0) or \
        len(np.unique(skill_L)) != len(self.table.skills):
      raise ValueError("label rows must be grouped by skill, every skill "
                       "named")
    return np.flatnonzero(np.r_[True, np.diff(skill_L) != 0])

  def skill_scores(self, query_QxD: np.ndarray) -> np.ndarray:
    """[Q, skills]: each skill's best cosine similarity over its labels,
    for every skill (exact; for a few queries, e.g. a text's sentences)."""
    sim_QxL = np.asarray(query_QxD, np.float32) @ self.emb_LxD.T
    return np.maximum.reduceat(sim_QxL, self._skill_starts, axis=1)


def labels_sha256(table: concepts.LabelTable) -> str:
  """Hash of the label texts in row order (a preferred-labels-only table of
  one ESCO folder differs from the full one)."""
  return hashlib.sha256("\n".join(table.texts).encode()).hexdigest()


def cache_folder(cache_dir: os.PathLike | str, identity: str,
                 fingerprint: str, table: concepts.LabelTable
                 ) -> pathlib.Path:
  """The folder of one (encoder identity, ESCO fingerprint, labels)."""
  key = hashlib.sha256(
      f"{FORMAT_VERSION}|{identity}|{fingerprint}|{labels_sha256(table)}"
      .encode()).hexdigest()[:20]
  return pathlib.Path(cache_dir) / key


def _manifest(identity: str, fingerprint: str, table: concepts.LabelTable,
              dim: int, sha256: str) -> dict:
  return {"format": FORMAT_VERSION, "identity": identity,
          "esco_fingerprint": fingerprint, "labels": len(table), "dim": dim,
          "labels_sha256": labels_sha256(table), "matrix_sha256": sha256}


def _read_cached(folder: pathlib.Path, expected: dict) -> np.ndarray | None:
  """The cached matrix, None when nothing is cached; `_Damaged` when the
  cache fails a check."""
  manifest_path, matrix_path = folder / MANIFEST_NAME, folder / MATRIX_NAME
  if not manifest_path.exists() and not matrix_path.exists():
    return None
  try:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise _Damaged(f"{manifest_path}: unreadable manifest: {e!r}") from None
  differs = [k for k in expected if k != "matrix_sha256"
             and manifest.get(k) != expected[k]]
  if differs:
    raise _Damaged(f"{manifest_path}: fields {differs} differ")
  if not matrix_path.is_file() or \
      files.sha256_file(matrix_path) != manifest.get("matrix_sha256"):
    raise _Damaged(f"{matrix_path}: missing or SHA-256 differs from the "
                   "manifest")
  matrix = np.load(matrix_path, allow_pickle=False)
  if matrix.dtype != np.float32 or \
      matrix.shape != (expected["labels"], expected["dim"]) or \
      not np.isfinite(matrix).all():
    raise _Damaged(f"{matrix_path}: {matrix.dtype}{matrix.shape} or "
                   "non-finite values")
  return matrix


def _write(folder: pathlib.Path, matrix: np.ndarray, manifest: dict) -> None:
  matrix_path = folder / MATRIX_NAME
  files.atomic_write(matrix_path,
                     lambda f: np.save(f, matrix, allow_pickle=False),
                     needed_bytes=matrix.nbytes + 128)
  manifest["matrix_sha256"] = files.sha256_file(matrix_path)
  files.write_json(folder / MANIFEST_NAME, manifest)


def load_or_build(esco_dir: os.PathLike | str, table: concepts.LabelTable,
                  embed: Embed, identity: str, dim: int,
                  cache_dir: os.PathLike | str | None = None
                  ) -> DenseLabelIndex:
  """The label matrix of `table` from the cache, else encoded with `embed`
  (texts → L2-normalised float32 [n, dim]) and cached.

  `cache_dir` defaults to `<files.cache_root()>/skill_index`.
  """
  fingerprint = esco_files.locate_esco_files(esco_dir).fingerprint()
  cache_dir = pathlib.Path(cache_dir or files.cache_root() / "skill_index")
  folder = cache_folder(cache_dir, identity, fingerprint, table)
  folder.mkdir(parents=True, exist_ok=True)
  expected = _manifest(identity, fingerprint, table, dim, "")
  with files.locked(folder / ".lock"):
    try:
      matrix = _read_cached(folder, expected)
    except _Damaged as e:
      warnings.warn(f"skill label index {folder} is damaged ({e}); "
                    "rebuilding it", IndexCacheWarning, stacklevel=2)
      matrix = None
    if matrix is not None:
      return DenseLabelIndex(table, matrix, folder, built=False)
    matrix = np.asarray(embed(list(table.texts)), np.float32)
    if matrix.shape != (len(table), dim) or not np.isfinite(matrix).all():
      raise ValueError(f"embed returned {matrix.dtype}{matrix.shape}, "
                       f"expected finite float32({len(table)}, {dim})")
    _write(folder, matrix, expected)
  return DenseLabelIndex(table, matrix, folder, built=True)
