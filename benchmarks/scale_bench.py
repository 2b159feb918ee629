r"""End-to-end cost per data size: generation to Phase-2 evaluation.

  python benchmarks/scale_bench.py --esco=../shared/esco/v1.2.0 \
      --num_pairs=10000,100000,1000000 [--out_dir=DIR] [--reuse]

For each size, a fresh process runs `configs/default.py` with the generated
pairs over the given ESCO folder, the tiny random encoder
(`encoder.model="random-tiny"`, 32-d) and one epoch per phase, in an empty
cache folder (only the skill-distance matrix, built once beforehand, is
shared), so every stage is measured cold. It prints per size: generation,
ESCO enrichment, preparation (embedding, its share in brackets, and the
arrays with the per-resume candidate negatives), one Phase-1 epoch and one
Phase-2 epoch (each with its validation, compilation included), the
evaluations of both phases and the model export (the rest of the run), the
whole run, and the process's peak RSS; then the ratios between consecutive
sizes (linear growth gives the ratio of the sizes).

Each size's result is written to `<out_dir>/scale_<n>.json`; `--reuse`
prints sizes whose file exists without running them again (so the largest
size can run as a command of its own).
"""

from __future__ import annotations

import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_ESCO = flags.DEFINE_string("esco", "../shared/esco/v1.2.0",
                            "ESCO CSV folder the pairs are generated over.")
_NUM_PAIRS = flags.DEFINE_list("num_pairs", ["10000", "100000", "1000000"],
                               "Data sizes (pairs), comma separated.")
_OUT_DIR = flags.DEFINE_string("out_dir", "workdirs/scale_bench",
                               "Where each size's JSON result is written.")
_REUSE = flags.DEFINE_bool("reuse", False,
                           "Print existing results instead of rerunning.")
_BATCH_TOKENS = flags.DEFINE_integer(
    "batch_tokens", 4096, "Token slots per encoder pass (tiny encoder).")
_CHILD = flags.DEFINE_integer("child", None,
                              "Internal: run one size, print JSON.")
_CACHE = flags.DEFINE_string("cache", None,
                             "Internal: the child's cache folder.")

STAGES = ("generation", "enrichment", "preparation", "phase1_epoch",
          "phase2_epoch", "evaluation", "total")


def _config(num_pairs: int, cache: str):
  from cacl_jax.experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  c = config_lib.build("all", None)
  c.data.ontology = _ESCO.value
  c.data.num_pairs = num_pairs
  c.data.cache_dir = cache
  c.encoder.model = "random-tiny"
  c.encoder.batch_tokens = _BATCH_TOKENS.value
  c.phase1.train.epochs = 1
  c.phase2.train.epochs = 1
  return c


def _epoch_seconds(workdir: pathlib.Path) -> float:
  from cacl_jax.common import metrics_log  # pylint: disable=g-import-not-at-top
  _, seconds = metrics_log.series(metrics_log.read_history(workdir),
                                  "epoch/seconds", x="epoch")
  return float(seconds[0])


def child(num_pairs: int, cache: str) -> dict:
  """One size end to end in this process; stage seconds and peak RSS."""
  from cacl_jax.experiments import run  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    workdir = pathlib.Path(tmp)
    start = time.perf_counter()
    run.train_and_evaluate(_config(num_pairs, cache), workdir)
    total = time.perf_counter() - start
    summary = json.loads((workdir / "phase1" / "data_summary.json")
                         .read_text())
    seconds = summary["seconds"]
    out = {
        "num_pairs": num_pairs,
        "generation": seconds["pairs"],
        "enrichment": seconds["enrichment"],
        "preparation": seconds["preparation"],
        "embedding": seconds["embedding"],
        "phase1_epoch": _epoch_seconds(workdir / "phase1"),
        "phase2_epoch": _epoch_seconds(workdir / "phase2"),
        "total": total,
        "splits": summary["splits"],
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                       / 2**20,
    }
  out["evaluation"] = total - sum(
      out[k] for k in ("generation", "enrichment", "preparation",
                       "phase1_epoch", "phase2_epoch")) - seconds["ontology"]
  return out


def _build_distances(root: pathlib.Path) -> float:
  """Builds the skill-distance cache once under `root/ontology`."""
  from cacl_jax.ontology import distance_cache  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  distance_cache.load_or_build_distances(_ESCO.value, root / "ontology")
  return time.perf_counter() - start


def _run_size(num_pairs: int, root: pathlib.Path) -> dict:
  cache = root / f"n{num_pairs}"
  cache.mkdir()
  (cache / "ontology").symlink_to(root / "ontology")
  cmd = [sys.executable, __file__, f"--child={num_pairs}",
         f"--cache={cache}", f"--esco={_ESCO.value}",
         f"--batch_tokens={_BATCH_TOKENS.value}"]
  out = subprocess.run(cmd, check=False, capture_output=True, text=True)
  if out.returncode:
    raise RuntimeError(f"{num_pairs} pairs failed:\n{out.stderr[-5000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def _table(results: list[dict]) -> str:
  head = (f"{'pairs':>9} {'gen s':>7} {'enrich s':>8} {'prep s':>14} "
          f"{'P1 epoch s':>10} {'P2 epoch s':>10} {'eval s':>7} "
          f"{'total s':>8} {'peak RSS GB':>11}")
  lines = [head]
  for r in results:
    prep = f"{r['preparation']:.1f} ({r['embedding']:.1f})"
    lines.append(
        f"{r['num_pairs']:>9} {r['generation']:>7.1f} {r['enrichment']:>8.1f} "
        f"{prep:>14} {r['phase1_epoch']:>10.1f} {r['phase2_epoch']:>10.1f} "
        f"{r['evaluation']:>7.1f} {r['total']:>8.1f} "
        f"{r['peak_rss_gb']:>11.2f}")
  for a, b in zip(results, results[1:]):
    ratios = ", ".join(f"{k} {b[k] / a[k]:.1f}x" for k in STAGES)
    lines.append(f"{b['num_pairs']} / {a['num_pairs']} "
                 f"({b['num_pairs'] / a['num_pairs']:.0f}x pairs): {ratios}, "
                 f"peak RSS {b['peak_rss_gb'] / a['peak_rss_gb']:.1f}x")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _CHILD.value:
    print(json.dumps(child(_CHILD.value, _CACHE.value)))
    return
  out_dir = pathlib.Path(_OUT_DIR.value)
  out_dir.mkdir(parents=True, exist_ok=True)
  results = []
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    distances_s = None
    for num_pairs in sorted(int(n) for n in _NUM_PAIRS.value):
      path = out_dir / f"scale_{num_pairs}.json"
      if not (_REUSE.value and path.exists()):
        if distances_s is None:
          distances_s = _build_distances(root)
          print(f"skill distances built once in {distances_s:.1f} s "
                "(not counted below)", flush=True)
        path.write_text(json.dumps(_run_size(num_pairs, root), indent=2))
        print(f"{num_pairs} pairs done", flush=True)
      results.append(json.loads(path.read_text()))
  print(_table(results))
  for r in results:
    print(f"{r['num_pairs']} pairs: " + "; ".join(
        f"{name} {s['pairs']} pairs / {s['unique_resumes']} resumes / "
        f"{s['unique_jobs']} jobs" for name, s in r["splits"].items()))


if __name__ == "__main__":
  app.run(main)
