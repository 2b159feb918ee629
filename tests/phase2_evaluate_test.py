"""Phase-2 evaluation against per-query scikit-learn references; outputs."""

import inspect
import json
import pathlib

import jax
import numpy as np
import pytest
from sklearn import metrics

import phase2_synthetic
from cacl_jax.data import records
from cacl_jax.evaluation import report
from cacl_jax.phase2 import classifier, config as config_lib, evaluate
from cacl_jax.phase2 import pretrained


@pytest.fixture(scope="module")
def setup():
  data = phase2_synthetic.make_data(seed=3)
  rng = np.random.default_rng(0)
  emb_TxE = rng.normal(size=(data.emb_TxD.shape[0], 8)).astype(np.float32)
  model = config_lib.phase2_fields().model
  params = classifier.init_params(model, 8, jax.random.key(1))
  return data, emb_TxE, model, params


def _numpy_logits(params, resume_NxE, job_NxE):
  p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()}
       for k, d in params.items()}
  h = np.concatenate([resume_NxE, job_NxE], axis=1)
  for layer in ("hidden_0", "hidden_1"):
    h = np.maximum(h @ p[layer]["kernel"] + p[layer]["bias"], 0)
  return (h @ p["output"]["kernel"] + p["output"]["bias"])[:, 0]


def test_metrics_match_references(setup):
  data, emb, model, params = setup
  got, arrays = evaluate.evaluate(model, params, emb, data)
  val, test = data.val, data.test

  def pair_prob(split):
    logits = _numpy_logits(params, emb[split.resume_row_R[split.resume_N]],
                           emb[split.job_row_P[split.job_N]])
    return logits, 1 / (1 + np.exp(-logits))

  _, val_prob = pair_prob(val)
  test_logit, test_prob = pair_prob(test)
  np.testing.assert_allclose(arrays["test_prob"], test_prob, rtol=1e-5)

  # Threshold: the best F1 over every candidate cut of the validation scores.
  f1s = {t: metrics.f1_score(val.label_N, val_prob >= t) for t in val_prob}
  best = max(f1s.values())
  assert got["threshold"]["val_f1_at_tuned"] == pytest.approx(best, abs=1e-6)
  # The tuned threshold is one of evaluate's float32-logit scores; the
  # float64 reference of that pair may lie ~1e-9 below it.
  tuned = got["threshold"]["tuned"] - 1e-6
  assert metrics.f1_score(val.label_N, val_prob >= tuned) == pytest.approx(
      best, abs=1e-6)
  assert got["test"]["at_tuned"]["f1"] == pytest.approx(
      metrics.f1_score(test.label_N, test_prob >= tuned))
  assert got["test"]["at_default"]["recall"] == pytest.approx(
      metrics.recall_score(test.label_N, test_prob >= 0.5))
  assert got["test"]["at_default"]["auc_roc"] == pytest.approx(
      metrics.roc_auc_score(test.label_N, test_prob), abs=1e-6)
  assert got["test"]["label_counts"] == {
      name: int((test.original_label_N == i).sum())
      for i, name in enumerate(records.LABELS)}

  # Job ranking: every resume with a good fit against the whole test pool.
  ap, ndcg = [], []
  for r in range(len(test.resume_row_R)):
    relevant = _good(test)[r]
    if not relevant.any():
      continue
    scores = _numpy_logits(params,
                           np.repeat(emb[test.resume_row_R[r]][None],
                                     len(test.job_row_P), 0),
                           emb[test.job_row_P])
    ap.append(metrics.average_precision_score(relevant, scores))
    ndcg.append(metrics.ndcg_score(relevant[None].astype(int), scores[None]))
  assert got["job_ranking"]["num_queries"] == len(ap)
  assert got["job_ranking"]["map"] == pytest.approx(np.mean(ap), abs=1e-6)
  assert got["job_ranking"]["ndcg"] == pytest.approx(np.mean(ndcg), abs=1e-6)

  # Resume ranking: each job's own pairs, if one is good and there are two.
  ap, rr = [], []
  for p in range(len(test.job_row_P)):
    mine = test.job_N == p
    labels = test.label_N[mine]
    if labels.sum() == 0 or labels.size < 2:
      continue
    ap.append(metrics.average_precision_score(labels, test_logit[mine]))
    ranked = labels[np.argsort(-test_logit[mine])]
    rr.append(1 / (1 + np.flatnonzero(ranked)[0]))
  assert got["resume_ranking"]["num_queries"] == len(ap)
  assert got["resume_ranking"]["map"] == pytest.approx(np.mean(ap), abs=1e-6)
  assert got["resume_ranking"]["mrr"] == pytest.approx(np.mean(rr), abs=1e-6)


