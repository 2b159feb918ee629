r"""Phase 2 wall time and peak memory on the demo's shape, vs a per-batch baseline.

  python benchmarks/phase2_bench.py [--runs=3] [--epochs=10]

Data: by default the built-in generator's 5,179 pairs (80/10/10 split, real
unique resume and job counts) with random unit 768-d vectors standing in for
the cached encoder embeddings, and a random Phase-1 head (768 → 256 → 128)
saved as a Phase-1 checkpoint: Phase 2's cost does not depend on the values.
With --prepared=<cache>/prepared/<key>.npz --phase1_workdir=<run>/phase1 it
uses the real cached embeddings and Phase-1 checkpoint of a finished
`configs/default.py` run instead.

Each measurement runs in a fresh process, so compilation is included:
- "phase2": the steps of `phase2.train.run` — restore Phase 1, project every
  text once, train 10 epochs (the shared epoch loop: one compiled scan per
  epoch, validation every epoch, checkpoints, logs), evaluate on the test
  split (classification, job and resume ranking), write plots, JSON and
  report.
- baseline "per-batch loop": the original's structure — a jitted step
  dispatched from Python for each batch of 32 that runs the frozen
  projection head on the batch's cached 768-d embeddings, then the
  classifier, with the same optimiser (coupled-L2 Adam after clipping);
  validation the same way each epoch. Training only.
Prints medians over --runs of wall time and peak RSS (ru_maxrss) per
process, the first (compiling) and later epoch times, and baseline / phase2
ratios. Phase 2 also checkpoints and logs every epoch; the baseline does not.
"""

import time

_START = time.perf_counter()  # pylint: disable=g-import-not-at-top

import dataclasses
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile

from absl import app, flags
import jax
import numpy as np

from cacl_jax.common import run_manifest, training_loop
from cacl_jax.data import builtin, esco_tables
from cacl_jax.data import generator, prepared, records, splits
from cacl_jax.experiments import config as experiment_config
from cacl_jax.experiments import run
from cacl_jax.phase1 import projection
from cacl_jax.phase1 import state as phase1_state
from cacl_jax.phase2 import evaluate, losses
from cacl_jax.phase2 import pretrained, train

_RUNS = flags.DEFINE_integer("runs", 3, "Fresh-process runs per measurement.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Phase-2 epochs.")
_NUM_PAIRS = flags.DEFINE_integer("num_pairs", 5179, "Generated pairs.")
_CHILD = flags.DEFINE_enum("child", None, ["phase2", "baseline"],
                           "Internal: run one measurement and print JSON.")
_PREPARED = flags.DEFINE_string(
    "prepared", None, "A prepared-data .npz of the real pipeline (e.g. "
    "<cache>/prepared/<key>.npz) to use instead of random embeddings; needs "
    "--phase1_workdir.")
_PHASE1 = flags.DEFINE_string(
    "phase1_workdir", None, "Phase-1 workdir matching --prepared (its head "
    "shape is read from its config.json).")
_DIR = flags.DEFINE_string("dir", None, "Internal: the prepared folder.")
_WORKDIR = flags.DEFINE_string("child_workdir", None, "Internal.")

EMB_DIM = 768


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(folder: pathlib.Path, num_pairs: int) -> dict:
  """Writes prepared.npz (random embeddings) and a Phase-1 run: its record
  (config.json, run.json) and a checkpoint of a random default head."""
  tables = esco_tables.load_tables(builtin.builtin_esco_dir())
  pairs = [dataclasses.replace(p, metadata=records.PairMetadata(
               quality_tier="A"))
           for p in generator.generate_pairs(tables, num_pairs, seed=0)]
  rng = np.random.default_rng(0)

  def embed(texts):
    emb = rng.normal(size=(len(texts), EMB_DIM)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)

  def similarity(resumes, jobs):
    return np.zeros((len(resumes), len(jobs)), np.float32)

  data = prepared.build_prepared(splits.sequential_split(pairs), embed,
                                 similarity)
  prepared.save_prepared(folder / "prepared.npz", data)
  p1 = run.phase_config(experiment_config.build("phase1"), "phase1")
  run_manifest.start_run(folder / "phase1", p1, prepared.fingerprint(data))
  state = phase1_state.create_state(p1, EMB_DIM, jax.random.key(0))
  with training_loop.open_checkpoints(folder / "phase1") as ckpts:
    ckpts.save(1, training_loop.checkpoint_item(state, 1),
               {"val_loss": 1.0, "train_loss": 1.0, "epoch": 1})
  return _shapes(data)


