"""Phase-2 evaluation against per-query scikit-learn references; outputs."""

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
  tuned = got["threshold"]["tuned"]
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
    relevant = test.good_RxP[r]
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
