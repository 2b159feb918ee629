"""A trained model as a self-contained folder: export it, load it back.

`export` writes `<phase2 workdir>/model/`: the best Phase-1 projection head
and the best Phase-2 classifier (each an .npz of its flattened parameter
paths), and `manifest.json` with the SHA-256 of every file, the tuned
threshold, the effective config of both phases, the encoder's identity, the
ontology's identity and the package version. Every file is written
atomically and the manifest last, so a bundle whose manifest exists names
the files it was written with.

`load` verifies the checksums and, given an ESCO folder, that its files hash
to the bundle's ontology fingerprint: the recorded path is only a hint, any
folder with the same files is accepted. Every problem raises `BundleError`
naming the file or both identities.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib
from typing import Any, Mapping

from flax import traverse_util
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cacl_jax import pipeline
from cacl_jax.common import distributed, files, run_manifest, training_loop
from cacl_jax.data import builtin
from cacl_jax.ontology import esco_files
from cacl_jax.phase2 import evaluate, pretrained
from cacl_jax.phase2 import train as phase2_train

BUNDLE_DIR = "model"
MANIFEST_FILE = "manifest.json"
PHASE1_PARAMS_FILE = "phase1_params.npz"
PHASE2_PARAMS_FILE = "phase2_params.npz"
FORMAT_VERSION = 1
_SEP = "/"  # joins a parameter's path in the .npz keys


class BundleError(ValueError):
  """A model bundle is missing, damaged or does not match its inputs."""


@dataclasses.dataclass(frozen=True)
class Bundle:
  """A loaded model bundle.

  `phase1_config` and `phase2_config` are the effective per-phase configs of
  the run; `phase1_params` is the projection head, `phase2_params` the
  classifier; `threshold` is the F1-tuned P(match) threshold of Phase 2.
  `encoder` holds the config's model name, the encoder identity string,
  the dtype and the embedding width; `ontology` the ESCO fingerprint and
  the folder it was computed from (a hint).
  """
  path: pathlib.Path
  phase1_config: ml_collections.ConfigDict
  phase2_config: ml_collections.ConfigDict
  phase1_params: Any
  phase2_params: Any
  threshold: float
  encoder: dict[str, Any]
  ontology: dict[str, str]
  version: str

  def check_encoder(self, identity: str) -> None:
    """Raises BundleError unless `identity` is the encoder the model was
    trained on (`TextEncoder.identity` or `pipeline.encoder_identity`)."""
    expected = self.encoder["identity"]
    if identity != expected:
      raise BundleError(
          f"the model in {self.path} was trained on encoder {expected!r} "
          f"(config encoder.model={self.encoder['model']!r}), found "
          f"{identity!r}: embeddings of another encoder are not comparable")


def phase2_workdir(workdir: str | pathlib.Path) -> pathlib.Path:
  """`workdir` when it is a Phase-2 run, its `phase2/` when it is an
  end-to-end run; BundleError otherwise."""
  workdir = pathlib.Path(workdir)
  for candidate in (workdir, workdir / "phase2"):
    if (candidate / evaluate.EVAL_NAME).is_file():
      return candidate
  raise BundleError(
      f"{workdir} holds no finished Phase-2 run (no {evaluate.EVAL_NAME} in "
      "it or in its phase2/): train and evaluate Phase 2 first")


def _read_json(path: pathlib.Path) -> dict:
  try:
    return json.loads(path.read_text(encoding="utf-8"))
  except (OSError, ValueError) as e:
    raise BundleError(f"{path}: cannot read it ({e})") from e


def _npz_bytes(params) -> bytes:
  """The parameters as an .npz keyed by their '/'-joined paths."""
  flat = traverse_util.flatten_dict(jax.device_get(params), sep=_SEP)
  buffer = io.BytesIO()
  np.savez(buffer, **{k: np.asarray(v) for k, v in flat.items()})
  return buffer.getvalue()


def _read_npz(path: pathlib.Path):
  """The parameter pytree `_npz_bytes` wrote, as jnp arrays."""
  with np.load(path, allow_pickle=False) as npz:
    flat = {k: jnp.asarray(npz[k]) for k in npz.files}
  return traverse_util.unflatten_dict(flat, sep=_SEP)


def _encoder_identity(encoder: ml_collections.ConfigDict,
                      input_dim: int) -> dict[str, Any]:
  """What identifies the encoder: config name, identity string (weights
  hash, max length, dtype), dtype and embedding width."""
  return {"model": encoder.model,
          "identity": pipeline.encoder_identity(encoder),
          "dtype": encoder.dtype, "dim": int(input_dim)}


def _ontology_identity(data: ml_collections.ConfigDict) -> dict[str, str]:
  """The fingerprint of the data's ESCO files and their folder (a hint)."""
  folder = builtin.resolve_ontology_dir(data.ontology).resolve()
  return {"fingerprint": esco_files.locate_esco_files(folder).fingerprint(),
          "path_hint": str(folder)}


