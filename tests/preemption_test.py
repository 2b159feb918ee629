"""Preemption: SIGTERM at a random step, rerun, bit-identical end state.

A run is stopped by a real SIGTERM that the training process sends itself
while it trains a step drawn from a seeded random generator
(`CACL_PREEMPTION_TEST_SEED`, default 0), as a scheduler's notice arrives
in the middle of a segment. It must stop at the end of that segment, the
rerun must resume there, and both phases must end with the same checkpoints
(parameters, optimiser state, step counter), bit for bit, and the same
metrics log as an uninterrupted run. In-process for Phase 1 and Phase 2
with a checkpoint every 1 and 3 steps; then through scripts/train.py with
the smoke configs, which must exit with `PREEMPTED_EXIT_CODE` and its
message. Cutting epochs into segments must not change what is trained
either: on CPU the last checkpoint and the log equal, bit for bit, those of
a run checkpointed at epoch ends only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import signal
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import phase2_synthetic
import synthetic_data
from cacl_jax.common import training_loop
from cacl_jax.experiments import config as experiment_config
from cacl_jax.experiments import run as experiment_run
from cacl_jax.phase1 import batches
from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase1 import train as phase1_train
from cacl_jax.phase2 import config as phase2_config
from cacl_jax.phase2 import pretrained
from cacl_jax.phase2 import train as phase2_train

ROOT = pathlib.Path(__file__).parents[1]
SEED = int(os.environ.get("CACL_PREEMPTION_TEST_SEED", "0"))


def sigterm_during(train, step: int):
  """`training_loop.train` that sends this process SIGTERM while it trains
  global step `step` (1-based)."""

  def train_with_sigterm(workdir, config, state, phase, *args, **kwargs):
    def run_steps(state, epoch, start, end):
      first = epoch * phase.steps_per_epoch
      if first + start < step <= first + end:
        os.kill(os.getpid(), signal.SIGTERM)
      return phase.run_steps(state, epoch, start, end)

    return train(workdir, config, state,
                 dataclasses.replace(phase, run_steps=run_steps), *args,
                 **kwargs)

  return train_with_sigterm


def stop_step(sigterm_step: int, steps_per_epoch: int, every_steps: int
              ) -> int:
  """Where a run stops: the end of the segment holding `sigterm_step`."""
  epoch, i = divmod(sigterm_step - 1, steps_per_epoch)
  end = min((i // every_steps + 1) * every_steps, steps_per_epoch)
  return epoch * steps_per_epoch + end


def draw_sigterm_step(name: str, total_steps: int, steps_per_epoch: int,
                      every_steps: int) -> int:
  """A seeded random step whose segment ends inside an epoch, so that the
  rerun resumes mid-epoch."""
  candidates = [k for k in range(1, total_steps + 1)
                if stop_step(k, steps_per_epoch, every_steps)
                % steps_per_epoch]
  return random.Random(f"{name}-{SEED}").choice(candidates)


def raw_checkpoints(workdir: pathlib.Path) -> dict[int, dict]:
  """{step: (flat saved tree, metrics, custom metadata)} as on disk."""
  folder = workdir / training_loop.CHECKPOINT_DIR
  saved = {}
  with ocp.StandardCheckpointer() as reader, \
      training_loop.open_checkpoints(workdir) as ckpts:
    for step in ckpts.all_steps():
      tree = reader.restore(folder / str(step) / "default")
      flat, _ = jax.tree_util.tree_flatten_with_path(tree)
      progress = ckpts.custom_metadata(step).get(training_loop.PROGRESS_KEY)
      saved[step] = (
          {jax.tree_util.keystr(p): np.asarray(v) for p, v in flat},
          ckpts.metrics(step),
          None if progress is None else progress["step_metrics"])
  return saved


def comparable_log(workdir: pathlib.Path) -> list[dict]:
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  return [{k: v for k, v in json.loads(line).items() if k != "epoch/seconds"}
          for line in lines]


def assert_same_checkpoint(got, want) -> None:
  """Equal (flat tree, metrics, progress) triples, arrays bit for bit."""
  assert sorted(got[0]) == sorted(want[0])
  for path, value in want[0].items():
    assert got[0][path].dtype == value.dtype, path
    assert np.array_equal(got[0][path], value), path
  assert got[1:] == want[1:]


def assert_same_run(resumed: pathlib.Path, uninterrupted: pathlib.Path
                    ) -> None:
  """Same checkpoints, bit for bit, and the same metrics log."""
  got, want = raw_checkpoints(resumed), raw_checkpoints(uninterrupted)
  assert sorted(got) == sorted(want)
  for step in want:
    assert_same_checkpoint(got[step], want[step])
  assert comparable_log(resumed) == comparable_log(uninterrupted)


def assert_same_end(segmented: pathlib.Path, whole: pathlib.Path) -> None:
  """The last checkpoints and the logs of two runs are the same."""
  got, want = raw_checkpoints(segmented), raw_checkpoints(whole)
  assert_same_checkpoint(got[max(got)], want[max(want)])
  assert comparable_log(segmented) == comparable_log(whole)


@pytest.mark.parametrize("fields, validate", [
    (phase1_config.phase1_fields, phase1_config.validate),
    (phase2_config.phase2_fields, phase2_config.validate)])
def test_every_steps_defaults_to_epoch_ends_and_is_not_negative(fields,
                                                                 validate):
  config = fields()
  assert config.checkpoint.every_steps == 0
  validate(config)
  config.checkpoint.every_steps = -1
  with pytest.raises(ValueError, match=r"config.checkpoint.every_steps: must "
                     r"be ≥ 0 \(0: only at epoch ends\), got -1"):
    validate(config)


# In-process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def phase1_data():
  return synthetic_data.make_prepared(dim=32, signal=0.3)


@pytest.fixture(scope="module")
def phase1_whole(phase1_data, tmp_path_factory):
  """The workdir of a 2-epoch run checkpointed at epoch ends only."""
  workdir = tmp_path_factory.mktemp("phase1_whole")
  phase1_train.train_phase1(synthetic_data.tiny_phase1_config(epochs=2),
                            phase1_data, workdir)
  return workdir


@pytest.mark.parametrize("every_steps", [1, 3])
def test_phase1_resumes_mid_epoch_bit_identically(phase1_data, phase1_whole,
                                                   tmp_path, monkeypatch,
                                                   every_steps):
  config = synthetic_data.tiny_phase1_config(epochs=2)
  config.checkpoint.every_steps = every_steps
  steps_per_epoch = batches.num_batches(phase1_data.train.num_pairs,
                                        config.train.batch_size)
  full = phase1_train.train_phase1(config, phase1_data, tmp_path / "full")
  assert_same_end(tmp_path / "full", phase1_whole)
  sigterm_step = draw_sigterm_step(f"phase1-{every_steps}",
                                   2 * steps_per_epoch, steps_per_epoch,
                                   every_steps)
  stop = stop_step(sigterm_step, steps_per_epoch, every_steps)
  handler = signal.getsignal(signal.SIGTERM)
  monkeypatch.setattr(training_loop, "train",
                      sigterm_during(training_loop.train, sigterm_step))
  with pytest.raises(training_loop.Preempted,
                     match=f"phase 1 preempted at step {stop}; rerun"):
    phase1_train.train_phase1(config, phase1_data, tmp_path / "cut")
  monkeypatch.undo()
  assert signal.getsignal(signal.SIGTERM) == handler
  resumed = phase1_train.train_phase1(config, phase1_data, tmp_path / "cut")
  assert resumed.pop("resumed_from_step") == stop
  assert_same_run(tmp_path / "cut", tmp_path / "full")
  for summary in (resumed, full):
    del summary["seconds"]
  del full["resumed_from_step"]
  assert resumed == full


@pytest.fixture(scope="module")
def phase2_setup(tmp_path_factory):
  """(config, data, frozen Phase-1 projection) of a 2-epoch Phase-2 run."""
  data = phase2_synthetic.make_data()
  phase1_dir = tmp_path_factory.mktemp("phase1")
  phase2_synthetic.write_phase1_checkpoint(phase1_dir, data, epoch=3)
  config = experiment_run.phase_config(
      experiment_config.build("phase2", "smoke"), "phase2",
      phase1_workdir=str(phase1_dir))
  emb_TxE = pretrained.load(config, data.emb_TxD.shape[1]).project(
      data.emb_TxD)
  return config, data, emb_TxE


@pytest.fixture(scope="module")
def phase2_whole(phase2_setup, tmp_path_factory):
  """The workdir of a run checkpointed at epoch ends only."""
  config, data, emb_TxE = phase2_setup
  workdir = tmp_path_factory.mktemp("phase2_whole")
  phase2_train.train(config, data, emb_TxE, workdir)
  return workdir


@pytest.mark.parametrize("every_steps", [1, 3])
def test_phase2_resumes_mid_epoch_bit_identically(phase2_setup, phase2_whole,
                                                   tmp_path, monkeypatch,
                                                   every_steps):
  config, data, emb_TxE = phase2_setup
  config = config.copy_and_resolve_references()
  config.checkpoint.every_steps = every_steps
  steps_per_epoch = batches.num_batches(data.train.num_pairs,
                                        config.train.batch_size)
  full = phase2_train.train(config, data, emb_TxE, tmp_path / "full")
  assert_same_end(tmp_path / "full", phase2_whole)
  sigterm_step = draw_sigterm_step(
      f"phase2-{every_steps}", config.train.epochs * steps_per_epoch,
      steps_per_epoch, every_steps)
  stop = stop_step(sigterm_step, steps_per_epoch, every_steps)
  monkeypatch.setattr(training_loop, "train",
                      sigterm_during(training_loop.train, sigterm_step))
  with pytest.raises(training_loop.Preempted,
                     match=f"phase 2 preempted at step {stop}; rerun"):
    phase2_train.train(config, data, emb_TxE, tmp_path / "cut")
  monkeypatch.undo()
  resumed = phase2_train.train(config, data, emb_TxE, tmp_path / "cut")
  assert_same_run(tmp_path / "cut", tmp_path / "full")
  for summary in (resumed["summary"], full["summary"]):
    del summary["training_time_s"]
  assert resumed["summary"] == full["summary"]


# Through scripts/train.py -------------------------------------------------

# Runs scripts/train.py (argv[1]) with the rest of argv as its arguments,
# sending itself SIGTERM during the step $CACL_TEST_SIGTERM_STEP.
_DRIVER = """
import os, runpy, sys
import preemption_test
from cacl_jax.common import training_loop
training_loop.train = preemption_test.sigterm_during(
    training_loop.train, int(os.environ["CACL_TEST_SIGTERM_STEP"]))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _train(cache: pathlib.Path, *flags: str, sigterm_step: int | None = None
           ) -> subprocess.CompletedProcess:
  env = dict(os.environ, CACL_CACHE_DIR=str(cache), PYTHONPATH=os.pathsep.join(
      [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
  script = [str(ROOT / "scripts" / "train.py"), *flags]
  if sigterm_step is None:
    command = [sys.executable, *script]
  else:
    command = [sys.executable, "-c", _DRIVER, *script]
    env["CACL_TEST_SIGTERM_STEP"] = str(sigterm_step)
  return subprocess.run(command, env=env, capture_output=True, text=True,
                        check=False)


def _preempt_and_rerun(cache, tmp_path, name, flags, total_steps,
                       steps_per_epoch, every_steps):
  """Runs `flags` uninterrupted in tmp_path/full and preempted, then rerun,
  in tmp_path/cut; checks exit codes and messages, returns both folders."""
  full, cut = tmp_path / "full", tmp_path / "cut"
  out = _train(cache, *flags, f"--workdir={full}")
  assert out.returncode == 0, out.stderr[-3000:]
  sigterm_step = draw_sigterm_step(name, total_steps, steps_per_epoch,
                                   every_steps)
  stop = stop_step(sigterm_step, steps_per_epoch, every_steps)
  out = _train(cache, *flags, f"--workdir={cut}", sigterm_step=sigterm_step)
  assert out.returncode == training_loop.PREEMPTED_EXIT_CODE, \
      out.stderr[-3000:]
  assert (f"preempted at step {stop}; rerun the same command to resume"
          in out.stderr)
  out = _train(cache, *flags, f"--workdir={cut}")
  assert out.returncode == 0, out.stderr[-3000:]
  assert f"from step {stop} " in out.stderr  # the resume log line
  assert_same_run(cut, full)
  return full, cut


@pytest.fixture(scope="module")
def phase1_smoke(tmp_path_factory):
  """Phase 1 of configs/phase1.py:smoke (320 training pairs in batches of
  16: 20 steps an epoch, 2 epochs), checkpointed every 3 steps, preempted
  once; (cache, uninterrupted workdir, resumed workdir)."""
  tmp_path = tmp_path_factory.mktemp("smoke1")
  cache = tmp_path / "cache"
  full, cut = _preempt_and_rerun(
      cache, tmp_path, "script-phase1",
      [f"--config={ROOT / 'configs' / 'phase1.py'}:smoke",
       "--config.phase1.checkpoint.every_steps=3"], 40, 20, 3)
  return cache, full, cut


def test_script_phase1_preempted_and_rerun_ends_identically(phase1_smoke):
  _, full, cut = phase1_smoke
  evaluated = [json.loads((d / "phase1_eval.json").read_text())
               for d in (full, cut)]
  assert evaluated[0]["auc_roc"] == evaluated[1]["auc_roc"]
  assert evaluated[0]["checkpoint"] == evaluated[1]["checkpoint"]


def test_script_phase2_preempted_and_rerun_ends_identically(phase1_smoke,
                                                             tmp_path):
  """configs/phase2.py:smoke on the Phase-1 smoke run: 320 pairs in
  batches of 32, 10 steps an epoch, 2 epochs."""
  cache, phase1_dir, _ = phase1_smoke
  full, cut = _preempt_and_rerun(
      cache, tmp_path, "script-phase2",
      [f"--config={ROOT / 'configs' / 'phase2.py'}:smoke",
       f"--config.phase2.phase1_workdir={phase1_dir}",
       "--config.phase2.checkpoint.every_steps=3"], 20, 10, 3)
  evaluated = [json.loads((d / "phase2_eval.json").read_text())
               for d in (full, cut)]
  assert evaluated[0]["test"] == evaluated[1]["test"]