def _good(split):
  """bool [R, P]: the resume is a good fit for the job in the split."""
  good = np.zeros((len(split.resume_row_R), len(split.job_row_P)), bool)
  good[split.resume_N[split.label_N == 1], split.job_N[split.label_N == 1]] = (
      True)
  return good


def _grid_logits(params, emb, split):
  num_r, num_p = len(split.resume_row_R), len(split.job_row_P)
  return _numpy_logits(params, emb[np.repeat(split.resume_row_R, num_p)],
                       emb[np.tile(split.job_row_P, num_r)]).reshape(num_r,
                                                                     num_p)


def test_original_ranking_protocols(setup):
  data, emb, model, params = setup
  got, _ = evaluate.evaluate(model, params, emb, data, ranking_negatives=4,
                             ranking_seed=11)
  test = data.test
  logit_rxp, good = _grid_logits(params, emb, test), _good(test)

  # Job ranking: each good-fit pair's job among 4 other jobs, drawn by
  # ordering the resume's non-good-fit jobs by the seeded uniform keys.
  resume_q, job_q = np.nonzero(good)
  key = np.random.default_rng(11).random((resume_q.size, good.shape[1]))
  ap, rr, ndcg, short = [], [], [], 0
  for q, (r, j) in enumerate(zip(resume_q, job_q)):
    others = [p for p in range(good.shape[1]) if not good[r, p]]
    drawn = sorted(others, key=lambda p: key[q, p])[:4]
    short += len(drawn) < 4
    scores = logit_rxp[r, [j] + drawn]
    relevant = np.arange(scores.size) == 0
    ap.append(metrics.average_precision_score(relevant, scores))
    rr.append(1 / (1 + (scores[1:] > scores[0]).sum()))
    ndcg.append(metrics.ndcg_score(relevant[None].astype(int), scores[None]))
  sampled = got["job_ranking_sampled"]
  assert sampled["num_queries"] == len(ap) == good.sum()
  assert sampled["map"] == pytest.approx(np.mean(ap), abs=1e-6)
  assert sampled["mrr"] == pytest.approx(np.mean(rr), abs=1e-6)
  assert sampled["ndcg"] == pytest.approx(np.mean(ndcg), abs=1e-6)
  assert sampled["short_pool_queries"] == short
  assert sampled["skipped_no_relevant"] == int((~good.any(axis=1)).sum())
  assert (sampled["num_negatives"], sampled["seed"]) == (4, 11)

  # Resume ranking: jobs with a good-fit and another paired resume.
  test_logit = _numpy_logits(params, emb[test.resume_row_R[test.resume_N]],
                             emb[test.job_row_P[test.job_N]])
  ap, ndcg = [], []
  for p in range(len(test.job_row_P)):
    labels = test.label_N[test.job_N == p]
    if labels.any() and not labels.all():
      ap.append(metrics.average_precision_score(
          labels, test_logit[test.job_N == p]))
      ndcg.append(metrics.ndcg_score(labels[None],
                                     test_logit[test.job_N == p][None]))
  original = got["resume_ranking_original"]
  assert original["num_queries"] == len(ap)
  assert original["map"] == pytest.approx(np.mean(ap), abs=1e-6)
  assert original["ndcg"] == pytest.approx(np.mean(ndcg), abs=1e-6)


def test_ranking_defaults_are_the_config_defaults():
  params = inspect.signature(evaluate.evaluate).parameters
  fields = config_lib.phase2_fields().eval
  for name in ("min_resume_candidates", "ranking_negatives", "ranking_seed"):
    assert params[name].default == fields[name]
  assert (fields.ranking_negatives, fields.ranking_seed) == (49, 0)


