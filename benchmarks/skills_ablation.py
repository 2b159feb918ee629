r"""Ablation of the skill extractor on the skillbench validation split.

Writes, for each system, a ranked prediction file (top 10) and a set file
(the system's set output) under --out_dir, scores both with the benchmark's
own scorer (`skill_bench.py score`, run as a subprocess) and prints a
markdown table with every scorer command. Systems:

  today        greedy exact label matching (data/skill_mentions.py), skills
               in order of mention; the set is all of them;
  dense-base   the README's dense baseline: sentence vs preferred labels,
               the top 3 as the set;
  lexical      non-generic preferred + alternative labels (document
               frequency filter); the set is all hits;
  lexical-nodf the same without the filter (every label matches);
  dense-sent-alt  sentence vs preferred + alternative labels;
  dense-win    sentence and word windows vs preferred labels;
  dense-ctx    dense-win plus the sentence context term (all dense parts);
  fusion-alt   the full extractor with alternative labels in the dense index;
  fusion       the full extractor (`extractor.ExtractorConfig()` defaults).
The dense and fusion rows' set is `SkillExtractor.extract_sets` under the
default margin and threshold; rows without the context term (scores on a
1/(1 + context_weight) smaller scale) use the threshold scaled the same.

  python benchmarks/skills_ablation.py --esco=/work/shared/esco/v1.2.0 \
      --bench_dir=/work/shared/skillbench --out_dir=/tmp/skills_ablation
"""

import dataclasses
import pathlib

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

_ESCO = flags.DEFINE_string("esco", None, "ESCO folder the extractor uses.",
                            required=True)
_SCORE_ESCO = flags.DEFINE_string(
    "score_esco", None, "--esco of the scorer (default: the parent of "
    "--esco, so gold labels map as in the benchmark README).")
_BENCH = flags.DEFINE_string("bench_dir", None, "skillbench folder "
                             "(default: $CACL_SKILLBENCH_DIR).")
_OUT = flags.DEFINE_string("out_dir", "/tmp/skills_ablation",
                           "Where prediction files go.")
_MODEL = flags.DEFINE_string("model", "sentence-transformers/all-mpnet-base-v2",
                             "Model folder or hub id.")
_TOP = 10


def today_extractor(esco: str):
  """Ranked lists of today's exact matcher (score 1, span = the label)."""
  mentions = skill_mentions.SkillMentionExtractor(
      graph.load_ontology(esco).skill_index)

  def rank(texts):
    return [[extractor.ScoredSkill(s.uri, s.name, 1.0, s.name)
             for s in mentions(t)] for t in texts]
  return rank


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  bench = skillbench.bench_dir(_BENCH.value)
  if bench is None:
    raise app.UsageError("no skillbench: pass --bench_dir or set "
                         "$CACL_SKILLBENCH_DIR")
  esco = _ESCO.value
  score_esco = _SCORE_ESCO.value or str(pathlib.Path(esco).parent)
  out = pathlib.Path(_OUT.value)
  texts = skillbench.sentences(bench)
  encoder = encode.TextEncoder.from_pretrained(
      weights.resolve_model_dir(_MODEL.value))
  cache = embedding_cache.EmbeddingCache(
      files.cache_root() / "embeddings", encoder)
  default = extractor.ExtractorConfig()

  def make(**changes):
    if changes.get("context_weight") == 0.0:
      changes.setdefault(
          "threshold", default.threshold / (1 + default.context_weight))
    return extractor.build(esco, cache.get, encoder.identity, encoder.dim,
                           dataclasses.replace(default, **changes))

  lexical_only = dict(use_dense=False, threshold=0.0, set_margin=1e9)
  sentence_only = dict(use_lexical=False, window_sizes=(), context_weight=0.0)
  systems = {
      "today": (today_extractor(esco), None),
      "dense-base": (make(**sentence_only), 3),
      "lexical": (make(**lexical_only), None),
      "lexical-nodf": (make(max_df=1.0, **lexical_only), None),
      "dense-sent-alt": (make(dense_alt_labels=True, **sentence_only), None),
      "dense-win": (make(use_lexical=False, context_weight=0.0), None),
      "dense-ctx": (make(use_lexical=False), None),
      "fusion-alt": (make(dense_alt_labels=True), None),
      "fusion": (make(), None),
  }
  rows, commands = [], []
  for name, (system, set_top) in systems.items():
    rank = system if callable(system) else system.rank
    ranked = rank(texts)
    if set_top is not None:
      chosen = [r[:set_top] for r in ranked]
    elif callable(system):
      chosen = ranked
    else:
      chosen = system.extract_sets(texts)
    ranked_path = out / f"{name}.ranked.jsonl"
    set_path = out / f"{name}.set.jsonl"
    skillbench.write_predictions(ranked_path, texts, [r[:_TOP] for r in ranked])
    skillbench.write_predictions(set_path, texts, chosen)
    m, ranked_cmd = skillbench.score(bench, score_esco, ranked_path)
    s, set_cmd = skillbench.score(bench, score_esco, set_path)
    rows.append(
        f"| {name} | {m['overall']['rp']:.3f} | {m['HOUSE']['rp']:.3f} | "
        f"{m['TECH']['rp']:.3f} | {m['overall']['mrr']:.3f} | "
        f"{s['overall']['p']:.3f} | {s['overall']['r']:.3f} | "
        f"{s['overall']['f1']:.3f} | "
        f"{s['overall']['npred'] / s['overall']['n']:.2f} |")
    commands += [ranked_cmd, set_cmd]
    print(rows[-1], flush=True)
  print("\n| system | RP@5 | RP@5 HOUSE | RP@5 TECH | MRR | set P | set R | "
        "set F1 | set size |\n|---|---|---|---|---|---|---|---|---|")
  print("\n".join(rows))
  print("\nscorer commands (ranked file, then set file, per system):")
  print("\n".join(commands))


if __name__ == "__main__":
  app.run(main)
