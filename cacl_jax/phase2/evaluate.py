"""Phase-2 evaluation (§7.2): test metrics, rankings, plots, JSON and report.

The best checkpoint scores the validation pairs (to tune the F1 threshold),
the test pairs (classification, resume ranking), each sampled job-ranking
query's candidates, and every test job for the test resumes of the all-jobs
job ranking (at most `MAX_JOB_RANKING_RESUMES` of them, a seeded sample
when there are more, counted in the result; scored and ranked in chunks of
resumes, so memory stays linear in pairs). Probabilities σ(logit) are taken
in float64; rankings use the logits themselves, which order pairs the same
way without the ties of saturated probabilities.

Both rankings are reported under two protocols: the original
implementation's (job ranking among seeded random other jobs, 49 by default;
resume ranking over jobs with a good-fit and another candidate), which is
the one comparable to §7.3, and ours (every test job; every job with a good
fit and enough candidates).
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any, Mapping

import ml_collections
import numpy as np
from scipy import special

from cacl_jax.common import distributed, files, health
from cacl_jax.data import prepared, records
from cacl_jax.evaluation import classification, plots, ranking, report
from cacl_jax.phase2 import classifier

EVAL_NAME = "phase2_eval.json"
PREDICTIONS_NAME = "test_predictions.jsonl"
REPORT_NAME = "report.md"
PLOTS_DIR = "plots"
# Query resumes of the all-jobs job ranking (each scores the whole test pool).
MAX_JOB_RANKING_RESUMES = 1000
# Resumes scored against the whole pool at a time.
RANKING_CHUNK = 64


def pair_logits(model_config, params, emb_TxE, split: prepared.SplitArrays
                ) -> np.ndarray:
  """Logits of a split's own pairs, [N]."""
  return classifier.predict_logits(
      model_config, params, emb_TxE, split.resume_row_R[split.resume_N],
      split.job_row_P[split.job_N])


def grid_logits(model_config, params, emb_TxE, split: prepared.SplitArrays,
                resume_C: np.ndarray) -> np.ndarray:
  """Logits of the split's resumes `resume_C` × every pool job, [C, P]."""
  num_p = len(split.job_row_P)
  logits = classifier.predict_logits(
      model_config, params, emb_TxE,
      np.repeat(split.resume_row_R[resume_C], num_p),
      np.tile(split.job_row_P, len(resume_C)))
  return logits.reshape(len(resume_C), num_p)


def job_ranking(model_config, params, emb_TxE, split: prepared.SplitArrays,
                seed: int, max_resumes: int = MAX_JOB_RANKING_RESUMES
                ) -> dict[str, Any]:
  """`ranking.job_ranking` of the split's resumes with a good fit, each
  against the whole pool; above `max_resumes` such resumes, a sample of
  them drawn with `seed` (`resumes_left_out` counts the others)."""
  good_r, good_j = split.good_pairs()
  queries = np.unique(good_r)
  ranked = queries
  if queries.size > max_resumes:
    ranked = np.sort(np.random.default_rng(seed).choice(
        queries, max_resumes, replace=False))
  parts = []
  for start in range(0, ranked.size, RANKING_CHUNK):
    resume_C = ranked[start:start + RANKING_CHUNK]
    good_CxP = np.zeros((resume_C.size, len(split.job_row_P)), bool)
    in_chunk = np.isin(good_r, resume_C)
    good_CxP[np.searchsorted(resume_C, good_r[in_chunk]),
             good_j[in_chunk]] = True
    parts.append(ranking.job_ranking(
        grid_logits(model_config, params, emb_TxE, split, resume_C),
        good_CxP))
  return dict(ranking.combine_rankings(parts),
              skipped_no_relevant=len(split.resume_row_R) - queries.size,
              resumes_left_out=int(queries.size - ranked.size))


def sampled_job_ranking(model_config, params, emb_TxE,
                        split: prepared.SplitArrays, num_negatives: int,
                        seed: int) -> dict[str, Any]:
  """`ranking.sampled_job_ranking` of the split, scoring only each query's
  candidates."""
  good_r, good_j = split.good_pairs()
  resume_Q, job_QxK, valid_QxK = ranking.sample_job_candidates_of(
      good_r, good_j, len(split.job_row_P), num_negatives, seed)
  logit_QxK = classifier.predict_logits(
      model_config, params, emb_TxE,
      np.repeat(split.resume_row_R[resume_Q], job_QxK.shape[1]),
      split.job_row_P[job_QxK.ravel()]).reshape(job_QxK.shape)
  return ranking.sampled_ranking_metrics(
      logit_QxK, valid_QxK,
      len(split.resume_row_R) - np.unique(good_r).size, num_negatives, seed)


