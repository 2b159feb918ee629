"""scripts/embed.py end to end: encodes a pair file's unique texts once."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np

from cacl_jax.data import builtin
from cacl_jax.data import esco_tables
from cacl_jax.data import generator
from cacl_jax.data import jsonl_io
from cacl_jax.data import serialize
from cacl_jax.encoder import embedding_cache
from cacl_jax.encoder import encode

ROOT = pathlib.Path(__file__).parents[1]


def _run_embed(data: pathlib.Path, cache_root: pathlib.Path, *extra: str):
  env = dict(os.environ, CACL_CACHE_DIR=str(cache_root),
             PYTHONPATH=os.pathsep.join(
                 [str(ROOT), os.environ.get("PYTHONPATH", "")]))
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return subprocess.run(
      [sys.executable, str(ROOT / "scripts" / "embed.py"), f"--data={data}",
       "--model=random", *extra],
      env=env, capture_output=True, text=True, check=False)


def test_embed_encodes_unique_texts_once_then_hits(tmp_path):
  tables = esco_tables.load_tables(
      builtin.resolve_ontology_dir(builtin.BUILTIN))
  pairs = list(generator.generate_pairs(tables, 40, seed=3))
  data = tmp_path / "pairs.jsonl"
  jsonl_io.write_pairs(data, pairs)
  texts = list(dict.fromkeys(
      [serialize.serialize_resume(p.resume) for p in pairs] +
      [serialize.serialize_job(p.job) for p in pairs]))
  assert len(texts) < 80  # resumes and jobs repeat across pairs

  first = _run_embed(data, tmp_path / "cache", "--batch_tokens=512")
  assert first.returncode == 0, first.stderr[-3000:]
  assert f"40 pairs, {len(texts)} unique texts" in first.stdout
  assert re.search(rf"hits 0, encoded {len(texts)} in ", first.stdout)
  assert list((tmp_path / "cache" / "jax").iterdir())  # compilation cache

  second = _run_embed(data, tmp_path / "cache")
  assert second.returncode == 0, second.stderr[-3000:]
  assert re.search(rf"hits {len(texts)}, encoded 0 in .*nothing to encode",
                   second.stdout)

  encoder = encode.TextEncoder.random()
  cache = embedding_cache.EmbeddingCache(tmp_path / "cache" / "embeddings",
                                         encoder)
  np.testing.assert_allclose(cache.get(texts), encoder.encode(texts),
                             atol=1e-6)
  assert cache.stats["encoded"] == 0


def test_embed_rejects_a_missing_data_file(tmp_path):
  out = _run_embed(tmp_path / "absent.jsonl", tmp_path / "cache")
  assert out.returncode != 0
  assert "absent.jsonl: no such data file" in out.stderr