def link_real(folder: pathlib.Path, prepared_path: str, phase1_dir: str
              ) -> dict:
  """Points the folder at a real prepared .npz and Phase-1 workdir."""
  (folder / "prepared.npz").symlink_to(pathlib.Path(prepared_path).resolve())
  (folder / "phase1").symlink_to(pathlib.Path(phase1_dir).resolve())
  data = prepared.load_prepared(folder / "prepared.npz")
  return _shapes(data)


def _shapes(data: prepared.PreparedData) -> dict:
  return {name: {"pairs": data.split(name).num_pairs,
                 "resumes": len(data.split(name).resume_row_R),
                 "jobs": len(data.split(name).job_row_P)}
          for name in ("train", "val", "test")} | {
                     "texts": int(data.emb_TxD.shape[0])}


def _config(folder: pathlib.Path, epochs: int):
  """The Phase-2 view of configs/phase2.py on the folder's Phase-1 run."""
  c = run.phase_config(experiment_config.build("phase2"), "phase2",
                       phase1_workdir=str(folder / "phase1"))
  c.train.epochs = epochs
  return c


def child_phase2(folder: pathlib.Path, workdir: pathlib.Path, epochs: int
                 ) -> dict:
  """`phase2.train.run`'s steps, timed: restore + project + train, then eval."""
  data = prepared.load_prepared(folder / "prepared.npz")
  config = _config(folder, epochs)
  loaded = time.perf_counter()
  frozen = pretrained.load(config, data.emb_TxD.shape[1])
  emb_TxE = frozen.project(data.emb_TxD)
  trained = train.train(config, data, emb_TxE, workdir)
  trained_at = time.perf_counter()
  metrics, arrays = evaluate.evaluate(config.model, trained["params"],
                                      emb_TxE, data)
  evaluate.write_outputs(workdir, metrics, arrays,
                         train.loss_curves(trained["history"]),
                         trained["summary"], None)
  done = time.perf_counter()
  epochs = [r["epoch/seconds"] for r in trained["history"]]
  return {"run_s": done - loaded, "train_s": trained_at - loaded,
          "first_epoch_s": epochs[0],
          "steady_epoch_s": statistics.median(epochs[1:] or epochs),
          "eval_report_s": done - trained_at, "process_s": done - _START,
          "test_auc": metrics["test"]["at_tuned"]["auc_roc"],
          "peak_rss_mb": _peak_rss_mb()}


def child_baseline(folder: pathlib.Path, epochs: int) -> dict:
  """Per-batch dispatch with the frozen projection recomputed every batch."""
  data = prepared.load_prepared(folder / "prepared.npz")
  config = _config(folder, epochs)
  loaded = time.perf_counter()
  frozen = pretrained.load(config, EMB_DIM)
  proj = projection.make_head(frozen.model_config)
  state = train.create_state(config, frozen.model_config.dim)
  pos_weight = config.train.pos_weight

  def logits_fn(params, res_BxD, job_BxD, rng, deterministic):
    z_res = proj.apply({"params": frozen.params}, res_BxD, deterministic=True)
    z_job = proj.apply({"params": frozen.params}, job_BxD, deterministic=True)
    return state.apply_fn({"params": params}, z_res, z_job,
                          deterministic=deterministic, rngs={"dropout": rng})

  @jax.jit
  def step(state, res_BxD, job_BxD, label_B, mask_B, rng):
    def loss_fn(params):
      return losses.weighted_bce(
          logits_fn(params, res_BxD, job_BxD, rng, False), label_B,
          pos_weight, mask_B)
    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss

  @jax.jit
  def val_step(params, res_BxD, job_BxD, label_B, mask_B):
    logits = logits_fn(params, res_BxD, job_BxD, jax.random.key(0), True)
    return losses.weighted_bce(logits, label_B, pos_weight, mask_B) * (
        mask_B.sum())

  emb = data.emb_TxD

  def batches(split, order, bs=32):
    res = split.resume_row_R[split.resume_N]
    job = split.job_row_P[split.job_N]
    for i in range(0, len(order), bs):
      idx = order[i:i + bs]
      pad = bs - len(idx)
      mask = np.r_[np.ones(len(idx), bool), np.zeros(pad, bool)]
      idx = np.r_[idx, np.zeros(pad, int)]
      yield (emb[res[idx]], emb[job[idx]], split.label_N[idx], mask)

  rng = np.random.default_rng(0)
  key = jax.random.key(0)
  epoch_s = []
  for epoch in range(epochs):
    epoch_start = time.perf_counter()
    order = rng.permutation(data.train.num_pairs)
    for i, (r, j, y, m) in enumerate(batches(data.train, order)):
      state, _ = step(state, r, j, y, m,
                      jax.random.fold_in(key, epoch * 10_000 + i))
    total = sum(val_step(state.params, r, j, y, m)
                for r, j, y, m in batches(data.val,
                                          np.arange(data.val.num_pairs)))
    float(total)
    epoch_s.append(time.perf_counter() - epoch_start)
  jax.block_until_ready(state.params)
  done = time.perf_counter()
  return {"train_s": done - loaded, "process_s": done - _START,
          "first_epoch_s": epoch_s[0],
          "steady_epoch_s": statistics.median(epoch_s[1:] or epoch_s),
          "peak_rss_mb": _peak_rss_mb()}