def test_write_outputs(tmp_path, setup):
  data, emb, model, params = setup
  got, arrays = evaluate.evaluate(model, params, emb, data)
  training = {"train_loss_final": 0.7, "val_loss_final": 0.75,
              "best_val_loss": 0.74, "best_epoch": 9, "training_time_s": 3.5}
  phase1 = report.PhaseSummary(auc_roc=0.72, score_kind="cosine")
  phase1_plot = tmp_path / "p1" / "plots" / "roc.png"
  phase1_plot.parent.mkdir(parents=True)
  phase1_plot.write_bytes(b"\x89PNG")
  out = evaluate.write_outputs(
      tmp_path / "p2", got, arrays,
      {"train": (np.arange(1, 4), np.array([0.9, 0.8, 0.7]))}, training,
      phase1, {"Phase 1: roc": phase1_plot})
  tmp_path = tmp_path / "p2"
  saved = json.loads((tmp_path / "phase2_eval.json").read_text(),
                     parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
  assert saved == out
  assert saved["summary"]["f1"] == got["test"]["at_tuned"]["f1"]
  assert saved["summary"]["best_epoch"] == 9
  text = pathlib.Path(out["report_path"]).read_text()
  assert "| Metric | Phase 1 | Phase 2 |" in text
  assert "| Best Val Loss | — | 0.740 (ep 9) |" in text
  summary = saved["summary"]
  for label, field in (("Job MAP (§7.3 protocol)", "job_map_sampled"),
                       ("Job MAP (all test jobs)", "job_map"),
                       ("Resume MAP (§7.3 protocol)", "resume_map_original"),
                       ("Resume MAP (jobs with a good fit)", "resume_map")):
    assert f"| {label} | — | {summary[field]:.3f} |" in text
  assert summary["job_map_sampled"] == got["job_ranking_sampled"]["map"]
  assert "| Job ranking, 1 + 49 sampled (§7.3 protocol) |" in text
  assert "| Job ranking, all test jobs |" in text
  assert text.count("are the ones comparable to §7.3") == 1
  assert saved["job_ranking_sampled"]["num_negatives"] == 49
  for plot in saved["plots"].values():
    assert pathlib.Path(plot).read_bytes()[:4] == b"\x89PNG"
    assert f"]({pathlib.Path(plot).relative_to(tmp_path)})" in text
  assert "![Phase 1: roc](../p1/plots/roc.png)" in text


def test_phase1_summary_from_its_workdir(tmp_path):
  assert pretrained.phase1_summary(tmp_path) is None
  (tmp_path / "phase1_eval.json").write_text(json.dumps({
      "auc_roc": 0.72, "f1": 0.48, "separation": 0.078, "pos_mean": 0.821,
      "neg_mean": 0.743, "checkpoint": {"val_loss": 0.70, "epoch": 13},
      "plots": {"loss_curves": "plots/loss.png", "roc": "plots/gone.png"}}))
  (tmp_path / "plots").mkdir()
  (tmp_path / "plots" / "loss.png").write_bytes(b"")
  assert pretrained.phase1_plots(tmp_path) == {
      "Phase 1: loss curves": tmp_path / "plots" / "loss.png"}
  lines = [{"step": 5, "epoch": 1, "epoch/train_loss": 0.9,
            "epoch/val_loss": 0.8, "epoch/seconds": 30.0},
           {"step": 6, "epoch": 2, "train/loss": 0.6},
           {"step": 10, "epoch": 2, "epoch/train_loss": 0.515,
            "epoch/val_loss": 0.806, "epoch/seconds": 20.0}]
  (tmp_path / "metrics.jsonl").write_text(
      "".join(json.dumps(l) + "\n" for l in lines))
  s = pretrained.phase1_summary(tmp_path)
  assert (s.auc_roc, s.f1, s.best_val_loss, s.best_epoch) == (0.72, 0.48,
                                                              0.70, 13)
  assert (s.train_loss_final, s.val_loss_final) == (0.515, 0.806)
  assert s.training_time_s == 50.0 and s.job_map is None


def test_job_ranking_caps_its_query_resumes(setup):
  data, emb, model, params = setup
  test = data.test
  good = _good(test)
  logit_rxp = _grid_logits(params, emb, test)
  queries = np.flatnonzero(good.any(axis=1))
  assert queries.size > 3
  got = evaluate.job_ranking(model, params, emb, test, seed=4, max_resumes=3)
  chosen = np.sort(np.random.default_rng(4).choice(queries, 3, replace=False))
  ap = [metrics.average_precision_score(good[r], logit_rxp[r])
        for r in chosen]
  assert got["num_queries"] == 3
  assert got["resumes_left_out"] == queries.size - 3
  assert got["skipped_no_relevant"] == len(test.resume_row_R) - queries.size
  assert got["map"] == pytest.approx(np.mean(ap), abs=1e-6)
  # Without a cap (and in chunks of resumes) every query resume is ranked.
  full = evaluate.job_ranking(model, params, emb, test, seed=4)
  assert (full["num_queries"], full["resumes_left_out"]) == (queries.size, 0)
  assert full["map"] == pytest.approx(np.mean(
      [metrics.average_precision_score(good[r], logit_rxp[r])
       for r in queries]), abs=1e-6)
