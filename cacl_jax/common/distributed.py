"""Data parallelism over a device mesh, and runs that span several processes.

Both training phases run under a one-axis `jax.sharding.Mesh` named "data"
(config `mesh.data` devices, 0 = every device of every process): each step's
batch is split along its batch dimension over the devices, parameters and
optimiser state are replicated, and XLA's SPMD partitioner adds the
all-reduce of the gradients. The global batch is the config's batch size,
so it must be a multiple of the mesh size. On a one-device mesh the steps
are left unconstrained, so they compile as before. The random draws of a
step (negatives, dropout) take their values from the key and the shape
alone — JAX's "identical across shardings" property of threefry and of
"rbg" (as long as XLA's `--xla_tpu_spmd_rng_bit_generator_unsafe` is not
set) — so a run on N devices follows the one-device run up to the order of
floating-point reductions.

Several processes (GPU hosts, a TPU slice, or CPU processes on one machine)
join with `jax.distributed.initialize` (`initialize`, from the config's
`distributed` fields or the environment). Every process prepares the data
itself and runs the same program; each feeds only the batch columns of its
own devices (`shard_columns`). Only the main process (`is_main_process`)
writes into the workdir: metric logs, plots, reports, evaluation JSONs, test
predictions, data summaries, run records, checkpoint checksums and the model
bundle (Orbax writes checkpoints from every process). Every process reads
and writes the caches (prepared data, embeddings) itself, each file by an
atomic replace.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
import ml_collections
import numpy as np

PyTree = Any

DATA_AXIS = "data"
# Environment variables `initialize` reads when the config leaves a field
# unset (JAX itself reads JAX_COORDINATOR_ADDRESS too).
ENV_ADDRESS = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


def mesh_fields() -> ml_collections.ConfigDict:
  """`mesh`: how many devices the data axis spans."""
  c = ml_collections.ConfigDict()
  # Devices on the data axis; 0 = all devices of all processes. Each
  # phase's batch size must be a multiple of it.
  c.data = 0
  return c


def distributed_fields() -> ml_collections.ConfigDict:
  """`distributed`: how this process joins a multi-process run."""
  c = ml_collections.ConfigDict()
  # "host:port" of process 0's coordinator; "" reads $JAX_COORDINATOR_ADDRESS.
  c.coordinator_address = ""
  # Processes in the run; 0 reads $JAX_NUM_PROCESSES (unset: one process).
  c.num_processes = 0
  # This process's id in [0, num_processes); -1 reads $JAX_PROCESS_ID.
  c.process_id = -1
  # Let JAX find all three on a Cloud TPU slice, under Slurm or Open MPI.
  c.auto_detect = False
  return c


def _setting(value, unset, env: str, kind=str):
  """The config value, else the environment variable's, else `unset`."""
  if value != unset:
    return value
  text = os.environ.get(env, "")
  return kind(text) if text else unset


def initialize(config: ml_collections.ConfigDict) -> bool:
  """Joins the processes of a multi-process run; returns whether it did.

  Reads `config.distributed` (absent: the environment only). With
  `auto_detect`, JAX finds the cluster itself; otherwise a run of more than
  one process needs the coordinator address, the process count and this
  process's id, from the config or the environment (ValueError naming what
  is missing). Must run before anything else touches JAX; a second call
  does nothing.
  """
  if jax.distributed.is_initialized():
    return True
  d = config.get("distributed") or distributed_fields()
  if d.auto_detect:
    jax.distributed.initialize()
    return True
  address = _setting(d.coordinator_address, "", ENV_ADDRESS)
  num_processes = _setting(d.num_processes, 0, ENV_NUM_PROCESSES, int)
  process_id = _setting(d.process_id, -1, ENV_PROCESS_ID, int)
  if num_processes <= 1:
    return False
  missing = [f"{field} (--config.distributed.{field} or ${env})"
             for field, env, value in (
                 ("coordinator_address", ENV_ADDRESS, address),
                 ("process_id", ENV_PROCESS_ID, process_id))
             if value in ("", -1)]
  if missing:
    raise ValueError(f"a run of {num_processes} processes needs "
                     + " and ".join(missing))
  jax.distributed.initialize(address, num_processes, process_id)
  return True


