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
    ScaleInvariantNet                          BN without affine after every kernel, fixed readout
    equivalent_runs(model, params, train, test, *, eta, lam, steps) -> EquivalentRuns

The per-step tracker of one training run lives in :mod:`l2lab.studies.tracker` and is
re-exported here (``track``, ``Trace``, ``late_values``, ``describe_late``), as the old
``l2lab.studies.scale_invariance`` had them::

    track(arch_or_model, *, eta, lam, steps, ...) -> Trace     every step of one run

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

from l2lab import _checks
from l2lab import models as _models
from l2lab import train as _train
from l2lab.engine import conv as _conv

__all__ = [
    "equilibrium_angular_step", "exponential_lr", "loss_under_kernel_scaling", "kernel_leaves",
    "scale_kernels",
    "angle", "Trace", "track", "ScaleInvariantNet", "EquivalentRuns", "equivalent_runs",
    "late_values", "describe_late", "invariant_kernels", "equivalence_verdict", "rotation_verdict",
]

#: Names that live in :mod:`l2lab.studies.tracker` (imported on first use: the tracker imports
#: this module).
_TRACKER = ("Trace", "track", "late_values", "describe_late")

Params = Any


# ----------------------------------------------------------------------------- closed forms

def _eta_lam(eta, lam) -> Tuple[np.ndarray, np.ndarray]:
    eta = np.asarray(_checks.real_array("eta", eta), np.float64)
    lam = np.asarray(_checks.real_array("lam", lam), np.float64)
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
    t = _checks.real_array("t", t)
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


def model_apply(model):
    """``(params, x) -> model.apply({"params": params}, x)``; TypeError unless ``model`` is a flax
    module (anything with ``apply``)."""
    if not hasattr(model, "apply"):
        raise _checks.bad_type("model", f"must be a flax module, got {type(model).__name__}")
    return lambda p, x: model.apply({"params": p}, x)


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
    apply_fn = model_apply(model)
    _checks.one_of("loss", loss, _train.LOSSES)
    paths = _train.kernel_paths(params)
    many = not isinstance(path, str)
    chosen = list(path) if many else [path]
    if not chosen:
        raise _checks.bad_value("path", "must name at least one kernel")
    for q in chosen:
        _checks.one_of("path", q, paths)
    factors = _checks.real_array("factors", factors)
    if factors.ndim != 1 or factors.size == 0 or np.any(factors <= 0):
        raise _checks.bad_value("factors", f"must be a non-empty 1-D array of numbers > 0, got {factors!r}")
    x, y = _checks.xy_pair("x", (x, y))
    x = jnp.asarray(x)
    k = jax.eval_shape(apply_fn, params, x[:2]).shape[-1]
    y1 = jnp.asarray(_checks.onehot_labels("y", y, k))
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
        ckw = _models.conv_kwargs(self.conv_gradient)
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
    apply_fn = model_apply(model)
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
    apply_fn = model_apply(model)
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
    xtr, ytr = _checks.xy_pair("train", train)
    xte, yte = _checks.xy_pair("test", test)
    xtr, xte = jnp.asarray(xtr, dt), jnp.asarray(xte, dt)
    params = jax.tree.map(lambda v: jnp.asarray(v, dt), params)
    apply_fn = model_apply(model)
    k = jax.eval_shape(apply_fn, params, xtr[:2]).shape[-1]
    ytr1 = jnp.asarray(_checks.onehot_labels("train", ytr, k), dt)
    _checks.onehot_labels("test", yte, k)
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


# ----------------------------------------------------------------------------- verdicts

def invariant_kernels(paths: Sequence[str], losses, rtol: float = 1e-4) -> list:
    """The kernels of ``paths`` whose loss does not move when they are scaled by ``c >= 0.5``:
    ``losses`` is :func:`loss_under_kernel_scaling`'s (P, F) array for factors whose second
    entry is 0.5 and third 1 (as ``(0.1, 0.5, 1, 2, 10)``: below 0.5 batch norm's epsilon may
    show), and a kernel counts if its spread over ``factors[1:]`` is below ``rtol`` times the
    unscaled loss."""
    losses = np.asarray(_checks.real_array("losses", losses), np.float64)
    if isinstance(paths, str) or losses.ndim != 2 or losses.shape[0] != len(paths) or losses.shape[1] < 3:
        raise _checks.bad_value("losses", f"must be (P, F >= 3) for {len(paths)} paths, got {losses.shape}")
    rtol = _checks.positive_float("rtol", rtol)
    return [p for p, row in zip(paths, losses) if np.ptp(row[1:]) < rtol * row[2]]


def equivalence_verdict(relative_gap: float, tol: float = 1e-10) -> str:
    """Li & Arora (the paper's k = 0, Sec. 4): SGD with L2 on a fully scale-invariant network
    computes the same function as SGD without L2 at ``eta_t = eta (1 - eta lam)^(-2t-1)``.

    Criterion: ``relative_gap``, the largest difference of the two runs' test logits over the
    run relative to the largest logit, computed in float64 (:func:`equivalent_runs`), is below
    ``tol`` (default 1e-10: rounding, far below any training effect): **reproduced**; else
    **contradicted**."""
    gap = _checks.real("relative_gap", relative_gap, minimum=0.0)
    tol = _checks.positive_float("tol", tol)
    return "reproduced" if gap < tol else "contradicted"


def rotation_verdict(ratios, late_over_equilibrium, *, ratio_tol: float = 1.25,
                     equilibrium_tol: float = 0.8) -> str:
    """van Laarhoven (2017): with batch norm, L2 only sets the effective learning rate; at
    equilibrium a normalized kernel turns by ``arccos(1 - eta lam)`` per step, so runs with the
    same ``eta lam`` rotate alike.

    Args:
      ratios: (P,) late mean angular update of the ``(4 eta, lam / 4)`` run over the
        ``(eta, lam)`` run's, per normalized kernel.
      late_over_equilibrium: (Q,) late mean angular updates over ``arccos(1 - eta lam)``
        (every kernel of both runs).
    Criterion: the runs rotate alike when every ratio is within ``[1/ratio_tol, ratio_tol]``;
    they are at equilibrium when every late angle is at least ``equilibrium_tol`` of it.
    **reproduced**: alike and at equilibrium; **partly**: alike, not yet at equilibrium;
    **contradicted**: at equilibrium but not alike; **not at this scale**: neither.
    """
    r = _checks.curve("ratios", ratios)
    q = _checks.curve("late_over_equilibrium", late_over_equilibrium)
    ratio_tol = _checks.real("ratio_tol", ratio_tol, minimum=1.0)
    equilibrium_tol = _checks.positive_float("equilibrium_tol", equilibrium_tol)
    alike = bool(np.all((r >= 1 / ratio_tol) & (r <= ratio_tol)))
    at_eq = bool(np.all(q >= equilibrium_tol))
    return {(True, True): "reproduced", (True, False): "partly",
            (False, True): "contradicted", (False, False): "not at this scale"}[(alike, at_eq)]


# ----------------------------------------------------------------------------- the tracker

def __getattr__(name: str):
    if name in _TRACKER:
        from l2lab.studies import tracker
        return getattr(tracker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TRACKER))