def _spawn(kind: str, folder: pathlib.Path, workdir: pathlib.Path) -> dict:
  cmd = [sys.executable, __file__, f"--child={kind}", f"--dir={folder}",
         f"--child_workdir={workdir}", f"--epochs={_EPOCHS.value}"]
  out = subprocess.run(cmd, check=False, capture_output=True, text=True)
  if out.returncode:
    raise RuntimeError(f"{kind} run failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if _CHILD.value:
    folder = pathlib.Path(_DIR.value)
    if _CHILD.value == "phase2":
      result = child_phase2(folder, pathlib.Path(_WORKDIR.value),
                            _EPOCHS.value)
    else:
      result = child_baseline(folder, _EPOCHS.value)
    print(json.dumps(result))
    return
  with tempfile.TemporaryDirectory() as tmp:
    folder = pathlib.Path(tmp)
    if bool(_PREPARED.value) != bool(_PHASE1.value):
      raise app.UsageError("--prepared and --phase1_workdir go together")
    if _PREPARED.value:
      shapes = link_real(folder, _PREPARED.value, _PHASE1.value)
      print(f"data: {_PREPARED.value} (real embeddings), Phase 1 from "
            f"{_PHASE1.value}")
    else:
      shapes = prepare(folder, _NUM_PAIRS.value)
      print("data: generated pairs, random 768-d embeddings")
    print(f"shapes: {shapes}")
    results = {"phase2": [], "baseline": []}
    for i in range(_RUNS.value):
      for kind in results:
        results[kind].append(_spawn(kind, folder, folder / f"run_{i}"))
        print(f"run {i} {kind}: {results[kind][-1]}", flush=True)

  def med(kind, key):
    return statistics.median(r[key] for r in results[kind])

  print(f"\nPhase 2, {_EPOCHS.value} epochs, {shapes['train']['pairs']} "
        f"training pairs, medians of {_RUNS.value} fresh processes "
        "(compilation included):")
  print(f"  phase2 end to end (restore Phase 1, project, train, evaluate, "
        f"plots, report): {med('phase2', 'run_s'):.1f} s "
        f"(+ imports: {med('phase2', 'process_s'):.1f} s); peak RSS "
        f"{med('phase2', 'peak_rss_mb'):.0f} MB")
  print(f"    restore + project + train: {med('phase2', 'train_s'):.1f} s "
        f"(first epoch, with compilation, {med('phase2', 'first_epoch_s'):.2f}"
        f" s; later epochs {med('phase2', 'steady_epoch_s'):.3f} s each, "
        f"with validation); evaluation and report: "
        f"{med('phase2', 'eval_report_s'):.1f} s")
  print(f"  baseline per-batch loop, restore + train: "
        f"{med('baseline', 'train_s'):.1f} s (first epoch "
        f"{med('baseline', 'first_epoch_s'):.2f} s; later epochs "
        f"{med('baseline', 'steady_epoch_s'):.3f} s each); peak RSS "
        f"{med('baseline', 'peak_rss_mb'):.0f} MB")
  print(f"  baseline / phase2: restore + train "
        f"{med('baseline', 'train_s') / med('phase2', 'train_s'):.2f}x, "
        f"later epochs "
        f"{med('baseline', 'steady_epoch_s') / med('phase2', 'steady_epoch_s'):.1f}x;"
        f" end to end vs the original's ~94 min: "
        f"{94 * 60 / med('phase2', 'run_s'):.0f}x faster")


if __name__ == "__main__":
  app.run(main)
