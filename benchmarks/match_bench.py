r"""Ranking at scale: top-10 jobs for 1,000 resumes among 100,000, explained.

  python benchmarks/match_bench.py [--resumes=1000] [--jobs=100000] [--runs=3]

Workload: random unit 768-d vectors (the all-mpnet-base-v2 shape) standing
in for encoder embeddings, a freshly initialised default Phase-1 head
(768 → 256 → 128) and Phase-2 classifier ((128, 64)): the cost does not
depend on the values. Every resume and job gets a random set of 3–15 skill
URIs of the built-in demo ontology.

Each path runs in a fresh process, so that its peak RSS (ru_maxrss) is its
own; the random inputs (the 768-d embeddings alone are jobs × 3 KB) count
towards both.
- "jax": project both sides with `projection.project`, rank with
  `serving.topk.top_k_logits` (separable first layer, chunked grid, running
  top-k), then `serving.explain.explain_pairs` for every resume's top 10.
  Repeated --runs times in the process; the first run includes compilation.
- baseline "numpy": project with numpy, then per chunk of resumes the naive
  classifier over concat[resume, job] for every job (np.concatenate, matrix
  products, ReLU) and `np.argpartition` top 10, sorted. One run, over the
  first --baseline_resumes resumes (default 200: all 1,000 took 3 to 4.5
  minutes on a 2-core CPU, 0.19–0.26 s per resume) and extrapolated
  linearly in resumes when that is fewer; no explanations.
Prints the JAX path's median and first-run seconds per stage, resume × job
pairs per second, the numpy / JAX ratio of projection + ranking, both peak
RSS, and how many of the baseline's top-10 the JAX path also returns.
"""

import json
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_RESUMES = flags.DEFINE_integer("resumes", 1000, "Resumes (queries).")
_JOBS = flags.DEFINE_integer("jobs", 100_000, "Jobs (items).")
_RUNS = flags.DEFINE_integer("runs", 3, "Runs of the JAX path.")
_TOP_K = flags.DEFINE_integer("top_k", 10, "Jobs kept per resume.")
_BASELINE_RESUMES = flags.DEFINE_integer(
    "baseline_resumes", 200, "Resumes the numpy baseline ranks (its ranking "
    "time is extrapolated linearly to --resumes when fewer); 0: all.")
_BASELINE_CHUNK = flags.DEFINE_integer(
    "baseline_chunk", 2, "Resumes per numpy block (each holds resumes × "
    "jobs × 2E floats of concatenated pairs).")
_CHILD = flags.DEFINE_enum("child", None, ["jax", "numpy"],
                           "Internal: run one path and print JSON.")
_OUT = flags.DEFINE_string("out", None, "Internal: where a child writes "
                           "its top-k indices.")

EMB_DIM = 768
MIN_SKILLS, MAX_SKILLS = 3, 15


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit_rows(rng, rows: int):
  import numpy as np  # pylint: disable=g-import-not-at-top
  emb = rng.standard_normal((rows, EMB_DIM), dtype=np.float32)
  return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _skill_sets(rng, rows: int, uris: tuple[str, ...]) -> list[list[str]]:
  return [[uris[i] for i in rng.choice(len(uris), size, replace=False)]
          for size in rng.integers(MIN_SKILLS, MAX_SKILLS + 1, rows)]


