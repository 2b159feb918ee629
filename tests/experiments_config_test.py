"""experiments.config: every config file has one shape, so a setting has one
flag path whichever file runs."""

import pathlib

import pytest
from absl import flags

from config_cli import parse

from cacl_jax.data import config as data_config
from cacl_jax.experiments import config as experiment_config
from cacl_jax.phase1 import config as phase1_config
from cacl_jax.phase2 import config as phase2_config

CONFIGS = pathlib.Path(__file__).parents[1] / "configs"
FILES = {"default.py": "all", "phase1.py": "phase1", "phase2.py": "phase2"}


def _paths(tree, prefix=""):
  out = set()
  for key, value in tree.items():
    if isinstance(value, dict):
      out |= _paths(value, f"{prefix}{key}.")
    else:
      out.add(f"{prefix}{key}")
  return out


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_file_has_the_same_shape(name):
  c = parse(f"--config={CONFIGS / name}")
  assert c.phase == FILES[name]
  reference = experiment_config.build("all").to_dict()
  assert _paths(c.to_dict()) == _paths(reference)
  assert c.phase1.to_dict() == phase1_config.phase1_fields().to_dict()
  assert c.phase2.to_dict() == phase2_config.phase2_fields().to_dict()
  assert c.data.to_dict() == data_config.data_fields().to_dict()
  assert c.encoder.to_dict() == data_config.encoder_fields().to_dict()
  assert "phase1_model" not in c.phase2


@pytest.mark.parametrize("name", sorted(FILES))
def test_one_flag_path_per_setting(name, tmp_path):
  c = parse(f"--config={CONFIGS / name}", "--config.phase1.train.epochs=20",
            "--config.phase2.train.pos_weight=1.0",
            f"--config.phase2.phase1_workdir={tmp_path}",
            "--config.data.num_pairs=99", "--config.seed=3")
  assert c.phase1.train.epochs == 20
  assert c.phase2.train.pos_weight == 1.0
  assert c.phase2.phase1_workdir == str(tmp_path)
  assert (c.data.num_pairs, c.seed) == (99, 3)
  with pytest.raises((flags.Error, AttributeError, KeyError)):
    parse(f"--config={CONFIGS / name}", "--config.train.epochs=20")


@pytest.mark.parametrize("name", sorted(FILES))
def test_smoke_shrinks_both_phases(name):
  c = parse(f"--config={CONFIGS / name}:smoke")
  assert c.encoder.model == data_config.RANDOM_TINY_ENCODER
  assert c.data.num_pairs == 400
  assert (c.phase1.model.hidden, c.phase1.model.dim) == (64, 32)
  assert (c.phase1.train.epochs, c.phase1.train.batch_size) == (2, 16)
  assert c.phase2.train.epochs == 2
  phase1_config.validate(c.phase1)
  phase2_config.validate(c.phase2)


def test_vanilla_is_the_phase1_ablation_baseline():
  for name in ("default.py", "phase1.py"):
    c = parse(f"--config={CONFIGS / name}:smoke,vanilla")
    assert c.phase1.negatives.strategy == "random"
    assert not c.phase1.weighting.enabled
  with pytest.raises(flags.IllegalFlagValueError, match="vanilla"):
    parse(f"--config={CONFIGS / 'phase2.py'}:vanilla")


def test_unknown_option_and_phase():
  with pytest.raises(ValueError, match="fast"):
    experiment_config.build("all", "smoke,fast")
  with pytest.raises(ValueError, match="phase3"):
    experiment_config.build("phase3")
