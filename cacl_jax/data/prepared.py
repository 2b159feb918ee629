"""Splits as fixed-size arrays over a shared embedding table: the training input.

Everything the jitted training and evaluation steps read is here, computed once
from validated records: pair labels and ontology metadata, the unique resumes
and the unique job pool of each split (§5.9), the resumes × pool ontology
similarity used for curriculum negatives (§5.6) with which resumes and jobs
have skill URIs at all (the sampler's fallbacks), and the good-fit mask that
keeps a resume's own matches out of its negatives. Embeddings are stored once
per unique text and addressed by row.

`save_cached` / `load_cached` keep a `PreparedData` on disk as three files
beside each other: `<key>.npz` (the arrays), `<key>.json` (a summary) and,
written last, `<key>.manifest.json` (format version, size and SHA-256 of the
other two). A load checks the manifest and every array and raises
`PreparedCacheError` with the reason, so a truncated, modified or half
written cache is never used. A lock file `<key>.lock` makes a save and a
load by different processes take turns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import zipfile
from typing import Any, Callable, Sequence

import numpy as np

from cacl_jax.common import files
from cacl_jax.data import records, serialize, splits as splits_lib

EmbedFn = Callable[[Sequence[str]], np.ndarray]
SimilarityFn = Callable[[Sequence[Sequence[str]], Sequence[Sequence[str]]],
                        np.ndarray]

_SPLIT_NAMES = ("train", "val", "test")
_ID_FIELDS = ("pair_ids", "job_ids")
# Bump when the arrays or the cache files change meaning (2: job_has_uris_P,
# and similarities that keep URIs unknown to the ontology as set members).
CACHE_FORMAT = "prepared-cache/2"


@dataclasses.dataclass(frozen=True)
class SplitArrays:
  """One split: N pairs over R unique resumes and a pool of P unique jobs."""
  pair_ids: tuple[str, ...]
  resume_N: np.ndarray  # int32, index into the split's unique resumes
  job_N: np.ndarray  # int32, index into the split's job pool
  label_N: np.ndarray  # int32, binary label (good_fit = 1)
  original_label_N: np.ndarray  # int32, index into records.LABELS
  tier_N: np.ndarray  # int32, index into records.QUALITY_TIERS
  ontology_similarity_N: np.ndarray  # float32, NaN where not available
  ot_distance_N: np.ndarray  # float32, NaN where not available
  resume_row_R: np.ndarray  # int32, row of the resume text in the table
  resume_has_uris_R: np.ndarray  # bool
  job_row_P: np.ndarray  # int32, row of the job text in the table
  job_has_uris_P: np.ndarray  # bool
  job_ids: tuple[str, ...]
  sim_RxP: np.ndarray  # float32, ontology_set_similarity (§4.4)
  good_RxP: np.ndarray  # bool, the resume is a good fit for that job here

  @property
  def num_pairs(self) -> int:
    return len(self.pair_ids)


@dataclasses.dataclass(frozen=True)
class PreparedData:
  emb_TxD: np.ndarray  # float32, frozen encoder embedding of every text
  train: SplitArrays
  val: SplitArrays
  test: SplitArrays

  def split(self, name: str) -> SplitArrays:
    if name not in _SPLIT_NAMES:
      raise KeyError(f"unknown split {name!r}; expected one of {_SPLIT_NAMES}")
    return getattr(self, name)


class PreparedCacheError(Exception):
  """A prepared-data cache cannot be used; `path` is the file at fault."""

  def __init__(self, path: pathlib.Path, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path, self.reason = path, reason


class PreparedCacheMissing(PreparedCacheError):
  """No file of the cache exists: it was never written."""


def _split_arrays(pairs: Sequence[records.Pair], text_row: dict[str, int],
                  similarity: SimilarityFn) -> SplitArrays:
  resume_index: dict[str, int] = {}
  resumes: list[records.Resume] = []
  pool = splits_lib.unique_jobs(pairs)
  job_index = {job.job_id: i for i, job in enumerate(pool)}
  resume_n, job_n, tier_n = [], [], []
  for pair in pairs:
    key = serialize.serialize_resume(pair.resume)
    if key not in resume_index:
      resume_index[key] = len(resumes)
      resumes.append(pair.resume)
    resume_n.append(resume_index[key])
    job_n.append(job_index[pair.job.job_id])
    if pair.metadata.quality_tier is None:
      raise ValueError(f"pair {pair.pair_id!r} has no quality_tier: enrich "
                       "the data first (scripts/prepare_data.py)")
    tier_n.append(records.QUALITY_TIERS.index(pair.metadata.quality_tier))
  resume_n = np.asarray(resume_n, np.int32)
  job_n = np.asarray(job_n, np.int32)
  label_n = np.asarray([p.binary_label for p in pairs], np.int32)
  good = np.zeros((len(resumes), len(pool)), bool)
  good[resume_n[label_n == 1], job_n[label_n == 1]] = True

  def optional(values):
    return np.asarray([np.nan if v is None else v for v in values],
                      np.float32)

  return SplitArrays(
      pair_ids=tuple(p.pair_id for p in pairs),
      resume_N=resume_n,
      job_N=job_n,
      label_N=label_n,
      original_label_N=np.asarray([records.LABELS.index(p.label)
                                   for p in pairs], np.int32),
      tier_N=np.asarray(tier_n, np.int32),
      ontology_similarity_N=optional(p.metadata.ontology_similarity
                                     for p in pairs),
      ot_distance_N=optional(p.metadata.ot_distance for p in pairs),
      resume_row_R=np.asarray([text_row[k] for k in resume_index], np.int32),
      resume_has_uris_R=np.asarray([bool(r.skill_uris) for r in resumes],
                                   bool),
      job_row_P=np.asarray([text_row[serialize.serialize_job(j)]
                            for j in pool], np.int32),
      job_has_uris_P=np.asarray([bool(j.skill_uris) for j in pool], bool),
      job_ids=tuple(job.job_id for job in pool),
      sim_RxP=np.asarray(similarity([r.skill_uris for r in resumes],
                                    [j.skill_uris for j in pool]),
                         np.float32).reshape(len(resumes), len(pool)),
      good_RxP=good)


def unique_texts(pairs: Sequence[records.Pair]) -> list[str]:
  """Every distinct serialized resume and job text, in first-seen order."""
  texts: dict[str, None] = {}
  for pair in pairs:
    texts.setdefault(serialize.serialize_resume(pair.resume))
    texts.setdefault(serialize.serialize_job(pair.job))
  return list(texts)


def build_prepared(data: splits_lib.Splits, embed: EmbedFn,
                   similarity: SimilarityFn) -> PreparedData:
  """Turns enriched, split records into `PreparedData`.

  `embed` maps texts to L2-normalised encoder embeddings (a cache in front of
  the frozen encoder); `similarity` maps resume and job skill-URI lists to
  their ontology_set_similarity grid.
  """
  texts = unique_texts([p for _, part in data.items() for p in part])
  emb = np.asarray(embed(texts), np.float32)
  if emb.shape[0] != len(texts):
    raise ValueError(f"embed returned {emb.shape[0]} rows for {len(texts)} "
                     "texts")
  text_row = {t: i for i, t in enumerate(texts)}
  return PreparedData(
      emb_TxD=emb,
      **{name: _split_arrays(part, text_row, similarity)
         for name, part in data.items()})


def fingerprint(data: PreparedData) -> str:
  """Hex SHA-256 of every array's name, dtype, shape and bytes and of the
  id tuples: equal for equal data, however it was stored or loaded."""
  digest = hashlib.sha256()
  for name, value in _arrays(data).items():
    value = np.ascontiguousarray(value)
    digest.update(json.dumps([name, value.dtype.str, value.shape]).encode())
    digest.update(value.tobytes())
  return digest.hexdigest()


def _arrays(data: PreparedData) -> dict[str, np.ndarray]:
  """Every field as a named array; ids as unicode arrays."""
  arrays = {"emb_TxD": np.asarray(data.emb_TxD)}
  for name in _SPLIT_NAMES:
    for field in dataclasses.fields(SplitArrays):
      value = getattr(data.split(name), field.name)
      arrays[f"{name}/{field.name}"] = (np.asarray(value, str)
                                        if field.name in _ID_FIELDS
                                        else np.asarray(value))
  return arrays


def _write_npz(path: pathlib.Path, data: PreparedData) -> None:
  arrays = _arrays(data)
  files.atomic_write(path, lambda f: np.savez(f, **arrays),
                     needed_bytes=sum(a.nbytes for a in arrays.values()))


def save_prepared(path: str | pathlib.Path, data: PreparedData) -> None:
  """Writes all arrays to one .npz (atomic replace), without a manifest."""
  _write_npz(pathlib.Path(path), data)


def load_prepared(path: str | pathlib.Path) -> PreparedData:
  """Reads a .npz of `save_prepared`; checks its arrays, not its bytes."""
  path = pathlib.Path(path)
  try:
    with np.load(path, allow_pickle=False) as z:
      return _from_arrays(path, {key: z[key] for key in z.files})
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
    raise PreparedCacheError(path, f"unreadable arrays ({type(e).__name__}: "
                                   f"{e})") from None


# Expected dtype kind ("U": unicode) or dtype, and shape in size names, of
# every SplitArrays field.
_SPLIT_SPEC: dict[str, tuple[str, tuple[str, ...]]] = {
    "pair_ids": ("U", ("N",)),
    "resume_N": ("int32", ("N",)),
    "job_N": ("int32", ("N",)),
    "label_N": ("int32", ("N",)),
    "original_label_N": ("int32", ("N",)),
    "tier_N": ("int32", ("N",)),
    "ontology_similarity_N": ("float32", ("N",)),
    "ot_distance_N": ("float32", ("N",)),
    "resume_row_R": ("int32", ("R",)),
    "resume_has_uris_R": ("bool", ("R",)),
    "job_row_P": ("int32", ("P",)),
    "job_has_uris_P": ("bool", ("P",)),
    "job_ids": ("U", ("P",)),
    "sim_RxP": ("float32", ("R", "P")),
    "good_RxP": ("bool", ("R", "P")),
}
# Index arrays and the size they index into.
_INDEX_BOUNDS = {"resume_N": "R", "job_N": "P", "resume_row_R": "T",
                 "job_row_P": "T"}


def _check_array(value: np.ndarray, kind: str, shape: tuple[str, ...],
                 sizes: dict[str, int]) -> str:
  """Why `value` does not match its spec ("" if it does)."""
  dtype_ok = (value.dtype.kind == "U" if kind == "U"
              else value.dtype == np.dtype(kind))
  expected = tuple(sizes[s] for s in shape)
  if not dtype_ok or value.shape != expected:
    return f"{value.dtype}{value.shape}, expected {kind}{expected}"
  return ""


def _split_from_arrays(path: pathlib.Path, name: str,
                       arrays: dict[str, np.ndarray], rows: int
                       ) -> SplitArrays:
  fields = {}
  for field in _SPLIT_SPEC:
    if f"{name}/{field}" not in arrays:
      raise PreparedCacheError(path, f"array {name}/{field} missing")
    fields[field] = arrays[f"{name}/{field}"]
  sizes = {"N": fields["pair_ids"].shape[0],
           "R": fields["resume_row_R"].shape[0],
           "P": fields["job_ids"].shape[0], "T": rows}
  for field, (kind, shape) in _SPLIT_SPEC.items():
    if problem := _check_array(fields[field], kind, shape, sizes):
      raise PreparedCacheError(path, f"array {name}/{field} is {problem}")
  for field, bound in _INDEX_BOUNDS.items():
    value = fields[field]
    if value.size and (value.min() < 0 or value.max() >= sizes[bound]):
      raise PreparedCacheError(path, f"array {name}/{field} holds indices "
                                     f"outside [0, {sizes[bound]})")
  for field in _ID_FIELDS:
    fields[field] = tuple(fields[field].tolist())
  return SplitArrays(**fields)


def _from_arrays(path: pathlib.Path, arrays: dict[str, np.ndarray]
                 ) -> PreparedData:
  """`PreparedData` from the arrays of `_arrays`, checking names, dtypes,
  shapes and index ranges."""
  emb = arrays.get("emb_TxD")
  if emb is None or emb.dtype != np.float32 or emb.ndim != 2:
    found = "missing" if emb is None else f"{emb.dtype}{emb.shape}"
    raise PreparedCacheError(path, f"array emb_TxD is {found}, expected "
                                   "float32 [T, D]")
  return PreparedData(
      emb_TxD=emb,
      **{name: _split_from_arrays(path, name, arrays, emb.shape[0])
         for name in _SPLIT_NAMES})


def cache_paths(path: str | pathlib.Path) -> dict[str, pathlib.Path]:
  """The files of the cache whose arrays are at `path` (a .npz)."""
  path = pathlib.Path(path)
  return {"npz": path, "summary": path.with_suffix(".json"),
          "manifest": path.with_suffix(".manifest.json"),
          "lock": path.with_suffix(".lock")}


def _file_entry(path: pathlib.Path) -> dict[str, Any]:
  return {"name": path.name, "size": path.stat().st_size,
          "sha256": files.sha256_file(path)}


def _remove_temporaries(paths: dict[str, pathlib.Path]) -> None:
  """Deletes temporary files an interrupted save of these files left."""
  for key in ("npz", "summary", "manifest"):
    for tmp in paths[key].parent.glob(f".{paths[key].name}.*.tmp"):
      tmp.unlink(missing_ok=True)


def save_cached(path: str | pathlib.Path, data: PreparedData,
                summary: dict[str, Any]) -> None:
  """Writes `data` to `path` (.npz), `summary` beside it, and last the
  manifest with both files' size and SHA-256.

  Holds the cache's lock throughout, so a concurrent `load_cached` sees the
  old files or the new ones, never a mix. A full disk raises
  `files.WriteError` naming the file.
  """
  paths = cache_paths(path)
  paths["npz"].parent.mkdir(parents=True, exist_ok=True)
  with files.locked(paths["lock"]):
    _remove_temporaries(paths)
    paths["manifest"].unlink(missing_ok=True)
    _write_npz(paths["npz"], data)
    text = json.dumps(summary, indent=2, ensure_ascii=False).encode("utf-8")
    files.atomic_write(paths["summary"], lambda f: f.write(text),
                       needed_bytes=len(text))
    files.write_json(paths["manifest"], {
        "format": CACHE_FORMAT,
        "files": {key: _file_entry(paths[key]) for key in ("npz", "summary")},
    })


def _check_manifest(paths: dict[str, pathlib.Path]) -> None:
  """Checks the manifest and the files it lists (size, SHA-256)."""
  manifest_path = paths["manifest"]
  if not manifest_path.is_file():
    if not (paths["npz"].exists() or paths["summary"].exists()):
      raise PreparedCacheMissing(manifest_path, "no cache yet")
    raise PreparedCacheError(manifest_path, "manifest missing (an "
                             "interrupted write, or an older version's cache)")
  try:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    version, entries = manifest["format"], manifest["files"]
    expected = {key: (entries[key]["size"], entries[key]["sha256"])
                for key in ("npz", "summary")}
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise PreparedCacheError(manifest_path, f"unreadable manifest "
                             f"({type(e).__name__}: {e})") from None
  if version != CACHE_FORMAT:
    raise PreparedCacheError(manifest_path, f"format {version!r}, expected "
                             f"{CACHE_FORMAT!r}")
  for key, (size, digest) in expected.items():
    file_path = paths[key]
    if not file_path.is_file():
      raise PreparedCacheError(file_path, "file missing")
    if file_path.stat().st_size != size:
      raise PreparedCacheError(file_path, f"{file_path.stat().st_size} bytes, "
                               f"the manifest says {size}")
    if files.sha256_file(file_path) != digest:
      raise PreparedCacheError(file_path, "SHA-256 differs from the manifest "
                               "(modified or damaged)")


def load_cached(path: str | pathlib.Path
                ) -> tuple[PreparedData, dict[str, Any]]:
  """The data and summary `save_cached` wrote to `path`, after checking the
  manifest (present, readable, this format, sizes, SHA-256) and the arrays.

  Raises `PreparedCacheMissing` if no file of the cache exists and
  `PreparedCacheError` naming the file and the reason for anything else.
  """
  paths = cache_paths(path)
  if not paths["npz"].parent.is_dir():
    raise PreparedCacheMissing(paths["manifest"], "no cache yet")
  with files.locked(paths["lock"], shared=True):
    _check_manifest(paths)
    data = load_prepared(paths["npz"])
    try:
      summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
      raise PreparedCacheError(paths["summary"], f"unreadable summary "
                               f"({type(e).__name__}: {e})") from None
  if not isinstance(summary, dict):
    raise PreparedCacheError(paths["summary"], "summary is not a JSON object")
  return data, summary
