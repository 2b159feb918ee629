"""Shared fixtures: paths to material outside the repository, skipped when absent."""

import os
import pathlib

import pytest


def _dir_from_env(var: str) -> pathlib.Path | None:
  value = os.environ.get(var)
  if not value:
    return None
  path = pathlib.Path(value)
  return path if path.is_dir() else None


@pytest.fixture(scope="session")
def esco_root() -> pathlib.Path:
  """Folder holding official ESCO CSV exports (v1.1.1/, v1.2.0/), from $CACL_ESCO_DIR."""
  path = _dir_from_env("CACL_ESCO_DIR")
  if path is None:
    pytest.skip("CACL_ESCO_DIR is not set to an ESCO folder (e.g. ../shared/esco)")
  return path
