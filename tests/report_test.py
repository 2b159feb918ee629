"""The Markdown report: table layout, formatting of missing values, plot links."""

import pytest

from cacl_jax.evaluation import report

P1 = report.PhaseSummary(auc_roc=0.72, f1=0.482, separation=0.078,
                         pos_mean=0.821, neg_mean=0.743, train_loss_final=0.515,
                         val_loss_final=0.806, best_val_loss=0.72, best_epoch=13,
                         training_time_s=600.0, score_kind="cosine")
# §7.3's ranking figures come from the original protocols; ours differ.
P2 = report.PhaseSummary(auc_roc=0.799, f1=0.598, job_map_sampled=0.26,
                         job_ndcg_sampled=0.418, resume_map_original=0.877,
                         job_map=0.11, job_ndcg=0.3, resume_map=0.9,
                         best_val_loss=0.748, best_epoch=10,
                         training_time_s=12.25, score_kind="probability")


def _row(table, label):
  line = next(l for l in table.splitlines() if l.startswith(f"| {label} |"))
  return [c.strip() for c in line.strip("|").split("|")][1:]


def test_results_table_matches_section_7_3_layout():
  table = report.results_table({"Phase 1": P1, "Phase 2": P2})
  assert table.splitlines()[0] == "| Metric | Phase 1 | Phase 2 |"
  assert _row(table, "AUC-ROC") == ["0.720", "0.799"]
  assert _row(table, "Job MAP (§7.3 protocol)") == ["—", "0.260"]
  assert _row(table, "Job MAP (all test jobs)") == ["—", "0.110"]
  assert _row(table, "Job NDCG (§7.3 protocol)") == ["—", "0.418"]
  assert _row(table, "Job NDCG (all test jobs)") == ["—", "0.300"]
  assert _row(table, "Resume MAP (§7.3 protocol)") == ["—", "0.877"]
  assert _row(table, "Resume MAP (jobs with a good fit)") == ["—", "0.900"]
  assert _row(table, "Job MRR (§7.3 protocol)") == ["—", "—"]
  assert _row(table, "Positive Mean Score") == ["0.821 (cosine)", "—"]
  assert _row(table, "Best Val Loss") == ["0.720 (ep 13)", "0.748 (ep 10)"]
  assert _row(table, "Training Time") == ["10.0 min", "12.2 s"]
  assert len(table.splitlines()) == 2 + 21


def test_nan_shows_as_missing():
  assert report.format_value(float("nan")) == "—"
  assert report.format_value(3) == "3"


def test_summary_round_trip_and_unknown_fields():
  assert report.PhaseSummary.from_dict(P1.to_dict()) == P1
  with pytest.raises(ValueError, match="auc"):
    report.PhaseSummary.from_dict({"auc": 0.5})


def test_write_report_links_plots_relative(tmp_path):
  plot = tmp_path / "plots" / "roc.png"
  plot.parent.mkdir()
  plot.write_bytes(b"")
  out = report.write_report(
      tmp_path / "report.md", "CACL", {"Phase 1": P1, "Phase 2": P2},
      sections={"Details": report.metrics_table(
          {"test @ 0.5": {"f1": 0.5, "auc_roc": 0.75}}, ["f1", "auc_roc"])},
      plots={"ROC": plot}, notes=["threshold tuned on val"])
  text = out.read_text()
  assert text.startswith("# CACL\n")
  assert "![ROC](plots/roc.png)" in text
  assert "| test @ 0.5 | 0.500 | 0.750 |" in text
  assert "- threshold tuned on val" in text
