"""Metric logging to JSON lines and TensorBoard event files."""

import json
import pathlib
import struct

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from cacl_jax.common import metrics_log


def read_events(logdir: pathlib.Path):
  """(tag, step, value) of every scalar in the TFRecord event files."""
  out = []
  for path in sorted(logdir.glob("events.out.tfevents.*")):
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      record = data[pos + 12:pos + 12 + length]
      pos += 12 + length + 4
      event = event_pb2.Event.FromString(record)
      if event.HasField("file_version"):
        continue
      if event.HasField("session_log"):
        out.append(("<purge>", event.step, None))
      for value in event.summary.value:
        out.append((value.tag, event.step, value.simple_value))
  return out


def test_writes_json_lines_and_tensorboard_scalars(tmp_path):
  with metrics_log.MetricsLog(tmp_path) as log:
    log.write(1, {"train/loss": np.float32(2.5), "train/n": 3}, epoch=1)
    log.write(2, {"train/loss": float("nan")}, epoch=1)
    log.write(2, {"epoch/val_loss": 1.25}, epoch=1)
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert json.loads(lines[0]) == {"step": 1, "epoch": 1, "train/loss": 2.5,
                                  "train/n": 3}
  assert json.loads(lines[1])["train/loss"] is None  # strict JSON
  history = metrics_log.read_history(tmp_path)
  steps, values = metrics_log.series(history, "train/loss")
  np.testing.assert_array_equal(steps, [1, 2])
  assert values[0] == 2.5 and np.isnan(values[1])
  x, y = metrics_log.series(history, "epoch/val_loss", x="epoch")
  np.testing.assert_array_equal(x, [1])
  np.testing.assert_array_equal(y, [1.25])
  events = [e for e in read_events(tmp_path / "tensorboard")
            if e[0] != "<purge>"]
  assert ("train/loss", 1, 2.5) in events
  assert ("epoch/val_loss", 2, 1.25) in events
  assert ("train/n", 1, 3.0) in events


def test_restart_drops_records_after_the_resumed_step(tmp_path):
  with metrics_log.MetricsLog(tmp_path) as log:
    for step in range(1, 6):
      log.write(step, {"loss": float(step)})
  with metrics_log.MetricsLog(tmp_path, start_step=3) as log:
    log.write(4, {"loss": 40.0})
  _, values = metrics_log.series(metrics_log.read_history(tmp_path), "loss")
  np.testing.assert_array_equal(values, [1, 2, 3, 40])
  # TensorBoard is told to purge steps ≥ 4 of the first run.
  events = read_events(tmp_path / "tensorboard")
  assert ("<purge>", 4, None) in events


def test_fresh_run_starts_an_empty_history(tmp_path):
  with metrics_log.MetricsLog(tmp_path) as log:
    log.write(5, {"loss": 1.0})
  with metrics_log.MetricsLog(tmp_path) as log:
    pass
  assert metrics_log.read_history(tmp_path) == []


def test_bad_line_names_file_and_line(tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n')
  with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
    metrics_log.read_history(tmp_path)
  assert metrics_log.read_history(tmp_path / "absent") == []
