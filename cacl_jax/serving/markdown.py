"""Readable Markdown of match results: rankings, scored pairs, explanations."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from cacl_jax.evaluation import report
from cacl_jax.serving import explain, matcher

_SHOWN_SKILLS = 5


def _name(ref: explain.SkillRef) -> str:
  return (ref.label or ref.uri).replace("|", "\\|")


def _hops(hops: int) -> str:
  return f"{hops} hop" + ("" if hops == 1 else "s")


def _same_or_pair(a: explain.SkillRef, b: explain.SkillRef) -> str:
  return _name(a) if a.uri == b.uri else f"{_name(a)} ↔ {_name(b)}"


def _listed(items: Sequence[str]) -> str:
  shown = list(items[:_SHOWN_SKILLS])
  if len(items) > _SHOWN_SKILLS:
    shown.append(f"… {len(items) - _SHOWN_SKILLS} more")
  return "; ".join(shown) or "—"


def matched_text(e: explain.Explanation) -> str:
  """The matched skills, e.g. 'python; sql ↔ database queries (1 hop)'."""
  return _listed([_same_or_pair(m.resume_skill, m.job_skill)
                  + ("" if m.hops == 0 else f" ({_hops(m.hops)})")
                  for m in e.matched])


def missing_text(e: explain.Explanation) -> str:
  return _listed([_name(s) for s in e.missing])


def related_text(e: explain.Explanation) -> str:
  return _listed([f"{_name(r.resume_skill)} (→ {_name(r.nearest_job_skill)}, "
                  f"{_hops(r.hops)})" for r in e.other_relevant])


def _row(cells: Sequence[Any]) -> str:
  return "| " + " | ".join(str(c) for c in cells) + " |"


def _match_cells(m: matcher.Match) -> list[str]:
  e = m.explanation
  return [f"{m.p_match:.3f}", "yes" if m.is_match else "no",
          f"{m.phase1_cosine:.3f}", report.format_value(m.ontology_similarity),
          report.format_value(m.ot_distance), matched_text(e),
          missing_text(e), related_text(e)]


_HEADER = ["P(match)", "match", "Phase-1 cosine", "ontology sim.", "OT dist.",
           "matched skills", "missing skills", "other relevant skills"]


def rankings(results: Sequence[matcher.Ranking], threshold: float) -> str:
  """One section per query with a table of its ranked matches."""
  lines = [f"# Matches\n\nP(match) at or above {threshold:.3f} (the model's "
           "tuned threshold) counts as a match. Skills: matched = the OT "
           f"plan's pairs within {explain.MAX_HOPS} hops of the ESCO graph; "
           f"missing = job skills with no resume skill within "
           f"{explain.MAX_HOPS} hops; other relevant = resume skills within "
           f"{explain.RELATED_HOPS} hops of a job skill.\n"]
  for ranking in results:
    other = "job" if ranking.query_kind == "resume" else "resume"
    lines += [f"## {ranking.query_kind} {ranking.query_id}\n",
              _row(["rank", other, *_HEADER]),
              _row(["---"] * (len(_HEADER) + 2))]
    for i, m in enumerate(ranking.matches):
      lines.append(_row([i + 1, m.job_id if other == "job" else m.resume_id,
                         *_match_cells(m)]))
    lines.append("")
  return "\n".join(lines)


def pairs(results: Sequence[matcher.Match],
          metrics: Mapping[str, Any] | None) -> str:
  """A table of scored pairs, preceded by the metrics when labelled."""
  lines = ["# Scored pairs\n"]
  if metrics is not None:
    lines += ["## Metrics\n", metrics_text(metrics), ""]
  lines += [_row(["pair", "label", "resume", "job", *_HEADER]),
            _row(["---"] * (len(_HEADER) + 4))]
  for m in results:
    lines.append(_row([m.pair_id, m.label or "—", m.resume_id, m.job_id,
                       *_match_cells(m)]))
  return "\n".join(lines) + "\n"


def metrics_text(metrics: Mapping[str, Any]) -> str:
  """The labelled pairs' metrics as two Markdown tables."""
  classes = {}
  for key in ("at_tuned", "at_default"):
    m = metrics[key]
    classes[f"threshold {m['threshold']:.3f}"
            + (" (tuned)" if key == "at_tuned" else "")] = {
                "AUC-ROC": m["auc_roc"], "F1": m["f1"],
                "precision": m["precision"], "recall": m["recall"],
                "accuracy": m["accuracy"]}
  rankings = {}
  for key, name in (("job_ranking_sampled",
                     "job ranking, original protocol (§7.3)"),
                    ("job_ranking", "job ranking, every job"),
                    ("resume_ranking", "resume ranking"),
                    ("resume_ranking_original",
                     "resume ranking, original protocol")):
    r = metrics[key]
    rankings[name] = {"MAP": r["map"], "MRR": r["mrr"], "NDCG": r["ndcg"],
                      "queries": r["num_queries"]}
  return (f"{metrics['pairs']} labelled pairs ({metrics['positives']} good "
          f"fits); {metrics['unlabelled']} without a label.\n\n"
          + report.metrics_table(classes, ["AUC-ROC", "F1", "precision",
                                           "recall", "accuracy"])
          + "\n\n"
          + report.metrics_table(rankings, ["MAP", "MRR", "NDCG", "queries"]))
