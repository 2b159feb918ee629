"""The plot functions write readable PNGs and leave no figures open."""

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np

from cacl_jax.evaluation import plots


def _check_png(path):
  assert path.exists()
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  image = matplotlib.image.imread(path)
  assert image.shape[0] > 100 and image.shape[1] > 100


def test_all_plots(tmp_path):
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, 100)
  s = rng.random(100) + 0.3 * y
  written = [
      plots.plot_roc(tmp_path / "a" / "roc.png", y, s, "ROC"),
      plots.plot_pr(tmp_path / "pr.png", y, s, "PR"),
      plots.plot_score_histograms(
          tmp_path / "hist.png",
          {"good_fit": s[y == 1], "no_fit": s[y == 0], "potential_fit": []},
          "Scores", "P(match)"),
      plots.plot_loss_curves(
          tmp_path / "loss.png",
          {"train": (np.arange(1, 4), [0.9, 0.7, 0.6]),
           "val": (np.arange(1, 4), [0.95, 0.8, 0.82])}, "Loss"),
  ]
  for path in written:
    _check_png(path)
  assert not plt.get_fignums()
