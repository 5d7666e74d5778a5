"""Optimizers of the paper's objective, and the learning-rate schedule.

``"sgd"``: ``theta <- theta - eta * (grad L_data + lam * theta)``, realised as
``optax.add_decayed_weights(lam)`` then ``optax.sgd(eta, momentum)`` (coupled: the decay term is
added before momentum). ``"adam"``: Adam on the same objective (the L2 gradient goes through
Adam's moments). ``"adamw"``: decoupled weight decay (Loshchilov & Hutter), as ``optax.adamw``.
Both ``eta`` and ``lam`` are ``optax.inject_hyperparams`` values, so they can be traced, changed
between steps and vmapped over. AutoL2 (:mod:`l2lab.engine.autol2`) replaces the fixed lam with
its controller (sgd or adam only: it schedules a coupled term).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from l2lab import _checks
from l2lab.engine import autol2 as _autol2
from l2lab.engine.settings import SCHEDULES, check_optimizer

__all__ = ["make_optimizer", "make_autol2_optimizer", "lr_factor"]


def _sgd_l2(learning_rate, weight_decay, momentum):
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(learning_rate, momentum=(momentum if momentum else None)),
    )


def _adam_l2(learning_rate, weight_decay):
    """Adam on ``L_data + lam/2 |theta|^2``: the L2 gradient goes through Adam's normalisation."""
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.scale_by_adam(), optax.scale(-learning_rate))


def _adamw(learning_rate, weight_decay):
    """AdamW (decoupled): ``theta -= lr * (adam_direction + lam * theta)``, as ``optax.adamw``."""
    return optax.chain(optax.scale_by_adam(), optax.add_decayed_weights(weight_decay), optax.scale(-learning_rate))


def make_optimizer(eta: float, lam: float, momentum: float = 0.0,
                   optimizer: str = "sgd") -> optax.GradientTransformation:
    """The optimizer of ``L_data + lam/2 |theta|^2`` (see the module docstring).

    ``"sgd"``: SGD (+ optional heavy-ball ``momentum``) with coupled L2. ``"adam"``: Adam (optax's
    b1=0.9, b2=0.999, eps=1e-8) on the gradient including ``lam * theta`` (coupled). ``"adamw"``:
    Adam on the data gradient plus decoupled decay ``lam * theta`` (scaled by ``eta``, as
    ``optax.adamw``). ``eta`` and ``lam`` are injected hyperparameters
    (``state.hyperparams["learning_rate"]`` and ``["weight_decay"]``), so they may be traced and
    changed between steps; ``momentum`` is static and must be 0 for Adam.
    """
    optimizer, momentum = check_optimizer(optimizer, momentum)
    if optimizer == "sgd":
        return optax.inject_hyperparams(_sgd_l2, static_args=("momentum",))(
            learning_rate=eta, weight_decay=lam, momentum=float(momentum))
    inner = _adam_l2 if optimizer == "adam" else _adamw
    return optax.inject_hyperparams(inner)(learning_rate=eta, weight_decay=lam)


def make_autol2_optimizer(eta: float, momentum: float = 0.0,
                          optimizer: str = "sgd") -> optax.GradientTransformation:
    """``optax.chain(autol2.add_l2(), optax.sgd(eta, momentum))`` (``optimizer="sgd"``) or
    ``optax.chain(autol2.add_l2(), optax.scale_by_adam(), optax.scale(-eta))`` (``"adam"``) with
    SM E's defaults (start at lam 0.1, factor 10, refractory 0.1; set the start with
    :func:`l2lab.autol2.with_init_lam`). AutoL2 is coupled L2: ``"adamw"`` is a ValueError.
    ``eta`` is injected (``state.hyperparams["learning_rate"]``); ``update`` takes the extra
    arguments of :func:`l2lab.autol2.add_l2` (``loss``, ``error``, ``measured``, ``step``)."""
    optimizer, momentum = check_optimizer(optimizer, momentum, "autol2")
    if optimizer == "adam":
        return optax.inject_hyperparams(_adam_autol2)(learning_rate=eta)
    return optax.inject_hyperparams(_sgd_autol2, static_args=("momentum",))(
        learning_rate=eta, momentum=float(momentum))


def _sgd_autol2(learning_rate, momentum):
    return optax.chain(
        _autol2.add_l2(),
        optax.sgd(learning_rate, momentum=(momentum if momentum else None)),
    )


def _adam_autol2(learning_rate):
    return optax.chain(_autol2.add_l2(), optax.scale_by_adam(), optax.scale(-learning_rate))



def lr_factor(step: jax.Array, total_steps: jax.Array, schedule: str) -> jax.Array:
    """Multiplier of ``eta`` at update ``step`` (0-based). ``"paper"``: x0.2 at 0.3T, 0.6T, 0.9T."""
    _checks.one_of("schedule", schedule, SCHEDULES)
    if schedule == "constant":
        return jnp.ones((), jnp.float32)
    t = jnp.asarray(step, jnp.float32)
    tt = jnp.asarray(total_steps, jnp.float32)
    n = (t >= 0.3 * tt).astype(jnp.float32) + (t >= 0.6 * tt) + (t >= 0.9 * tt)
    return jnp.power(jnp.float32(0.2), n)

