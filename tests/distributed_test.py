"""Data parallelism and multi-process runs (`common/distributed.py`).

The smoke config (`configs/default.py:smoke`, both phases) trained through
scripts/train.py on 8 host devices, and by 2 CPU processes joined with
jax.distributed, ends with the parameters and metrics of the 1-device run.
JAX fixes its device count when it starts, so every run is a subprocess
with its own XLA_FLAGS. Bad mesh and process settings are clear errors.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from cacl_jax.common import distributed, training_loop
from cacl_jax.phase1 import state as phase1_state
from cacl_jax.phase2 import train as phase2_train

ROOT = pathlib.Path(__file__).parents[1]
EIGHT_DEVICES = "--xla_force_host_platform_device_count=8"
TIMEOUT_S = 600
# Values of different reduction order agree to float32 rounding.
RTOL, ATOL = 1e-5, 1e-6


def _env(cache: pathlib.Path, xla_flags: str = "") -> dict:
  env = dict(os.environ, CACL_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu",
             XLA_FLAGS=xla_flags,
             PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"),
                                         os.environ.get("PYTHONPATH", "")]))
  for name in (distributed.ENV_ADDRESS, distributed.ENV_NUM_PROCESSES,
               distributed.ENV_PROCESS_ID):
    env.pop(name, None)
  return env


def _train_command(workdir: pathlib.Path, *flags: str) -> list[str]:
  return [sys.executable, str(ROOT / "scripts" / "train.py"),
          f"--config={ROOT / 'configs' / 'default.py'}:smoke",
          f"--workdir={workdir}", *flags]


def _train(workdir, cache, *flags, xla_flags=""):
  return subprocess.run(_train_command(workdir, *flags),
                        env=_env(cache, xla_flags), capture_output=True,
                        text=True, check=False, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory, cache):
  workdir = tmp_path_factory.mktemp("one_device") / "run"
  out = _train(workdir, cache)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "process 0 of 1, devices [CpuDevice(id=0)]" in out.stderr
  return workdir


def _read_config(workdir: pathlib.Path) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      json.loads((workdir / "config.json").read_text()))


def _final_params(run: pathlib.Path) -> dict:
  """The latest (last-epoch) parameters of both phases, restored here on
  one device whatever devices they were trained on."""
  config1 = _read_config(run / "phase1")
  input_dim = np.load(run / "phase2" / "model" / "phase1_params.npz")[
      "hidden/kernel"].shape[0]
  params1, _ = phase1_state.load_params(config1, run / "phase1", input_dim,
                                        which="latest")
  config2 = _read_config(run / "phase2")
  target = jax.eval_shape(
      lambda: phase2_train.create_state(config2, config1.model.dim))
  state2, _ = training_loop.restore(run / "phase2", target, "latest")
  return {"phase1": jax.device_get(params1),
          "phase2": jax.device_get(state2.params)}


def _history(workdir: pathlib.Path) -> list[dict]:
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  return [{k: v for k, v in json.loads(line).items() if k != "epoch/seconds"}
          for line in lines]


def _eval_metrics(run: pathlib.Path) -> dict:
  """The evaluation summaries of both phases, without timings."""
  phase1 = json.loads((run / "phase1" / "phase1_eval.json").read_text())
  phase2 = json.loads((run / "phase2" / "phase2_eval.json").read_text())
  return {"phase1": {k: phase1[k] for k in ("auc_roc", "pos_mean", "neg_mean",
                                            "f1", "accuracy")},
          "phase2": {k: v for k, v in phase2["summary"].items()
                     if k != "training_time_s"}}


def _assert_same_run(expected: pathlib.Path, actual: pathlib.Path) -> None:
  """Both phases: final parameters within 1e-5, the same logged metrics
  (every step and epoch) and the same evaluation."""
  want, got = _final_params(expected), _final_params(actual)
  for phase in ("phase1", "phase2"):
    for w, g in zip(jax.tree.leaves(want[phase]), jax.tree.leaves(got[phase]),
                    strict=True):
      np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)
    want_log, got_log = _history(expected / phase), _history(actual / phase)
    assert [r.keys() for r in got_log] == [r.keys() for r in want_log]
    for w, g in zip(want_log, got_log):
      np.testing.assert_allclose(
          np.asarray(list(g.values()), np.float64),
          np.asarray(list(w.values()), np.float64), rtol=RTOL, atol=ATOL,
          err_msg=f"{phase} step {w['step']}")
  want_eval, got_eval = _eval_metrics(expected), _eval_metrics(actual)
  assert got_eval.keys() == want_eval.keys()
  for phase, metrics in want_eval.items():
    assert got_eval[phase].keys() == metrics.keys()
    for name, value in metrics.items():
      expected_value = (pytest.approx(value, rel=RTOL, abs=ATOL)
                        if isinstance(value, float) else value)
      assert got_eval[phase][name] == expected_value, name


def test_eight_devices_end_like_one(one_device_run, cache, tmp_path):
  workdir = tmp_path / "run"
  out = _train(workdir, cache, xla_flags=EIGHT_DEVICES)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "process 0 of 1" in out.stderr and "CpuDevice(id=7)" in out.stderr
  _assert_same_run(one_device_run, workdir)


_STEP_HLO = """
import functools, json, jax, jax.numpy as jnp, ml_collections
from cacl_jax.common import distributed
from cacl_jax.phase2 import config, steps, train
c = ml_collections.ConfigDict(dict(config.phase2_fields().to_dict(), seed=0))
B, E = 16, 8
batch = steps.Batch(resume_emb_BxE=jnp.ones((B, E)),
                    job_emb_BxE=jnp.ones((B, E)),
                    label_B=jnp.ones(B, jnp.int32), mask_B=jnp.ones(B, bool))
