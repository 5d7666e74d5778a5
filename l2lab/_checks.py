"""Argument checks shared by every l2lab module (the bottom of the library: numpy only).

Each helper takes the argument's name first and its value second, returns the value in a
canonical form (``int``, ``float``, ``bool``, ``pathlib.Path``, 1-D ``float64`` array) and
raises an exception whose message starts with the name in backticks and whose ``argument``
attribute is the name (:func:`argument_of`)::

    TypeError   the value has the wrong kind (a str where a number is expected, a bool or a
                float where an int is expected, ...)
    ValueError  the kind is right but the value is not allowed (out of range, NaN, inf, not one
                of the choices, empty, wrong shape)

``bool`` is never accepted as a number (``True`` is not a learning rate). 0-d numeric arrays
(numpy or jax scalars) are accepted where a real number is expected; only Python and numpy
integers where an int is.
"""
from __future__ import annotations

import math
import numbers
import os
import pathlib
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["float32_exact", "prng_seed", "int32_steps", "INT32_MAX", "SEED_LIMIT",
           "cli_type", "bad_value", "bad_type", "argument_of", "integer", "positive_int", "nonneg_int", "real",
           "finite", "positive_float", "nonneg_float", "one_of", "boolean", "string", "path", "curve",
           "same_length", "real_array", "broadcast_shape", "broadcastable", "times",
           "matrix", "symmetric_matrix", "probability_rows",
           "class_labels", "prng_key", "image_batch", "image_dataset", "image_array"]


def bad_value(name: str, message: str) -> ValueError:
    """``ValueError("`name` message")`` with ``.argument = name`` (see :func:`argument_of`)."""
    err = ValueError(f"`{name}` {message}")
    err.argument = name
    return err


def bad_type(name: str, message: str) -> TypeError:
    """``TypeError("`name` message")`` with ``.argument = name`` (see :func:`argument_of`)."""
    err = TypeError(f"`{name}` {message}")
    err.argument = name
    return err


def argument_of(error: BaseException) -> Optional[str]:
    """The argument name carried by an error of these helpers (``None`` for any other error);
    e.g. ``python -m l2lab.sweep`` turns it into the command-line option to blame."""
    name = getattr(error, "argument", None)
    return name if isinstance(name, str) else None


