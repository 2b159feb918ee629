"""Matcher and scripts/match.py on a real (smoke) end-to-end run: the test
split reproduces the run's predictions and metrics, rankings equal a brute
force over every pair, scores and cosines equal a numpy re-implementation,
free text goes through the skill extractor, bad inputs fail clearly."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import cacl_jax
from cacl_jax import pipeline
from cacl_jax.data import builtin, csv_import, enrich, jsonl_io, serialize
from cacl_jax.data import splits
from cacl_jax.encoder import embedding_cache
from cacl_jax.experiments import config as experiment_config
from cacl_jax.experiments import run
from cacl_jax.serving import bundle, explain

REPO = pathlib.Path(__file__).resolve().parents[1]
NUM_PAIRS = 400


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(workdir, pairs file, cache root) of a smoke end-to-end run on a JSONL
  file of generated pairs."""
  root = tmp_path_factory.mktemp("run")
  pairs_file = root / "pairs.jsonl"
  subprocess.run([sys.executable, str(REPO / "scripts" / "make_data.py"),
                  f"--num_pairs={NUM_PAIRS}", f"--out={pairs_file}"],
                 check=True, capture_output=True)
  config = experiment_config.build("all", "smoke")
  config.data.input = str(pairs_file)
  config.data.cache_dir = str(root / "cache")
  run.train_and_evaluate(config, root / "work")
  return root / "work", pairs_file, root / "cache"


@pytest.fixture(scope="module")
def matcher(trained):
  workdir, _, cache = trained
  return cacl_jax.Matcher.load(workdir / "phase2" / bundle.BUNDLE_DIR,
                               cache_dir=cache)


@pytest.fixture(scope="module")
def test_pairs(trained):
  return splits.sequential_split(jsonl_io.read_pairs(trained[1])).test


def _match(*args, cwd=None):
  return subprocess.run([sys.executable, str(REPO / "scripts" / "match.py"),
                         *args], capture_output=True, text=True, cwd=cwd)


def test_match_script_reproduces_the_runs_test_predictions(trained,
                                                           test_pairs,
                                                           tmp_path):
  workdir, _, cache = trained
  pairs_file = tmp_path / "test.jsonl"
  jsonl_io.write_pairs(pairs_file, test_pairs)
  out = tmp_path / "scored.jsonl"
  result = _match(f"--model={workdir / 'phase2' / 'model'}",
                  f"--pairs={pairs_file}", f"--out={out}",
                  f"--cache_dir={cache}")
  assert result.returncode == 0, result.stderr
  want = {}
  for line in (workdir / "phase2" / "test_predictions.jsonl").open():
    row = json.loads(line)
    want[row["pair_id"]] = row
  got = [json.loads(line) for line in out.open()]
  assert [g["pair_id"] for g in got] == list(want)
  for g in got:
    w = want[g["pair_id"]]
    assert g["label"] == w["label"]
    assert abs(g["logit"] - w["logit"]) <= 1e-6
    assert abs(g["p_match"] - w["p_match"]) <= 1e-6
  metrics = json.loads(out.with_suffix(".metrics.json").read_text())
  eval_json = json.loads((workdir / "phase2" / "phase2_eval.json")
                         .read_text())
  assert metrics["at_tuned"] == pytest.approx(eval_json["test"]["at_tuned"])
  for key in ("job_ranking", "job_ranking_sampled", "resume_ranking",
              "resume_ranking_original"):
    assert metrics[key] == pytest.approx(eval_json[key]), key
  assert "AUC-ROC" in result.stdout and "resume ranking" in result.stdout


def _numpy_head(layers, x):
  """Dense layers with ReLU between them, dropout off."""
  for i, (kernel, bias) in enumerate(layers):
    x = x @ np.asarray(kernel, np.float64) + np.asarray(bias, np.float64)
    if i < len(layers) - 1:
      x = np.maximum(x, 0.0)
  return x