def is_main_process() -> bool:
  """Whether this is process 0, the one that writes run outputs."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process got here (nothing to wait for in one)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


@functools.lru_cache(maxsize=None)
def make_mesh(num_devices: int = 0) -> Mesh:
  """A one-axis ("data") mesh over `num_devices` devices (0 = all).

  In a multi-process run the mesh spans every device, so that every
  process takes part in each step.
  """
  total = jax.device_count()
  size = num_devices or total
  if not 1 <= size <= total:
    raise ValueError(f"config.mesh.data = {num_devices}, but JAX sees "
                     f"{total} device(s); use 0 (all) or a count up to "
                     f"{total}")
  if jax.process_count() > 1 and size != total:
    raise ValueError(f"config.mesh.data = {num_devices}: a run of "
                     f"{jax.process_count()} processes uses all {total} "
                     "devices; use 0")
  return jax.make_mesh((size,), (DATA_AXIS,), axis_types=(AxisType.Auto,),
                       devices=jax.devices()[:size])


def mesh_from_config(config: ml_collections.ConfigDict) -> Mesh:
  """The mesh of `config.mesh` (all devices when the config has none)."""
  fields = config.get("mesh") or mesh_fields()
  return make_mesh(fields.data)


def training_mesh(config: ml_collections.ConfigDict) -> Mesh | None:
  """The mesh a phase's steps split batches over; None for a one-device
  mesh, whose steps stay unconstrained and compile as without a mesh.

  Raises ValueError when the phase's batch size is not a multiple of the
  data axis.
  """
  mesh = mesh_from_config(config)
  batch_size, size = config.train.batch_size, mesh.shape[DATA_AXIS]
  if batch_size % size:
    raise ValueError(
        f"config.{config.phase}.train.batch_size = {batch_size} is not a "
        f"multiple of the {size} devices of the data axis: each device "
        "takes an equal share of every batch. Choose a batch size that is "
        f"a multiple of {size}, or set --config.mesh.data to a divisor of "
        f"{batch_size}.")
  return mesh if size > 1 else None


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
  """`tree` with every array copied in full to every device of `mesh`.

  On a one-device mesh the arrays are committed to that device, as a
  single-device run always placed them. Otherwise the copy goes through
  host memory, which works whatever device the arrays were on and in
  multi-process runs (every process holds the same values).
  """
  if mesh.size == 1:
    return jax.device_put(tree, mesh.devices.flat[0])
  return jax.device_put(jax.device_get(tree), replicated(mesh))


def shard_batch(x_B: jax.Array, mesh: Mesh | None) -> jax.Array:
  """Inside jit: `x_B` split over the data axis along its first dimension."""
  if mesh is None:
    return x_B
  return jax.lax.with_sharding_constraint(
      x_B, NamedSharding(mesh, PartitionSpec(DATA_AXIS)))


def shard_columns(x_SxB, mesh: Mesh) -> jax.Array:
  """An [S, B] grid of batches as one array whose columns are split over
  the data axis; each process supplies only the columns of its devices."""
  host_SxB = np.asarray(x_SxB)
  sharding = NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))
  return jax.make_array_from_callback(host_SxB.shape, sharding,
                                      lambda index: host_SxB[index])


def feeding_grids(fn, mesh: Mesh | None, positions: tuple[int, ...] = (2, 3)):
  """`fn` with its positional arguments at `positions` ([S, B] batch grids,
  e.g. pair indices and their mask) passed through `shard_columns`;
  `fn` itself without a mesh."""
  if mesh is None:
    return fn

  def fed(*args):
    return fn(*(shard_columns(arg, mesh) if i in positions else arg
                for i, arg in enumerate(args)))

  return fed
