"""The per-step tracker: one training run inside ``lax.scan`` with EVERY step recorded.

:func:`track` trains one configuration (full batch, or the engine's minibatches) and records,
per kernel, ``||w_t||``, the effective learning rate ``eta / ||w_t||^2``, the angle between
``w_t`` and ``w_{t+1}`` and the scale-invariant gradient norm ``||w_t|| ||dL/dw||`` (a
:class:`Trace`); :func:`late_values` and :func:`describe_late` summarise its late steps. Used by
the chapters "Batch normalization" (:mod:`l2lab.studies.scale_invariance`, which re-exports
these names) and "Decoupled and early weight decay".

Every update is the engine's own (:meth:`l2lab.engine.Engine.step_with_grads`: its batching,
lam schedules, optimizers and divergence rule), so a trace follows the same run as a sweep.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks
from l2lab import engine as _train
from l2lab.data.dataset import Dataset
from l2lab.engine import models as _models
from l2lab.engine.core import Engine
from l2lab.engine.settings import EngineSettings
from l2lab.studies.scale_invariance import angle, kernel_leaves, model_apply

__all__ = ["Trace", "track", "late_values", "describe_late"]

Params = Any


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
def _track_program(model, settings: EngineSettings, steps: int, eval_every: int, n_train: int,
                   n_test: int, x_shape: Tuple[int, ...], num_classes: int):
    """One compiled program per static setting: the engine's own steps (its batching, lam
    schedule, optimizer and divergence rule, :meth:`l2lab.engine.Engine.step_with_grads`) inside
    ``lax.scan``, recording every step; eta, lam and the data are arguments."""
    shaped = lambda n: Dataset(np.zeros((n,) + x_shape, np.float32), np.zeros((n,), np.int32), "shape",
                               num_classes)
    engine = Engine(model_apply(model), shaped(n_train), shaped(n_test), settings)

    def evaluation(state, data):
        m = engine.measure(state, data)
        return m.test_loss, m.test_accuracy, 1.0 - m.train_error

    def norms(p):
        return {k: jnp.linalg.norm(jnp.ravel(v)) for k, v in kernel_leaves(p).items()}

    def run(params, eta, lam, key, data):
        state0 = engine.init_state(params, eta, lam, steps, key)

        def body(state, t):
            new, loss, grads = engine.step_with_grads(state, data)
            kw, kw2, kg = kernel_leaves(state.params), kernel_leaves(new.params), kernel_leaves(grads)
            rec = dict(
                norm=norms(state.params),
                angle={k: angle(kw[k], kw2[k]) for k in kw},
                gnorm={k: jnp.linalg.norm(jnp.ravel(kw[k])) * jnp.linalg.norm(jnp.ravel(kg[k]))
                       for k in kw},
                loss=loss, lam=engine.lam(new))
            do_eval = ((t + 1) % eval_every == 0) | (t + 1 == steps)
            nan = jnp.float32(jnp.nan)
            rec["eval"] = jax.lax.cond(do_eval, lambda s: evaluation(s, data), lambda s: (nan, nan, nan), new)
            return new, rec

        final, recs = jax.lax.scan(body, state0, jnp.arange(steps))
        return final.params, norms(final.params), recs, evaluation(state0, data)

    return jax.jit(run)


def track(arch_or_model, *, eta: float, lam: float, steps: int, optimizer: str = "sgd",
          momentum: float = 0.0, lam_schedule: str = "constant", train=None, test=None,
          seed: int = 0, eval_every: Optional[int] = None, model_kwargs: Optional[dict] = None,
          params: Optional[Params] = None, loss: str = "xent",
          batch_size: Optional[int] = None) -> Trace:
    """Train one configuration for ``steps`` updates inside ``lax.scan``, recording EVERY step.

    This signature is stable (``l2lab.studies.tracker.track`` is also used by the chapter
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
    xtr, ytr = _checks.xy_pair("train", train)
    xte, yte = _checks.xy_pair("test", test)
    xtr, xte = jnp.asarray(xtr), jnp.asarray(xte)
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
    k = jax.eval_shape(model_apply(model), params, xtr[:2]).shape[-1]
    ytr1 = jnp.asarray(_checks.onehot_labels("train", ytr, k))
    yte1 = jnp.asarray(_checks.onehot_labels("test", yte, k))
    n = int(xtr.shape[0])
    if batch_size is not None:
        batch_size = _checks.positive_int("batch_size", batch_size)
        if batch_size >= n:
            batch_size = None
    settings = EngineSettings(batch_size=n if batch_size is None else batch_size, loss=loss,
                              momentum=momentum, lam_schedule=lam_schedule, optimizer=optimizer)
    prog = _track_program(model, settings, steps, eval_every, n, int(xte.shape[0]),
                          tuple(int(d) for d in xtr.shape[1:]), int(k))
    data = (xtr.astype(jnp.float32), ytr1, xte.astype(jnp.float32), yte1)
    pT, normT, recs, ev0 = prog(params, jnp.float32(eta), jnp.float32(lam), k_data, data)
    config = dict(eta=float(eta), lam=float(lam), steps=steps, optimizer=optimizer,
                  momentum=float(momentum), lam_schedule=lam_schedule, seed=int(seed),
                  eval_every=eval_every, loss=loss, batch_size=batch_size)
    return _trace_of(jax.device_get((pT, normT, recs, ev0)), float(eta), steps, eval_every, config)


def _trace_of(outputs, eta: float, steps: int, eval_every: int, config: dict) -> Trace:
    """:class:`Trace` from the outputs ``(pT, normT, recs, ev0)`` of a tracking program."""
    pT, normT, recs, ev0 = outputs
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
        config=config,
    )


# ----------------------------------------------------------------------------- late-time summary

def late_values(trace: "Trace", paths: Sequence[str], field: str = "angular_update",
                frac: float = 0.3) -> Dict[str, float]:
    """Per kernel path, over the last ``n = max(1, int(frac T))`` of the T updates: the mean
    angular update (``field="angular_update"``: updates ``T-n .. T-1``), or the ratio
    ``||w_T|| / ||w_{T-n}||`` of the kernel norm across the same updates
    (``field="kernel_norm"``; 1 means the norm has settled)."""
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
    return {p: float(trace.kernel_norm[p][-1] / trace.kernel_norm[p][-(n + 1)]) for p in paths}


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