out = {}
for name, mesh in (("mesh", distributed.make_mesh()), ("none", None)):
  state = train.create_state(c, E)
  if mesh is not None:
    state = distributed.replicate(state, mesh)
  step = jax.jit(functools.partial(steps.train_step, pos_weight=1.0, mesh=mesh))
  hlo = step.lower(state, batch, jax.random.key(0)).compile().as_text()
  out[name] = "all-reduce" in hlo
print(json.dumps(out))
"""


def test_steps_split_the_batch_over_the_mesh(tmp_path):
  """On 8 devices a step's gradients are summed across devices (an
  all-reduce), which a step without a mesh does not need."""
  out = subprocess.run([sys.executable, "-c", _STEP_HLO],
                       env=_env(tmp_path, EIGHT_DEVICES), capture_output=True,
                       text=True, check=False, timeout=TIMEOUT_S)
  assert out.returncode == 0, out.stderr[-3000:]
  assert json.loads(out.stdout.splitlines()[-1]) == {"mesh": True,
                                                     "none": False}


def test_batch_size_not_divisible_by_the_mesh_is_refused(tmp_path):
  out = _train(tmp_path / "run", tmp_path / "cache",
               "--config.phase1.train.batch_size=12", xla_flags=EIGHT_DEVICES)
  assert out.returncode != 0
  assert ("config.phase1.train.batch_size = 12 is not a multiple of the 8 "
          "devices of the data axis") in out.stderr
  assert "--config.mesh.data" in out.stderr
  assert not (tmp_path / "run" / "phase1" / "checkpoints").exists()
  # Four of the eight devices share a batch of 12, also step by step.
  out = _train(tmp_path / "run", tmp_path / "cache",
               "--config.phase1.train.batch_size=12",
               "--config.phase1.train.scan_epochs=false",
               "--config.phase1.train.epochs=1",
               "--config.phase2.train.epochs=1", "--config.mesh.data=4",
               xla_flags=EIGHT_DEVICES)
  assert out.returncode == 0, out.stderr[-3000:]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_end_like_one(one_device_run, cache, tmp_path):
  workdir = tmp_path / "run"
  address = f"localhost:{_free_port()}"
  procs = [subprocess.Popen(
      _train_command(workdir,
                     f"--config.distributed.coordinator_address={address}",
                     "--config.distributed.num_processes=2",
                     f"--config.distributed.process_id={i}"),
      env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(2)]
  outs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
  for p, (_, stderr) in zip(procs, outs):
    assert p.returncode == 0, stderr[-3000:]
  assert "process 1 of 2" in outs[1][1]
  # Only process 0 reports.
  assert "report:" in outs[0][0] and "report:" not in outs[1][0]
  _assert_same_run(one_device_run, workdir)


def _no_process_env(monkeypatch):
  for name in (distributed.ENV_ADDRESS, distributed.ENV_NUM_PROCESSES,
               distributed.ENV_PROCESS_ID):
    monkeypatch.delenv(name, raising=False)


def _config(**fields):
  c = ml_collections.ConfigDict()
  c.distributed = distributed.distributed_fields()
  c.distributed.update(fields)
  return c


def test_one_process_needs_no_initialization(monkeypatch):
  _no_process_env(monkeypatch)
  assert distributed.initialize(_config()) is False
  assert distributed.initialize(ml_collections.ConfigDict()) is False
  assert distributed.initialize(_config(num_processes=1)) is False
  assert distributed.is_main_process()


def test_missing_process_settings_are_named(monkeypatch):
  _no_process_env(monkeypatch)
  with pytest.raises(ValueError, match=r"2 processes needs coordinator_addr"
                     r"ess .*JAX_COORDINATOR_ADDRESS.* and process_id"):
    distributed.initialize(_config(num_processes=2))
  # The environment fills what the config leaves unset.
  monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "3")
  monkeypatch.setenv(distributed.ENV_ADDRESS, "localhost:1234")
  with pytest.raises(ValueError, match=r"3 processes needs process_id "
                     r"\(--config.distributed.process_id or \$JAX_PROCESS_ID"):
    distributed.initialize(_config())


def test_mesh_sizes():
  assert distributed.make_mesh().shape == {"data": jax.device_count()}
  assert distributed.mesh_from_config(ml_collections.ConfigDict()).size == \
      jax.device_count()
  with pytest.raises(ValueError, match="config.mesh.data = 99, but JAX sees"):
    distributed.make_mesh(99)
