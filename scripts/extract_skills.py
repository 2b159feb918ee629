r"""Extracts ESCO skills from texts: ranked skills with scores and spans.

  python scripts/extract_skills.py --esco=DIR --input=FILE --output=OUT.jsonl \
      [--top_k=10 | --output_set] [--model=DIR_OR_HUB_ID] [--cache_dir=DIR]

Input: one text per line, or (a `.jsonl` file) one JSON object per line
with a "text" field. Output: one JSON object per input line, in order,
`{"text": ..., "skills": [{"uri", "label", "score", "span"}, ...]}` best
first: the top `--top_k`, or with `--output_set` the thresholded set the
pipeline uses (`SkillExtractor.extract_sets`: per sentence, then merged).
This is the format `skill_bench.py score` reads. The first run on an ESCO
release encodes its preferred skill labels (13,939 for v1.2.0, ~2 min on a
2-core CPU) into `<cache>/skill_index`; later runs read them.
`--model=random` uses the tiny random encoder (no weights; smoke runs).
"""

import dataclasses
import json
import pathlib
import sys
import time

from absl import app
from absl import flags

from cacl_jax import pipeline
from cacl_jax.common import files
from cacl_jax.data import config as data_config
from cacl_jax.skills import extractor
from cacl_jax.skills import text_input

_ESCO = flags.DEFINE_string("esco", None, "ESCO CSV folder (skills_en.csv "
                            "and occupations_en.csv).", required=True)
_INPUT = flags.DEFINE_string("input", None, "Text file (one text per line) "
                             "or .jsonl with a 'text' field.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output JSON-lines file.",
                              required=True)
_TOP_K = flags.DEFINE_integer("top_k", 10, "Skills per text (ranked list).")
_OUTPUT_SET = flags.DEFINE_bool(
    "output_set", False, "Write the thresholded skill set instead of the "
    "top k.")
_MODEL = flags.DEFINE_string(
    "model", "sentence-transformers/all-mpnet-base-v2", "Model folder or hub "
    "id; 'random' for the tiny random encoder.")
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", None, "Cache root (default: $CACL_CACHE_DIR, else "
    "~/.cache/cacl_jax); label index and text embeddings live under it.")


def make_extractor(esco_dir: str, model: str, cache_dir: str | None,
                   top_k: int) -> extractor.SkillExtractor:
  """The extractor with `model`'s encoder, texts cached under `cache_dir`,
  ranking at least `top_k` skills."""
  root = files.cache_root(cache_dir)
  pipeline.enable_compilation_cache(root)
  encoder = data_config.encoder_fields()
  encoder.model = (data_config.RANDOM_TINY_ENCODER if model == "random"
                   else model)
  config = extractor.ExtractorConfig()
  config = dataclasses.replace(config,
                               max_ranked=max(config.max_ranked, top_k))
  return pipeline.make_skill_extractor(
      esco_dir, pipeline.make_encoder(encoder), root, config)

def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _TOP_K.value < 1:
    raise app.UsageError("--top_k must be >= 1")
  try:
    texts = text_input.read_texts(_INPUT.value)
  except text_input.TextInputError as e:
    sys.exit(f"error: {e}")
  start = time.perf_counter()
  skills = make_extractor(_ESCO.value, _MODEL.value, _CACHE_DIR.value,
                          _TOP_K.value)
  loaded = time.perf_counter()
  if _OUTPUT_SET.value:
    chosen_per_text = skills.extract_sets(texts, progress=True)
  else:
    chosen_per_text = [r[:_TOP_K.value]
                       for r in skills.rank(texts, progress=True)]
  seconds = time.perf_counter() - loaded
  lines = []
  for text, chosen in zip(texts, chosen_per_text):
    lines.append(json.dumps({"text": text,
                             "skills": [s.to_json() for s in chosen]},
                            ensure_ascii=False))
  data = ("\n".join(lines) + "\n" if lines else "").encode("utf-8")
  files.atomic_write(pathlib.Path(_OUTPUT.value), lambda f: f.write(data),
                     needed_bytes=len(data))
  print(f"{len(texts)} texts in {seconds:.1f} s "
        f"({len(texts) / max(seconds, 1e-9):.2f} texts/s; extractor loaded in "
        f"{loaded - start:.1f} s); wrote {_OUTPUT.value}")


if __name__ == "__main__":
  app.run(main)
