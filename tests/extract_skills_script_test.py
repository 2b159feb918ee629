"""scripts/extract_skills.py end to end with the tiny random encoder."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import skill_samples
from cacl_jax.skills import text_input

ROOT = pathlib.Path(__file__).parents[1]


def _run(tmp_path, esco, source, *extra):
  env = dict(os.environ, CACL_CACHE_DIR=str(tmp_path / "cache"),
             PYTHONPATH=os.pathsep.join(
                 [str(ROOT), os.environ.get("PYTHONPATH", "")]))
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  out = tmp_path / "out.jsonl"
  result = subprocess.run(
      [sys.executable, str(ROOT / "scripts" / "extract_skills.py"),
       f"--esco={esco}", f"--input={source}", f"--output={out}",
       "--model=random", *extra],
      env=env, capture_output=True, text=True, check=False)
  return result, out


def test_text_lines_to_ranked_skills(tmp_path):
  esco = skill_samples.write_skill_esco(tmp_path / "esco")
  lines = ["Python and Docker daily.", "", "cook meals for guests"]
  source = tmp_path / "in.txt"
  source.write_text("\n".join(lines) + "\n", encoding="utf-8")
  result, out = _run(tmp_path, esco, source, "--top_k=3")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "3 texts in" in result.stdout and "texts/s" in result.stdout
  records = [json.loads(x) for x in out.read_text().splitlines()]
  assert [r["text"] for r in records] == lines
  assert [len(r["skills"]) for r in records] == [3, 0, 3]
  for r in records:
    scores = [s["score"] for s in r["skills"]]
    assert scores == sorted(scores, reverse=True)
    for s in r["skills"]:
      assert set(s) == {"uri", "label", "score", "span"}
  uris = {s["uri"] for s in records[0]["skills"]}
  assert {skill_samples.PYTHON, skill_samples.DOCKER} <= uris   # lexical
  # The label index was cached on the first run.
  assert list((tmp_path / "cache" / "skill_index").glob("*/manifest.json"))


def test_jsonl_input_and_thresholded_set(tmp_path):
  esco = skill_samples.write_skill_esco(tmp_path / "esco")
  source = tmp_path / "in.jsonl"
  source.write_text(json.dumps({"text": "python"}) + "\n", encoding="utf-8")
  result, out = _run(tmp_path, esco, source, "--output_set")
  assert result.returncode == 0, result.stderr[-3000:]
  [record] = [json.loads(x) for x in out.read_text().splitlines()]
  assert record["text"] == "python"
  # Exact name: dense similarity 1 to its label plus the lexical weight.
  assert record["skills"][0]["uri"] == skill_samples.PYTHON
  assert all(s["score"] >= 0.75 for s in record["skills"])


def test_bad_jsonl_line_is_located(tmp_path):
  esco = skill_samples.write_skill_esco(tmp_path / "esco")
  source = tmp_path / "in.jsonl"
  source.write_text('{"text": "a"}\n{"txt": "b"}\n', encoding="utf-8")
  result, _ = _run(tmp_path, esco, source)
  assert result.returncode != 0
  assert f"{source}:2: needs a JSON object with a string field 'text'" in \
      result.stderr


@pytest.mark.parametrize("content,message", [
    (b'{"text": "a"}\nnot json\n', ":2: not a JSON object"),
    (b'{"text": "a"}\n\xff\n', ":2: column 1: not valid UTF-8"),
])
def test_read_texts_errors(tmp_path, content, message):
  path = tmp_path / "in.jsonl"
  path.write_bytes(content)
  with pytest.raises(text_input.TextInputError, match=message):
    text_input.read_texts(path)


def test_read_texts_plain_lines_keep_blanks(tmp_path):
  path = tmp_path / "in.txt"
  path.write_bytes(b"first\r\n\nthird")
  assert text_input.read_texts(path) == ["first", "", "third"]
