"""Access to the external skill-extraction benchmark (skillbench), by path.

The benchmark (HOUSE and TECH job-posting sentences annotated with ESCO
skills, and its scorer `skill_bench.py`) is not part of this project and is
never copied into it: its folder comes from a flag or $CACL_SKILLBENCH_DIR.
Sentences are exported and predictions scored by running the scorer itself,
so figures here are exactly what its command line prints.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
from typing import Iterable

from cacl_jax.common import files
from cacl_jax.skills import extractor

SCORER = "skill_bench.py"


def bench_dir(configured: str | None = None) -> pathlib.Path | None:
  """`configured`, else $CACL_SKILLBENCH_DIR, if it holds the scorer."""
  value = configured or os.environ.get("CACL_SKILLBENCH_DIR")
  if not value or not (pathlib.Path(value) / SCORER).is_file():
    return None
  return pathlib.Path(value)


def _scorer(folder: pathlib.Path, *args: str, quiet: str = ""
            ) -> tuple[str, str]:
  """Runs the scorer with `args` (and `quiet`, an argument left out of the
  returned command); returns (its stdout, the command to type)."""
  argv = [sys.executable, str(folder / SCORER), *args]
  done = subprocess.run(argv + ([quiet] if quiet else []),
                        capture_output=True, text=True, check=False)
  if done.returncode:
    raise RuntimeError(f"{shlex.join(argv)} failed: {done.stderr[-2000:]}")
  return done.stdout, shlex.join(["python", *argv[1:]])


def sentences(folder: pathlib.Path, split: str = "validation") -> list[str]:
  """The split's evaluated sentences, in the scorer's export order."""
  with tempfile.TemporaryDirectory() as tmp:
    out = pathlib.Path(tmp) / "sentences.txt"
    _scorer(folder, "export", f"--bench_dir={folder}", f"--split={split}",
            f"--out={out}")
    return out.read_text(encoding="utf-8").split("\n")[:-1]


def write_predictions(path: os.PathLike | str, texts: Iterable[str],
                      ranked: Iterable[list[extractor.ScoredSkill]]) -> None:
  """One `{"text", "skills"}` JSON line per text, in order."""
  lines = [json.dumps({"text": t, "skills": [s.to_json() for s in r]},
                      ensure_ascii=False) for t, r in zip(texts, ranked)]
  data = "".join(line + "\n" for line in lines).encode("utf-8")
  files.atomic_write(path, lambda f: f.write(data), needed_bytes=len(data))


def score(folder: pathlib.Path, esco: os.PathLike | str,
          predictions: os.PathLike | str, split: str = "validation"
          ) -> tuple[dict, str]:
  """(the scorer's metrics per data set and overall, the command)."""
  with tempfile.TemporaryDirectory() as tmp:
    out = pathlib.Path(tmp) / "metrics.json"
    _, command = _scorer(folder, "score", f"--bench_dir={folder}",
                         f"--split={split}", f"--esco={esco}",
                         f"--predictions={predictions}",
                         quiet=f"--json_out={out}")
    return json.loads(out.read_text())["results"], command
