"""Chunked top-k of the score grid: against numpy brute force (full matrix,
stable argsort: equal scores by lower item index) and against
`classifier.predict_logits`, in both query directions, with padding, k > N,
exact ties, compile counts and the benchmark's smoke run."""

import pathlib
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from cacl_jax.phase2 import classifier
from cacl_jax.phase2 import config as phase2_config
from cacl_jax.serving import topk

_BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / (
    "match_bench.py")


def _model_config(hidden) -> ml_collections.ConfigDict:
  config = phase2_config.phase2_fields().model
  config.hidden = tuple(hidden)
  return config


def _numpy_logits(params, resume_RxE, job_JxE) -> np.ndarray:
  """[R, J] classifier logits of every pair: concat, then the dense layers."""
  p = jax.tree_util.tree_map(np.asarray, params)
  r, j = len(resume_RxE), len(job_JxE)
  h = np.concatenate([np.repeat(resume_RxE, j, axis=0),
                      np.tile(job_JxE, (r, 1))], axis=1).astype(np.float64)
  layers = sorted(name for name in p if name.startswith("hidden_"))
  for name in layers:
    h = np.maximum(h @ p[name]["kernel"] + p[name]["bias"], 0)
  return (h @ p["output"]["kernel"] + p["output"]["bias"])[:, 0].reshape(r, j)


def _numpy_top_k(scores_QxN: np.ndarray, k: int):
  order = np.argsort(-scores_QxN, axis=1, kind="stable")[:, :k]
  return np.take_along_axis(scores_QxN, order, axis=1), order


def _random(rng, rows, dim=128):
  return rng.normal(size=(rows, dim)).astype(np.float32)


@pytest.mark.parametrize("hidden", [(128, 64), (32,), (64, 32, 16)])
@pytest.mark.parametrize("query_is_resume", [True, False])
def test_logits_match_brute_force_and_predict_logits(hidden, query_is_resume):
  config = _model_config(hidden)
  params = classifier.init_params(config, 128, jax.random.key(len(hidden)))
  rng = np.random.default_rng(1)
  query_QxE, items_NxE = _random(rng, 11), _random(rng, 37)
  # 11 queries in chunks of 4 and 37 items in chunks of 8: both padded.
  scores, index = topk.top_k_logits(config, params, query_QxE, items_NxE, 5,
                                    query_is_resume=query_is_resume,
                                    query_chunk=4, item_chunk=8)
  full = (_numpy_logits(params, query_QxE, items_NxE) if query_is_resume
          else _numpy_logits(params, items_NxE, query_QxE).T)
  expected_scores, expected_index = _numpy_top_k(full, 5)
  assert scores.shape == index.shape == (11, 5)
  assert scores.dtype == np.float32 and index.dtype == np.int32
  np.testing.assert_array_equal(index, expected_index)
  np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-5)
  emb_TxE = np.concatenate([query_QxE, items_NxE])
  query_row, item_row = np.repeat(np.arange(11), 5), 11 + index.ravel()
  resume_row, job_row = ((query_row, item_row) if query_is_resume
                         else (item_row, query_row))
  reference = classifier.predict_logits(config, params, emb_TxE, resume_row,
                                        job_row)
  np.testing.assert_allclose(scores.ravel(), reference, rtol=0, atol=1e-5)


def _exact_params(rng, hidden, dim):
  """Weights and biases on a 1/8 grid, so that with small integer inputs
  every logit is exact in float32 and equal pairs tie exactly."""
  sizes = (2 * dim,) + tuple(hidden) + (1,)
  names = [f"hidden_{i}" for i in range(len(hidden))] + ["output"]
  return {name: {"kernel": rng.integers(-8, 9, (a, b)).astype(np.float32) / 8,
                 "bias": rng.integers(-8, 9, (b,)).astype(np.float32) / 8}
          for name, a, b in zip(names, sizes[:-1], sizes[1:])}


@pytest.mark.parametrize("query_is_resume", [True, False])
def test_exact_ties_go_to_the_lower_item_index(query_is_resume):
  rng = np.random.default_rng(2)
  config = _model_config((6, 4))
  params = _exact_params(rng, (6, 4), 5)
  query_QxE = rng.integers(-2, 3, (9, 5)).astype(np.float32)
  # Three distinct items repeated over 30 rows: every score is tied.
  items_NxE = rng.integers(-2, 3, (3, 5)).astype(np.float32)[
      rng.integers(0, 3, 30)]
  full = (_numpy_logits(params, query_QxE, items_NxE) if query_is_resume
          else _numpy_logits(params, items_NxE, query_QxE).T)
  expected_scores, expected_index = _numpy_top_k(full, 12)
  scores, index = topk.top_k_logits(config, params, query_QxE, items_NxE, 12,
                                    query_is_resume=query_is_resume,
                                    query_chunk=4, item_chunk=7)
  np.testing.assert_array_equal(index, expected_index)
  np.testing.assert_array_equal(scores, expected_scores)


