r"""Speed of the skill extractor beside today's exact matcher, same run.

Times, on the texts of the skillbench validation split (or --input, one
text per line):
  * the label index: loading it from the cache, or with --fresh_index
    building it in a temporary folder (encoding every ESCO label);
  * the new extractor, cold (query embeddings not cached: a temporary
    embedding cache, so sentence and window encoding count) and warm (the
    same texts again, embeddings cached);
  * today's extractor (data/skill_mentions.py) on the same texts;
and prints texts/s, the ratio new (cold) / today, and the peak resident
memory of the process.

  python benchmarks/skills_bench.py --esco=/work/shared/esco/v1.2.0 \
      [--bench_dir=/work/shared/skillbench] [--input=FILE] [--fresh_index]
"""

import resource
import tempfile
import time

from absl import app
from absl import flags

from cacl_jax.common import files
from cacl_jax.data import skill_mentions
from cacl_jax.encoder import embedding_cache
from cacl_jax.encoder import encode
from cacl_jax.encoder import weights
from cacl_jax.ontology import graph
from cacl_jax.skills import extractor
from cacl_jax.skills import skillbench
from cacl_jax.skills import text_input

_ESCO = flags.DEFINE_string("esco", None, "ESCO folder.", required=True)
_BENCH = flags.DEFINE_string("bench_dir", None, "skillbench folder "
                             "(default: $CACL_SKILLBENCH_DIR).")
_INPUT = flags.DEFINE_string("input", None, "Texts, one per line (instead "
                             "of the benchmark sentences).")
_FRESH = flags.DEFINE_bool("fresh_index", False, "Build the label index in "
                           "a temporary folder (encodes every label).")
_MODEL = flags.DEFINE_string("model", "sentence-transformers/all-mpnet-base-v2",
                             "Model folder or hub id.")


def _timed(fn):
  start = time.perf_counter()
  result = fn()
  return result, time.perf_counter() - start


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _INPUT.value:
    texts = text_input.read_texts(_INPUT.value)
  else:
    bench = skillbench.bench_dir(_BENCH.value)
    if bench is None:
      raise app.UsageError("pass --input, --bench_dir or set "
                           "$CACL_SKILLBENCH_DIR")
    texts = skillbench.sentences(bench)
  encoder, load_s = _timed(lambda: encode.TextEncoder.from_pretrained(
      weights.resolve_model_dir(_MODEL.value)))
  print(f"{len(texts)} texts; encoder loaded in {load_s:.1f} s")
  with tempfile.TemporaryDirectory() as tmp:
    index_dir = (f"{tmp}/skill_index" if _FRESH.value
                 else files.cache_root() / "skill_index")
    queries = embedding_cache.EmbeddingCache(f"{tmp}/embeddings", encoder)
    embed_labels = lambda t: encoder.encode(t, progress=True)
    built, index_s = _timed(lambda: extractor.build(
        _ESCO.value, queries.get, encoder.identity, encoder.dim,
        cache_dir=index_dir, label_embed=embed_labels))
    what = "built" if built.index.built else "loaded from cache"
    print(f"label index ({len(built.index.table)} labels, "
          f"{len(built.index.table.skills)} skills) {what} in {index_s:.1f} s "
          "(incl. reading ESCO and the lexical document frequencies)")
    _, cold_s = _timed(lambda: built.rank(texts))
    _, warm_s = _timed(lambda: built.rank(texts))
  mentions, today_load_s = _timed(lambda: skill_mentions.SkillMentionExtractor(
      graph.load_ontology(_ESCO.value).skill_index))
  _, today_s = _timed(lambda: [mentions(t) for t in texts])
  n = len(texts)
  print(f"new extractor, cold (encodes queries): {n / cold_s:.2f} texts/s "
        f"({cold_s:.1f} s, {queries.stats['encoded']} queries encoded)")
  print(f"new extractor, warm (cached queries):  {n / warm_s:.2f} texts/s "
        f"({warm_s:.1f} s)")
  print(f"today's extractor:                     {n / today_s:.2f} texts/s "
        f"({today_s:.3f} s; its label index loaded in {today_load_s:.1f} s)")
  print(f"ratio new cold / today: {today_s / cold_s:.5f}; new warm / today: "
        f"{today_s / warm_s:.5f}")
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  print(f"peak resident memory: {peak:.2f} GiB")


if __name__ == "__main__":
  app.run(main)