def _fmt(value: Any) -> str:
    """``repr`` of ``value``, shortened to one line of at most 80 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------- integers

def integer(name: str, value: Any, *, minimum: Optional[int] = None,
            maximum: Optional[int] = None) -> int:
    """``value`` as an ``int``, checked against the inclusive bounds ``minimum``/``maximum``.

    Raises TypeError unless ``value`` is a Python or numpy integer (``bool`` and integral floats
    such as ``2.0`` are refused); ValueError when it lies outside the bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise bad_type(name, f"must be an int, got {type(value).__name__}: {_fmt(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise bad_value(name, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise bad_value(name, f"must be <= {maximum}, got {value}")
    return value


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int >= 1`` (sizes, widths, step counts); see :func:`integer`."""
    return integer(name, value, minimum=1)


def nonneg_int(name: str, value: Any) -> int:
    """``value`` as an ``int >= 0`` (seeds, paddings, depths); see :func:`integer`."""
    return integer(name, value, minimum=0)


# ----------------------------------------------------------------------------- reals

def _is_real_scalar(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Real):
        return True
    dtype, shape = getattr(value, "dtype", None), getattr(value, "shape", None)
    if dtype is None or shape != ():
        return False
    try:
        return np.dtype(dtype).kind in "iuf"
    except TypeError:
        return False


def real(name: str, value: Any, *, minimum: Optional[float] = None, maximum: Optional[float] = None,
         open_minimum: bool = False, open_maximum: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a ``float``: finite (``+-inf`` too if ``allow_inf``; NaN never), within
    ``[minimum, maximum]`` (exclusive ends with ``open_minimum``/``open_maximum``).

    Raises TypeError unless ``value`` is a real number (int, float, numpy or 0-d array scalar;
    not bool, not str); ValueError for NaN, inf (unless allowed) or a value out of range.
    """
    if not _is_real_scalar(value):
        raise bad_type(name, f"must be a real number, got {type(value).__name__}: {_fmt(value)}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise bad_value(name, f"must be {'a number' if allow_inf else 'finite'}, got {v}")
    if minimum is not None and (v < minimum or (open_minimum and v == minimum)):
        raise bad_value(name, f"must be {'>' if open_minimum else '>='} {minimum}, got {v:g}")
    if maximum is not None and (v > maximum or (open_maximum and v == maximum)):
        raise bad_value(name, f"must be {'<' if open_maximum else '<='} {maximum}, got {v:g}")
    return v


def finite(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` (any sign); see :func:`real`."""
    return real(name, value)


INT32_MAX = 2 ** 31 - 1      # the engine counts steps in int32
SEED_LIMIT = 2 ** 32         # jax.random.PRNGKey keeps 32 bits of a seed


def float32_exact(name: str, value: Any) -> float:
    """A real number that float32 holds as itself up to its rounding (relative error at most
    2^-24): 0, or a normal float32 magnitude. 1e-50 (float32 0), 1e39 (inf) and subnormals (which
    lose digits) are refused: the engine would train with another number than the one recorded."""
    x = finite(name, value)
    with np.errstate(over="ignore"):
        y = float(np.float32(x))
    if x != 0 and not (np.isfinite(y) and abs(y - x) <= 2.0 ** -24 * abs(x)
                       and abs(y) >= float(np.finfo(np.float32).tiny)):
        raise bad_value(name, f"{_fmt(value)} is not a float32 number (it would train as {y!r}); "
                              f"use a value between {np.finfo(np.float32).tiny:.3g} and {np.finfo(np.float32).max:.3g}")
    return x


def prng_seed(name: str, value: Any) -> int:
    """A seed the PRNG keeps whole: an integer in [0, 2^32) (``jax.random.PRNGKey`` keeps 32
    bits, so 2^32 would repeat seed 0)."""
    return integer(name, value, minimum=0, maximum=SEED_LIMIT - 1)


def int32_steps(name: str, value: Any) -> int:
    """A positive step count the engine's int32 counter holds: 1 <= value <= 2^31 - 1."""
    return integer(name, value, minimum=1, maximum=INT32_MAX)


def positive_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float > 0`` (learning rates, time scales); see :func:`real`."""
    return real(name, value, minimum=0.0, open_minimum=True)


def nonneg_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float >= 0`` (L2 parameters, tolerances); see :func:`real`."""
    return real(name, value, minimum=0.0)


# ----------------------------------------------------------------------------- other kinds

def one_of(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` itself if it is one of ``choices`` (compared with ``==``), else ValueError
    listing the choices. A value that cannot be compared (e.g. a list for str choices) is a
    ValueError too."""
    choices = tuple(choices)
    for c in choices:
        if isinstance(value, (bool, np.bool_)) != isinstance(c, (bool, np.bool_)):
            continue                      # True is not the choice 1
        try:
            eq = value == c
            if isinstance(eq, (bool, np.bool_)) and eq:
                return value
        except Exception:  # noqa: BLE001 -- an exotic __eq__ is simply "not a choice"
            pass
    raise bad_value(name, f"must be one of {choices}, got {_fmt(value)}")


def boolean(name: str, value: Any) -> bool:
    """``value`` as a ``bool`` (Python or numpy bool only; ``0``/``1``/``"yes"`` are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise bad_type(name, f"must be a bool, got {type(value).__name__}: {_fmt(value)}")
    return bool(value)


def string(name: str, value: Any, *, nonempty: bool = False) -> str:
    """``value`` if it is a ``str`` (non-empty when ``nonempty``), else TypeError/ValueError."""
    if not isinstance(value, str):
        raise bad_type(name, f"must be a str, got {type(value).__name__}: {_fmt(value)}")
    if nonempty and not value:
        raise bad_value(name, "must be a non-empty str")
    return value


def path(name: str, value: Any) -> pathlib.Path:
    """``value`` (``str`` or ``os.PathLike``) as a ``pathlib.Path`` with ``~`` expanded.

    Nothing is checked on disk. TypeError for anything else, ValueError for an empty str."""
    if not isinstance(value, (str, os.PathLike)):
        raise bad_type(name, f"must be a str or os.PathLike path, got {type(value).__name__}")
    if isinstance(value, str) and not value:
        raise bad_value(name, "must be a non-empty path")
    return pathlib.Path(value).expanduser()


# ----------------------------------------------------------------------------- arrays

def curve(name: str, value: Any, *, allow_empty: bool = False) -> np.ndarray:
    """``value`` as a 1-D ``float64`` array (NaN and inf kept: they mark diverged runs).

    Raises TypeError if it is not numeric (strings, objects, bools), ValueError if it is not
    1-D or (unless ``allow_empty``) has no entry.
    """
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):   # ragged nested lists
        raise bad_type(name, f"must be a 1-D array of real numbers, got {_fmt(value)}") from None
    if raw.dtype.kind not in "iuf":
        raise bad_type(name, f"must be an array of real numbers, got dtype {raw.dtype}")
    arr = raw.astype(np.float64, copy=False)
    if arr.ndim != 1:
        raise bad_value(name, f"must be 1-D, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise bad_value(name, "must not be empty")
    return arr


def same_length(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """ValueError naming both arguments unless the 1-D arrays ``a`` and ``b`` are equally long."""
    if np.shape(a) != np.shape(b):
        raise bad_value(name_a, f"and `{name_b}` must have the same shape, got "
                                f"{np.shape(a)} and {np.shape(b)}")


# ----------------------------------------------------------------------------- arrays of any shape

def real_array(name: str, value: Any, *, nonneg: bool = False) -> np.ndarray:
    """``value`` (a real number or array-like of any shape) as a finite ``float64`` array.

    Raises TypeError unless it is numeric (ints, floats; not bool, complex, str), ValueError for
    NaN or inf entries, or (``nonneg``) a negative entry.
    """
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):   # ragged nested lists
        raise bad_type(name, f"must be a real number or array of real numbers, "
                             f"got {_fmt(value)}") from None
    if raw.dtype.kind not in "iuf":
        raise bad_type(name, f"must be a real number or array of real numbers, "
                             f"got dtype {raw.dtype}")
    arr = raw.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise bad_value(name, "must be finite (got nan or inf)")
    if nonneg and arr.size and np.any(arr < 0):
        raise bad_value(name, f"must be >= 0 (got min {arr.min()!r})")
    return arr


def broadcast_shape(**arrays: np.ndarray) -> tuple:
    """The shape the keyword ``arrays`` broadcast to; ValueError naming the first argument and
    listing every shape if they do not broadcast together."""
    try:
        return np.broadcast_shapes(*(np.shape(a) for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{n}{np.shape(a)}" for n, a in arrays.items())
        raise bad_value(next(iter(arrays)), f"and the other arguments do not broadcast "
                                            f"together: {shapes}") from None


def broadcastable(name: str, value: np.ndarray, shape: tuple, what: str = "") -> np.ndarray:
    """A read-only view of the array ``value`` broadcast to ``shape``; ValueError if it does not
    broadcast (``what`` names the target in the message, e.g. "`y`'s shape")."""
    try:
        return np.broadcast_to(value, shape)
    except ValueError:
        target = f"{what} {tuple(shape)}" if what else str(tuple(shape))
        raise bad_value(name, f"must broadcast to {target}, got {np.shape(value)}") from None


def times(name: str, value: Any) -> np.ndarray:
    """``value`` as a 1-D ``float64`` array of finite times ``>= 0`` (any order, may be empty)."""
    arr = real_array(name, value, nonneg=True)
    if arr.ndim != 1:
        raise bad_value(name, f"must be one-dimensional (T,), got shape {arr.shape}")
    return arr


def matrix(name: str, value: Any, *, columns: Optional[int] = None) -> np.ndarray:
    """``value`` as a finite 2-D ``float64`` array ``(M, columns)`` (any number of columns if
    ``columns`` is None); ValueError for another shape."""
    arr = real_array(name, value)
    if arr.ndim != 2 or (columns is not None and arr.shape[1] != columns):
        want = f"(M, {columns})" if columns is not None else "(M, N)"
        raise bad_value(name, f"must have shape {want}, got {arr.shape}")
    return arr


def symmetric_matrix(name: str, value: Any, *, rtol: float = 1e-5) -> np.ndarray:
    """``value`` as a non-empty square ``(N, N)`` finite ``float64`` matrix, symmetrised.

    ValueError unless it is square and symmetric up to ``rtol`` times its largest entry (the
    default tolerates float32 round-off); the result is ``(value + value.T) / 2``.
    """
    arr = real_array(name, value)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise bad_value(name, f"must be a non-empty square (N, N) matrix, got {arr.shape}")
    scale = float(np.max(np.abs(arr)))
    if np.max(np.abs(arr - arr.T)) > rtol * max(scale, 1e-300):
        raise bad_value(name, "must be symmetric")
    return 0.5 * (arr + arr.T)


def probability_rows(name: str, value: Any, n_rows: Optional[int] = None) -> np.ndarray:
    """``value`` as an ``(N, C)`` ``float64`` array (``C >= 2``; ``N = n_rows`` if given) whose
    rows are probability vectors (one-hot labels): entries ``>= 0`` summing to 1 (+-1e-8)."""
    arr = real_array(name, value)
    if arr.ndim != 2 or arr.shape[1] < 2 or (n_rows is not None and arr.shape[0] != n_rows):
        want = f"({n_rows}, C)" if n_rows is not None else "(N, C)"
        raise bad_value(name, f"must have shape {want} with C >= 2, got {arr.shape}")
    if np.any(arr < 0) or (arr.size and np.max(np.abs(arr.sum(axis=1) - 1.0)) > 1e-8):
        raise bad_value(name, "rows must be probability vectors (one-hot labels)")
    return arr


def cli_type(what: str, parse, check):
    """An argparse ``type=``: ``check(parse(text))``; a failure of either becomes argparse's
    one-line "argument --option: message" (a ValueError/TypeError of ``check`` keeps its
    message). ``what`` names the expected kind, e.g. ``"an integer"``."""
    import argparse

    def convert(text: str):
        try:
            value = parse(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return check(value)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = what   # argparse names the type in some messages
    return convert


def nondecreasing_curve(name: str, value: Any) -> np.ndarray:
    """:func:`curve` whose entries must also be finite and non-decreasing (a step axis)."""
    arr = curve(name, value)
    if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) < 0):
        raise bad_value(name, "must be finite and non-decreasing")
    return arr


def xy_pair(name: str, data: Any):
    """``(x float32 (N, ...), y)`` from a pair ``(x, y)`` or a dataset-like object (``.x``,
    ``.y``): x real with at least 2 dimensions, y with the same N >= 1 samples (y unchanged)."""
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise bad_type(name, f"must be a pair (x, y) or a dataset with x and y, got "
                             f"{type(data).__name__}")
    x = np.asarray(x)
    if x.dtype.kind not in "iuf" or x.ndim < 2:
        raise bad_value(name, f"x must be a real array (N, ...), got {x.dtype}{x.shape}")
    if np.shape(y)[:1] != x.shape[:1] or x.shape[0] == 0:
        raise bad_value(name, f"x and y must hold the same N >= 1 samples, got {x.shape} "
                              f"and {np.shape(y)}")
    return x.astype(np.float32), y


def onehot_labels(name: str, y: Any, k: int) -> np.ndarray:
    """float32 ``(N, k)`` one-hot labels from int labels ``(N,)`` in ``[0, k)`` or from float
    one-hot ``(N, k)`` (returned as float32)."""
    y = np.asarray(y)
    if y.ndim == 1 and y.dtype.kind in "iu":
        if y.size and (y.min() < 0 or y.max() >= k):
            raise bad_value(name, f"labels must lie in [0, {k}), got [{y.min()}, {y.max()}]")
        return np.eye(k, dtype=np.float32)[y]
    if y.ndim == 2 and y.shape[1] == k and y.dtype.kind == "f":
        return y.astype(np.float32)
    raise bad_value(name, f"must be int labels (N,) or one-hot float (N, {k}), got "
                          f"{y.dtype}{y.shape}")


# ----------------------------------------------------------------------------- data (l2lab.data)

def class_labels(name: str, value: Any) -> np.ndarray:
    """``value`` as a numpy array of integer class labels ``(N,)``, all ``>= 0`` (dtype kept).

    TypeError for a non-integer dtype (bool included), ValueError for another shape or a
    negative label."""
    y = np.asarray(value)
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise bad_type(name, f"must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise bad_value(name, f"must be 1-D (N,), got shape {y.shape}")
    if y.size and y.min() < 0:
        raise bad_value(name, f"must be non-negative class labels, got min {y.min()}")
    return y


def prng_key(name: str, value: Any) -> Any:
    """``value`` if it is one jax PRNG key: a typed key of shape ``()`` (``jax.random.key``) or
    a raw ``uint32`` key ``(2,)`` (``jax.random.PRNGKey``); else TypeError/ValueError.

    Imports jax only when called (a caller holding a key has imported it already)."""
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is None or shape is None:
        raise bad_type(name, "must be a jax PRNG key (jax.random.key / PRNGKey), "
                             f"got {type(value).__name__}")
    import jax
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise bad_value(name, f"must be a single PRNG key (shape ()), got shape {shape}")
        return value
    if dtype != np.uint32 or len(shape) != 1:
        raise bad_type(name, "must be a jax PRNG key (jax.random.key / PRNGKey), got an "
                             f"array of dtype {dtype} and shape {shape}")
    return value


def image_batch(name: str, value: Any):
    """``value`` as a floating-point jax array of images ``(B, H, W, C)`` (channels last).

    TypeError for a non-array or a non-float dtype, ValueError for another number of
    dimensions. Imports jax only when called."""
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise bad_type(name, f"must be an array of shape (B, H, W, C), got "
                             f"{type(value).__name__}")
    if len(value.shape) != 4:
        raise bad_value(name, f"must have shape (B, H, W, C), got shape {tuple(value.shape)}")
    import jax.numpy as jnp
    if not jnp.issubdtype(value.dtype, jnp.floating):  # bfloat16 included
        raise bad_type(name, f"must be a floating-point array, got dtype {value.dtype}")
    return jnp.asarray(value)


def image_dataset(name: str, value: Any):
    """``value`` if it is an :class:`l2lab.data.Dataset` with ``x (N, H, W, C)`` and ``y (N,)``;
    TypeError for another type, ValueError for inconsistent shapes."""
    if getattr(value, "_fields", None) != ("x", "y", "name", "num_classes"):   # l2lab.data.Dataset
        raise bad_type(name, f"must be an l2lab.data.Dataset, got {type(value).__name__}")
    x_shape, y_shape = np.shape(value.x), np.shape(value.y)
    if len(x_shape) != 4 or len(y_shape) != 1 or x_shape[0] != y_shape[0]:
        raise bad_value(name, f"must have x of shape (N, H, W, C) and y of shape (N,), got "
                              f"x {x_shape} and y {y_shape}")
    return value


def image_array(name: str, value: Any) -> np.ndarray:
    """``value`` if it is a numpy array of images ``(N, H, W, C)``; TypeError for anything
    else (a jax array or list included), ValueError for another number of dimensions."""
    if not isinstance(value, np.ndarray):
        raise bad_type(name, f"must be a Dataset or a numpy array, got {type(value).__name__}")
    if value.ndim != 4:
        raise bad_value(name, f"must have shape (N, H, W, C), got {value.shape}")
    return value