def test_k_larger_than_the_items_returns_all_of_them_sorted():
  config = _model_config((16,))
  params = classifier.init_params(config, 128, jax.random.key(3))
  rng = np.random.default_rng(3)
  query_QxE, items_NxE = _random(rng, 3), _random(rng, 6)
  scores, index = topk.top_k_logits(config, params, query_QxE, items_NxE, 50,
                                    query_chunk=2, item_chunk=4)
  expected_scores, expected_index = _numpy_top_k(
      _numpy_logits(params, query_QxE, items_NxE), 6)
  assert index.shape == (3, 6)
  np.testing.assert_array_equal(index, expected_index)
  np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-5)


def test_empty_inputs_and_bad_arguments():
  config = _model_config((16,))
  params = classifier.init_params(config, 128, jax.random.key(4))
  rng = np.random.default_rng(4)
  scores, index = topk.top_k_logits(config, params, _random(rng, 0),
                                    _random(rng, 5), 3)
  assert scores.shape == index.shape == (0, 3)
  scores, index = topk.top_k_cosine(_random(rng, 2), _random(rng, 0), 3)
  assert scores.shape == index.shape == (2, 0)
  with pytest.raises(ValueError, match="k must be at least 1"):
    topk.top_k_cosine(_random(rng, 2), _random(rng, 5), 0)
  with pytest.raises(ValueError, match="hidden=.64, 32"):
    topk.top_k_logits(_model_config((64, 32)), params, _random(rng, 2),
                      _random(rng, 5), 3)
  with pytest.raises(ValueError, match="first classifier layer"):
    topk.top_k_logits(config, params, _random(rng, 2, 64),
                      _random(rng, 5, 64), 3)


def _numpy_cosine(query_QxE, items_NxE):
  def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  return unit(query_QxE.astype(np.float64)) @ unit(
      items_NxE.astype(np.float64)).T


def test_cosine_matches_numpy():
  rng = np.random.default_rng(5)
  query_QxE, items_NxE = _random(rng, 13, 16), _random(rng, 45, 16)
  scores, index = topk.top_k_cosine(query_QxE, items_NxE, 7, query_chunk=4,
                                    item_chunk=16)
  expected_scores, expected_index = _numpy_top_k(
      _numpy_cosine(query_QxE, items_NxE), 7)
  np.testing.assert_array_equal(index, expected_index)
  np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-6)


def test_cosine_ties_and_zero_rows():
  # Items are positive multiples of basis vectors (cosines exactly 0 or 1)
  # and zero rows (cosine 0 with everything), spread over several chunks.
  rng = np.random.default_rng(6)
  axis_N = rng.integers(0, 3, 20)
  items_NxE = np.eye(4, dtype=np.float32)[axis_N] * rng.integers(
      1, 5, (20, 1)).astype(np.float32)
  items_NxE[[3, 11]] = 0
  query_QxE = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0]] * 2
  scores, index = topk.top_k_cosine(query_QxE, items_NxE, 9, query_chunk=2,
                                    item_chunk=8)
  expected_scores, expected_index = _numpy_top_k(
      _numpy_cosine(query_QxE, items_NxE), 9)
  np.testing.assert_array_equal(index, expected_index)
  np.testing.assert_array_equal(scores, expected_scores)


def test_one_compile_serves_every_large_enough_query_and_item_count():
  config = _model_config((8,))
  params = classifier.init_params(config, 128, jax.random.key(7))
  rng = np.random.default_rng(7)
  # Chunk sizes no other test uses, so the first call compiles exactly once.
  cache_size = topk._merge_chunk._cache_size  # pylint: disable=protected-access
  before = cache_size()
  topk.top_k_logits(config, params, _random(rng, 12), _random(rng, 40), 3,
                    query_chunk=5, item_chunk=11)
  assert cache_size() == before + 1
  topk.top_k_logits(config, params, _random(rng, 23), _random(rng, 31), 3,
                    query_chunk=5, item_chunk=11)
  topk.top_k_logits(config, params, _random(rng, 5), _random(rng, 11), 3,
                    query_chunk=5, item_chunk=11)
  assert cache_size() == before + 1
  # Fewer queries than a chunk: the next power of two (2) is one more.
  topk.top_k_logits(config, params, _random(rng, 2), _random(rng, 40), 3,
                    query_chunk=5, item_chunk=11)
  assert cache_size() == before + 2


def test_benchmark_runs_end_to_end_on_tiny_sizes():
  out = subprocess.run(
      [sys.executable, str(_BENCH), "--resumes=6", "--jobs=50", "--runs=1",
       "--baseline_resumes=6"],
      check=False, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "ratio vs numpy" in out.stdout
  assert "explanations" in out.stdout
