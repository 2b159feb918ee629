"""§7.1 evaluation against scikit-learn on independently computed scores."""

import json

import numpy as np
import pytest
from sklearn import metrics

import synthetic_data
from cacl_jax.common import checkpoints
from cacl_jax.phase1 import evaluate, state as state_lib, train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  data = synthetic_data.make_prepared(dim=32, signal=0.3)
  config = synthetic_data.tiny_phase1_config()
  workdir = tmp_path_factory.mktemp("eval")
  train.train_phase1(config, data, workdir)
  return config, data, workdir, evaluate.evaluate_phase1(config, data,
                                                         workdir)


def numpy_scores(params, data, split):
  """Cosine similarity of projected pairs, from the params alone."""
  def head(x):
    h = np.maximum(x @ np.asarray(params["hidden"]["kernel"])
                   + np.asarray(params["hidden"]["bias"]), 0)
    z = h @ np.asarray(params["output"]["kernel"]) + np.asarray(
        params["output"]["bias"])
    return z / np.linalg.norm(z, axis=1, keepdims=True)

  resume = head(data.emb_TxD[split.resume_row_R[split.resume_N]])
  job = head(data.emb_TxD[split.job_row_P[split.job_N]])
  return (resume * job).sum(axis=1)


def best_f1(y, scores):
  """Brute force over every candidate threshold."""
  best = 0.0
  for t in np.unique(scores):
    best = max(best, metrics.f1_score(y, scores >= t))
  return best


def test_eval_json_matches_independent_metrics(run):
  config, data, workdir, result = run
  saved = json.loads((workdir / evaluate.EVAL_FILE).read_text())
  assert saved == {k: v for k, v in result.items() if k != "eval_path"}
  params, info = state_lib.load_params(config, workdir, data.emb_TxD.shape[1])
  assert saved["checkpoint"] == json.loads(json.dumps(info))
  y = data.val.label_N
  scores = numpy_scores(params, data, data.val)
  assert saved["split"] == "val" and saved["num_pairs"] == y.size
  assert saved["num_positive"] == int(y.sum())
  assert saved["auc_roc"] == pytest.approx(metrics.roc_auc_score(y, scores),
                                           abs=1e-4)
  assert saved["pos_mean"] == pytest.approx(scores[y == 1].mean(), abs=1e-5)
  assert saved["neg_mean"] == pytest.approx(scores[y == 0].mean(), abs=1e-5)
  assert saved["separation"] == pytest.approx(
      saved["pos_mean"] - saved["neg_mean"])
  assert saved["f1"] == pytest.approx(best_f1(y, scores), abs=1e-3)
  predicted = scores >= saved["threshold"] - 1e-6
  assert metrics.f1_score(y, predicted) == pytest.approx(saved["f1"],
                                                         abs=1e-3)


def test_encoder_baseline_uses_raw_cosine(run):
  _, data, _, result = run
  split = data.val
  emb = data.emb_TxD / np.linalg.norm(data.emb_TxD, axis=1, keepdims=True)
  raw = (emb[split.resume_row_R[split.resume_N]]
         * emb[split.job_row_P[split.job_N]]).sum(axis=1)
  assert result["encoder_baseline"]["auc_roc"] == pytest.approx(
      metrics.roc_auc_score(split.label_N, raw), abs=1e-6)


def test_plots_are_written(run):
  _, _, workdir, result = run
  assert set(result["plots"]) == {"roc", "similarity_histograms",
                                  "loss_curves"}
  for rel in result["plots"].values():
    path = workdir / rel
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pair_similarities_equal_numpy(run):
  config, data, workdir, _ = run
  params, _ = state_lib.load_params(config, workdir, data.emb_TxD.shape[1])
  np.testing.assert_allclose(
      evaluate.pair_similarities(config.model, params, data, "test"),
      numpy_scores(params, data, data.test), rtol=1e-4, atol=1e-5)


def test_missing_checkpoint_is_reported(tmp_path):
  data = synthetic_data.make_prepared(dim=32)
  with pytest.raises(checkpoints.CheckpointError, match="no checkpoint"):
    evaluate.evaluate_phase1(synthetic_data.tiny_phase1_config(), data,
                             tmp_path)
