"""Phase-2 config fields (§6.4): classification head, training, Phase-1 source.

`phase2_fields()` holds every number of §6.2–6.4. Every config file nests
them as `config.phase2` (e.g. --config.phase2.train.pos_weight=1.0); Phase-2
code reads them from a per-phase view that puts them at the top level next
to `seed`, `data` and `encoder` (`experiments.run.phase_config`).
"""

from __future__ import annotations

import ml_collections

# Default workdir of `configs/phase1.py` runs.
DEFAULT_PHASE1_WORKDIR = "workdirs/phase1"


def phase2_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model = ml_collections.ConfigDict()
  c.model.hidden = (128, 64)
  c.model.dropout = 0.3

  c.train = ml_collections.ConfigDict()
  c.train.epochs = 10
  c.train.batch_size = 32
  c.train.learning_rate = 5e-4
  # Coupled L2 (§6.4): weight_decay·param is added to the gradient before
  # Adam, like torch Adam(weight_decay=...), not AdamW's decoupled decay.
  c.train.weight_decay = 1e-3
  # Global-norm clipping of the raw gradients before each step, as in the
  # original (§6.4 does not list it).
  c.train.grad_clip_norm = 1.0
  # Weight of positive (good_fit) pairs in the BCE loss (§6.3).
  c.train.pos_weight = 2.5
  # Shuffle training pairs each epoch (order derived from seed and epoch).
  c.train.shuffle = True
  # Write step metrics every `log_every` steps; epoch metrics always.
  c.train.log_every = 1

  # Workdir of the Phase-1 run whose best checkpoint supplies the frozen
  # projection head (its shape is read from that run's config.json). An
  # end-to-end run ("all") uses its own `<workdir>/phase1` instead.
  c.phase1_workdir = DEFAULT_PHASE1_WORKDIR
  # False: the classifier reads the Phase-1 head's output before its final
  # L2 normalisation, as the original does (§6.2 does not say); True: the
  # unit vectors whose dot product Phase 1 trains and evaluates as cosine.
  c.phase1_normalized_input = False

  c.checkpoint = ml_collections.ConfigDict()
  # Best checkpoints (lowest validation loss) kept besides the latest two.
  c.checkpoint.max_to_keep = 1
  # Also checkpoint every this many steps inside an epoch (counted from the
  # epoch's start), so that a preempted run loses at most that many steps;
  # 0: only at epoch ends. A SIGTERM stops the run at the next checkpoint.
  c.checkpoint.every_steps = 0

  c.eval = ml_collections.ConfigDict()
  # Resume ranking only scores jobs with at least this many candidates.
  c.eval.min_resume_candidates = 2
  # Job ranking under the original protocol, the one comparable to §7.3:
  # each good-fit job among this many random other test jobs, drawn with
  # this seed (our all-jobs ranking is reported beside it).
  c.eval.ranking_negatives = 49
  c.eval.ranking_seed = 0
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks phase-2 fields in place for fast tests: two epochs."""
  c.train.epochs = 2
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the field when a phase-2 value is out of range."""
  def fail(field, message):
    raise ValueError(f"config.{config.get('phase', '')}.{field}: {message}"
                     .replace("config..", "config."))

  t = config.train
  for field in ("epochs", "batch_size", "log_every"):
    if getattr(t, field) < 1:
      fail(f"train.{field}", f"must be ≥ 1, got {getattr(t, field)}")
  for field in ("learning_rate", "pos_weight", "grad_clip_norm"):
    if not getattr(t, field) > 0:
      fail(f"train.{field}", f"must be > 0, got {getattr(t, field)}")
  if t.weight_decay < 0:
    fail("train.weight_decay", f"must be ≥ 0, got {t.weight_decay}")
  if not config.model.hidden or min(config.model.hidden) < 1:
    fail("model.hidden", f"need positive layer widths, got "
         f"{tuple(config.model.hidden)}")
  if not 0.0 <= config.model.dropout < 1.0:
    fail("model.dropout", f"must be in [0, 1), got {config.model.dropout}")
  if not config.phase1_workdir:
    fail("phase1_workdir", "must name the Phase-1 workdir")
  if config.checkpoint.max_to_keep < 1:
    fail("checkpoint.max_to_keep", "must be ≥ 1")
  if config.checkpoint.every_steps < 0:
    fail("checkpoint.every_steps",
         f"must be ≥ 0 (0: only at epoch ends), got "
         f"{config.checkpoint.every_steps}")
  if config.eval.min_resume_candidates < 1:
    fail("eval.min_resume_candidates", "must be ≥ 1")
  if config.eval.ranking_negatives < 1:
    fail("eval.ranking_negatives", "must be ≥ 1")
  if config.eval.ranking_seed < 0:
    fail("eval.ranking_seed", "must be ≥ 0")
