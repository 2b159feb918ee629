"""Parses a command line the way scripts/train.py does (imported by tests)."""

from absl import flags
from ml_collections import config_flags


def parse(*args):
  """The config of `--config=FILE ...` with its overrides applied."""
  argv = ["prog", *args]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=values,
                                  lock_config=True, sys_argv=argv)
  values(argv)
  return values.config
