r"""Phase-1 training speed: 15 epochs of §5.9 on the demo data's shape.

  python benchmarks/train_bench.py [--runs=3] [--epochs=15]

Data: the built-in generator's 5,179 pairs (80/10/10 split, its real unique
resume and job counts) with random unit 768-d vectors standing in for the
cached encoder embeddings and a random resumes × pool ontology similarity
(uniform in [0, 1], so all three curriculum buckets are populated): the cost
of training does not depend on the values.

Each measurement runs `train_phase1` (training, validation every epoch,
checkpoints, logs) in a fresh process, so compilation is included:
- "scan": the default, each epoch one compiled `lax.scan` over its batches;
- baseline "per-step dispatch": `train.scan_epochs=False`, the jitted
  `train_step` called from Python once per batch (the original's loop
  structure).
Prints medians over --runs of the training wall time (including
compilation), the first epoch (mostly compilation), steady-state steps/s
(epochs 2+, including validation, logging and checkpointing), the bare
compiled training epoch, and peak RSS (ru_maxrss) per process, plus the
baseline / scan ratios. For reference only (not timed here): the original
PyTorch code took ~10 minutes on a GPU (§7.3).
"""

import dataclasses
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_RUNS = flags.DEFINE_integer("runs", 3, "Fresh-process runs per variant.")
_EPOCHS = flags.DEFINE_integer("epochs", 15, "Phase-1 epochs.")
_NUM_PAIRS = flags.DEFINE_integer("num_pairs", 5179, "Generated pairs.")
_CHILD = flags.DEFINE_enum("child", None, ["scan", "per_step"],
                           "Internal: run one measurement and print JSON.")
_DIR = flags.DEFINE_string("dir", None, "Internal: the prepared folder.")

