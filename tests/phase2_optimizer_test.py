"""Phase-2 optimiser (§6.4): Adam with coupled L2 after global-norm clipping,
against a hand-computed numpy step and torch's clip_grad_norm_ + Adam."""

import jax
import numpy as np
import optax
import pytest

from cacl_jax.phase2 import config as config_lib, steps

LR, WD, CLIP = 0.05, 0.1, 1.0
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def _params():
  rng = np.random.default_rng(0)
  return {"dense": {"kernel": rng.normal(size=(3, 2)).astype(np.float32),
                    "bias": rng.normal(size=(2,)).astype(np.float32)},
          "output": rng.normal(size=(4,)).astype(np.float32)}


def _grads(scale, seed):
  """A gradient tree of global norm `scale`."""
  rng = np.random.default_rng(seed)
  tree = jax.tree.map(lambda p: rng.normal(size=p.shape), _params())
  norm = np.sqrt(sum(np.sum(g**2) for g in jax.tree.leaves(tree)))
  return jax.tree.map(lambda g: (g * scale / norm).astype(np.float32), tree)


def _optax_steps(grads_list):
  tx = steps.make_optimizer(LR, WD, CLIP)
  params = jax.tree.map(np.asarray, _params())
  opt_state = tx.init(params)
  for grads in grads_list:
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
  return jax.tree.map(np.asarray, params)


def _numpy_steps(grads_list, decoupled=False):
  """Adam written out leaf by leaf in float64: clip the raw gradients to
  global norm CLIP, add WD·param (or, `decoupled`, decay the param after the
  Adam step as AdamW does), then the bias-corrected moments."""
  params, treedef = jax.tree.flatten(jax.tree.map(np.float64, _params()))
  m = [np.zeros_like(p) for p in params]
  v = [np.zeros_like(p) for p in params]
  for t, grads in enumerate(grads_list, start=1):
    g_list = [np.float64(g) for g in jax.tree.leaves(grads)]
    norm = np.sqrt(sum(np.sum(g**2) for g in g_list))
    scale = min(1.0, CLIP / norm)
    for i, (p, g) in enumerate(zip(params, g_list)):
      g = g * scale + (0.0 if decoupled else WD * p)
      m[i] = BETA1 * m[i] + (1 - BETA1) * g
      v[i] = BETA2 * v[i] + (1 - BETA2) * g**2
      m_hat = m[i] / (1 - BETA1**t)
      v_hat = v[i] / (1 - BETA2**t)
      step = m_hat / (np.sqrt(v_hat) + EPS) + (WD * p if decoupled else 0.0)
      params[i] = p - LR * step
  return jax.tree.unflatten(treedef, params)


def _assert_trees_close(got, want, **tol):
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("grad_norm", [0.3, 5.0])  # clipping off, then on
def test_one_update_is_coupled_l2_adam_after_clipping(grad_norm):
  grads = [_grads(grad_norm, seed=1)]
  got = _optax_steps(grads)
  _assert_trees_close(got, _numpy_steps(grads), rtol=1e-5, atol=1e-6)
  # Decoupled decay (AdamW) moves the params elsewhere.
  decoupled = _numpy_steps(grads, decoupled=True)
  assert max(np.abs(a - b).max() for a, b in zip(
      jax.tree.leaves(got), jax.tree.leaves(decoupled))) > 1e-3


def test_three_updates_follow_the_moments():
  grads = [_grads(5.0, seed=1), _grads(0.2, seed=2), _grads(3.0, seed=3)]
  _assert_trees_close(_optax_steps(grads), _numpy_steps(grads), rtol=1e-5,
                      atol=1e-6)


def test_clipping_sees_the_raw_gradient_not_the_decay():
  # A zero gradient: nothing to clip, so the step is Adam on WD·param alone,
  # whose first update is lr·sign(param) for every entry.
  zero = jax.tree.map(np.zeros_like, _params())
  got = _optax_steps([zero])
  _assert_trees_close(got, jax.tree.map(lambda p: p - LR * np.sign(p),
                                        _params()), rtol=1e-5, atol=1e-6)


def test_bad_clip_norm_is_reported():
  config = config_lib.phase2_fields()
  config.train.grad_clip_norm = 0.0
  with pytest.raises(ValueError, match="train.grad_clip_norm"):
    config_lib.validate(config)


def test_matches_torch_adam_with_weight_decay_after_clip_grad_norm():
  torch = pytest.importorskip("torch")
  grads = [_grads(5.0, seed=1), _grads(0.2, seed=2), _grads(3.0, seed=3)]
  leaves, treedef = jax.tree.flatten(_params())
  tensors = [torch.nn.Parameter(torch.tensor(p)) for p in leaves]
  opt = torch.optim.Adam(tensors, lr=LR, betas=(BETA1, BETA2), eps=EPS,
                         weight_decay=WD)
  for step_grads in grads:
    for t, g in zip(tensors, jax.tree.leaves(step_grads)):
      t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_(tensors, CLIP)
    opt.step()
  want = jax.tree.unflatten(treedef, [t.detach().numpy() for t in tensors])
  _assert_trees_close(_optax_steps(grads), want, rtol=1e-5, atol=1e-6)
