r"""Generates synthetic resume–job pairs (JSONL) shaped like §3 of the method.

  python scripts/make_data.py --ontology=builtin --num_pairs=5179 --seed=0 \
      --out=workdirs/data/pairs.jsonl

`--ontology` is `builtin` (the demo ontology shipped in the package) or the
path of a folder in the official ESCO CSV layout. Pairs stream to disk, so a
million pairs need little memory. Prints the label mix, the share of pairs
with skill URIs on both sides and the unique jobs per sequential split.
"""

from __future__ import annotations

import pathlib
import time

from absl import app
from absl import flags
import tqdm

from cacl_jax.data import builtin
from cacl_jax.data import esco_tables
from cacl_jax.data import generator
from cacl_jax.data import jsonl_io
from cacl_jax.data import pair_stats

_ONTOLOGY = flags.DEFINE_string(
    "ontology", builtin.BUILTIN,
    "'builtin' or the path of an ESCO CSV folder (e.g. ../shared/esco/v1.2.0).")
_NUM_PAIRS = flags.DEFINE_integer("num_pairs", 5179, "Pairs to generate.",
                                  lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_NOISE_RATE = flags.DEFINE_float(
    "noise_rate", generator.DEFAULT_NOISE_RATE,
    "Share of labels flipped to another class at random.",
    lower_bound=0.0, upper_bound=0.5)
_OUT = flags.DEFINE_string(
    "out", None, "Output JSONL file (default: "
    "workdirs/data/pairs_<ontology>_n<num_pairs>_s<seed>.jsonl).")


def _default_out(ontology: str, num_pairs: int, seed: int) -> pathlib.Path:
  name = (builtin.BUILTIN if ontology == builtin.BUILTIN
          else pathlib.Path(ontology).resolve().name)
  return pathlib.Path("workdirs/data") / f"pairs_{name}_n{num_pairs}_s{seed}.jsonl"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  folder = builtin.resolve_ontology_dir(_ONTOLOGY.value)
  out = (pathlib.Path(_OUT.value) if _OUT.value
         else _default_out(_ONTOLOGY.value, _NUM_PAIRS.value, _SEED.value))
  start = time.perf_counter()
  tables = esco_tables.load_tables(folder)
  print(f"ontology {folder}: {len(tables.occupations)} occupations, "
        f"{len(tables.skills)} skills, "
        f"{sum(map(len, tables.essential.values()))} essential + "
        f"{sum(map(len, tables.optional.values()))} optional relations"
        + (f", {tables.skipped_relations} relations skipped (unknown URI)"
           if tables.skipped_relations else "")
        + f" (read in {time.perf_counter() - start:.1f} s)")
  stats = pair_stats.PairStats(_NUM_PAIRS.value)
  pairs = generator.generate_pairs(tables, _NUM_PAIRS.value, seed=_SEED.value,
                                   noise_rate=_NOISE_RATE.value)
  written = jsonl_io.write_pairs(
      out, tqdm.tqdm(stats.track(pairs), total=_NUM_PAIRS.value,
                     unit="pair", mininterval=1.0))
  print(stats.report())
  print(f"wrote {written} pairs to {out} in "
        f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
  app.run(main)
