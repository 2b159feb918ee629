"""What a workdir was trained with, so that a resumed run cannot silently mix.

Every phase writes, when it starts, `config.json` (the effective config) and
`run.json` (a run id, the fingerprint of the prepared data, the package
version and links to the runs it builds on, e.g. the Phase-1 run that Phase 2
restores). Starting a phase again in the same workdir resumes it only when the
data fingerprint and every training setting are unchanged; otherwise
`RunMismatch` says what changed and how to start fresh. Settings that do not
change the result (`RESUMABLE_FIELDS`) may differ.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import pathlib
import shutil
import uuid
from typing import Any, Mapping

import ml_collections

from cacl_jax.common import files

CONFIG_FILE = "config.json"
RUN_FILE = "run.json"
CHECKPOINT_DIR = "checkpoints"
# Dotted config paths that may change between a run and its resumption:
# logging, execution strategy and where caches or earlier runs live.
RESUMABLE_FIELDS = ("train.log_every", "train.scan_epochs", "data.cache_dir",
                    "encoder.batch_tokens", "phase1_workdir",
                    "checkpoint.every_steps", "mesh.data")
_HOW_TO_START_FRESH = ("Start a fresh run with --workdir=NEW_DIR, or rerun "
                       "with --overwrite to delete {workdir} and train from "
                       "scratch.")


_MISSING = object()


class RunMismatch(ValueError):
  """A workdir holds a run made with other data or settings."""


def config_to_dict(config: ml_collections.ConfigDict | Mapping) -> dict:
  """The config as plain JSON values (tuples become lists)."""
  plain = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  return json.loads(json.dumps(plain, default=list))


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    path = f"{prefix}{key}"
    if isinstance(value, Mapping):
      flat.update(_flatten(value, path + "."))
    else:
      flat[path] = value
  return flat


SHARED_FIELDS = ("phase", "seed", "data", "encoder", "mesh")


def flag_path(config: Mapping, path: str) -> str:
  """The --config path of a setting of a phase's view of the config: its
  own sections sit under the phase's name, shared fields at the top."""
  phase = config.get("phase", "")
  if phase in ("phase1", "phase2") and path.split(".")[0] not in \
      SHARED_FIELDS:
    return f"{phase}.{path}"
  return path


def config_differences(saved: Mapping, current: Mapping) -> list[str]:
  """'path: saved → current' for every setting that differs, resumable
  fields excepted; paths as written on the command line."""
  old, new = _flatten(saved), _flatten(current)
  return [f"{flag_path(current, path)}: {old.get(path, '<absent>')!r} → "
          f"{new.get(path, '<absent>')!r}"
          for path in sorted(old.keys() | new.keys())
          if path not in RESUMABLE_FIELDS and old.get(path, _MISSING)
          != new.get(path, _MISSING)]


def read_run(workdir: str | pathlib.Path) -> dict | None:
  """The `run.json` of a workdir, or None when it has none."""
  path = pathlib.Path(workdir) / RUN_FILE
  if not path.is_file():
    return None
  try:
    run = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(run, dict) or "data_fingerprint" not in run:
      raise ValueError("not a run record")
  except ValueError as e:
    raise RunMismatch(f"{path} is damaged ({e}); "
                      + _HOW_TO_START_FRESH.format(workdir=workdir)) from None
  return run


def _has_checkpoints(workdir: pathlib.Path) -> bool:
  folder = workdir / CHECKPOINT_DIR
  return folder.is_dir() and any(folder.iterdir())