EMB_DIM = 768


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(folder: pathlib.Path, num_pairs: int) -> dict:
  """Writes prepared.npz: generated pairs, random embeddings and sims."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from cacl_jax.data import builtin, esco_tables, generator, prepared, records, splits  # pylint: disable=g-import-not-at-top,line-too-long

  tables = esco_tables.load_tables(builtin.builtin_esco_dir())
  pairs = [dataclasses.replace(p, metadata=records.PairMetadata(
               quality_tier="A"))
           for p in generator.generate_pairs(tables, num_pairs, seed=0)]
  rng = np.random.default_rng(0)

  def embed(texts):
    emb = rng.normal(size=(len(texts), EMB_DIM)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)

  def similarity(resumes, jobs):
    return rng.random((len(resumes), len(jobs))).astype(np.float32)

  data = prepared.build_prepared(splits.sequential_split(pairs), embed,
                                 similarity)
  prepared.save_prepared(folder / "prepared.npz", data)
  return {name: {"pairs": data.split(name).num_pairs,
                 "positives": int(data.split(name).label_N.sum()),
                 "resumes": len(data.split(name).resume_row_R),
                 "jobs": len(data.split(name).job_row_P)}
          for name in ("train", "val", "test")} | {
                     "texts": int(data.emb_TxD.shape[0])}


def _config(epochs: int, scan: bool):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import config as phase1_config  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict()
  c.phase, c.seed = "phase1", 0
  c.update(phase1_config.phase1_fields())
  c.train.epochs = epochs
  c.train.scan_epochs = scan
  return c


def _bare_epoch_s(config, data, repeats: int = 5) -> float:
  """Median seconds of the compiled training epoch alone."""
  import jax  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import batches, negatives, state, steps, train  # pylint: disable=g-import-not-at-top
  split = train._split_tensors(config, data, "train")  # pylint: disable=protected-access
  key = jax.random.key(0, impl=train.PRNG_IMPL)
  s = jax.device_put(state.create_state(config, EMB_DIM, key),
                     jax.devices()[0])
  idx, mask = batches.epoch_batches(key, split.num_pairs,
                                    config.train.batch_size, True)
  ratios = negatives.curriculum_ratios(0, config.train.epochs,
                                       config.negatives.start_ratios,
                                       config.negatives.end_ratios)
  epoch = steps.make_train_epoch(train.step_settings(config))
  times = []
  for i in range(repeats):
    start = time.perf_counter()
    s, metrics = epoch(s, split, idx, mask, ratios, jax.random.fold_in(key, i))
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def child(kind: str, folder: pathlib.Path, epochs: int) -> dict:
  start = time.perf_counter()
  import numpy as np  # pylint: disable=g-import-not-at-top
  from cacl_jax.common import metrics_log  # pylint: disable=g-import-not-at-top
  from cacl_jax.data import prepared  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import train  # pylint: disable=g-import-not-at-top
  data = prepared.load_prepared(folder / "prepared.npz")
  config = _config(epochs, scan=kind == "scan")
  with tempfile.TemporaryDirectory() as workdir:
    loaded = time.perf_counter()
    summary = train.train_phase1(config, data, workdir)
    done = time.perf_counter()
    _, seconds = metrics_log.series(metrics_log.read_history(workdir),
                                    "epoch/seconds", x="epoch")
  result = {
      "train_s": done - loaded, "process_s": done - start,
      "first_epoch_s": float(seconds[0]),
      "steady_steps_per_s": summary["steps_per_epoch"]
                            / float(np.median(seconds[1:])),
      "steps": summary["steps_per_epoch"] * epochs,
      "best_epoch": summary["best_epoch"],
  }
  if kind == "scan":
    result["bare_epoch_s"] = _bare_epoch_s(config, data)
    result["steps_per_epoch"] = summary["steps_per_epoch"]
  result["peak_rss_mb"] = _peak_rss_mb()
  return result


def _spawn(kind: str, folder: pathlib.Path) -> dict:
  cmd = [sys.executable, __file__, f"--child={kind}", f"--dir={folder}",
         f"--epochs={_EPOCHS.value}"]
  out = subprocess.run(cmd, check=False, capture_output=True, text=True)
  if out.returncode:
    raise RuntimeError(f"{kind} run failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs, key):
  return statistics.median(r[key] for r in runs)


def main(argv):
  del argv
  if _CHILD.value:
    print(json.dumps(child(_CHILD.value, pathlib.Path(_DIR.value),
                           _EPOCHS.value)))
    return
  import jax  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    folder = pathlib.Path(tmp)
    shapes = prepare(folder, _NUM_PAIRS.value)
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}; "
          f"{_EPOCHS.value} epochs, batch 64; data {json.dumps(shapes)}")
    results = {kind: [_spawn(kind, folder) for _ in range(_RUNS.value)]
               for kind in ("scan", "per_step")}
  scan, base = results["scan"], results["per_step"]
  for name, runs in (("scan", scan), ("per-step dispatch (baseline)", base)):
    print(f"{name:30s} train {_median(runs, 'train_s'):6.1f} s incl. "
          f"compilation (first epoch {_median(runs, 'first_epoch_s'):5.1f} s)"
          f", process {_median(runs, 'process_s'):6.1f} s, steady "
          f"{_median(runs, 'steady_steps_per_s'):6.1f} steps/s, peak RSS "
          f"{_median(runs, 'peak_rss_mb'):6.0f} MB  "
          f"[runs: {[round(r['train_s'], 1) for r in runs]}]")
  bare = _median(scan, "bare_epoch_s")
  print(f"bare compiled training epoch: {bare:.3f} s = "
        f"{scan[0]['steps_per_epoch'] / bare:.1f} steps/s")
  print(f"baseline / scan: train time "
        f"{_median(base, 'train_s') / _median(scan, 'train_s'):.2f}x, "
        f"steady steps/s {_median(scan, 'steady_steps_per_s') / _median(base, 'steady_steps_per_s'):.2f}x; "  # pylint: disable=line-too-long
        f"target < 60 s: "
        f"{'met' if _median(scan, 'train_s') < 60 else 'MISSED'}")


if __name__ == "__main__":
  app.run(main)
