"""Phase-1 config fields (§5.9): projection head, training, negatives, weights.

`phase1_fields()` holds every number of §5.2 and §5.5–5.9 so that a run is
fully described by its config. Every config file nests them as
`config.phase1` (e.g. --config.phase1.train.epochs=20); Phase-1 code reads
them from a per-phase view that puts them at the top level next to `seed`,
`data` and `encoder` (`experiments.run.phase_config`).
"""

from __future__ import annotations

import ml_collections

from cacl_jax.data import records

NEGATIVE_STRATEGIES = ("ontology", "random")


def model_fields() -> ml_collections.ConfigDict:
  """Projection head (§5.2): Linear(hidden) → ReLU → Dropout → Linear(dim)."""
  c = ml_collections.ConfigDict()
  c.hidden = 256
  c.dim = 128
  c.dropout = 0.3
  return c


def phase1_fields(vanilla: bool = False) -> ml_collections.ConfigDict:
  """Phase-1 fields; `vanilla`: ablation baseline (random negatives, w = 1)."""
  c = ml_collections.ConfigDict()
  c.model = model_fields()

  c.train = ml_collections.ConfigDict()
  c.train.epochs = 15
  c.train.batch_size = 64
  c.train.learning_rate = 8.5e-5
  c.train.grad_clip_norm = 1.0
  c.train.temperature = 0.07
  c.train.max_negatives = 7
  # Shuffle training pairs each epoch (order derived from seed and epoch).
  c.train.shuffle = True
  # Write step metrics every `log_every` steps; epoch metrics always.
  c.train.log_every = 1
  # Run each epoch as one compiled lax.scan over its batches (one dispatch per
  # epoch); False dispatches the jitted train_step once per batch.
  c.train.scan_epochs = True

  c.negatives = ml_collections.ConfigDict()
  # "ontology": curriculum buckets of §5.6; "random": uniform (vanilla).
  c.negatives.strategy = "random" if vanilla else "ontology"
  c.negatives.hard_max_distance = 0.3
  c.negatives.medium_max_distance = 0.6
  # (hard, medium, easy) shares at the first and at the last epoch.
  c.negatives.start_ratios = (0.2, 0.3, 0.5)
  c.negatives.end_ratios = (0.6, 0.3, 0.1)
  # Validation negatives use the end ratios at every epoch, so validation
  # losses stay comparable across epochs and the best checkpoint is not
  # simply the epoch with the easiest negatives. False: the epoch's ratios.
  c.negatives.fixed_validation_ratios = True

  c.weighting = ml_collections.ConfigDict()
  c.weighting.enabled = not vanilla
  c.weighting.tier_base = ml_collections.ConfigDict(
      dict(A=1.0, B=0.9, C=0.75, D=0.6, F=0.5))
  c.weighting.strength = 0.3
  c.weighting.min = 0.5
  c.weighting.max = 1.5

  c.checkpoint = ml_collections.ConfigDict()
  # Best checkpoints (lowest validation loss) kept besides the latest two.
  c.checkpoint.max_to_keep = 1
  # Also checkpoint every this many steps inside an epoch (counted from the
  # epoch's start), so that a preempted run loses at most that many steps;
  # 0: only at epoch ends. A SIGTERM stops the run at the next checkpoint.
  c.checkpoint.every_steps = 0
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the field when a phase-1 value is out of range."""
  def fail(field, message):
    raise ValueError(f"config.{config.get('phase', '')}.{field}: {message}"
                     .replace("config..", "config."))

  t = config.train
  for field in ("epochs", "batch_size", "max_negatives", "log_every"):
    if getattr(t, field) < 1:
      fail(f"train.{field}", f"must be ≥ 1, got {getattr(t, field)}")
  for field in ("learning_rate", "grad_clip_norm", "temperature"):
    if not getattr(t, field) > 0:
      fail(f"train.{field}", f"must be > 0, got {getattr(t, field)}")
  if not 0.0 <= config.model.dropout < 1.0:
    fail("model.dropout", f"must be in [0, 1), got {config.model.dropout}")
  n = config.negatives
  if n.strategy not in NEGATIVE_STRATEGIES:
    fail("negatives.strategy",
         f"{n.strategy!r} is not one of {NEGATIVE_STRATEGIES}")
  if not 0.0 <= n.hard_max_distance <= n.medium_max_distance:
    fail("negatives", "need 0 ≤ hard_max_distance ≤ medium_max_distance")
  for field in ("start_ratios", "end_ratios"):
    ratios = tuple(getattr(n, field))
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6:
      fail(f"negatives.{field}",
           f"need three non-negative shares summing to 1, got {ratios}")
  w = config.weighting
  missing = set(records.QUALITY_TIERS) - set(w.tier_base.keys())
  if missing:
    fail("weighting.tier_base", f"missing tiers {sorted(missing)}")
  if not w.min <= w.max:
    fail("weighting", f"min {w.min} > max {w.max}")
  if config.checkpoint.max_to_keep < 1:
    fail("checkpoint.max_to_keep", "must be ≥ 1")
  if config.checkpoint.every_steps < 0:
    fail("checkpoint.every_steps",
         f"must be ≥ 0 (0: only at epoch ends), got "
         f"{config.checkpoint.every_steps}")
