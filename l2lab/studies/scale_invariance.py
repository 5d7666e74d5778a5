"""The dynamics of scale-invariant weights: L2 with normalization is an effective learning rate.

A kernel ``w`` followed by a normalization (batch norm with batch statistics) enters the loss
only through its direction: ``L(c w) = L(w)`` for every ``c > 0``. Differentiating,

* the gradient is orthogonal to the kernel, ``<w, dL/dw> = 0``, and
* it scales inversely with its norm, ``dL/dw (c w) = dL/dw (w) / c``,

so the scale-invariant gradient norm ``||w|| ||dL/dw||`` depends on the direction only. One SGD
step with L2, ``w' = (1 - eta lam) w - eta g``, changes the direction by an angle of order
``eta ||g|| / ||w|| = (eta / ||w||^2) ||w|| ||g||``: what matters is the *effective learning
rate* ``eta / ||w||^2`` (van Laarhoven 2017). Since ``g`` is orthogonal to ``w``,
``||w'||^2 = (1 - eta lam)^2 ||w||^2 + eta^2 ||g||^2``: the gradient inflates the norm and L2
shrinks it, and where the two balance (``||w'|| = ||w||``) the component of ``w'`` along ``w``
is ``(1 - eta lam) ||w||``, so the angular update per step is exactly

    delta = arccos(1 - eta lam) ~ sqrt(2 eta lam)          (:func:`equilibrium_angular_step`)

whatever the gradient: at equilibrium only the product ``eta lam`` matters.

For a network whose every trained parameter is scale invariant (:class:`ScaleInvariantNet`),
``w_t = (1 - eta lam)^t u_t`` maps SGD with L2 on ``w`` exactly onto SGD *without* L2 on ``u``
with the exponentially growing learning rate ``eta (1 - eta lam)^(-2t-1)`` (Li & Arora 2019;
:func:`exponential_lr`, :func:`equivalent_runs`). In gradient-flow time ``t = eta * steps`` this
is ``e^{2 lam t}``, the k = 0 case of the paper's Eq. (2) (``l2lab.theory.kernel_decay``).

Public API::

    equilibrium_angular_step(eta, lam)         arccos(1 - eta lam), radians
    exponential_lr(eta, lam, t)                eta (1 - eta lam)^(-2t-1)
    loss_under_kernel_scaling(model, params, x, y, path, factors)
    scale_kernels(params, paths, factor)       the named kernels multiplied by factor
    track(arch_or_model, *, eta, lam, steps, ...) -> Trace     every step of one run
    ScaleInvariantNet                          BN without affine after every kernel, fixed readout
    equivalent_runs(model, params, train, test, *, eta, lam, steps) -> EquivalentRuns

Everything runs full batch by default (the tiny presets do) and on any JAX backend.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2lab import _checks, _conv
from l2lab import models as _models
from l2lab import train as _train

__all__ = [
    "equilibrium_angular_step", "exponential_lr", "loss_under_kernel_scaling", "kernel_leaves",
    "scale_kernels",
    "angle", "Trace", "track", "ScaleInvariantNet", "EquivalentRuns", "equivalent_runs",
    "late_values", "describe_late",
]

Params = Any


# ----------------------------------------------------------------------------- closed forms

def _eta_lam(eta, lam) -> Tuple[np.ndarray, np.ndarray]:
    eta = np.asarray(_checks_array("eta", eta), np.float64)
    lam = np.asarray(_checks_array("lam", lam), np.float64)
    if np.any(eta <= 0):
        raise _checks.bad_value("eta", f"must be > 0, got {eta.min()!r}")
    if np.any(lam < 0):
        raise _checks.bad_value("lam", f"must be >= 0, got {lam.min()!r}")
    try:
        prod = eta * lam
    except ValueError:
        raise _checks.bad_value("lam", f"does not broadcast with eta: {eta.shape} vs {lam.shape}") from None
    if np.any(prod >= 1):
        raise _checks.bad_value("lam", f"needs eta * lam < 1 (the weights would flip sign), got "
                                       f"max eta * lam = {prod.max():g}")
    return eta, lam


def _checks_array(name: str, value) -> np.ndarray:
    """``value`` as a finite float64 array (bools and non-numbers refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise _checks.bad_type(name, "must be a real number or array, got bool")
    try:
        arr = np.asarray(value)
    except Exception as err:  # pragma: no cover - exotic objects
        raise _checks.bad_type(name, "must be a real number or array") from err
    if arr.dtype.kind not in "iuf":
        raise _checks.bad_type(name, f"must be a real number or array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise _checks.bad_value(name, "must be finite")
    return arr


def equilibrium_angular_step(eta, lam) -> np.ndarray:
    """Angular update per step (radians) of a scale-invariant weight at equilibrium under plain
    SGD with L2: ``arccos(1 - eta lam)`` (``~ sqrt(2 eta lam)`` for small ``eta lam``).

    Derivation (module docstring): ``g`` is orthogonal to ``w``, so with ``||w'|| = ||w||`` the
    cosine of the angle between ``w`` and ``w' = (1 - eta lam) w - eta g`` is ``1 - eta lam``.
    It depends on the product ``eta * lam`` only.

    Args:
      eta: learning rate(s) ``> 0``; lam: L2 coefficient(s) ``>= 0``, with ``eta lam < 1``;
        broadcasting numpy-style.
    Returns:
      float64 array of the broadcast shape (0-d for scalars).
    """
    eta, lam = _eta_lam(eta, lam)
    return np.arccos(1.0 - eta * lam)


def exponential_lr(eta, lam, t) -> np.ndarray:
    """Learning rate of update ``t`` (0-based) of the run *without* L2 equivalent to SGD with L2
    on a fully scale-invariant network (Li & Arora 2019): ``eta (1 - eta lam)^(-2t-1)``.

    With ``w_t = a_t u_t``, ``a_t = (1 - eta lam)^t`` and ``g(c u) = g(u) / c``, the update
    ``w_{t+1} = (1 - eta lam) w_t - eta g(w_t)`` reads ``u_{t+1} = u_t - eta / (a_t a_{t+1})
    g(u_t)``. In gradient-flow time ``s = eta t`` it grows like ``e^{2 lam s}`` (Eq. 2, k = 0).

    Args:
      eta (> 0), lam (>= 0, ``eta lam < 1``), t (update counts >= 0, any shape): broadcast.
    Returns:
      float64 array of the broadcast shape.
    """
    eta, lam = _eta_lam(eta, lam)
    t = _checks_array("t", t)
    if np.any(t < 0):
        raise _checks.bad_value("t", f"must be >= 0, got {t.min()!r}")
    try:
        np.broadcast_shapes(eta.shape, lam.shape, t.shape)
    except ValueError:
        raise _checks.bad_value("t", f"does not broadcast with eta and lam: {t.shape}") from None
    with np.errstate(over="ignore"):
        return eta * np.exp(-(2.0 * t + 1.0) * np.log1p(-eta * lam))


# ----------------------------------------------------------------------------- kernels

_path_str = _train.path_str   # "Conv_0/kernel" for a key path


kernel_leaves = _train.kernel_leaves   # {path: kernel}, sorted by path


def _replace_leaf(params: Params, path: str, fn) -> Params:
    def f(p, v):
        return fn(v) if _path_str(p) == path else v
    return jax.tree_util.tree_map_with_path(f, params)


def scale_kernels(params: Params, paths: Sequence[str], factor: float) -> Params:
    """``params`` with each kernel named in ``paths`` (``l2lab.train.kernel_paths`` format)
    multiplied by ``factor`` (> 0); every other leaf unchanged. Same pytree structure/shapes.
    For a kernel followed by batch norm this leaves the function unchanged and multiplies the
    effective learning rate ``eta / ||w||^2`` by ``1 / factor**2``."""
    if isinstance(paths, str):
        raise _checks.bad_type("paths", "must be a sequence of kernel paths, not one string")
    known = set(kernel_leaves(params))
    for q in paths:
        _checks.one_of("paths", q, sorted(known))
    factor = _checks.positive_float("factor", factor)
    chosen = set(paths)
    return jax.tree_util.tree_map_with_path(
        lambda p, v: v * factor if _path_str(p) in chosen else v, params)


def angle(a: jax.Array, b: jax.Array) -> jax.Array:
    """Angle (radians, in [0, pi]) between two arrays of the same shape, as flat vectors:
    ``2 atan2(||a/|a| - b/|b|||, ||a/|a| + b/|b|||)``, accurate also for tiny angles (where
    ``arccos`` of the cosine loses half the digits). float32/float64 scalar; NaN if a norm is 0."""
    a = jnp.ravel(a)
    b = jnp.ravel(b)
    ua = a / jnp.linalg.norm(a)
    ub = b / jnp.linalg.norm(b)
    return 2.0 * jnp.arctan2(jnp.linalg.norm(ua - ub), jnp.linalg.norm(ua + ub))


def _apply_fn(model):
    if not hasattr(model, "apply"):
        raise _checks.bad_type("model", f"must be a flax module, got {type(model).__name__}")
    return lambda p, x: model.apply({"params": p}, x)


def _onehot(name: str, y, k: int) -> jax.Array:
    y = np.asarray(y)
    if y.ndim == 1 and y.dtype.kind in "iu":
        if y.size and (y.min() < 0 or y.max() >= k):
            raise _checks.bad_value(name, f"labels must lie in [0, {k}), got [{y.min()}, {y.max()}]")
        return jax.nn.one_hot(jnp.asarray(y), k, dtype=jnp.float32)
    if y.ndim == 2 and y.shape[1] == k and y.dtype.kind == "f":
        return jnp.asarray(y, jnp.float32)
    raise _checks.bad_value(name, f"must be int labels (N,) or one-hot float (N, {k}), got "
                                  f"{y.dtype}{y.shape}")


def _xy(name: str, data, k: Optional[int] = None):
    """``(x float32 (N, ...), y)`` from a pair or a Dataset-like object (``.x``, ``.y``)."""
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise _checks.bad_type(name, f"must be a pair (x, y) or a dataset with x and y, got "
                                     f"{type(data).__name__}")
    x = np.asarray(x)
    if x.dtype.kind not in "iuf" or x.ndim < 2:
        raise _checks.bad_value(name, f"x must be a real array (N, ...), got {x.dtype}{x.shape}")
    if np.shape(y)[:1] != x.shape[:1] or x.shape[0] == 0:
        raise _checks.bad_value(name, f"x and y must hold the same N >= 1 samples, got {x.shape} "
                                      f"and {np.shape(y)}")
    return jnp.asarray(x, jnp.float32), y


def loss_under_kernel_scaling(model, params: Params, x, y, path, factors: Sequence[float],
                              loss: str = "xent") -> np.ndarray:
    """Data loss (no L2 term) with the kernel at ``path`` multiplied by each factor ``c``.

    For a kernel followed by batch norm the values agree with the unscaled loss up to the
    ``epsilon`` of the normalization; for any other kernel they change with ``c``.

    Args:
      model: flax module (``apply({"params": p}, x) -> logits (N, K)``); params: its parameters.
      x: (N, ...) inputs; y: (N,) int labels or (N, K) one-hot.
      path: one of ``l2lab.train.kernel_paths(params)``, or a sequence of them (P paths).
      factors: (F,) numbers ``> 0``.
      loss: ``"xent"`` or ``"mse"`` (the normalised losses of :mod:`l2lab.train`).
    Returns:
      float64 (F,) losses for one path, (P, F) for a sequence (one compiled program).
    """
    apply_fn = _apply_fn(model)
    _checks.one_of("loss", loss, _train.LOSSES)
    paths = _train.kernel_paths(params)
    many = not isinstance(path, str)
    chosen = list(path) if many else [path]
    if not chosen:
        raise _checks.bad_value("path", "must name at least one kernel")
    for q in chosen:
        _checks.one_of("path", q, paths)
    factors = _checks_array("factors", factors)
    if factors.ndim != 1 or factors.size == 0 or np.any(factors <= 0):
        raise _checks.bad_value("factors", f"must be a non-empty 1-D array of numbers > 0, got {factors!r}")
    x, y = _xy("x", (x, y))
    k = jax.eval_shape(apply_fn, params, x[:2]).shape[-1]
    y1 = _onehot("y", y, k)
    loss_fn = {"xent": _train.xent_loss, "mse": _train.mse_loss}[loss]

    @jax.jit
    def f(params, x, y1, c):       # data as arguments: no constant folding of the network
        out = []
        for q in chosen:
            p = _replace_leaf(params, q, lambda v: v * c)
            out.append(loss_fn(apply_fn(p, x), y1))
        return jnp.stack(out)

    vals = np.asarray([np.asarray(f(params, x, y1, jnp.float32(c)), np.float64)
                       for c in factors]).T
    return vals if many else vals[0]


# ----------------------------------------------------------------------------- track()

class Trace(NamedTuple):
    """Every step of one run (:func:`track`); numpy arrays, T = number of updates.

    steps: int64 (T+1,) ``0..T``. kernel_norm: ``{path: float64 (T+1,)}``, ``||w_t||`` of each
    kernel (``l2lab.train.kernel_paths``) before update ``t`` (index T: after the last).
    effective_lr: ``{path: (T+1,)}``, ``eta / ||w_t||^2``. angular_update: ``{path: (T,)}``, the
    angle (radians) between ``w_t`` and ``w_{t+1}``. grad_norm: ``{path: (T,)}``, the
    scale-invariant gradient norm ``||w_t|| ||dL_data/dw (w_t)||`` on update t's batch.
    train_loss: (T,) data loss (no L2 term) of update t's batch at ``w_t``. lam: (T,) the lam of
    update t. eval_steps: int64 (E,) ``0, eval_every, 2 eval_every, ..., T``; test_accuracy,
    test_loss, train_accuracy: (E,) at those steps (whole sets, batch-norm statistics of the set
    evaluated). final_params: the parameters after T updates (pytree of numpy arrays).
    config: dict of the run's settings. NaN wherever the run has diverged.
    """

    steps: np.ndarray
    kernel_norm: Dict[str, np.ndarray]
    effective_lr: Dict[str, np.ndarray]
    angular_update: Dict[str, np.ndarray]
    grad_norm: Dict[str, np.ndarray]
    train_loss: np.ndarray
    lam: np.ndarray
    eval_steps: np.ndarray
    test_accuracy: np.ndarray
    test_loss: np.ndarray
    train_accuracy: np.ndarray
    final_params: Any
    config: Dict[str, Any]


def _num_classes(*ys) -> int:
    """K from one-hot labels (their width) or int labels (largest label + 1, at least 2)."""
    for y in ys:
        if np.ndim(y) == 2:
            return int(np.shape(y)[1])
    return max(2, max(int(np.max(np.asarray(y))) + 1 for y in ys))


def _model_of(arch_or_model, model_kwargs, num_classes: int):
    if isinstance(arch_or_model, str):
        kw = {} if model_kwargs is None else model_kwargs
        if not isinstance(kw, dict):
            raise _checks.bad_type("model_kwargs", f"must be None or a dict, got {type(kw).__name__}")
        return _models.make_model(arch_or_model, num_classes=num_classes, **kw)
    if model_kwargs:
        raise _checks.bad_value("model_kwargs", "only goes with an arch name, not with a module")
    if not isinstance(arch_or_model, nn.Module):
        raise _checks.bad_type("arch_or_model", f"must be an arch name or a flax module, got "
                                                f"{type(arch_or_model).__name__}")
    return arch_or_model


@functools.lru_cache(maxsize=32)
def _initial_params(model, seed: int, input_shape: Tuple[int, ...]):
    """``l2lab.models.init(model, seed_keys(seed)[0], (1,) + input_shape)``, memoised (its jit
    compiles anew on every call, seconds for a conv net on a busy CPU)."""
    return _models.init(model, _train.seed_keys(seed)[0], (1,) + input_shape)


@functools.lru_cache(maxsize=32)
def _track_program(model, loss: str, optimizer: str, momentum: float, lam_kind: str,
                   steps: int, eval_every: int, batch_size: Optional[int], n_train: int):
    """One compiled program per static setting; eta, lam, E and the data are arguments."""
    apply_fn = _apply_fn(model)
    loss_fn = {"xent": _train.xent_loss, "mse": _train.mse_loss}[loss]
    full = batch_size is None or batch_size >= n_train
    per_epoch = 1 if full else n_train // batch_size

    def evaluate(p, x, y):
        logits = apply_fn(p, x)
        acc = jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(y, -1))
        return loss_fn(logits, y), acc

    def norms(p):
        return {k: jnp.linalg.norm(jnp.ravel(v)) for k, v in kernel_leaves(p).items()}

    def run(params, eta, lam, until, key, xtr, ytr, xte, yte):
        tx = _train.make_optimizer(eta, lam, momentum, optimizer)
        opt_state = tx.init(params)

        def batch(t):
            if full:
                return xtr, ytr
            perm = jax.random.permutation(jax.random.fold_in(key, t // per_epoch), n_train)
            idx = jax.lax.dynamic_slice_in_dim(perm, (t % per_epoch) * batch_size, batch_size)
            return xtr[idx], ytr[idx]

        def body(carry, t):
            p, s = carry
            xb, yb = batch(t)
            lv, g = jax.value_and_grad(lambda q: loss_fn(apply_fn(q, xb), yb))(p)
            lam_t = lam if lam_kind == "constant" else jnp.where(t < until, lam, 0.0 * lam)
            hp = dict(s.hyperparams)
            hp["weight_decay"] = lam_t
            s = s._replace(hyperparams=hp)
            upd, s2 = tx.update(g, s, p)
            p2 = optax.apply_updates(p, upd)
            kw, kw2, kg = kernel_leaves(p), kernel_leaves(p2), kernel_leaves(g)
            rec = dict(
                norm={k: jnp.linalg.norm(jnp.ravel(v)) for k, v in kw.items()},
                angle={k: angle(kw[k], kw2[k]) for k in kw},
                gnorm={k: jnp.linalg.norm(jnp.ravel(kw[k])) * jnp.linalg.norm(jnp.ravel(kg[k]))
                       for k in kw},
                loss=lv, lam=lam_t)
            do_eval = ((t + 1) % eval_every == 0) | (t + 1 == steps)
            nan = jnp.float32(jnp.nan)
            ev = jax.lax.cond(do_eval, lambda q: (*evaluate(q, xte, yte), evaluate(q, xtr, ytr)[1]),
                              lambda q: (nan, nan, nan), p2)
            rec["eval"] = ev
            return (p2, s2), rec

        (pT, _), recs = jax.lax.scan(body, (params, opt_state), jnp.arange(steps))
        ev0 = (*evaluate(params, xte, yte), evaluate(params, xtr, ytr)[1])
        return pT, norms(pT), recs, ev0

    return jax.jit(run)


def track(arch_or_model, *, eta: float, lam: float, steps: int, optimizer: str = "sgd",
          momentum: float = 0.0, lam_schedule: str = "constant", train=None, test=None,
          seed: int = 0, eval_every: Optional[int] = None, model_kwargs: Optional[dict] = None,
          params: Optional[Params] = None, loss: str = "xent",
          batch_size: Optional[int] = None) -> Trace:
    """Train one configuration for ``steps`` updates inside ``lax.scan``, recording EVERY step.

    This signature is stable (``l2lab.scale_invariance.track`` is also used by the chapter
    "Decoupled and early weight decay"): keyword arguments may be added, never renamed.

    The update is exactly the engine's (:func:`l2lab.train.make_optimizer`): ``"sgd"`` (with
    optional heavy-ball ``momentum``) and ``"adam"`` with coupled L2 (the ``lam theta`` gradient
    goes through the optimizer), ``"adamw"`` with decoupled decay. ``lam_schedule``:
    ``"constant"`` or ``"early:E"`` (lam for updates ``0..E-1``, then 0). L2 acts on every
    parameter, as in the paper. Per kernel it records ``||w_t||``, ``eta / ||w_t||^2``, the
    angle between ``w_t`` and ``w_{t+1}`` and ``||w_t|| ||dL/dw||`` (see :class:`Trace`).

    Args:
      arch_or_model: ``"fc" | "cnn" | "cnn_bn" | "wrn"`` (``l2lab.models.make_model`` with
        ``model_kwargs``) or a flax module.
      eta (> 0), lam (>= 0), steps (>= 1): learning rate, L2 coefficient, number of updates.
      train, test: ``(x (N, ...), y)`` pairs (or datasets with ``x``, ``y``); y int labels
        (N,) or one-hot (N, K). Full-batch training unless ``batch_size`` (minibatches of a
        fresh permutation every epoch, as the engine).
      seed: initial parameters ``l2lab.models.init`` with ``l2lab.train.seed_keys(seed)[0]``
        (the engine's and the sweeps' weights) unless ``params`` is given; the minibatch key is
        ``seed_keys(seed)[1]``.
      eval_every: test (and training-set) accuracy every this many updates (default
        ``max(1, steps // 32)``) and after the last.
      loss: ``"xent"`` or ``"mse"`` (SM A normalisation).
    Returns:
      :class:`Trace` (numpy). Compiles once per static setting (model, optimizer, schedule kind,
      steps, eval_every, batch size); eta, lam and E are traced.
    """
    if train is None or test is None:
        raise _checks.bad_value("train" if train is None else "test", "is required: a pair (x, y)")
    steps = _checks.positive_int("steps", steps)
    cfg = _train.TrainConfig(eta=eta, lam=lam, steps=steps, momentum=momentum, loss=loss,
                             seed=seed, lam_schedule=lam_schedule, optimizer=optimizer,
                             batch_size=1 if batch_size is None else batch_size)
    cfg.validate()
    kind, until = _train.parse_lam_schedule(lam_schedule, steps)
    if kind == "autol2":
        raise _checks.bad_value("lam_schedule", "must be 'constant' or 'early:E' here")
    eval_every = max(1, steps // 32) if eval_every is None else _checks.positive_int("eval_every", eval_every)
    xtr, ytr = _xy("train", train)
    xte, yte = _xy("test", test)
    if xte.shape[1:] != xtr.shape[1:]:
        raise _checks.bad_value("test", f"x must have the training inputs' shape {xtr.shape[1:]}, "
                                        f"got {xte.shape[1:]}")
    num_classes = _num_classes(ytr, yte)
    model = _model_of(arch_or_model, model_kwargs, num_classes)
    k_init, k_data = _train.seed_keys(seed)
    if params is None:
        params = _initial_params(model, int(seed), tuple(int(d) for d in xtr.shape[1:]))
    params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), params)
    if not _train.kernel_paths(params):
        raise _checks.bad_value("arch_or_model", "has no Dense/Conv kernel to track")
    k = jax.eval_shape(_apply_fn(model), params, xtr[:2]).shape[-1]
    ytr1, yte1 = _onehot("train", ytr, k), _onehot("test", yte, k)
    n = int(xtr.shape[0])
    if batch_size is not None:
        batch_size = _checks.positive_int("batch_size", batch_size)
        if batch_size >= n:
            batch_size = None
    prog = _track_program(model, loss, optimizer, float(momentum), kind, steps, eval_every,
                          batch_size, n)
    pT, normT, recs, ev0 = prog(params, jnp.float32(eta), jnp.float32(lam),
                                jnp.int32(until or 0), k_data, xtr, ytr1, xte, yte1)
    recs, normT, ev0, pT = jax.device_get((recs, normT, ev0, pT))
    f64 = lambda a: np.asarray(a, np.float64)
    kn = {p: np.append(f64(recs["norm"][p]), float(normT[p])) for p in recs["norm"]}
    te_l, te_a, tr_a = (f64(a) for a in recs["eval"])
    ar = np.arange(steps) + 1
    idx = np.nonzero((ar % eval_every == 0) | (ar == steps))[0]
    return Trace(
        steps=np.arange(steps + 1, dtype=np.int64),
        kernel_norm=kn,
        effective_lr={p: float(eta) / v ** 2 for p, v in kn.items()},
        angular_update={p: f64(v) for p, v in recs["angle"].items()},
        grad_norm={p: f64(v) for p, v in recs["gnorm"].items()},
        train_loss=f64(recs["loss"]),
        lam=f64(recs["lam"]),
        eval_steps=np.concatenate([[0], idx + 1]).astype(np.int64),
        test_accuracy=np.concatenate([[ev0[1]], te_a[idx]]),
        test_loss=np.concatenate([[ev0[0]], te_l[idx]]),
        train_accuracy=np.concatenate([[ev0[2]], tr_a[idx]]),
        final_params=pT,
        config=dict(eta=float(eta), lam=float(lam), steps=steps, optimizer=optimizer,
                    momentum=float(momentum), lam_schedule=lam_schedule, seed=int(seed),
                    eval_every=eval_every, loss=loss, batch_size=batch_size),
    )


# ----------------------------------------------------------------------------- Li & Arora

class _Normalize(nn.Module):
    """Batch normalization without affine parameters: ``(x - mean_B) / sqrt(var_B + eps)``,
    statistics over every axis but the last of the current input (training and evaluation)."""

    epsilon: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon)


class ScaleInvariantNet(nn.Module):
    """A network whose loss is invariant to scaling each trained kernel separately.

    ``[Conv3x3_SAME(c, no bias) -> Norm -> ReLU -> MaxPool 2x2/2] for c in channels -> Flatten
    -> [Dense(w, no bias) -> Norm -> ReLU] for w in widths -> fixed readout``, where ``Norm`` is
    batch norm without scale or offset (batch statistics in training and evaluation alike,
    ``epsilon`` default 0: exact invariance) and the readout is the constant matrix
    ``readout_scale * R / sqrt(h)``, ``R ~ N(0, 1)`` of shape ``(h, num_classes)`` drawn from
    ``PRNGKey(readout_seed)`` (not a parameter: never trained, no L2). The only parameters are
    the kernels (LeCun-normal with ``sigma_w``), so the whole loss is scale invariant.
    Input ``(N, H, W, C)`` (or ``(N, D)`` with ``channels=()``); output ``(N, num_classes)``.
    """

    channels: Sequence[int] = (8,)
    widths: Sequence[int] = (32,)
    num_classes: int = 10
    readout_scale: float = 4.0
    readout_seed: int = 0
    epsilon: float = 0.0
    sigma_w: float = math.sqrt(2.0)
    conv_gradient: str = "auto"

    def __post_init__(self) -> None:
        for name in ("channels", "widths"):
            v = getattr(self, name)
            if not isinstance(v, (tuple, list)):
                raise _checks.bad_type(name, f"must be a tuple of ints, got {v!r}")
            for e in v:
                _checks.positive_int(name, e)
        if not self.channels and not self.widths:
            raise _checks.bad_value("widths", "channels and widths cannot both be empty")
        _checks.positive_int("num_classes", self.num_classes)
        _checks.positive_float("readout_scale", self.readout_scale)
        _checks.nonneg_int("readout_seed", self.readout_seed)
        _checks.nonneg_float("epsilon", self.epsilon)
        _checks.positive_float("sigma_w", self.sigma_w)
        _conv.resolve_conv_gradient(self.conv_gradient)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        init = _models.lecun_normal(self.sigma_w)
        ckw = {}
        if _conv.resolve_conv_gradient(self.conv_gradient) == "canonical":
            ckw = {"conv_general_dilated": _conv.conv_general_dilated}
        if self.channels and x.ndim != 4:
            raise ValueError(f"ScaleInvariantNet with channels expects (N, H, W, C), got {x.shape}")
        for c in self.channels:
            x = nn.Conv(int(c), (3, 3), padding="SAME", use_bias=False, kernel_init=init, **ckw)(x)
            x = nn.relu(_Normalize(self.epsilon)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
        x = x.reshape((x.shape[0], -1))
        for w in self.widths:
            x = nn.Dense(int(w), use_bias=False, kernel_init=init)(x)
            x = nn.relu(_Normalize(self.epsilon)(x))
        h = x.shape[-1]
        r = jax.random.normal(jax.random.PRNGKey(self.readout_seed), (h, self.num_classes), jnp.float32)
        return x @ (r * (self.readout_scale / math.sqrt(h))).astype(x.dtype)


class EquivalentRuns(NamedTuple):
    """SGD with L2 and its exponential-learning-rate twin (:func:`equivalent_runs`).

    steps: int64 (M,) recorded update counts (0, record_every, ..., T). logits_l2, logits_exp:
    float64 (M, N, K) test-set logits of the run with L2 (``w_t``) and of the run without L2 at
    learning rate :func:`exponential_lr` (``u_t``). scale: (M,) ``a_t = (1 - eta lam)^t``.
    weight_gap: (M,) ``max_kernel ||w_t - a_t u_t|| / ||w_t||``. train_loss_l2, train_loss_exp:
    (T,) data loss before each update. lr_exp: (T,) learning rate of each update of the twin.
    kernel_norm_l2, kernel_norm_exp: ``{path: (M,)}``, ``||w_t||`` and ``||u_t||``.
    """

    steps: np.ndarray
    logits_l2: np.ndarray
    logits_exp: np.ndarray
    scale: np.ndarray
    weight_gap: np.ndarray
    train_loss_l2: np.ndarray
    train_loss_exp: np.ndarray
    lr_exp: np.ndarray
    kernel_norm_l2: Dict[str, np.ndarray]
    kernel_norm_exp: Dict[str, np.ndarray]


def _check_fully_scale_invariant(model, params, x) -> None:
    """ValueError unless every parameter is a kernel and the output ignores each one's scale."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    kernels = kernel_leaves(params)
    if len(kernels) != len(leaves):
        others = sorted(set(_path_str(p) for p, _ in leaves) - set(kernels))
        raise _checks.bad_value("model", f"must have kernels as its only parameters (a fully "
                                         f"scale-invariant network), also has {others[:3]}")
    apply_fn = _apply_fn(model)
    scaled = params
    for i, path in enumerate(kernels):
        scaled = _replace_leaf(scaled, path, lambda v, c=2.0 + i: v * c)
    a, b = jax.jit(lambda p, q: (apply_fn(p, x), apply_fn(q, x)))(params, scaled)
    err = float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-30))
    if not err < 1e-4:
        raise _checks.bad_value("model", f"is not scale invariant: scaling its kernels changes the "
                                         f"output by {err:.2g} (relative)")


@functools.lru_cache(maxsize=8)
def _pair_program(model, loss: str, steps: int, record_every: int):
    apply_fn = _apply_fn(model)
    loss_fn = {"xent": _train.xent_loss, "mse": _train.mse_loss}[loss]

    def run(params, eta, lam, xtr, ytr, xte):
        tx_l2 = _train.make_optimizer(eta, lam, 0.0, "sgd")
        tx_0 = _train.make_optimizer(eta, 0.0 * lam, 0.0, "sgd")
        log_q = jnp.log1p(-eta * lam)

        def rec(w, u, t):
            a = jnp.exp(t.astype(log_q.dtype) * log_q)
            kw, ku = kernel_leaves(w), kernel_leaves(u)
            gap = jnp.max(jnp.stack([jnp.linalg.norm(jnp.ravel(kw[k] - a * ku[k]))
                                     / jnp.linalg.norm(jnp.ravel(kw[k])) for k in kw]))
            return dict(lw=apply_fn(w, xte), lu=apply_fn(u, xte), a=a, gap=gap,
                        nw={k: jnp.linalg.norm(jnp.ravel(v)) for k, v in kw.items()},
                        nu={k: jnp.linalg.norm(jnp.ravel(v)) for k, v in ku.items()})

        def body(carry, t):
            w, sw, u, su = carry
            f = lambda p: loss_fn(apply_fn(p, xtr), ytr)
            lw, gw = jax.value_and_grad(f)(w)
            lu, gu = jax.value_and_grad(f)(u)
            upd, sw = tx_l2.update(gw, sw, w)
            w = optax.apply_updates(w, upd)
            hp = dict(su.hyperparams)
            hp["learning_rate"] = eta * jnp.exp(-(2.0 * t.astype(log_q.dtype) + 1.0) * log_q)
            upd, su = tx_0.update(gu, su._replace(hyperparams=hp), u)
            u = optax.apply_updates(u, upd)
            return (w, sw, u, su), (lw, lu, hp["learning_rate"])

        def chunk(carry, i):
            carry, out = jax.lax.scan(body, carry, i * record_every + jnp.arange(record_every))
            return carry, (out, rec(carry[0], carry[2], (i + 1) * record_every))

        carry = (params, tx_l2.init(params), params, tx_0.init(params))
        _, (outs, recs) = jax.lax.scan(chunk, carry, jnp.arange(steps // record_every))
        return rec(params, params, jnp.int32(0)), outs, recs

    return jax.jit(run)


def equivalent_runs(model, params: Params, train, test, *, eta: float, lam: float, steps: int,
                    record_every: Optional[int] = None, loss: str = "xent",
                    dtype: str = "float32") -> EquivalentRuns:
    """Run full-batch SGD with L2 (``w``) and SGD without L2 at the learning rate
    :func:`exponential_lr` (``u``) from the same initial parameters, side by side.

    For a fully scale-invariant network (:class:`ScaleInvariantNet`; checked: every parameter
    must be a kernel and the output must not change when each kernel is scaled) the two runs
    are the same function at every step, ``w_t = (1 - eta lam)^t u_t``, up to float32 rounding.

    Args:
      model, params: the network and its initial parameters.
      train, test: ``(x (N, ...), y)`` pairs (y int labels or one-hot); the logits are recorded
        on the test inputs (batch statistics of the whole test set).
      eta (> 0), lam (>= 0, ``eta lam < 1``), steps (>= 1): as in :func:`exponential_lr`.
      record_every: record every this many updates (must divide ``steps``; default
        ``steps // 16`` if that divides, else 1).
      dtype: ``"float32"`` or ``"float64"`` (both runs in double precision, inside
        ``jax.enable_x64``; the network's readout constant stays float32, cast up).
    Returns:
      :class:`EquivalentRuns` (numpy, float64).
    """
    steps = _checks.positive_int("steps", steps)
    _eta_lam(_checks.positive_float("eta", eta), _checks.nonneg_float("lam", lam))
    _checks.one_of("loss", loss, _train.LOSSES)
    if record_every is None:
        record_every = max(1, steps // 16)
        if steps % record_every:
            record_every = 1
    record_every = _checks.positive_int("record_every", record_every)
    if steps % record_every:
        raise _checks.bad_value("record_every", f"must divide steps={steps}, got {record_every}")
    _checks.one_of("dtype", dtype, ("float32", "float64"))
    if dtype == "float64":
        with jax.enable_x64(True):
            return _equivalent_runs(model, params, train, test, eta, lam, steps, record_every,
                                    loss, jnp.float64)
    return _equivalent_runs(model, params, train, test, eta, lam, steps, record_every, loss,
                            jnp.float32)


def _equivalent_runs(model, params, train, test, eta, lam, steps, record_every, loss, dt):
    xtr, ytr = _xy("train", train)
    xte, yte = _xy("test", test)
    xtr, xte = xtr.astype(dt), xte.astype(dt)
    params = jax.tree.map(lambda v: jnp.asarray(v, dt), params)
    apply_fn = _apply_fn(model)
    k = jax.eval_shape(apply_fn, params, xtr[:2]).shape[-1]
    ytr1 = _onehot("train", ytr, k).astype(dt)
    _onehot("test", yte, k)
    _check_fully_scale_invariant(model, params, xtr)
    prog = _pair_program(model, loss, steps, record_every)
    r0, (lw, lu, lr), recs = jax.device_get(prog(params, jnp.asarray(eta, dt), jnp.asarray(lam, dt),
                                                 xtr, ytr1, xte))
    cat = lambda key: np.concatenate([np.asarray(r0[key], np.float64)[None],
                                      np.asarray(recs[key], np.float64)])
    f64 = lambda a: np.asarray(a, np.float64).reshape(-1)
    return EquivalentRuns(
        steps=np.arange(0, steps + 1, record_every, dtype=np.int64),
        logits_l2=cat("lw"), logits_exp=cat("lu"), scale=cat("a"), weight_gap=cat("gap"),
        train_loss_l2=f64(lw), train_loss_exp=f64(lu), lr_exp=f64(lr),
        kernel_norm_l2={p: np.concatenate([[float(r0["nw"][p])], f64(recs["nw"][p])]) for p in r0["nw"]},
        kernel_norm_exp={p: np.concatenate([[float(r0["nu"][p])], f64(recs["nu"][p])]) for p in r0["nu"]},
    )


# ----------------------------------------------------------------------------- data

# ----------------------------------------------------------------------------- late-time summary

def late_values(trace: "Trace", paths: Sequence[str], field: str = "angular_update",
                frac: float = 0.3) -> Dict[str, float]:
    """Per kernel path: the mean angular update over the last ``frac`` of the steps
    (``field="angular_update"``), or the ratio ``||w_T|| / ||w_{t0}||`` of the kernel norm over
    them (``field="kernel_norm"``; 1 means the norm has settled)."""
    _checks.one_of("field", field, ("angular_update", "kernel_norm"))
    frac = _checks.real("frac", frac, minimum=0.0)
    if not 0 < frac <= 1:
        raise ValueError(f"frac must be in (0, 1], got {frac}")
    missing = [p for p in paths if p not in trace.kernel_norm]
    if missing:
        raise ValueError(f"paths not in the trace: {missing}")
    n = max(1, int(frac * len(trace.train_loss)))
    if field == "angular_update":
        return {p: float(np.mean(trace.angular_update[p][-n:])) for p in paths}
    return {p: float(trace.kernel_norm[p][-1] / trace.kernel_norm[p][-n]) for p in paths}


def describe_late(label: str, trace: "Trace", paths: Sequence[str], *,
                  equilibrium: Optional[float] = None, chance: float = 0.15,
                  frac: float = 0.3) -> Tuple[Optional[Dict[str, float]], str]:
    """``(late angles per path, text)`` for a chapter's table; ``(None, text)`` when the run's
    final test accuracy is below ``chance`` (it did not train: its angles mean nothing).
    With ``equilibrium`` the text also gives each angle over it."""
    _checks.string("label", label)
    acc = float(trace.test_accuracy[-1])
    if acc < chance:
        return None, (f"{label}: test accuracy {acc:.3f} is at chance: the run did not train; "
                      "its angles are not interpreted")
    a = late_values(trace, paths, "angular_update", frac)
    d = late_values(trace, paths, "kernel_norm", frac)
    text = (f"{label:18s} test acc {acc:.3f} | late mean angle: "
            + ", ".join(f"{p.split('/')[0]} {v:.4f}" for p, v in a.items())
            + "\n" + " " * 19 + "norm change over the late steps: "
            + ", ".join(f"{v:.2f}x" for v in d.values()))
    if equilibrium is not None:
        text += " | angle / arccos(1-ηλ): " + ", ".join(f"{v / equilibrium:.2f}" for v in a.values())
    return a, text
