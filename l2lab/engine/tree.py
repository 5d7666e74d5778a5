"""Pytree paths: the names of parameters and the kernels among them."""
from __future__ import annotations

from typing import Any, Dict, List

import jax
import jax.numpy as jnp

__all__ = ["path_str", "last_key", "kernel_leaves", "kernel_paths", "kernel_norms"]

Params = Any


def path_str(path) -> str:
    """``"Dense_0/kernel"`` for a ``tree_flatten_with_path`` key path (the names of
    :func:`kernel_paths` and :func:`kernel_norms`)."""
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def last_key(path) -> Any:
    """The name of the last key of a key path (``"kernel"`` for ``.../Dense_0/kernel``), or None."""
    k = path[-1] if path else None
    return getattr(k, "key", getattr(k, "name", None))


def kernel_leaves(params: Params) -> Dict[str, Any]:
    """``{path: array}``, sorted by path (``"/".join(keys)``), of the leaves of ``params`` whose
    last key is ``"kernel"`` (flax Dense/Conv kernels; biases and batch-norm scales are not
    kernels). Works on traced pytrees (inside jit/scan)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    out = {path_str(p): w for p, w in leaves if p and last_key(p) == "kernel"}
    return {k: out[k] for k in sorted(out)}


def kernel_paths(params: Params) -> List[str]:
    """Sorted paths of the kernels of ``params`` (:func:`kernel_leaves`)."""
    return list(kernel_leaves(params))


def kernel_norms(params: Params) -> Dict[str, jax.Array]:
    """``{path: ||w||_2}`` (float32 scalars) of every kernel of ``params`` (:func:`kernel_paths`)."""
    return {p: jnp.sqrt(jnp.sum(jnp.square(jnp.asarray(w, jnp.float32))))
            for p, w in kernel_leaves(params).items()}

