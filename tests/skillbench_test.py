"""The tuned extractor on the skillbench validation split reproduces the
figures recorded in the README (skipped without the benchmark, ESCO or the
real all-mpnet-base-v2 weights)."""

import os
import pathlib

import pytest

from cacl_jax import pipeline
from cacl_jax.common import files
from cacl_jax.encoder import encode
from cacl_jax.encoder import weights
from cacl_jax.skills import skillbench

# Measured with benchmarks/skills_ablation.py (row "fusion").
MEASURED_RP5 = 0.668
MEASURED_SET_F1 = 0.443


@pytest.fixture(scope="module")
def bench():
  folder = skillbench.bench_dir()
  if folder is None:
    pytest.skip("CACL_SKILLBENCH_DIR is not set to the skillbench folder")
  return folder


@pytest.fixture(scope="module")
def esco_dir():
  root = os.environ.get("CACL_ESCO_DIR")
  if not root or not (pathlib.Path(root) / "v1.2.0").is_dir():
    pytest.skip("CACL_ESCO_DIR is not set to a folder holding v1.2.0/")
  return pathlib.Path(root)


def test_tuned_extractor_reaches_measured_figures(bench, esco_dir, tmp_path):
  try:
    model_dir = weights.resolve_model_dir(download=False)
  except weights.ModelNotFoundError:
    pytest.skip("all-mpnet-base-v2 weights are not in a local cache")
  skills = pipeline.make_skill_extractor(
      esco_dir / "v1.2.0", encode.TextEncoder.from_pretrained(model_dir),
      files.cache_root())
  texts = skillbench.sentences(bench)
  ranked = skills.rank(texts)
  skillbench.write_predictions(tmp_path / "ranked.jsonl", texts,
                               [r[:10] for r in ranked])
  skillbench.write_predictions(tmp_path / "set.jsonl", texts,
                               skills.extract_sets(texts))
  metrics, _ = skillbench.score(bench, esco_dir, tmp_path / "ranked.jsonl")
  sets, _ = skillbench.score(bench, esco_dir, tmp_path / "set.jsonl")
  assert metrics["overall"]["rp"] == pytest.approx(MEASURED_RP5, abs=0.01)
  assert sets["overall"]["f1"] == pytest.approx(MEASURED_SET_F1, abs=0.01)