def export(phase2_workdir: str | pathlib.Path,
           out_dir: str | pathlib.Path | None = None, *,
           input_dim: int | None = None) -> pathlib.Path:
  """Writes the bundle of a finished Phase-2 run; returns its folder.

  The Phase-1 head comes from the `phase1_workdir` the Phase-2 config.json
  names, both heads from their best checkpoints. `input_dim` is the width
  of the encoder embeddings the Phase-1 head reads; by default that of
  the configured encoder (which is then built). `out_dir` defaults to
  `<phase2_workdir>/model`. In a multi-process run every process restores
  the checkpoints and process 0 alone writes.
  """
  workdir = pathlib.Path(phase2_workdir)
  out = pathlib.Path(out_dir) if out_dir else workdir / BUNDLE_DIR
  config2 = ml_collections.ConfigDict(
      _read_json(workdir / run_manifest.CONFIG_FILE))
  if input_dim is None:
    input_dim = pipeline.make_encoder(config2.encoder).dim
  frozen = pretrained.load(config2, input_dim)
  config1 = _read_json(pathlib.Path(config2.phase1_workdir)
                       / run_manifest.CONFIG_FILE)
  abstract = jax.eval_shape(
      lambda: phase2_train.create_state(config2, frozen.model_config.dim))
  best, _ = training_loop.restore(workdir, abstract)
  eval_json = _read_json(workdir / evaluate.EVAL_NAME)
  if not distributed.is_main_process():  # process 0 writes the bundle
    return out
  checksums = {}
  for name, params in ((PHASE1_PARAMS_FILE, frozen.params),
                       (PHASE2_PARAMS_FILE, best.params)):
    data = _npz_bytes(params)
    files.atomic_write(out / name, lambda f, data=data: f.write(data),
                       needed_bytes=len(data))
    checksums[name] = files.sha256_file(out / name)
  files.write_json(out / MANIFEST_FILE, {
      "format_version": FORMAT_VERSION,
      "files": checksums,
      "threshold": eval_json["threshold"]["tuned"],
      "configs": {"phase1": config1,
                  "phase2": run_manifest.config_to_dict(config2)},
      "encoder": _encoder_identity(config2.encoder, input_dim),
      "ontology": _ontology_identity(config2.data),
      "package_version": run_manifest.package_version(),
  })
  return out


def _verify(path: pathlib.Path, checksums: Mapping[str, str]) -> None:
  for name, expected in checksums.items():
    target = path / name
    if not target.is_file():
      raise BundleError(f"{target}: missing from the model bundle")
    found = files.sha256_file(target)
    if found != expected:
      raise BundleError(
          f"{target} is damaged: its SHA-256 is {found[:16]}…, the manifest "
          f"records {expected[:16]}…; export the model again")


def check_ontology(bundle: Bundle, esco_dir: str | pathlib.Path) -> None:
  """Raises BundleError unless the ESCO files in `esco_dir` are those the
  model was trained with (same fingerprint; the folder may differ)."""
  try:
    found = esco_files.locate_esco_files(esco_dir).fingerprint()
  except (OSError, ValueError) as e:
    raise BundleError(f"cannot read the ESCO files in {esco_dir}: {e}") \
        from e
  expected = bundle.ontology["fingerprint"]
  if found != expected:
    raise BundleError(
        f"the ESCO files in {esco_dir} (fingerprint {found[:16]}) are not "
        f"those the model in {bundle.path} was trained with (fingerprint "
        f"{expected[:16]}, from {bundle.ontology['path_hint']})")


def load(path: str | pathlib.Path, *,
         esco_dir: str | pathlib.Path | None = None) -> Bundle:
  """The bundle in `path`, its checksums verified; with `esco_dir`, also
  checked to have been trained on those ESCO files."""
  path = pathlib.Path(path)
  manifest = _read_json(path / MANIFEST_FILE)
  if manifest.get("format_version") != FORMAT_VERSION:
    raise BundleError(
        f"{path / MANIFEST_FILE}: bundle format "
        f"{manifest.get('format_version')!r}, this version reads "
        f"{FORMAT_VERSION}")
  _verify(path, manifest["files"])
  bundle = Bundle(
      path=path,
      phase1_config=ml_collections.ConfigDict(manifest["configs"]["phase1"]),
      phase2_config=ml_collections.ConfigDict(manifest["configs"]["phase2"]),
      phase1_params=_read_npz(path / PHASE1_PARAMS_FILE),
      phase2_params=_read_npz(path / PHASE2_PARAMS_FILE),
      threshold=float(manifest["threshold"]), encoder=manifest["encoder"],
      ontology=manifest["ontology"], version=manifest["package_version"])
  if esco_dir is not None:
    check_ontology(bundle, esco_dir)
  return bundle
