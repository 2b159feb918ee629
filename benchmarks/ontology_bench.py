r"""Benchmarks of the ontology engine against plain baselines, in one run.

  python benchmarks/ontology_bench.py --esco=../shared/esco/v1.2.0

Steps (medians of --repeats runs after one warm-up that compiles; baselines
timed on a sample in the same run and extrapolated to the full size):
1. all-skill distance matrix (scipy path) vs networkx BFS from every skill,
   and vs scipy BFS from every skill (no neighbour reduction);
2. ontology_set_similarity of resumes × jobs (§4.4; 4,143 × 381 by default)
   vs a plain-Python implementation of the three steps;
3. OT distance (§4.5) of all pairs vs a per-pair POT `ot.sinkhorn2` loop
   with the same settings (ε = 0.4, threshold 1e-6, 200 iterations).
Peak memory is the resident-set high-water mark during each step (Linux
VmHWM, reset before the step; the process peak elsewhere) and, in
parentheses, its rise over the RSS at the step's start.

Pairs come from --pairs (JSONL) or, by default, the pair generator run on
the same ESCO folder (5,179 pairs, seed 0); resumes are the first 4,143
pairs' resumes and jobs the first 381 distinct jobs. Skill URIs the ontology
lacks stay set members with no path (row `NO_ROW`), in our code and in the
baselines.
"""

from __future__ import annotations

import math
import pathlib
import resource
import statistics
import time
from typing import Callable

from absl import app
from absl import flags
import jax
import networkx as nx
import numpy as np
import ot
from scipy.sparse import csgraph

from cacl_jax.data import esco_tables
from cacl_jax.data import generator
from cacl_jax.data import jsonl_io
from cacl_jax.ontology import distances as dl
from cacl_jax.ontology import graph
from cacl_jax.ontology import ot_distance as od
from cacl_jax.ontology import set_similarity as ss
from cacl_jax.ontology.skill_index import NO_ROW

_ESCO = flags.DEFINE_string("esco", "../shared/esco/v1.2.0", "ESCO folder.")
_PAIRS = flags.DEFINE_string("pairs", "", "JSONL pairs (default: generate).")
_NUM_PAIRS = flags.DEFINE_integer("num_pairs", 5179, "Pairs to generate.")
_RESUMES = flags.DEFINE_integer("resumes", 4143, "Resumes in the grid.")
_JOBS = flags.DEFINE_integer("jobs", 381, "Distinct jobs in the grid.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs per step.")
_NX_SOURCES = flags.DEFINE_integer("nx_sources", 150,
                                   "networkx BFS sources timed.")
_PY_SAMPLE = flags.DEFINE_integer("python_sample", 3000,
                                  "(resume, job) pairs timed in plain Python.")
_POT_SAMPLE = flags.DEFINE_integer("pot_sample", 400,
                                   "Pairs timed in the POT loop.")


def _status_mib(field: str) -> float | None:
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return None


