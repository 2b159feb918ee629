r"""Scores, ranks and explains resumes and jobs with a trained model bundle.

  python scripts/match.py --model=workdirs/all/phase2/model \
      --resumes=resumes.jsonl --jobs=jobs.jsonl [--top_k=10] \
      [--for=resumes|jobs] [--out=results.jsonl] [--markdown=results.md]
  python scripts/match.py --model=DIR --pairs=pairs.jsonl [--out=...]

With --resumes and --jobs it ranks the jobs for every resume (or, with
--for=jobs, the resumes for every job); with --pairs it scores the given
pairs and, for those with a label, prints AUC, F1 at the model's tuned
threshold and the ranking metrics the way Phase 2 evaluates them.
Resume and job files are JSONL records ({"text": ...} or §3.4 objects), a
CSV with a text column, or a folder of .txt files; pairs files are the
training JSONL (label optional) or the fit CSV layout
(`cacl_jax.serving.documents`). --out writes one JSON line per ranking or
pair, with the explanation; --markdown a readable report.
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import app, flags

from cacl_jax.common import files
from cacl_jax.serving import bundle, documents, markdown
from cacl_jax.serving import matcher as matcher_lib

_MODEL = flags.DEFINE_string("model", None, "Model bundle folder (a "
                             "Phase-2 workdir's model/).")
_RESUMES = flags.DEFINE_string("resumes", None, "Resumes: .jsonl, .csv or a "
                               "folder of .txt files.")
_JOBS = flags.DEFINE_string("jobs", None, "Jobs: .jsonl, .csv or a folder of "
                            ".txt files.")
_PAIRS = flags.DEFINE_string("pairs", None, "Pairs to score: training JSONL "
                             "(label optional) or the fit CSV layout.")
_TOP_K = flags.DEFINE_integer("top_k", 10, "Matches kept per query.",
                              lower_bound=1)
_FOR = flags.DEFINE_enum("for", "resumes", ["resumes", "jobs"],
                         "resumes: rank jobs for each resume; jobs: rank "
                         "resumes for each job.")
_OUT = flags.DEFINE_string("out", None, "JSONL results file (with --pairs "
                           "and labels, the metrics go to <out>.metrics.json "
                           "beside it).")
_MARKDOWN = flags.DEFINE_string("markdown", None, "Markdown results file.")
_ESCO = flags.DEFINE_string("esco", None, "ESCO folder the model was trained "
                            "with (default: the folder the bundle records).")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Cache root (default "
                                 "$CACL_CACHE_DIR or ~/.cache/cacl_jax).")
_SHOW = flags.DEFINE_integer("show", 3, "Rankings (or pairs) printed.",
                             lower_bound=0)


def _check_flags() -> None:
  if _PAIRS.value and (_RESUMES.value or _JOBS.value):
    raise app.UsageError("give either --pairs or --resumes and --jobs")
  if not _PAIRS.value and not (_RESUMES.value and _JOBS.value):
    raise app.UsageError("give --resumes and --jobs (rank) or --pairs "
                         "(score)")


def _write_outputs(lines: list[dict], text: str) -> None:
  if _OUT.value:
    data = "".join(json.dumps(files.jsonable(line), ensure_ascii=False)
                   + "\n" for line in lines).encode("utf-8")
    files.atomic_write(pathlib.Path(_OUT.value), lambda f: f.write(data))
    print(f"Results: {_OUT.value}")
  if _MARKDOWN.value:
    data = text.encode("utf-8")
    files.atomic_write(pathlib.Path(_MARKDOWN.value),
                       lambda f: f.write(data))
    print(f"Report: {_MARKDOWN.value}")


def _rank(matcher: matcher_lib.Matcher) -> None:
  resumes = documents.read_documents(_RESUMES.value, "resume")
  jobs = documents.read_documents(_JOBS.value, "job")
  started = time.perf_counter()
  if _FOR.value == "resumes":
    results = matcher.rank_jobs(resumes, jobs, _TOP_K.value)
  else:
    results = matcher.rank_resumes(jobs, resumes, _TOP_K.value)
  seconds = time.perf_counter() - started
  print(f"Ranked {len(jobs) if _FOR.value == 'resumes' else len(resumes)} "
        f"{'jobs' if _FOR.value == 'resumes' else 'resumes'} for each of "
        f"{len(results)} {_FOR.value} in {seconds:.1f} s (top "
        f"{_TOP_K.value}).\n")
  text = markdown.rankings(results, matcher.threshold)
  print(markdown.rankings(results[:_SHOW.value], matcher.threshold))
  _write_outputs([r.to_json() for r in results], text)


def _score(matcher: matcher_lib.Matcher) -> None:
  pairs = documents.read_pairs(_PAIRS.value, matcher.skill_reader)
  started = time.perf_counter()
  results, metrics = matcher.evaluate_pairs(pairs)
  print(f"Scored {len(results)} pairs in "
        f"{time.perf_counter() - started:.1f} s.\n")
  if metrics is None:
    print("No pair has a label: no metrics.\n")
  else:
    print(markdown.metrics_text(metrics) + "\n")
  print(markdown.pairs(results[:_SHOW.value], None))
  _write_outputs([r.to_json() for r in results],
                 markdown.pairs(results, metrics))
  if _OUT.value and metrics is not None:
    path = pathlib.Path(_OUT.value).with_suffix(".metrics.json")
    files.write_json(path, metrics)
    print(f"Metrics: {path}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  _check_flags()
  try:
    matcher = matcher_lib.Matcher.load(_MODEL.value, esco_dir=_ESCO.value,
                                       cache_dir=_CACHE_DIR.value)
    if _PAIRS.value:
      _score(matcher)
    else:
      _rank(matcher)
  except (bundle.BundleError, documents.InputError) as e:
    raise SystemExit(f"match.py: {e}") from None


if __name__ == "__main__":
  flags.mark_flags_as_required(["model"])
  app.run(main)
