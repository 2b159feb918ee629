"""Splitting an end-to-end config into per-phase configs."""

import ml_collections
import pytest

from cacl_jax.common import phases
from cacl_jax.data import config as data_config
from cacl_jax.phase1 import config as phase1_config


def all_config():
  c = ml_collections.ConfigDict()
  c.phase = "all"
  c.seed = 7
  c.data = data_config.data_fields()
  c.encoder = data_config.encoder_fields()
  c.phase1 = phase1_config.phase1_fields()
  c.phase2 = ml_collections.ConfigDict({"phase1_workdir": "", "lr": 0.1})
  c.lock()
  return c


def test_phase_config_lifts_shared_fields():
  c = all_config()
  c.data.num_pairs = 123
  p1 = phases.phase_config(c, "phase1")
  assert p1.phase == "phase1" and p1.seed == 7
  assert p1.data.num_pairs == 123
  assert p1.encoder.model == c.encoder.model
  assert p1.train.learning_rate == pytest.approx(8.5e-5)
  assert "phase2" not in p1 and "phase1" not in p1
  p2 = phases.phase_config(c, "phase2", phase1_workdir="/w/phase1")
  assert p2.phase1_workdir == "/w/phase1" and p2.lr == 0.1
  assert c.phase2.phase1_workdir == ""  # input untouched
  p1.train.epochs = 1  # the result is a free, editable copy
  assert c.phase1.train.epochs == 15


def test_phase_config_unknown_phase():
  with pytest.raises(KeyError, match="phase3"):
    phases.phase_config(all_config(), "phase3")