def workload(resumes: int, jobs: int) -> dict:
  """Random embeddings, fresh heads and their configs (seeded: every child
  builds the same workload)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import config as phase1_config  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import projection  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase2 import classifier  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase2 import config as phase2_config  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  p1 = phase1_config.model_fields()
  p2 = phase2_config.phase2_fields()
  return {
      "resume_RxD": _unit_rows(rng, resumes), "job_JxD": _unit_rows(rng, jobs),
      "phase1_model": p1, "phase2_model": p2.model,
      "normalize": bool(p2.phase1_normalized_input),
      "phase1_params": projection.init_params(p1, EMB_DIM, jax.random.key(1)),
      "phase2_params": classifier.init_params(p2.model, p1.dim,
                                              jax.random.key(2)),
  }


def child_jax(resumes: int, jobs: int, top_k: int, runs: int,
              out: pathlib.Path) -> dict:
  """Projection, ranking and explanations, timed per stage, `runs` times."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from cacl_jax.common import files  # pylint: disable=g-import-not-at-top
  from cacl_jax.data import builtin  # pylint: disable=g-import-not-at-top
  from cacl_jax.ontology import distance_cache, graph  # pylint: disable=g-import-not-at-top
  from cacl_jax.phase1 import projection  # pylint: disable=g-import-not-at-top
  from cacl_jax.serving import explain, topk  # pylint: disable=g-import-not-at-top
  w = workload(resumes, jobs)
  esco_dir = builtin.builtin_esco_dir()
  ontology = graph.load_ontology(esco_dir)
  distances = distance_cache.load_or_build_distances(
      esco_dir, files.cache_root(None), ontology=ontology)
  rng = np.random.default_rng(3)
  uris = ontology.skill_index.row_to_uri
  resume_skills = _skill_sets(rng, resumes, uris)
  job_skills = _skill_sets(rng, jobs, uris)
  stages = []
  for _ in range(runs):
    start = time.perf_counter()
    resume_RxE, job_JxE = (
        projection.project(w["phase1_model"], w["phase1_params"], x,
                           normalize=w["normalize"])
        for x in (w["resume_RxD"], w["job_JxD"]))
    projected = time.perf_counter()
    _, index_RxK = topk.top_k_logits(w["phase2_model"], w["phase2_params"],
                                     resume_RxE, job_JxE, top_k)
    ranked = time.perf_counter()
    explanations = explain.explain_pairs(
        ontology, distances,
        [resume_skills[r] for r in range(resumes)
         for _ in range(index_RxK.shape[1])],
        [job_skills[j] for j in index_RxK.ravel()])
    done = time.perf_counter()
    stages.append({"project_s": projected - start, "rank_s": ranked - projected,
                   "explain_s": done - ranked, "total_s": done - start,
                   "explanations": len(explanations)})
  np.save(out, index_RxK)
  return {"runs": stages, "peak_rss_mb": _peak_rss_mb()}


def _numpy_dense(x, layer):
  return x @ layer["kernel"] + layer["bias"]


def child_numpy(resumes: int, jobs: int, top_k: int, baseline_resumes: int,
                chunk: int, out: pathlib.Path) -> dict:
  """The naive numpy path over the first `baseline_resumes` resumes."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  w = workload(resumes, jobs)
  p1 = jax.tree_util.tree_map(np.asarray, w["phase1_params"])
  p2 = jax.tree_util.tree_map(np.asarray, w["phase2_params"])
  hidden = [f"hidden_{i}" for i in range(len(w["phase2_model"].hidden))]
  start = time.perf_counter()

  def project(x):
    z = _numpy_dense(np.maximum(_numpy_dense(x, p1["hidden"]), 0),
                     p1["output"])
    if w["normalize"]:
      z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return z

  resume_RxE = project(w["resume_RxD"][:baseline_resumes])
  job_JxE = project(w["job_JxD"])
  projected = time.perf_counter()
  index_RxK = np.zeros((baseline_resumes, top_k), np.int64)
  for row in range(0, baseline_resumes, chunk):
    block_CxE = resume_RxE[row:row + chunk]
    c = len(block_CxE)
    h = np.concatenate([np.repeat(block_CxE, jobs, axis=0),
                        np.tile(job_JxE, (c, 1))], axis=1)
    for name in hidden:
      h = np.maximum(_numpy_dense(h, p2[name]), 0)
    logits_CxJ = _numpy_dense(h, p2["output"]).reshape(c, jobs)
    best = np.argpartition(-logits_CxJ, top_k - 1, axis=1)[:, :top_k]
    order = np.argsort(-np.take_along_axis(logits_CxJ, best, axis=1), axis=1)
    index_RxK[row:row + c] = np.take_along_axis(best, order, axis=1)
  done = time.perf_counter()
  np.save(out, index_RxK)
  return {"project_s": projected - start, "rank_s": done - projected,
          "peak_rss_mb": _peak_rss_mb()}


def _spawn(kind: str, out: pathlib.Path, baseline_resumes: int) -> dict:
  cmd = [sys.executable, __file__, f"--child={kind}", f"--out={out}",
         f"--resumes={_RESUMES.value}", f"--jobs={_JOBS.value}",
         f"--top_k={_TOP_K.value}", f"--runs={_RUNS.value}",
         f"--baseline_resumes={baseline_resumes}",
         f"--baseline_chunk={_BASELINE_CHUNK.value}"]
  result = subprocess.run(cmd, check=False, capture_output=True, text=True)
  if result.returncode:
    raise RuntimeError(f"{kind} run failed:\n{result.stderr[-3000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])


def _agreement(jax_index, numpy_index) -> float:
  """Mean share of the baseline's top-k (as sets) that the JAX path has."""
  return statistics.mean(
      len(set(a.tolist()) & set(b.tolist())) / len(b)
      for a, b in zip(jax_index, numpy_index))


