"""The paper's objective: the data losses of SM A and the L2 term.

``L(theta) = L_data(theta) + (lam / 2) ||theta||^2``, with the paper's normalised softmax
cross-entropy ``L_data(B) = -1 / (2 K |B|) sum y_i log softmax(f(x))_i`` (SM A prints it without
the minus sign, a typo) or the MSE with the same normalisation. The L2 term covers every
parameter, biases and batch-norm scales included.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from l2lab import _checks
from l2lab.engine.settings import LOSSES

__all__ = ["xent_loss", "mse_loss", "LOSS_FNS", "l2_penalty", "total_loss"]

Params = Any


def xent_loss(logits: jax.Array, y_onehot: jax.Array) -> jax.Array:
    """SM A softmax loss ``-1/(2 K |B|) sum y_i log softmax(f)_i``. logits, y_onehot: (B, K)."""
    b, k = logits.shape
    return -jnp.sum(y_onehot * jax.nn.log_softmax(logits)) / (2.0 * k * b)


def mse_loss(logits: jax.Array, y_onehot: jax.Array) -> jax.Array:
    """MSE with the same normalisation: ``1/(2 K |B|) sum ||f - y||^2``. (B, K) -> scalar."""
    b, k = logits.shape
    return jnp.sum(jnp.square(logits - y_onehot)) / (2.0 * k * b)


LOSS_FNS = {"xent": xent_loss, "mse": mse_loss}


def l2_penalty(params: Params) -> jax.Array:
    """``1/2 ||theta||^2`` over every leaf of ``params`` (biases included), float32 scalar."""
    return 0.5 * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params))


def total_loss(apply_fn: Callable, params: Params, x: jax.Array, y_onehot: jax.Array,
               lam: float, loss: str = "xent") -> jax.Array:
    """The paper's objective ``L_data + lam/2 ||theta||^2`` (``apply_fn(params, x) -> logits``)."""
    _checks.one_of("loss", loss, LOSSES)
    return LOSS_FNS[loss](apply_fn(params, x), y_onehot) + lam * l2_penalty(params)