def evaluate(model_config: ml_collections.ConfigDict, params, emb_TxE,
             data: prepared.PreparedData, min_resume_candidates: int = 2,
             ranking_negatives: int = 49, ranking_seed: int = 0
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """All §7.2 metrics of a trained head, and the test arrays the plots need.

  `emb_TxE` is the frozen Phase-1 projection of every text. The defaults of
  the ranking arguments are those of `config.eval`; `ranking_negatives` and
  `ranking_seed` set the original protocol's job-ranking sample.
  """
  val, test = data.val, data.test
  val_prob = special.expit(pair_logits(model_config, params, emb_TxE, val)
                           .astype(np.float64))
  test_logit = pair_logits(model_config, params, emb_TxE, test)
  test_prob = special.expit(test_logit.astype(np.float64))
  threshold, val_f1 = classification.f1_optimal_threshold(val.label_N,
                                                          val_prob)
  by_label = {name: test_prob[test.original_label_N == i]
              for i, name in enumerate(records.LABELS)}
  metrics = {
      "threshold": {"default": 0.5, "tuned": threshold,
                    "val_f1_at_tuned": val_f1},
      "val": {"at_default": classification.binary_metrics(
                  val.label_N, val_prob, 0.5),
              "at_tuned": classification.binary_metrics(
                  val.label_N, val_prob, threshold)},
      "test": {
          "at_default": classification.binary_metrics(test.label_N,
                                                      test_prob, 0.5),
          "at_tuned": classification.binary_metrics(test.label_N,
                                                    test_prob, threshold),
          "separation": classification.score_separation(test.label_N,
                                                        test_prob),
          "label_counts": {k: int(v.size) for k, v in by_label.items()},
          "mean_probability_by_label": {
              k: float(v.mean()) if v.size else float("nan")
              for k, v in by_label.items()},
      },
      **rankings(model_config, params, emb_TxE, test_logit, test,
                 min_resume_candidates, ranking_negatives, ranking_seed),
  }
  metrics["warnings"] = [w for w in (
      health.collapse_warning("phase 2: validation P(match)", val_prob),
      health.collapse_warning("phase 2: test P(match)", test_prob)) if w]
  arrays = {"test_label": test.label_N, "test_prob": test_prob,
            "test_logit": test_logit,
            "test_pair_ids": np.asarray(test.pair_ids),
            "test_original_label": test.original_label_N,
            **{f"test_prob_{k}": v for k, v in by_label.items()}}
  return metrics, arrays


def write_predictions(path: str | pathlib.Path,
                      arrays: Mapping[str, np.ndarray]) -> pathlib.Path:
  """One JSON line per test pair, in split order: pair_id, label, its binary
  label, the classifier's logit and P(match) = σ(logit)."""
  lines = [json.dumps({"pair_id": str(pair_id),
                       "label": records.LABELS[int(original)],
                       "binary_label": int(label), "logit": float(logit),
                       "p_match": float(prob)})
           for pair_id, original, label, logit, prob in zip(
               arrays["test_pair_ids"], arrays["test_original_label"],
               arrays["test_label"], arrays["test_logit"],
               arrays["test_prob"])]
  text = "".join(line + "\n" for line in lines).encode("utf-8")
  return files.atomic_write(path, lambda f: f.write(text))


@dataclasses.dataclass(frozen=True)
class RankedPairs:
  """What the rankings read of labelled pairs, as a split holds it: the
  rows of the distinct resumes [R] and jobs [P] in the embedding table, and
  each pair's resume, job (indices into those) and binary label [N]. A
  `prepared.SplitArrays` serves as well."""
  resume_row_R: np.ndarray
  job_row_P: np.ndarray
  resume_N: np.ndarray
  job_N: np.ndarray
  label_N: np.ndarray

  def good_pairs(self) -> tuple[np.ndarray, np.ndarray]:
    return prepared.good_pairs(self.resume_N, self.job_N, self.label_N,
                               len(self.job_row_P))


def rankings(model_config, params, emb_TxE, logit_N,
             test: prepared.SplitArrays | RankedPairs,
             min_resume_candidates: int, ranking_negatives: int,
             ranking_seed: int) -> dict[str, dict]:
  """Job and resume ranking under our protocols and the original's;
  `logit_N` are the logits of `test`'s own pairs."""
  num_jobs = len(test.job_row_P)
  return {
      "job_ranking": job_ranking(model_config, params, emb_TxE, test,
                                 ranking_seed),
      "job_ranking_sampled": sampled_job_ranking(
          model_config, params, emb_TxE, test, ranking_negatives,
          ranking_seed),
      "resume_ranking": ranking.resume_ranking(
          logit_N, test.job_N, test.label_N, num_jobs,
          min_candidates=min_resume_candidates),
      "resume_ranking_original": ranking.resume_ranking(
          logit_N, test.job_N, test.label_N, num_jobs, min_candidates=1,
          require_negative=True),
  }


def summary(metrics: Mapping[str, Any], training: Mapping[str, Any]
            ) -> report.PhaseSummary:
  """The Phase-2 column of the §7.3 table (F1 at the tuned threshold)."""
  test = metrics["test"]
  return report.PhaseSummary(
      auc_roc=test["at_tuned"]["auc_roc"],
      f1=test["at_tuned"]["f1"],
      separation=test["separation"]["separation"],
      pos_mean=test["separation"]["pos_mean"],
      neg_mean=test["separation"]["neg_mean"],
      job_map=metrics["job_ranking"]["map"],
      job_mrr=metrics["job_ranking"]["mrr"],
      job_ndcg=metrics["job_ranking"]["ndcg"],
      resume_map=metrics["resume_ranking"]["map"],
      resume_mrr=metrics["resume_ranking"]["mrr"],
      resume_ndcg=metrics["resume_ranking"]["ndcg"],
      job_map_sampled=metrics["job_ranking_sampled"]["map"],
      job_mrr_sampled=metrics["job_ranking_sampled"]["mrr"],
      job_ndcg_sampled=metrics["job_ranking_sampled"]["ndcg"],
      resume_map_original=metrics["resume_ranking_original"]["map"],
      resume_mrr_original=metrics["resume_ranking_original"]["mrr"],
      resume_ndcg_original=metrics["resume_ranking_original"]["ndcg"],
      train_loss_final=training.get("train_loss_final"),
      val_loss_final=training.get("val_loss_final"),
      best_val_loss=training.get("best_val_loss"),
      best_epoch=training.get("best_epoch"),
      training_time_s=training.get("training_time_s"),
      score_kind="probability")


def _details(metrics: Mapping[str, Any]) -> dict[str, str]:
  cls_cols = ["threshold", "accuracy", "precision", "recall", "f1", "auc_roc",
              "tp", "fp", "tn", "fn"]
  rank_cols = ["map", "mrr", "ndcg", "num_queries", "mean_candidates",
               "mean_relevant", "skipped_no_relevant"]
  test, sampled = metrics["test"], metrics["job_ranking_sampled"]
  counts = ", ".join(f"{k} {v}" for k, v in test["label_counts"].items())
  means = ", ".join(f"{k} {v:.3f}" for k, v in
                    test["mean_probability_by_label"].items()
                    if not math.isnan(v))
  return {
      "Classification": (
          report.metrics_table({
              "test @ 0.5": test["at_default"],
              "test @ tuned": test["at_tuned"],
              "val @ 0.5": metrics["val"]["at_default"],
              "val @ tuned": metrics["val"]["at_tuned"]}, cls_cols)
          + f"\n\nTest pairs: {counts}. Mean P(match) by original label: "
          f"{means}."),
      "Ranking": (
          report.metrics_table({
              f"Job ranking, 1 + {sampled['num_negatives']} sampled (§7.3 "
              "protocol)": sampled,
              "Job ranking, all test jobs": metrics["job_ranking"],
              "Resume ranking, good fit + other (§7.3 protocol)":
                  metrics["resume_ranking_original"],
              "Resume ranking, jobs with a good fit":
                  metrics["resume_ranking"]}, rank_cols)
          + "\n\n" + _protocols(metrics)),
  }


def _protocols(metrics: Mapping[str, Any]) -> str:
  """What each ranking row measured, and which is comparable to §7.3."""
  sampled = metrics["job_ranking_sampled"]
  ours = metrics["resume_ranking"]
  original = metrics["resume_ranking_original"]
  return (
      "Rows marked §7.3 protocol follow the original implementation and are "
      "the figures comparable to §7.3; the others are ours. Job ranking, "
      "§7.3 protocol: one query per test good-fit pair, its job ranked among "
      f"{sampled['num_negatives']} other test jobs drawn at random (seed "
      f"{sampled['seed']}) from those that are not a good fit for the "
      f"resume; {sampled['short_pool_queries']} queries had fewer to draw "
      "from and rank all of them. Job ranking, all test jobs (stricter): "
      "each test resume with a good fit ranks every test job, relevant = its "
      f"good-fit jobs (at most {MAX_JOB_RANKING_RESUMES} resumes, a seeded "
      "sample when there are more; left out: "
      f"{metrics['job_ranking'].get('resumes_left_out', 0)}). Resume ranking, §7.3 protocol: each test job with at "
      "least one good-fit and one other paired resume ranks its paired "
      "resumes (skipped for want of another resume: "
      f"{original['skipped_no_negative']}). Resume ranking, jobs with a good "
      "fit: every test job with a good-fit pair and enough paired resumes "
      f"(skipped for too few: {ours['skipped_too_few']}), including jobs "
      "whose resumes are all good fits, which score 1.")


def write_outputs(workdir, metrics: Mapping[str, Any],
                  arrays: Mapping[str, np.ndarray],
                  loss_curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
                  training: Mapping[str, Any],
                  phase1: report.PhaseSummary | None,
                  phase1_plots: Mapping[str, pathlib.Path] | None = None
                  ) -> dict[str, Any]:
  """Writes plots, `phase2_eval.json`, `test_predictions.jsonl` and the
  Markdown report into `workdir`.

  `phase1_plots` (caption → existing PNG, e.g. in the Phase-1 workdir) are
  linked from the report after Phase 2's own.

  Returns the JSON content (with NaN as None), including "report_path".
  """
  workdir = pathlib.Path(workdir)
  plot_dir = workdir / PLOTS_DIR
  y, prob = arrays["test_label"], arrays["test_prob"]
  figures = {
      "ROC curve (test)": plots.plot_roc(
          plot_dir / "roc.png", y, prob, "Phase 2 ROC (test)"),
      "Precision–recall curve (test)": plots.plot_pr(
          plot_dir / "pr.png", y, prob, "Phase 2 precision–recall (test)"),
      "Predicted probability by original label (test)":
          plots.plot_score_histograms(
              plot_dir / "probability_by_label.png",
              {k: arrays[f"test_prob_{k}"] for k in records.LABELS},
              "Phase 2 P(match) by original label (test)", "P(match)"),
      "Loss curves": plots.plot_loss_curves(
          plot_dir / "loss.png", loss_curves, "Phase 2 weighted BCE"),
  }
  phase2 = summary(metrics, training)
  columns = {"Phase 2": phase2} if phase1 is None else {
      "Phase 1": phase1, "Phase 2": phase2}
  threshold = metrics["threshold"]
  notes = [
      f"Phase 2 on the test split with the best checkpoint (epoch "
      f"{training.get('best_epoch')}); F1 at the threshold "
      f"{threshold['tuned']:.3f} tuned for F1 on the validation split "
      f"(validation F1 {threshold['val_f1_at_tuned']:.3f}); AUC-ROC is "
      "threshold-free.",
      "Phase 1 column: cosine similarity on the validation split (§7.1)."
      if phase1 is not None else
      "Phase 1 evaluation was not found, so its column is left out.",
      "Ranking rows marked §7.3 protocol follow the original implementation "
      "and are the ones comparable to §7.3 (job ranking: a good-fit job among "
      f"{metrics['job_ranking_sampled']['num_negatives']} random other test "
      "jobs; resume ranking: jobs with a good-fit and another paired "
      "resume); the others are ours (job ranking against every test job, "
      "stricter; resume ranking for every job with a good fit). See Ranking.",
      *(f"**Warning:** {w}." for w in metrics.get("warnings", ())),
  ]
  report_path = report.write_report(
      workdir / REPORT_NAME, "CACL evaluation report", columns,
      sections=_details(metrics), plots={**figures, **(phase1_plots or {})},
      notes=notes)
  predictions_path = workdir / PREDICTIONS_NAME
  if distributed.is_main_process():
    write_predictions(predictions_path, arrays)
  out = files.jsonable({**metrics, "training": dict(training),
                        "summary": phase2.to_dict(),
                        "phase1_summary": (phase1.to_dict() if phase1
                                           else None),
                        "plots": {k: str(v) for k, v in figures.items()},
                        "report_path": str(report_path),
                        "predictions_path": str(predictions_path)})
  text = json.dumps(out, indent=2).encode("utf-8")
  if distributed.is_main_process():
    files.atomic_write(workdir / EVAL_NAME, lambda f: f.write(text))
  return out
