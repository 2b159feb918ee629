"""Per-phase configs from an end-to-end ("all") config."""

from __future__ import annotations

import ml_collections

SHARED_FIELDS = ("seed", "data", "encoder")


def phase_config(config: ml_collections.ConfigDict, phase: str,
                 **extra) -> ml_collections.ConfigDict:
  """`config.<phase>` plus the shared top-level fields, as a phase's own config.

  The result looks like that phase's config file (`phase` = the phase name,
  `seed`, `data`, `encoder` at the top level); `extra` sets further fields,
  e.g. phase 2's `phase1_workdir`. The input config is not modified.
  """
  if phase not in config:
    raise KeyError(f"config has no {phase!r} section; found "
                   f"{sorted(config.keys())}")
  fields = config[phase].to_dict()
  for name in SHARED_FIELDS:
    value = config[name]
    fields[name] = (value.to_dict()
                    if isinstance(value, ml_collections.ConfigDict) else value)
  fields.update(phase=phase, **extra)
  return ml_collections.ConfigDict(fields)
