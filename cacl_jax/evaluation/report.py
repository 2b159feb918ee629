"""Markdown evaluation report: the §7.3 results table, metric details and plots.

The table has one column per phase (normally "Phase 1" and "Phase 2"), each
filled from a `PhaseSummary`; quantities a phase does not have (Phase 1 has
no ranking metrics) show as "—". Rankings appear under two protocols: rows
marked "§7.3 protocol" follow the original implementation, whose figures
§7.3 quotes; the others are this implementation's (see
`cacl_jax/evaluation/ranking.py`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from typing import Any, Mapping, Sequence

from cacl_jax.common import distributed, files


@dataclasses.dataclass(frozen=True)
class PhaseSummary:
  """One phase's headline numbers; None where the phase does not measure it."""
  auc_roc: float | None = None
  f1: float | None = None
  separation: float | None = None
  pos_mean: float | None = None
  neg_mean: float | None = None
  job_map: float | None = None
  job_mrr: float | None = None
  job_ndcg: float | None = None
  resume_map: float | None = None
  resume_mrr: float | None = None
  resume_ndcg: float | None = None
  # The same rankings under the original implementation's protocols.
  job_map_sampled: float | None = None
  job_mrr_sampled: float | None = None
  job_ndcg_sampled: float | None = None
  resume_map_original: float | None = None
  resume_mrr_original: float | None = None
  resume_ndcg_original: float | None = None
  train_loss_final: float | None = None
  val_loss_final: float | None = None
  best_val_loss: float | None = None
  best_epoch: int | None = None
  training_time_s: float | None = None
  # What pos_mean/neg_mean average: "cosine" (Phase 1) or "probability".
  score_kind: str = ""

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> "PhaseSummary":
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
      raise ValueError(f"unknown PhaseSummary fields {unknown}")
    return cls(**values)


_ROWS = (
    ("AUC-ROC", "auc_roc"),
    ("F1 Score", "f1"),
    ("Embedding Separation", "separation"),
    ("Positive Mean Score", "pos_mean"),
    ("Negative Mean Score", "neg_mean"),
    ("Job MAP (§7.3 protocol)", "job_map_sampled"),
    ("Job MAP (all test jobs)", "job_map"),
    ("Job MRR (§7.3 protocol)", "job_mrr_sampled"),
    ("Job MRR (all test jobs)", "job_mrr"),
    ("Job NDCG (§7.3 protocol)", "job_ndcg_sampled"),
    ("Job NDCG (all test jobs)", "job_ndcg"),
    ("Resume MAP (§7.3 protocol)", "resume_map_original"),
    ("Resume MAP (jobs with a good fit)", "resume_map"),
    ("Resume MRR (§7.3 protocol)", "resume_mrr_original"),
    ("Resume MRR (jobs with a good fit)", "resume_mrr"),
    ("Resume NDCG (§7.3 protocol)", "resume_ndcg_original"),
    ("Resume NDCG (jobs with a good fit)", "resume_ndcg"),
    ("Train Loss (final)", "train_loss_final"),
    ("Val Loss (final)", "val_loss_final"),
    ("Best Val Loss", "best_val_loss"),
    ("Training Time", "training_time_s"),
)


def _missing(value) -> bool:
  return value is None or (isinstance(value, float) and math.isnan(value))


def format_value(value, digits: int = 3) -> str:
  """A number for a table cell; "—" for missing or NaN."""
  if _missing(value):
    return "—"
  if isinstance(value, bool) or isinstance(value, (int, str)):
    return str(value)
  return f"{value:.{digits}f}"


def format_duration(seconds) -> str:
  if _missing(seconds):
    return "—"
  if seconds < 120:
    return f"{seconds:.1f} s"
  return f"{seconds / 60:.1f} min"


def _cell(summary: PhaseSummary, field: str) -> str:
  value = getattr(summary, field)
  if field == "training_time_s":
    return format_duration(value)
  text = format_value(value)
  if field == "best_val_loss" and summary.best_epoch is not None and (
      not _missing(value)):
    text += f" (ep {summary.best_epoch})"
  if field in ("pos_mean", "neg_mean") and summary.score_kind and (
      not _missing(value)):
    text += f" ({summary.score_kind})"
  return text


def results_table(columns: Mapping[str, PhaseSummary]) -> str:
  """The §7.3 results table as Markdown, one column per named phase."""
  lines = ["| Metric | " + " | ".join(columns) + " |",
           "|---" * (len(columns) + 1) + "|"]
  for label, field in _ROWS:
    cells = [_cell(s, field) for s in columns.values()]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def metrics_table(rows: Mapping[str, Mapping[str, Any]],
                  columns: Sequence[str]) -> str:
  """A Markdown table: one row per name, the given metric keys as columns."""
  lines = ["| | " + " | ".join(columns) + " |",
           "|---" * (len(columns) + 1) + "|"]
  for name, values in rows.items():
    cells = [format_value(values.get(c)) for c in columns]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def write_report(path, title: str, columns: Mapping[str, PhaseSummary], *,
                 sections: Mapping[str, str] | None = None,
                 plots: Mapping[str, str | os.PathLike] | None = None,
                 notes: Sequence[str] = ()) -> pathlib.Path:
  """Writes the report: results table, extra Markdown sections, then plots.

  Plot paths are linked relative to the report's folder so the report and its
  images can be moved together. In a multi-process run only process 0
  writes; every process gets the path.
  """
  sections, plots = sections or {}, plots or {}
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  parts = [f"# {title}", "", "## Results summary", "",
           results_table(columns), ""]
  for note in notes:
    parts += [f"- {note}"]
  if notes:
    parts.append("")
  for heading, body in sections.items():
    parts += [f"## {heading}", "", body.rstrip(), ""]
  if plots:
    parts += ["## Plots", ""]
    for caption, plot in plots.items():
      rel = os.path.relpath(pathlib.Path(plot).resolve(), path.parent.resolve())
      parts += [f"### {caption}", "", f"![{caption}]({rel})", ""]
  text = "\n".join(parts).encode("utf-8")
  if distributed.is_main_process():
    files.atomic_write(path, lambda f: f.write(text))
  return path
