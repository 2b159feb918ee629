"""On-disk cache of the skill distance matrix, memory-mapped when reused.

Layout: `<cache_dir>/skill_distances_<fingerprint[:16]>/` holds
`distances.npy` (uint8 [S, S]) and `manifest.json`, where the fingerprint
is the sha256 of the ESCO files the graph is built from (`EscoFiles`), so
caches of several ESCO versions live side by side. The manifest records the
code version, the full fingerprint, the per-file hashes, the shape, the hash
of the skill URI order and the sha256 of `distances.npy`.

A cache is reused only if its manifest parses, names this `CODE_VERSION` and
fingerprint, and the matrix has the recorded shape and (with `verify`) the
recorded checksum; otherwise it is rebuilt, and the reason is returned and
logged: at INFO when there was no cache yet, as a WARNING when an existing
one was stale, damaged or incomplete. Files are written with
`common.files.atomic_write`, matrix first and manifest last, so an
interrupted build never looks valid and a full disk raises a `WriteError`
naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import time

from absl import logging
import numpy as np

from cacl_jax.common import files
from cacl_jax.ontology import distances as dist_lib
from cacl_jax.ontology import esco_files as ef
from cacl_jax.ontology import graph as graph_lib

# Bump when the distance definition, the skill order or the layout changes.
CODE_VERSION = "skill-distances/1"
MATRIX_FILE = "distances.npy"
MANIFEST_FILE = "manifest.json"
NO_CACHE = "no cache yet"

PathLike = str | os.PathLike


@dataclasses.dataclass(frozen=True)
class DistanceCache:
  """The (memory-mapped) matrix and how it was obtained."""
  distances: np.ndarray
  directory: pathlib.Path
  rebuilt: bool
  # Why the cache was (re)built; "" when an existing one was reused.
  reason: str


def skill_order_sha256(row_to_uri: tuple[str, ...]) -> str:
  return hashlib.sha256("\n".join(row_to_uri).encode()).hexdigest()


def cache_directory(cache_dir: PathLike, fingerprint: str) -> pathlib.Path:
  return pathlib.Path(cache_dir) / f"skill_distances_{fingerprint[:16]}"


def _stale_reason(directory: pathlib.Path, fingerprint: str,
                  skill_order: str | None, verify: bool) -> str:
  """Why the cache in `directory` cannot be used; "" if it can."""
  manifest_path = directory / MANIFEST_FILE
  if not manifest_path.is_file():
    if (directory / MATRIX_FILE).exists():
      return f"incomplete cache ({MATRIX_FILE} without {MANIFEST_FILE})"
    return NO_CACHE
  try:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    checks = [
        (manifest["code_version"] == CODE_VERSION,
         f"built by code version {manifest['code_version']!r}"),
        (manifest["esco_fingerprint"] == fingerprint, "ESCO files changed"),
        (skill_order is None or manifest["skill_order_sha256"] == skill_order,
         "skill order changed"),
    ]
    shape = tuple(manifest["shape"])
    expected_sha = manifest["matrix_sha256"]
  except (ValueError, KeyError, TypeError) as e:
    return f"damaged manifest ({type(e).__name__}: {e})"
  for ok, reason in checks:
    if not ok:
      return reason
  matrix_path = directory / MATRIX_FILE
  try:
    matrix = np.load(matrix_path, mmap_mode="r")
  except (OSError, ValueError) as e:
    return f"damaged matrix ({type(e).__name__}: {e})"
  if matrix.shape != shape or matrix.dtype != np.uint8:
    return f"damaged matrix (shape {matrix.shape} {matrix.dtype})"
  if verify and files.sha256_file(matrix_path) != expected_sha:
    return "damaged matrix (checksum mismatch)"
  return ""


def _build(directory: pathlib.Path, ontology: graph_lib.Ontology,
           fingerprint: str, backend: str, progress: bool) -> None:
  start = time.perf_counter()
  matrix = dist_lib.skill_distance_matrix(
      ontology.undirected_adjacency(), ontology.skill_nodes_S,
      backend=backend, progress=progress)
  seconds = time.perf_counter() - start
  directory.mkdir(parents=True, exist_ok=True)
  (directory / MANIFEST_FILE).unlink(missing_ok=True)
  matrix_path = files.atomic_write(directory / MATRIX_FILE,
                                   lambda f: np.save(f, matrix),
                                   needed_bytes=matrix.nbytes)
  manifest = {
      "code_version": CODE_VERSION,
      "esco_fingerprint": fingerprint,
      "esco_files": {
          stem: (None if path is None else
                 {"name": path.name, "sha256": files.sha256_file(path)})
          for stem, path in ontology.files.paths.items()},
      "shape": list(matrix.shape),
      "dtype": "uint8",
      "no_path": dist_lib.NO_PATH,
      "skill_order_sha256": skill_order_sha256(
          ontology.skill_index.row_to_uri),
      "matrix_sha256": files.sha256_file(matrix_path),
      "backend": backend,
      "build_seconds": round(seconds, 3),
  }
  files.write_json(directory / MANIFEST_FILE, manifest)


def _log_rebuild(directory: pathlib.Path, reason: str) -> None:
  """INFO for a first build; WARNING when an existing cache is replaced."""
  if reason == NO_CACHE:
    logging.info("Building skill distances in %s: %s", directory, reason)
  else:
    logging.warning("Rebuilding skill distances in %s: %s", directory,
                    reason)


def open_distance_cache(esco_dir: PathLike, cache_dir: PathLike, *,
                        backend: str = "scipy",
                        ontology: graph_lib.Ontology | None = None,
                        verify: bool = True,
                        progress: bool = False) -> DistanceCache:
  """Reuses the cached matrix of `esco_dir`, or (re)builds it.

  `ontology`, if given, must be `load_ontology(esco_dir)`; it saves a
  reload when building and adds a check of the skill order.
  """
  esco = ef.locate_esco_files(esco_dir)
  if (ontology is not None and
      ontology.files.folder.resolve() != esco.folder.resolve()):
    raise ValueError(f"ontology of {ontology.files.folder} given for the "
                     f"distances of {esco.folder}")
  fingerprint = esco.fingerprint()
  directory = cache_directory(cache_dir, fingerprint)
  skill_order = (None if ontology is None else
                 skill_order_sha256(ontology.skill_index.row_to_uri))
  reason = _stale_reason(directory, fingerprint, skill_order, verify)
  if reason:
    _log_rebuild(directory, reason)
    if ontology is None:
      ontology = graph_lib.load_ontology(esco_dir)
    _build(directory, ontology, fingerprint, backend, progress)
  matrix = np.load(directory / MATRIX_FILE, mmap_mode="r")
  return DistanceCache(distances=matrix, directory=directory,
                       rebuilt=bool(reason), reason=reason)


def load_or_build_distances(esco_dir: PathLike, cache_dir: PathLike,
                            backend: str = "scipy", **kwargs) -> np.ndarray:
  """uint8 [S, S] memory-mapped skill distances (see `open_distance_cache`)."""
  return open_distance_cache(esco_dir, cache_dir, backend=backend,
                             **kwargs).distances