def main(argv):
  del argv
  resumes, jobs, top_k = _RESUMES.value, _JOBS.value, _TOP_K.value
  baseline_resumes = min(_BASELINE_RESUMES.value or resumes, resumes)
  if _CHILD.value == "jax":
    print(json.dumps(child_jax(resumes, jobs, top_k, _RUNS.value,
                               pathlib.Path(_OUT.value))))
    return
  if _CHILD.value == "numpy":
    print(json.dumps(child_numpy(resumes, jobs, top_k, baseline_resumes,
                                 _BASELINE_CHUNK.value,
                                 pathlib.Path(_OUT.value))))
    return
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    folder = pathlib.Path(tmp)
    fast = _spawn("jax", folder / "jax.npy", baseline_resumes)
    base = _spawn("numpy", folder / "numpy.npy", baseline_resumes)
    agreement = _agreement(np.load(folder / "jax.npy")[:baseline_resumes],
                           np.load(folder / "numpy.npy"))
  runs = fast["runs"]

  def med(key):
    return statistics.median(r[key] for r in runs)

  pairs = resumes * jobs
  scale = resumes / baseline_resumes
  base_s = base["project_s"] + base["rank_s"] * scale
  fast_s = med("project_s") + med("rank_s")
  print(f"JAX {jax.__version__}, backend {jax.default_backend()}; "
        f"{resumes} resumes × {jobs} jobs = {pairs:,} pairs, top {top_k}, "
        f"random {EMB_DIM}-d embeddings, default heads, built-in ontology")
  print(f"JAX path, median of {len(runs)} runs in one process "
        f"[per run: {[round(r['total_s'], 1) for r in runs]} s; the first "
        f"includes compilation]:")
  print(f"  total {med('total_s'):.1f} s = projection "
        f"{med('project_s'):.2f} s + ranking {med('rank_s'):.1f} s + "
        f"explanations {med('explain_s'):.1f} s ({runs[0]['explanations']} "
        f"pairs); first run {runs[0]['total_s']:.1f} s")
  print(f"  projection + ranking {fast_s:.1f} s = "
        f"{pairs / fast_s / 1e6:.2f} M pairs/s; peak RSS "
        f"{fast['peak_rss_mb']:.0f} MB")
  subset = ("" if scale == 1 else
            f", ranking timed on the first {baseline_resumes} resumes and "
            f"extrapolated ×{scale:g}")
  print(f"numpy baseline (naive concat MLP + argpartition, one run{subset}):"
        f" projection {base['project_s']:.2f} s + ranking "
        f"{base['rank_s'] * scale:.1f} s = {base_s:.1f} s = "
        f"{pairs / base_s / 1e6:.2f} M pairs/s; peak RSS "
        f"{base['peak_rss_mb']:.0f} MB")
  print(f"ratio vs numpy (projection + ranking): {base_s / fast_s:.1f}x; "
        f"top-{top_k} agreement with numpy on {baseline_resumes} resumes: "
        f"{agreement:.1%}")
  print(f"targets: JAX total < 60 s "
        f"{'met' if med('total_s') < 60 else 'MISSED'}, peak RSS < 2 GB "
        f"{'met' if fast['peak_rss_mb'] < 2048 else 'MISSED'}, ≥ 3x numpy "
        f"{'met' if base_s / fast_s >= 3 else 'MISSED'}")


if __name__ == "__main__":
  app.run(main)
