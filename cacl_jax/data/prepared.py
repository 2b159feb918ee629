"""Splits as fixed-size arrays over a shared embedding table: the training input.

Everything the jitted training and evaluation steps read is here, computed once
from validated records: pair labels and ontology metadata, the unique resumes
and the unique job pool of each split (§5.9), which resumes and jobs have
skill URIs at all (the sampler's fallbacks), and per resume a fixed-width
list of candidate negative jobs with their ontology similarity for the
curriculum negatives (§5.6; `negatives.CandidateLists`), good fits left out.
Every array grows with pairs, resumes or jobs, never with resumes × pool: the
lists are made in chunks of resumes, and for a pool wider than the lists
from a sparse search of the pairs that can reach the medium bucket
(`set_similarity.SetsAgainstPool.close_pairs`). Embeddings are stored once
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
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from cacl_jax.common import files
from cacl_jax.data import records, serialize, splits as splits_lib
from cacl_jax.phase1 import negatives

EmbedFn = Callable[[Sequence[str]], np.ndarray]
SimilarityFn = Callable[[Sequence[Sequence[str]], Sequence[Sequence[str]]],
                        np.ndarray]
# Resumes per chunk when making candidate lists.
CANDIDATE_CHUNK = 4096
# Texts per call of the embedding function (its tokenizer holds a chunk's
# tokens as Python objects, several KB per text).
EMBED_CHUNK = 16384


class ResumesAgainstPool(Protocol):
  """§4.4 similarities of a chunk of resumes against a split's job pool."""

  def grid(self) -> np.ndarray:
    """float32 [A, P]."""

  def pairs(self, a_Q: np.ndarray, b_Q: np.ndarray) -> np.ndarray:
    """float32 [Q] of (resume a_Q[q], job b_Q[q])."""

  def close_pairs(self, min_similarity: float,
                  jobs: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(resume, job, similarity) of every pair with a job of `jobs` (sorted
    pool indices; None: every job) that may reach `min_similarity`, and
    possibly more."""


class JobPool(Protocol):
  def sets(self, resume_uris: Sequence[Sequence[str]]) -> ResumesAgainstPool:
    """The resumes with these skill URIs against the pool."""


class GridPool:
  """A `JobPool` over a `SimilarityFn` that returns whole grids (used for
  small or synthetic data: a chunk of resumes costs its row of the grid)."""

  def __init__(self, similarity: SimilarityFn,
               job_uris: Sequence[Sequence[str]]):
    self._similarity, self._job_uris = similarity, job_uris

  def sets(self, resume_uris):
    return _GridRows(np.asarray(self._similarity(resume_uris, self._job_uris),
                                np.float32).reshape(len(resume_uris),
                                                    len(self._job_uris)))


class _GridRows:
  def __init__(self, grid_AxP: np.ndarray):
    self._grid = grid_AxP

  def grid(self) -> np.ndarray:
    return self._grid

  def pairs(self, a_Q, b_Q) -> np.ndarray:
    return self._grid[a_Q, b_Q]

  def close_pairs(self, min_similarity, jobs=None):
    jobs = np.arange(self._grid.shape[1]) if jobs is None else jobs
    a_Q, col_Q = np.nonzero(self._grid[:, jobs] >= min_similarity - 1e-6)
    return a_Q, jobs[col_Q], self._grid[a_Q, jobs[col_Q]]

_SPLIT_NAMES = ("train", "val", "test")
_ID_FIELDS = ("pair_ids", "job_ids")
# Bump when the arrays or the cache files change meaning (2: job_has_uris_P,
# and similarities that keep URIs unknown to the ontology as set members;
# 3: per-resume candidate lists instead of the resumes × pool grids).
CACHE_FORMAT = "prepared-cache/3"


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
  # Candidate negatives of each resume (`negatives.CandidateLists`): M pool
  # jobs, their ontology_set_similarity (§4.4), and which slots ontology and
  # uniform draws may take. M = P for a pool of at most
  # `CandidateSettings.width` jobs (the whole pool in pool order).
  cand_job_RxM: np.ndarray  # int32, index into the split's job pool
  cand_sim_RxM: np.ndarray  # float32
  cand_ontology_RxM: np.ndarray  # bool
  cand_uniform_RxM: np.ndarray  # bool

  @property
  def num_pairs(self) -> int:
    return len(self.pair_ids)

  def good_pairs(self) -> tuple[np.ndarray, np.ndarray]:
    """(resume, job) of every distinct good-fit combination, sorted."""
    return good_pairs(self.resume_N, self.job_N, self.label_N,
                      len(self.job_ids))


def good_pairs(resume_N, job_N, label_N, num_jobs: int
               ) -> tuple[np.ndarray, np.ndarray]:
  """(resume, job) of every distinct good-fit combination of the pairs,
  sorted by resume, then job."""
  good_N = np.asarray(label_N) == 1
  keys = np.unique(np.asarray(resume_N)[good_N].astype(np.int64) * num_jobs
                   + np.asarray(job_N)[good_N])
  return np.divmod(keys, max(num_jobs, 1))


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


def candidate_lists(resume_uris: Sequence[Sequence[str]], pool: JobPool,
                    job_has_uris_P: np.ndarray,
                    good: tuple[np.ndarray, np.ndarray],
                    settings: negatives.CandidateSettings,
                    chunk: int = CANDIDATE_CHUNK) -> negatives.CandidateLists:
  """Candidate negatives of every resume, made `chunk` resumes at a time.

  `good` holds (resume, job) of the good fits, sorted by resume. A pool of
  at most `settings.width` jobs is listed whole from each chunk's rows of
  the grid; a larger one through `negatives.select_candidates` from the
  pairs that may reach the medium bucket (within each search block's
  `negatives.search_window`) and the drawn jobs' similarities. Chunks end
  at search-block boundaries too.
  """
  pool_size, num_resumes = len(job_has_uris_P), len(resume_uris)
  uriless_U = np.flatnonzero(~job_has_uris_P)
  starts = sorted({*range(0, num_resumes, chunk),
                   *range(0, num_resumes, settings.search_block)})
  parts = []
  for start, stop in zip(starts, starts[1:] + [num_resumes]):
    rows_c = np.arange(start, stop)
    lo, hi = np.searchsorted(good[0], [rows_c[0], rows_c[-1] + 1])
    good_r, good_j = good[0][lo:hi] - start, good[1][lo:hi]
    sets = pool.sets(resume_uris[start:stop])
    if pool_size <= settings.width:
      good_cxP = np.zeros((len(rows_c), pool_size), bool)
      good_cxP[good_r, good_j] = True
      parts.append(negatives.whole_pool_candidates(sets.grid(), good_cxP))
      continue
    a_Q, b_Q, sim_Q = sets.close_pairs(
        settings.medium_min_similarity, negatives.search_window(
            settings, start // settings.search_block, pool_size))
    with_uris = job_has_uris_P[b_Q]
    drawn_cxD = negatives.draw_jobs(settings, rows_c, pool_size)
    drawn_sim = sets.pairs(np.repeat(np.arange(len(rows_c)),
                                     drawn_cxD.shape[1]), drawn_cxD.ravel())
    parts.append(negatives.select_candidates(
        settings, rows_c, pool_size,
        (a_Q[with_uris], b_Q[with_uris], sim_Q[with_uris]), drawn_cxD,
        drawn_sim.reshape(drawn_cxD.shape), (good_r, good_j), uriless_U))
  return negatives.CandidateLists.concatenate(
      parts, min(pool_size, settings.width))


def candidate_fields(lists: negatives.CandidateLists) -> dict[str, np.ndarray]:
  """The `SplitArrays` fields holding candidate lists."""
  return {"cand_job_RxM": lists.job_RxM, "cand_sim_RxM": lists.sim_RxM,
          "cand_ontology_RxM": lists.ontology_RxM,
          "cand_uniform_RxM": lists.uniform_RxM}


class SerializedTexts:
  """§5.3 texts of records, each record object serialized once (enriched
  pairs share one object per distinct resume and job)."""

  def __init__(self):
    self._texts: dict[int, tuple[object, str]] = {}

  def _get(self, record, serialize_fn) -> str:
    found = self._texts.get(id(record))
    if found is None or found[0] is not record:
      found = (record, serialize_fn(record))
      self._texts[id(record)] = found
    return found[1]

  def resume(self, resume: records.Resume) -> str:
    return self._get(resume, serialize.serialize_resume)

  def job(self, job: records.Job) -> str:
    return self._get(job, serialize.serialize_job)


def _split_arrays(pairs: Sequence[records.Pair], text_row: dict[str, int],
                  pool_fn: Callable[[Sequence[Sequence[str]]], JobPool],
                  settings: negatives.CandidateSettings,
                  texts: SerializedTexts) -> SplitArrays:
  resume_index: dict[str, int] = {}
  resumes: list[records.Resume] = []
  pool = splits_lib.unique_jobs(pairs)
  job_index = {job.job_id: i for i, job in enumerate(pool)}
  resume_n, job_n, tier_n = [], [], []
  for pair in pairs:
    key = texts.resume(pair.resume)
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
  job_has_uris = np.asarray([bool(j.skill_uris) for j in pool], bool)
  candidates = candidate_lists(
      [r.skill_uris for r in resumes], pool_fn([j.skill_uris for j in pool]),
      job_has_uris, good_pairs(resume_n, job_n, label_n, len(pool)), settings)

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
      job_row_P=np.asarray([text_row[texts.job(j)]
                            for j in pool], np.int32),
      job_has_uris_P=job_has_uris,
      job_ids=tuple(job.job_id for job in pool),
      **candidate_fields(candidates))


def unique_texts(pairs: Sequence[records.Pair],
                 serialized: SerializedTexts | None = None) -> list[str]:
  """Every distinct serialized resume and job text, in first-seen order."""
  serialized = serialized or SerializedTexts()
  texts: dict[str, None] = {}
  for pair in pairs:
    texts.setdefault(serialized.resume(pair.resume))
    texts.setdefault(serialized.job(pair.job))
  return list(texts)


def build_prepared(data: splits_lib.Splits, embed: EmbedFn,
                   similarity: SimilarityFn | Callable[..., JobPool],
                   candidates: negatives.CandidateSettings = (
                       negatives.CandidateSettings()),
                   pools: bool = False) -> PreparedData:
  """Turns enriched, split records into `PreparedData`.

  `embed` maps texts to L2-normalised encoder embeddings (a cache in front of
  the frozen encoder), called `EMBED_CHUNK` texts at a time. `similarity`
  maps resume and job skill-URI lists to their ontology_set_similarity grid
  (called per chunk of resumes), or, with
  `pools`, a split's job skill-URI lists to a `JobPool`, which can also
  search the close pairs sparsely. `candidates` sets the candidate lists.
  """
  pool_fn = (similarity if pools
             else lambda job_uris: GridPool(similarity, job_uris))
  serialized = SerializedTexts()
  texts = unique_texts([p for _, part in data.items() for p in part],
                       serialized)
  emb = np.concatenate(
      [np.asarray(embed(texts[start:start + EMBED_CHUNK]), np.float32)
       for start in range(0, len(texts), EMBED_CHUNK)]
      or [np.zeros((0, 0), np.float32)])
  if emb.shape[0] != len(texts):
    raise ValueError(f"embed returned {emb.shape[0]} rows for {len(texts)} "
                     "texts")
  text_row = {t: i for i, t in enumerate(texts)}
  return PreparedData(
      emb_TxD=emb,
      **{name: _split_arrays(part, text_row, pool_fn, candidates, serialized)
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
    "cand_job_RxM": ("int32", ("R", "M")),
    "cand_sim_RxM": ("float32", ("R", "M")),
    "cand_ontology_RxM": ("bool", ("R", "M")),
    "cand_uniform_RxM": ("bool", ("R", "M")),
}
# Index arrays and the size they index into.
_INDEX_BOUNDS = {"resume_N": "R", "job_N": "P", "resume_row_R": "T",
                 "job_row_P": "T", "cand_job_RxM": "P"}


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
           "P": fields["job_ids"].shape[0], "T": rows,
           "M": fields["cand_job_RxM"].shape[-1]}
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
