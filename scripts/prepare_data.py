r"""Enriches resume–job pairs with ESCO URIs, quality tiers and metrics (§3.3).

  python scripts/prepare_data.py --esco=../shared/esco/v1.2.0 \
      --input=workdirs/data/pairs.jsonl \
      --output=workdirs/data/pairs_enriched.jsonl

`--esco` is an ESCO CSV folder in the official layout or `builtin` (the demo
ontology shipped in the package). Maps skill names to URIs, fills
`skill_uris`, `quality_tier` (A/B/C), `ontology_similarity` and
`ot_distance` of every pair, and prints how many skills were matched and how
many pairs fell in each tier. The skill distance matrix is cached under
`--cache_dir` (built on first use, ~15–60 s for full ESCO on CPU).
Re-running on its own output gives an identical file.
"""

from __future__ import annotations

import time

from absl import app
from absl import flags

from cacl_jax.common import files
from cacl_jax.data import builtin
from cacl_jax.data import enrich
from cacl_jax.data import jsonl_io
from cacl_jax.ontology import distance_cache
from cacl_jax.ontology import distances
from cacl_jax.ontology import graph

_ESCO = flags.DEFINE_string(
    "esco", None, "ESCO CSV folder (e.g. ../shared/esco/v1.2.0) or 'builtin'.",
    required=True)
_INPUT = flags.DEFINE_string("input", None, "Input JSONL of pairs.",
                             required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output JSONL of enriched pairs.",
                              required=True)
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", None,
    "Distance cache folder (default: $CACL_CACHE_DIR/ontology, else "
    "~/.cache/cacl_jax/ontology).")
_BACKEND = flags.DEFINE_enum("backend", "scipy", distances.BACKENDS,
                             "BFS backend used when the cache is built.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  esco_dir = builtin.resolve_ontology_dir(_ESCO.value)
  start = time.perf_counter()
  ontology = graph.load_ontology(esco_dir)
  stats = ontology.stats
  print(f"ontology {esco_dir}: {stats.num_nodes} nodes, {stats.num_edges} "
        f"edges, {stats.nodes_by_type}, {len(ontology.skill_index)} skills, "
        f"{len(ontology.skill_index.label_to_uri)} labels "
        f"({time.perf_counter() - start:.1f} s)")

  cache = distance_cache.open_distance_cache(
      esco_dir, _CACHE_DIR.value or files.cache_root() / "ontology",
      backend=_BACKEND.value, ontology=ontology, progress=True)
  print(f"distances {cache.distances.shape} in {cache.directory} "
        + (f"(built: {cache.reason})" if cache.rebuilt else "(cached)"))

  pairs = jsonl_io.read_pairs(_INPUT.value)
  enriched, report = enrich.enrich_pairs(pairs, ontology, cache.distances,
                                         progress=True)
  written = jsonl_io.write_pairs(_OUTPUT.value, enriched)
  print(report.summary())
  print(f"wrote {written} pairs to {_OUTPUT.value} "
        f"({time.perf_counter() - start:.1f} s in all)")


if __name__ == "__main__":
  app.run(main)