def _peak_reset() -> float:
  """Resets the peak-RSS mark; returns the current RSS in MiB (0 if unknown)."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
  except OSError:
    return 0.0
  return _status_mib("VmRSS") or 0.0


def _peak_mib() -> float:
  peak = _status_mib("VmHWM")
  if peak is None:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  return peak


def _median_seconds(fn: Callable[[], object],
                    repeats: int) -> tuple[float, object]:
  """(median wall time of `repeats` calls, the last call's result)."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times), result


def _python_similarity(dist, xs, ys, alpha=0.7):
  """§4.4's three steps in plain Python (the baseline)."""
  def skill_sim(u, v):
    if NO_ROW in (u, v):
      return 0.0
    d = dist[u][v]
    return 0.0 if d == dl.NO_PATH else math.exp(-alpha * d)

  def dir_score(xs, ys):
    if not xs:
      return 0.0
    return sum(max((skill_sim(x, y) for y in ys), default=0.0)
               for x in xs) / len(xs)

  return 0.5 * (dir_score(xs, ys) + dir_score(ys, xs))


def _load_pairs(esco_dir: pathlib.Path):
  if _PAIRS.value:
    return jsonl_io.read_pairs(_PAIRS.value)
  tables = esco_tables.load_tables(esco_dir)
  return list(generator.generate_pairs(tables, _NUM_PAIRS.value, seed=0))


def _rows(index, skills):
  return index.rows_for_uris(dict.fromkeys(
      s.uri for s in skills if s.uri is not None))[0]


def _pot_cost(dist, x, y):
  """float64 [len(x), len(y)] §4.5 costs, 10 for no path or no row."""
  x, y = np.asarray(x), np.asarray(y)
  cost = dist[np.ix_(np.maximum(x, 0), np.maximum(y, 0))].astype(np.float64)
  no_path = ((cost == dl.NO_PATH) | (x[:, None] == NO_ROW)
             | (y[None, :] == NO_ROW))
  cost[no_path] = od.NO_PATH_COST
  return cost


def main(argv):
  del argv
  esco_dir = pathlib.Path(_ESCO.value)
  repeats = _REPEATS.value
  results = []

  start = time.perf_counter()
  o = graph.load_ontology(esco_dir)
  print(f"ontology {esco_dir}: {o.stats.num_nodes} nodes, "
        f"{o.stats.num_edges} edges, {len(o.skill_index)} skills "
        f"(loaded in {time.perf_counter() - start:.1f} s)")
  adj = o.undirected_adjacency()
  num_skills = len(o.skill_index)

  # 1. Distance matrix.
  base = _peak_reset()
  matrix_s, dist = _median_seconds(
      lambda: dl.skill_distance_matrix(adj, o.skill_nodes_S), repeats)
  matrix_peak = (_peak_mib(), base)
  undirected = nx.Graph(o.graph.to_undirected())
  rng = np.random.default_rng(0)
  sample = rng.choice(num_skills, _NX_SOURCES.value, replace=False)
  uris = o.skill_index.row_to_uri
  start = time.perf_counter()
  for row in sample:
    nx.single_source_shortest_path_length(undirected, uris[row])
  nx_s = (time.perf_counter() - start) * num_skills / len(sample)
  del undirected
  sources = o.skill_nodes_S[sample[:256]]
  start = time.perf_counter()
  csgraph.shortest_path(adj, method="D", directed=True, unweighted=True,
                        indices=sources)
  every_skill_s = (time.perf_counter() - start) * num_skills / len(sources)
  results.append(("distance matrix (scipy, neighbour reduction)", matrix_s,
                  "networkx BFS per skill (extrapolated)", nx_s, "< 60 s",
                  matrix_peak))
  results.append(("  same", matrix_s, "scipy BFS per skill (extrapolated)",
                  every_skill_s, "", matrix_peak))
  dist_j = jax.device_put(dist)

  # Pairs, resumes and jobs.
  pairs = _load_pairs(esco_dir)
  idx = o.skill_index
  resumes = [_rows(idx, p.resume.skills) for p in pairs[:_RESUMES.value]]
  jobs = {}
  for p in pairs:
    if len(jobs) < _JOBS.value:
      jobs.setdefault(p.job.job_id, _rows(idx, p.job.required_skills))
  jobs = list(jobs.values())
  print(f"{len(pairs)} pairs; grid {len(resumes)} resumes × {len(jobs)} jobs")

  # 2. Similarity grid.
  a = ss.pad_skill_sets(resumes)
  b = ss.pad_skill_sets(jobs)
  base = _peak_reset()
  start = time.perf_counter()
  grid = ss.set_similarity_grid(dist_j, *a, *b)
  grid_first = time.perf_counter() - start
  grid_s, _ = _median_seconds(lambda: ss.set_similarity_grid(dist_j, *a, *b),
                           repeats)
  grid_peak = (_peak_mib(), base)
  cells = [(int(i), int(j)) for i, j in zip(
      rng.integers(0, len(resumes), _PY_SAMPLE.value),
      rng.integers(0, len(jobs), _PY_SAMPLE.value))]
  # Python lists of the distance rows the sample reads (fastest plain access).
  dist_lists = {r: dist[r].tolist() for i, j in cells
                for r in resumes[i] + jobs[j] if r != NO_ROW}
  start = time.perf_counter()
  ref = [_python_similarity(dist_lists, resumes[i], jobs[j]) for i, j in cells]
  py_s = ((time.perf_counter() - start) * len(resumes) * len(jobs)
          / len(cells))
  err = max(abs(grid[i, j] - r) for (i, j), r in zip(cells, ref))
  print(f"grid: first call (compile) {grid_first:.2f} s; max |diff| vs plain "
        f"Python on the sample {err:.2e}")
  results.append((f"similarity grid {len(resumes)}×{len(jobs)}", grid_s,
                  "plain Python §4.4 (extrapolated)", py_s,
                  "< 10 s, ≥ 50×", grid_peak))

  # 3. OT distances of every pair.
  a_sets = [_rows(idx, p.resume.skills) for p in pairs]
  b_sets = [_rows(idx, p.job.required_skills) for p in pairs]
  a = ss.pad_skill_sets(a_sets)
  b = ss.pad_skill_sets(b_sets)
  del dist_lists
  base = _peak_reset()
  start = time.perf_counter()
  distances, _, converged = od.ot_distance_pairs(dist_j, *a, *b)
  ot_first = time.perf_counter() - start
  ot_s, _ = _median_seconds(lambda: od.ot_distance_pairs(dist_j, *a, *b),
                         repeats)
  ot_peak = (_peak_mib(), base)
  both = [i for i in range(len(pairs)) if a_sets[i] and b_sets[i]]
  chosen = rng.choice(both, min(_POT_SAMPLE.value, len(both)), replace=False)
  start = time.perf_counter()
  pot = []
  for i in chosen:
    x, y = a_sets[i], b_sets[i]
    cost = _pot_cost(dist, x, y)
    pot.append(ot.sinkhorn2(np.full(len(x), 1 / len(x)),
                            np.full(len(y), 1 / len(y)), cost, od.EPSILON,
                            numItermax=od.MAX_ITERATIONS,
                            stopThr=od.THRESHOLD))
  pot_s = (time.perf_counter() - start) * len(both) / len(chosen)
  rel = np.max(np.abs(distances[chosen] - np.array(pot)) / np.array(pot))
  print(f"OT: {len(pairs)} pairs ({len(both)} with skills on both sides, "
        f"padded {a[0].shape[1]}×{b[0].shape[1]}); first call (compile) "
        f"{ot_first:.2f} s; not converged {int((~converged).sum())}; max rel "
        f"diff vs POT on the sample {rel:.1e}")
  results.append((f"OT distance, {len(pairs)} pairs", ot_s,
                  "per-pair POT loop (extrapolated)", pot_s, "< 10 s, ≥ 20×",
                  ot_peak))

  print(f"\n{'step':46s} {'ours s':>8s} {'baseline':38s} {'base s':>8s} "
        f"{'ratio':>8s} {'target':>14s} {'peak RSS MiB (step +)':>22s}")
  for name, ours, base_name, base_s, target, (peak, start) in results:
    print(f"{name:46s} {ours:8.2f} {base_name:38s} {base_s:8.2f} "
          f"{base_s / ours:7.1f}× {target:>14s} {peak:12.0f} "
          f"(+{peak - start:.0f})")
  print(f"(medians of {repeats} runs; {jax.devices()[0].platform}, "
        f"{len(jax.devices())} device(s))")


if __name__ == "__main__":
  app.run(main)
