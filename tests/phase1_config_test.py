"""Phase-1 config: §5.9 defaults, the config file's options and overrides."""

import pathlib

import pytest
from absl import flags

from config_cli import parse

from cacl_jax.data import config as data_config
from cacl_jax.phase1 import config as phase1_config

CONFIG_FILE = pathlib.Path(__file__).parents[1] / "configs" / "phase1.py"


def test_defaults_are_the_numbers_of_section_5_9():
  c = phase1_config.phase1_fields()
  assert (c.train.epochs, c.train.batch_size) == (15, 64)
  assert c.train.learning_rate == pytest.approx(8.5e-5)
  assert c.train.temperature == pytest.approx(0.07)
  assert (c.train.max_negatives, c.train.grad_clip_norm) == (7, 1.0)
  assert (c.model.hidden, c.model.dim, c.model.dropout) == (256, 128, 0.3)
  assert c.negatives.strategy == "ontology"
  assert (c.negatives.hard_max_distance,
          c.negatives.medium_max_distance) == (0.3, 0.6)
  assert tuple(c.negatives.start_ratios) == (0.2, 0.3, 0.5)
  assert tuple(c.negatives.end_ratios) == (0.6, 0.3, 0.1)
  assert c.weighting.enabled and c.weighting.tier_base.to_dict() == {
      "A": 1.0, "B": 0.9, "C": 0.75, "D": 0.6, "F": 0.5}
  assert (c.weighting.strength, c.weighting.min,
          c.weighting.max) == (0.3, 0.5, 1.5)
  phase1_config.validate(c)


def test_config_file_default_smoke_and_vanilla():
  c = parse(f"--config={CONFIG_FILE}")
  assert c.phase == "phase1" and c.phase1.train.epochs == 15
  assert c.data.num_pairs == 5179
  assert c.encoder.model == data_config.DEFAULT_ENCODER
  smoke = parse(f"--config={CONFIG_FILE}:smoke")
  assert smoke.encoder.model == data_config.RANDOM_TINY_ENCODER
  assert smoke.phase1.train.epochs == 2 and smoke.data.num_pairs < 1000
  vanilla = parse(f"--config={CONFIG_FILE}:smoke,vanilla")
  assert vanilla.phase1.negatives.strategy == "random"
  assert not vanilla.phase1.weighting.enabled
  assert vanilla.phase1.train.epochs == 2
  for config in (c, smoke, vanilla):
    phase1_config.validate(config.phase1)


def test_overrides_from_the_command_line():
  c = parse(f"--config={CONFIG_FILE}",
            "--config.phase1.train.learning_rate=1e-4",
            "--config.phase1.negatives.strategy=random",
            "--config.phase1.weighting.tier_base.C=0.8")
  assert c.phase1.train.learning_rate == pytest.approx(1e-4)
  assert c.phase1.negatives.strategy == "random"
  assert c.phase1.weighting.tier_base.C == 0.8
  with pytest.raises((flags.Error, AttributeError), match="no_such_field"):
    parse(f"--config={CONFIG_FILE}", "--config.phase1.train.no_such_field=1")
  with pytest.raises((flags.Error, AttributeError, KeyError), match="train"):
    parse(f"--config={CONFIG_FILE}", "--config.train.epochs=1")


def test_unknown_config_argument():
  with pytest.raises(flags.IllegalFlagValueError, match="fast"):
    parse(f"--config={CONFIG_FILE}:fast")


@pytest.mark.parametrize("field, value, message", [
    ("train.epochs", 0, "train.epochs"),
    ("train.temperature", 0.0, "train.temperature"),
    ("model.dropout", 1.0, "model.dropout"),
    ("negatives.hard_max_distance", 0.7, "hard_max_distance"),
    ("weighting.min", 2.0, "weighting"),
    ("checkpoint.max_to_keep", 0, "checkpoint.max_to_keep"),
])
def test_validate_names_the_bad_field(field, value, message):
  c = phase1_config.phase1_fields()
  section, name = field.split(".")
  c[section][name] = value
  with pytest.raises(ValueError, match=message):
    phase1_config.validate(c)