def check_run(workdir: str | pathlib.Path,
              config: ml_collections.ConfigDict | Mapping,
              data_fingerprint: str,
              links: Mapping[str, str] | None = None) -> dict:
  """Checks that `workdir` may hold this run; returns its run.json content.

  A workdir with an earlier run of the same data, settings and links is
  resumed (its run id kept). Raises `RunMismatch` naming each difference
  when they differ, and when the workdir holds checkpoints but no record.
  Writes nothing (`write_run` does), so that every process of a
  multi-process run can check and process 0 alone write.
  """
  workdir = pathlib.Path(workdir)
  current = config_to_dict(config)
  links = dict(links or {})
  previous = read_run(workdir)
  fresh = _HOW_TO_START_FRESH.format(workdir=workdir)
  if previous is None and _has_checkpoints(workdir):
    raise RunMismatch(
        f"{workdir} holds checkpoints but no {RUN_FILE}, so what they were "
        f"trained with cannot be checked. {fresh}")
  if previous is not None:
    problems = []
    if previous["data_fingerprint"] != data_fingerprint:
      problems.append(
          f"data fingerprint: {previous['data_fingerprint'][:16]} → "
          f"{data_fingerprint[:16]} (other input data, ontology or encoder)")
    saved_config = json.loads(
        (workdir / CONFIG_FILE).read_text(encoding="utf-8")) \
        if (workdir / CONFIG_FILE).is_file() else {}
    problems += config_differences(saved_config, current)
    problems += [f"{name}: {previous.get('links', {}).get(name)!r} → "
                 f"{value!r}" for name, value in links.items()
                 if previous.get("links", {}).get(name) != value]
    if problems:
      raise RunMismatch(
          f"{workdir} holds a run made with other data or settings: "
          + "; ".join(problems) + ". A run resumes only with the same data "
          f"and training settings. {fresh}")
  run = {
      "run_id": previous["run_id"] if previous else uuid.uuid4().hex,
      "data_fingerprint": data_fingerprint,
      "links": links,
      "package_version": package_version(),
      "started": (previous or {}).get(
          "started", datetime.datetime.now(datetime.timezone.utc)
          .isoformat(timespec="seconds")),
  }
  return run


def write_run(workdir: str | pathlib.Path,
              config: ml_collections.ConfigDict | Mapping, run: dict) -> None:
  """Records `config` as config.json and `run` (from `check_run`) as
  run.json."""
  workdir = pathlib.Path(workdir)
  files.write_json(workdir / CONFIG_FILE, config_to_dict(config))
  files.write_json(workdir / RUN_FILE, run)


def start_run(workdir: str | pathlib.Path,
              config: ml_collections.ConfigDict | Mapping,
              data_fingerprint: str,
              links: Mapping[str, str] | None = None) -> dict:
  """`check_run`, then `write_run`; returns run.json's content."""
  run = check_run(workdir, config, data_fingerprint, links)
  write_run(workdir, config, run)
  return run


def package_version() -> str:
  """The installed cacl-jax version ("unknown" outside an installed copy)."""
  try:
    return importlib.metadata.version("cacl-jax")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def require_same_data(workdir: str | pathlib.Path, data_fingerprint: str,
                      what: str) -> dict:
  """run.json of an earlier run that this one builds on, checked to have been
  trained on the same prepared data; `what` names it in errors."""
  run = read_run(workdir)
  if run is None:
    raise RunMismatch(
        f"{what} {workdir} has no {RUN_FILE} (made by an older version?), "
        "so its data cannot be checked: train it again.")
  if run["data_fingerprint"] != data_fingerprint:
    raise RunMismatch(
        f"{what} {workdir} was trained on other data (fingerprint "
        f"{run['data_fingerprint'][:16]}, this run's data "
        f"{data_fingerprint[:16]}): train it on this data first, or point "
        "the config at a run on this data.")
  return run


_OUR_FILES = (RUN_FILE, CONFIG_FILE, CHECKPOINT_DIR, "phase1", "phase2")


def remove_run(workdir: str | pathlib.Path) -> bool:
  """Deletes a workdir made by this package (for --overwrite).

  Returns False when there is nothing to delete; raises `RunMismatch` for a
  non-empty folder that holds none of this package's run files, so that a
  mistyped path never deletes someone's data.
  """
  workdir = pathlib.Path(workdir)
  if not workdir.exists():
    return False
  if not any((workdir / name).exists() for name in _OUR_FILES) and \
      any(workdir.iterdir()):
    raise RunMismatch(f"--overwrite: {workdir} does not look like a cacl-jax "
                      f"workdir (none of {', '.join(_OUR_FILES)}); not "
                      "deleting it")
  shutil.rmtree(workdir)
  return True