def test_scores_and_cosines_equal_numpy(matcher, trained, test_pairs):
  pairs = test_pairs[:40]
  results = matcher.score_pairs(pairs)
  index = matcher.ontology.skill_index
  resumes = [enrich.enrich_resume(p.resume, index) for p in pairs]
  jobs = [enrich.enrich_job(p.job, index) for p in pairs]
  cache = embedding_cache.EmbeddingCache(
      trained[2] / "embeddings",
      pipeline.make_encoder(matcher.bundle.phase2_config.encoder))
  p1, p2 = matcher.bundle.phase1_params, matcher.bundle.phase2_params

  def project(emb):
    out = _numpy_head([(p1[n]["kernel"], p1[n]["bias"])
                       for n in sorted(p1)], emb)
    return out, out / np.linalg.norm(out, axis=1, keepdims=True)

  r_raw, r_unit = project(cache.get([serialize.serialize_resume(r)
                                     for r in resumes]))
  j_raw, j_unit = project(cache.get([serialize.serialize_job(j)
                                     for j in jobs]))
  logits = _numpy_head([(p2[n]["kernel"], p2[n]["bias"])
                        for n in ("hidden_0", "hidden_1", "output")],
                       np.concatenate([r_raw, j_raw], axis=1))[:, 0]
  np.testing.assert_allclose([r.logit for r in results], logits, atol=1e-4)
  np.testing.assert_allclose([r.p_match for r in results],
                             1 / (1 + np.exp(-logits)), atol=1e-5)
  np.testing.assert_allclose([r.phase1_cosine for r in results],
                             (r_unit * j_unit).sum(axis=1), atol=1e-5)
  assert [r.is_match for r in results] == [
      r.p_match >= matcher.threshold for r in results]
  expected = explain.explain_pairs(
      matcher.ontology, matcher.distances, [r.skill_uris for r in resumes],
      [j.skill_uris for j in jobs])
  assert [r.explanation for r in results] == expected


def _brute_force(matcher, queries, items, query_is_resume, k):
  """Top-k per query from scoring every combination with score_pairs."""
  combos = [(q, i) if query_is_resume else (i, q)
            for q in queries for i in items]
  scores = np.asarray([m.logit for m in matcher.score_pairs(combos)])
  scores = scores.reshape(len(queries), len(items))
  return [list(np.argsort(-row, kind="stable")[:k]) for row in scores], scores


@pytest.mark.parametrize("for_resumes", [True, False])
def test_rankings_equal_brute_force(matcher, test_pairs, for_resumes):
  resumes = list(dict.fromkeys(p.resume for p in test_pairs))[:12]
  jobs = list({p.job.job_id: p.job for p in test_pairs}.values())[:30]
  queries, items = (resumes, jobs) if for_resumes else (jobs, resumes)
  k = 5
  if for_resumes:
    rankings = matcher.rank_jobs(resumes, jobs, top_k=k)
  else:
    rankings = matcher.rank_resumes(jobs, resumes, top_k=k)
  order, scores = _brute_force(matcher, queries, items, for_resumes, k)
  assert len(rankings) == len(queries)
  for q, ranking in enumerate(rankings):
    assert ranking.query_kind == ("resume" if for_resumes else "job")
    got = [m.logit for m in ranking.matches]
    np.testing.assert_allclose(got, scores[q, order[q]], atol=1e-6)
    assert got == sorted(got, reverse=True)
    if for_resumes:
      assert [m.job_id for m in ranking.matches] == [
          jobs[i].job_id for i in order[q]]


def test_top_k_larger_than_the_items(matcher, test_pairs):
  jobs = [test_pairs[0].job, test_pairs[1].job]
  rankings = matcher.rank_jobs([test_pairs[0].resume], jobs, top_k=10)
  assert len(rankings[0].matches) == 2
  with pytest.raises(ValueError, match="top_k"):
    matcher.rank_jobs([test_pairs[0].resume], jobs, top_k=0)


def test_explanation_of_hand_built_skill_sets(matcher, test_pairs):
  """A resume with exactly the job's first skill and one skill from far
  away: the shared skill is matched at 0 hops, the job's skills out of
  reach of the resume are missing (checked on the distance matrix)."""
  job = enrich.enrich_job(test_pairs[0].job, matcher.ontology.skill_index)
  index = matcher.ontology.skill_index
  rows = [index.uri_to_row[u] for u in job.skill_uris]
  far = int(np.argmax(matcher.distances[rows[0]]))
  far_uri = index.row_to_uri[far]
  resume = test_pairs[0].resume.__class__(
      role="Tester", experience_level="Senior",
      skill_uris=(job.skill_uris[0], far_uri))
  result = matcher.explain(resume, job)
  e = result.explanation
  assert any(m.resume_skill.uri == m.job_skill.uri == job.skill_uris[0]
             and m.hops == 0 for m in e.matched)
  resume_rows = [rows[0], far]
  want_missing = [u for u, r in zip(job.skill_uris, rows)
                  if min(matcher.distances[x, r] for x in resume_rows) > 2]
  assert [s.uri for s in e.missing] == want_missing
  assert result.ontology_similarity == e.ontology_similarity


