"""cacl_jax.pipeline: checks before the expensive work, compilation cache."""

import dataclasses
import importlib.util
import pathlib

import jax
import pytest

from cacl_jax import pipeline
from cacl_jax.data import builtin, esco_tables, generator, jsonl_io

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _smoke_config(cache_dir):
  spec = importlib.util.spec_from_file_location(
      "default_config", ROOT / "configs" / "default.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("smoke")
  config.data.cache_dir = str(cache_dir)
  return config


def _pairs(n=100):
  tables = esco_tables.load_tables(
      builtin.resolve_ontology_dir(builtin.BUILTIN))
  return list(generator.generate_pairs(tables, n, seed=1))


def test_a_split_without_positives_fails_before_enrichment_and_encoding(
    tmp_path):
  pairs = _pairs()
  pairs[90:] = [dataclasses.replace(p, label="no_fit") for p in pairs[90:]]
  path = tmp_path / "pairs.jsonl"
  jsonl_io.write_pairs(path, pairs)
  config = _smoke_config(tmp_path / "cache")
  config.data.input = str(path)
  with pytest.raises(ValueError, match=rf"{path}: the test split \(pairs "
                     r"91–100 of 100 .*\) has no good_fit pair"):
    pipeline.prepare_data(config, tmp_path / "work")
  # Neither the skill distances nor any embedding were computed.
  assert not (tmp_path / "cache" / "ontology").exists()
  assert not (tmp_path / "cache" / "embeddings").exists()


def test_all_good_fit_data_is_refused(tmp_path):
  pairs = [dataclasses.replace(p, label="good_fit") for p in _pairs(40)]
  path = tmp_path / "good.jsonl"
  jsonl_io.write_pairs(path, pairs)
  config = _smoke_config(tmp_path / "cache")
  config.data.input = str(path)
  with pytest.raises(ValueError, match="none of the 40 pairs is "
                     "potential_fit or no_fit"):
    pipeline.prepare_data(config, tmp_path / "work")


@pytest.fixture
def restore_jax_config():
  names = ("jax_compilation_cache_dir",
           "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  saved = {name: getattr(jax.config, name) for name in names}
  yield
  for name, value in saved.items():
    jax.config.update(name, value)


def test_compilation_cache_keeps_every_program(tmp_path, monkeypatch,
                                               restore_jax_config):
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  pipeline.enable_compilation_cache(tmp_path)
  assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax")
  # Not only programs slower than JAX's default 1 s: what the cache holds
  # must not depend on the machine's speed.
  assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
  assert jax.config.jax_persistent_cache_min_entry_size_bytes == 0


def test_the_encoder_is_built_only_when_the_prepared_cache_misses(
    tmp_path, monkeypatch):
  from cacl_jax.encoder import encode  # pylint: disable=g-import-not-at-top
  built = []

  def from_pretrained(model_dir, **kwargs):
    built.append(model_dir)
    return encode.TextEncoder.random()

  monkeypatch.setattr(pipeline.weights, "resolve_model_dir",
                      lambda name: tmp_path / "model")
  monkeypatch.setattr(pipeline.encode, "pretrained_identity",
                      lambda model_dir, dtype: "model:sha256=abc")
  monkeypatch.setattr(pipeline.encode.TextEncoder, "from_pretrained",
                      from_pretrained)
  config = _smoke_config(tmp_path / "cache")
  config.encoder.model = "some/model"
  first = pipeline.prepare_data(config)
  assert built == [tmp_path / "model"]
  again = pipeline.prepare_data(config)
  assert built == [tmp_path / "model"]  # reused without loading the weights
  assert (again.emb_TxD == first.emb_TxD).all()
