"""Location of the built-in demo ontology shipped inside the package."""

from __future__ import annotations

import pathlib

BUILTIN = "builtin"


def builtin_esco_dir() -> pathlib.Path:
  """Folder of the hand-written demo ontology in the ESCO CSV layout."""
  return pathlib.Path(__file__).resolve().parent / "builtin_esco"


def resolve_ontology_dir(ontology: str) -> pathlib.Path:
  """'builtin' → the demo ontology folder; anything else is a path."""
  return builtin_esco_dir() if ontology == BUILTIN else pathlib.Path(ontology)
