"""Fusion of dense and lexical evidence: order on hand-made scores."""

from cacl_jax.skills import fusion

E = fusion.Evidence


def test_fusion_order_and_spans():
  dense = {0: E(0.70, "sentence"), 1: E(0.60, "win b"), 2: E(0.50, "win c")}
  lexical = {2: E(1.0, "C"), 3: E(1.0, "D")}
  fused = fusion.fuse(dense, lexical, lexical_weight=0.3)
  # 2: 0.5 + 0.3 = 0.8; 0: 0.7; 1: 0.6; 3: 0 + 0.3.
  assert [f.skill for f in fused] == [2, 0, 1, 3]
  assert [round(f.score, 6) for f in fused] == [0.8, 0.7, 0.6, 0.3]
  assert [f.span for f in fused] == ["C", "sentence", "win b", "D"]


def test_fusion_ties_break_by_skill_row():
  fused = fusion.fuse({5: E(0.4, "a"), 2: E(0.4, "b")}, {}, 0.3)
  assert [f.skill for f in fused] == [2, 5]


def test_weight_zero_is_dense_order():
  dense = {0: E(0.9, "a"), 1: E(0.2, "b")}
  fused = fusion.fuse(dense, {1: E(1.0, "B")}, 0.0)
  assert [f.skill for f in fused] == [0, 1]