def test_free_text_goes_through_the_skill_extractor(matcher, test_pairs):
  labels = [matcher.ontology.graph.nodes[u]["label"]
            for u in matcher.ontology.skill_index.row_to_uri[:40]]
  text = ("Senior engineer. Experienced in " + ", ".join(labels[:6])
          + ". Eight years of experience.")
  reader = matcher.skill_reader()
  record = csv_import.resume_from_text(text, reader)
  assert record.skill_uris, "the extractor found no skill in the text"
  jobs = [p.job for p in test_pairs[:10]]
  from_text = matcher.rank_jobs([text], jobs, top_k=3)[0]
  from_record = matcher.rank_jobs([record], jobs, top_k=3)[0]
  assert [m.to_json() for m in from_text.matches] == [
      m.to_json() for m in from_record.matches]


def test_load_checks_the_ontology(trained, tmp_path):
  workdir, _, cache = trained
  model = workdir / "phase2" / "model"
  other = tmp_path / "esco"
  shutil.copytree(builtin.builtin_esco_dir(), other)
  skills = next(other.glob("skills*.csv"))
  skills.write_text(skills.read_text() + "\n", encoding="utf-8")
  with pytest.raises(bundle.BundleError, match="not those the model"):
    cacl_jax.Matcher.load(model, esco_dir=other, cache_dir=cache)


def test_bundle_without_its_ontology_folder_falls_back_to_builtin(
    trained, tmp_path):
  workdir, _, cache = trained
  model = pathlib.Path(shutil.copytree(workdir / "phase2" / "model",
                                       tmp_path / "model"))
  manifest = json.loads((model / "manifest.json").read_text())
  manifest["ontology"]["path_hint"] = str(tmp_path / "gone")
  (model / "manifest.json").write_text(json.dumps(manifest))
  loaded = cacl_jax.Matcher.load(model, cache_dir=cache)
  assert loaded.ontology.esco_dir == builtin.builtin_esco_dir()


def test_match_script_ranks_a_folder_of_texts(trained, test_pairs, tmp_path):
  workdir, _, cache = trained
  folder = tmp_path / "resumes"
  folder.mkdir()
  for i, pair in enumerate(test_pairs[:3]):
    (folder / f"cv{i}.txt").write_text(serialize.serialize_resume(
        pair.resume), encoding="utf-8")
  jobs = tmp_path / "jobs.jsonl"
  jobs.write_text("".join(
      json.dumps({"job_id": p.job.job_id, "title": p.job.title,
                  "description": p.job.description}) + "\n"
      for p in test_pairs[:8]), encoding="utf-8")
  out, md = tmp_path / "ranked.jsonl", tmp_path / "ranked.md"
  result = _match(f"--model={workdir / 'phase2' / 'model'}",
                  f"--resumes={folder}", f"--jobs={jobs}", "--top_k=2",
                  f"--out={out}", f"--markdown={md}", f"--cache_dir={cache}")
  assert result.returncode == 0, result.stderr
  lines = [json.loads(line) for line in out.open()]
  assert [line["resume_id"] for line in lines] == ["cv0", "cv1", "cv2"]
  assert all(len(line["matches"]) == 2 for line in lines)
  assert "## resume cv0" in md.read_text()
  result = _match(f"--model={workdir / 'phase2' / 'model'}",
                  f"--resumes={folder}", f"--jobs={jobs}", "--for=jobs",
                  "--top_k=1", f"--out={out}", f"--cache_dir={cache}")
  assert result.returncode == 0, result.stderr
  assert len([json.loads(line) for line in out.open()]) == len(
      {p.job.job_id for p in test_pairs[:8]})


def test_match_script_bad_input_names_the_line(trained, tmp_path):
  workdir, _, cache = trained
  resumes = tmp_path / "resumes.jsonl"
  resumes.write_text('{"text": "data analyst"}\n{"role": 3}\n',
                     encoding="utf-8")
  result = _match(f"--model={workdir / 'phase2' / 'model'}",
                  f"--resumes={resumes}", f"--jobs={resumes}",
                  f"--cache_dir={cache}")
  assert result.returncode != 0
  assert f"{resumes}:2" in result.stderr and "resume.role" in result.stderr
  result = _match(f"--model={tmp_path / 'nothing'}", f"--pairs={resumes}")
  assert result.returncode != 0 and "manifest.json" in result.stderr
