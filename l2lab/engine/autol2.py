"""AutoL2 (SM E, Algorithm 1): an L2 schedule that decays lam when training stops improving.

Algorithm 1 with the paper's defaults (``init = 0.1``, ``factor = 10``, ``refractory = 0.1``).
A *measurement* at update count ``s`` is the training loss ``L`` without the L2 term and the
training error ``E`` of the current parameters; ``(Lp, Ep)`` is the previous measurement::

    lam = init; min_step = 0; minloss = minerror = +inf
    at a measurement (s, L, E):
      the first measurement only records (L, E)
      increases = (L > minloss and Lp > minloss) or (E > minerror and Ep > minerror)
      if increases and s > min_step:  lam = lam / factor;  min_step = refractory / lam + s
      else:                            minloss = min(Lp, minloss);  minerror = min(Ep, minerror)

(The paper's pseudo-code compares the error with ``error`` where it means ``minerror``.) A NaN
measurement never compares greater and never lowers a minimum (``min`` ignores NaN).

What a measurement must be. Algorithm 1 decays lam when the loss or the error has risen twice
in a row above its minimum, so a measurement must be a deterministic function of the parameters:
the loss (without the L2 term) and the error on the training set, or on a *fixed* subset of it,
in evaluation mode (no dropout, batch-norm running averages). Measured on each step's minibatch
with dropout on, the noise alone makes "increases" true at most measurements (81% of them in the
NNX run reported in issue 16) and lam decays at the end of every refractory period: a fixed
schedule.
:func:`measure` takes such a measurement (jittable; an NNX module is evaluated as a copy in
evaluation mode).

Arithmetic, identical in :func:`replay` and the jitted controller. The refractory boundary is
exact: after ``k`` decays the period is ``refractory * factor**k / init``, and ``s > min_step``
is decided as ``s - s_decay > floor(period)`` with ``floor(period)`` computed on the host in
rational arithmetic on the decimals the arguments print as (``str``: ``0.01`` is 1/100, not the
binary float nearest to it, for which ``0.01 * 10 / 0.1 < 1``), for the first
``MAX_EXACT_DECAYS`` decays, and looked up in a table (a period of ``2**30`` steps or more, or an
``init`` of 0, never ends). Beyond the table (no real schedule gets there) a period of 0 stays 0,
one that never ends stays so, and others are ``(refractory / init) * factor**k`` in float32. A
starting lam set by :func:`with_init_lam` is known only as a float32 (possibly traced): its
periods are ``float32(refractory * factor**k) / lam``, and a period within 4 float32 ulps (at
most 1/4) of an integer counts as that integer. Up to a million steps or so (``2**20``) this is
the exact rule on the decimal the float32 prints as, unless the exact period is not a whole number
but lies that close to one; longer periods are as exact as float32 allows. The lam itself is
float32 ``init / factor**k`` (``factor**k`` by repeated float32 multiplication).

Three ways in:

* :func:`replay` -- the reference, plain numpy over a recorded measurement stream.
* :func:`controller` -- ``init``/``update`` pure functions on an :class:`AutoL2State`
  (jit/vmap/scan friendly; whether a call carries a measurement is the traced bool ``measured``),
  in the manner of ``optax.contrib.reduce_on_plateau``.
* :func:`add_l2` -- an optax ``GradientTransformationExtraArgs`` that adds ``lam * theta`` to the
  gradient (coupled L2, as in the paper; ``mask`` exempts biases and normalization parameters)
  and takes each measurement as the extra arguments ``loss`` and ``error`` (an update without
  them carries no measurement, so ``flax.nnx.Optimizer.update(model, grads)`` works)::

      >>> import jax, jax.numpy as jnp, optax
      >>> from l2lab.engine import autol2
      >>> x = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
      >>> y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(jnp.int32)
      >>> def loss_and_error(w):                      # the loss without the L2 term
      ...     logits = x @ w
      ...     loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
      ...     return loss, jnp.mean(jnp.argmax(logits, -1) != y)
      >>> tx = optax.chain(autol2.add_l2(init=0.1), optax.sgd(0.5, momentum=0.9))
      >>> def step(carry, t):
      ...     w, opt_state = carry
      ...     (loss, err), g = jax.value_and_grad(loss_and_error, has_aux=True)(w)
      ...     u, opt_state = tx.update(g, opt_state, w, step=t, loss=loss, error=err,
      ...                              measured=t % 5 == 0)
      ...     return (optax.apply_updates(w, u), opt_state), autol2.current_lam(opt_state)
      >>> w0 = jnp.zeros((2, 2))
      >>> (w, opt_state), lams = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(300)))(
      ...     (w0, tx.init(w0)))
      >>> [round(float(v), 6) for v in sorted(set(lams.tolist()), reverse=True)]
      [0.1, 0.01, 0.001]
      >>> autol2.replay([0, 5, 10, 15], [1.0, 0.5, 0.6, 0.7], [0.2, 0.1, 0.1, 0.1])
      array([0.1 , 0.1 , 0.1 , 0.01], dtype=float32)

  (``lams[t]`` is the lam used by update ``t``: a measurement at ``t`` acts on that very update.
  Here the full training set is measured, in a model without dropout.)

:mod:`l2lab.train` runs AutoL2 as the lam schedule ``"autol2"`` through this same transform.
The README shows it in a plain optax loop and in a Flax NNX loop (``nnx.Optimizer``).
"""
from __future__ import annotations

import math
import numbers
import sys
from fractions import Fraction
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2lab import _checks

__all__ = ["AutoL2State", "AddL2State", "Controller", "controller", "add_l2", "replay", "measure",
           "controller_state", "current_lam", "with_init_lam", "INIT", "FACTOR", "REFRACTORY", "EVERY",
           "MAX_EXACT_DECAYS"]

INIT, FACTOR, REFRACTORY, EVERY = 0.1, 10.0, 0.1, 5     # SM E (Figure 1c measures every 10)
MAX_EXACT_DECAYS = 64     # refractory periods of the first 64 decays are exact (a host table)
_INT_MAX = np.iinfo(np.int32).max
_BIG = 2.0 ** 30          # a refractory period this long (or NaN) never ends
_SNAP_ULPS = 4            # with_init_lam: a float32 period this close to an integer is that integer


class AutoL2State(NamedTuple):
    """The controller's state: every field a scalar (``()``; ``(C,)`` under vmap) except the two
    tables, ``(MAX_EXACT_DECAYS + 1,)`` (``(C, MAX_EXACT_DECAYS + 1)`` under vmap).

    lam: float32 lam in force (``lam0 / scale``). lam0: float32 initial lam. scale: float32
    ``factor ** decays``. refractory: float32. period0: float32 ``refractory / lam0`` (beyond the
    table the refractory period after ``k`` decays is ``period0 * scale``). decays: int32 decays
    so far. min_step: int32, a decay needs ``step > min_step``. min_loss, min_error: float32
    minima of past measurements (+inf). prev_loss, prev_error: float32 previous measurement (NaN
    before the first). measurements: int32 count. last_decay: int32 step of the last decay (-1:
    none). waits: int32 table, ``waits[k] = floor(refractory * factor**k / lam0)`` exactly (int32
    max: never ends). numer: float32 table ``refractory * factor**k`` (correctly rounded), from
    which :func:`with_init_lam` rebuilds ``waits`` for another starting lam.
    """

    lam: jax.Array
    lam0: jax.Array
    scale: jax.Array
    refractory: jax.Array
    period0: jax.Array
    decays: jax.Array
    min_step: jax.Array
    min_loss: jax.Array
    min_error: jax.Array
    prev_loss: jax.Array
    prev_error: jax.Array
    measurements: jax.Array
    last_decay: jax.Array
    waits: jax.Array
    numer: jax.Array


class Controller(NamedTuple):
    """``init() -> AutoL2State``; ``update(state, step, loss, error, measured=True) -> AutoL2State``
    (pure; step int, loss/error real, measured bool: scalars, possibly traced)."""

    init: Callable[[], AutoL2State]
    update: Callable[..., AutoL2State]


class AddL2State(NamedTuple):
    """State of :func:`add_l2`: count (int32 updates applied) and the controller's state."""

    count: jax.Array
    autol2: AutoL2State


class _Params(NamedTuple):
    """Checked arguments: floats for the float32 arithmetic, exact decimals for the periods."""

    init: float
    factor: float
    refractory: float
    exact: tuple


# ----------------------------------------------------------------------------- arguments

def _decimal(value) -> Fraction:
    """The number ``value`` prints as (``str``), exactly: ``0.01`` -> 1/100 (already checked)."""
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    try:
        return Fraction(str(value))
    except (TypeError, ValueError):
        return Fraction(float(value))


def _check_args(init, factor, refractory) -> _Params:
    """init >= 0, factor > 1, refractory >= 0 (finite reals), as floats and exact decimals."""
    i = _checks.nonneg_float("init", init)
    f = _checks.real("factor", factor, minimum=1.0, open_minimum=True)
    r = _checks.nonneg_float("refractory", refractory)
    return _Params(i, f, r, (_decimal(init), _decimal(factor), _decimal(refractory)))


def _period0(refractory: float, init: float) -> np.float32:
    """``float32(refractory) / float32(init)`` (IEEE, on the host; inf for init 0, NaN for 0/0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float32(refractory) / np.float32(init)


# ----------------------------------------------------------------------------- period tables

def _exact_waits(p: _Params) -> np.ndarray:
    """int32 ``(MAX_EXACT_DECAYS + 1,)``: ``floor(refractory * factor**k / init)`` in rationals
    (int32 max for a period of ``2**30`` or more, or for ``init == 0``: it never ends)."""
    init, factor, refractory = p.exact
    out = np.full(MAX_EXACT_DECAYS + 1, _INT_MAX, np.int32)
    numer = refractory
    for k in range(MAX_EXACT_DECAYS + 1):
        if init > 0 and numer / init < _BIG:
            out[k] = math.floor(numer / init)
        numer *= factor
    return out


def _numer_table(p: _Params) -> np.ndarray:
    """float32 ``(MAX_EXACT_DECAYS + 1,)``: ``refractory * factor**k`` rounded once (inf if over)."""
    _, factor, refractory = p.exact
    out = np.empty(MAX_EXACT_DECAYS + 1, np.float32)
    numer = refractory
    for k in range(MAX_EXACT_DECAYS + 1):
        out[k] = np.float32(float(numer)) if numer < 2 ** 127 else np.float32(np.inf)
        numer *= factor
    return out


def _snapped_waits(numer, lam):
    """``floor(numer / lam)`` in float32, a quotient within ``_SNAP_ULPS`` ulps (at most 1/4) of
    an integer taken as that integer; int32 max where it never ends (NaN, inf, ``2**30`` or more)."""
    p = jnp.asarray(numer, jnp.float32) / jnp.asarray(lam, jnp.float32)
    n = jnp.round(p)
    tol = jnp.minimum(_SNAP_ULPS * np.finfo(np.float32).eps * n, 0.25)
    period = jnp.where(jnp.abs(p - n) <= tol, n, jnp.floor(p))
    never = jnp.isnan(period) | (period >= _BIG)
    return jnp.where(never, jnp.int32(_INT_MAX), jnp.where(never, 0.0, period).astype(jnp.int32))


def _float_wait(period):
    """``floor(period)`` of a float32 period as int32 (int32 max for NaN or ``2**30`` and more)."""
    never = jnp.isnan(period) | (period >= _BIG)
    return jnp.where(never, jnp.int32(_INT_MAX), jnp.where(never, 0.0, jnp.floor(period)).astype(jnp.int32))


def _saturating_add(step, wait):
    """``step + wait`` in int32, int32 max when ``wait`` is (never) or the sum would overflow."""
    return jnp.where((wait == _INT_MAX) | (wait > _INT_MAX - step), jnp.int32(_INT_MAX), step + wait)


def _fresh_state(lam0, refractory, period0, waits, numer) -> AutoL2State:
    """A state before any measurement, starting at ``lam0`` (float32 scalars, maybe traced)."""
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    i32 = lambda v: jnp.asarray(v, jnp.int32)
    return AutoL2State(lam=f32(lam0), lam0=f32(lam0), scale=f32(1.0), refractory=f32(refractory),
                       period0=f32(period0),
                       decays=i32(0), min_step=i32(0), min_loss=f32(np.inf), min_error=f32(np.inf),
                       prev_loss=f32(np.nan), prev_error=f32(np.nan), measurements=i32(0),
                       last_decay=i32(-1), waits=i32(waits), numer=f32(numer))


# ----------------------------------------------------------------------------- controller

def _wait_after(state: AutoL2State, decays, scale):
    """The refractory wait after the ``decays``-th decay: the table, else (see above) 0 if the
    table's last is 0, never if it is never, float32 otherwise."""
    last = jnp.take(state.waits, MAX_EXACT_DECAYS, axis=-1)
    beyond = jnp.where((last == 0) | (last == _INT_MAX), last, _float_wait(state.period0 * scale))
    table = jnp.take(state.waits, jnp.minimum(decays, MAX_EXACT_DECAYS), axis=-1)
    return jnp.where(decays <= MAX_EXACT_DECAYS, table, beyond)


def _measure(state: AutoL2State, step, loss, error, measured, factor) -> AutoL2State:
    """Algorithm 1 at one measurement if ``measured`` (traced bool), else ``state`` as it is."""
    first = state.measurements == 0
    increases = (((loss > state.min_loss) & (state.prev_loss > state.min_loss))
                 | ((error > state.min_error) & (state.prev_error > state.min_error)))
    decay = measured & ~first & increases & (step > state.min_step)
    record = measured & ~first & ~decay
    scale = jnp.where(decay, state.scale * jnp.float32(factor), state.scale)
    decays = state.decays + decay.astype(jnp.int32)
    return state._replace(
        lam=jnp.where(decay, state.lam0 / scale, state.lam),
        scale=scale,
        decays=decays,
        min_step=jnp.where(decay, _saturating_add(step, _wait_after(state, decays, scale)), state.min_step),
        min_loss=jnp.where(record, jnp.fmin(state.prev_loss, state.min_loss), state.min_loss),
        min_error=jnp.where(record, jnp.fmin(state.prev_error, state.min_error), state.min_error),
        prev_loss=jnp.where(measured, loss, state.prev_loss),
        prev_error=jnp.where(measured, error, state.prev_error),
        measurements=state.measurements + measured.astype(jnp.int32),
        last_decay=jnp.where(decay, step, state.last_decay))


def controller(init: float = INIT, factor: float = FACTOR, refractory: float = REFRACTORY) -> Controller:
    """Algorithm 1 as pure ``init``/``update`` functions (see the module docstring).

    init: starting lam (>= 0); factor: decay factor (> 1); refractory: after a decay lam stays
    put for ``refractory / lam`` steps (>= 0). ``update(state, step, loss, error, measured=True)``
    returns the state after the measurement ``(step, loss, error)`` if ``measured`` (a bool,
    possibly traced), else ``state`` unchanged. Raises ValueError/TypeError naming a bad argument.
    """
    p = _check_args(init, factor, refractory)
    waits, numer = _exact_waits(p), _numer_table(p)

    def init_fn() -> AutoL2State:
        return _fresh_state(p.init, p.refractory, _period0(p.refractory, p.init), waits, numer)

    def update_fn(state: AutoL2State, step, loss, error, measured=True) -> AutoL2State:
        step = jnp.asarray(step, jnp.int32)
        loss, error = jnp.asarray(loss, jnp.float32), jnp.asarray(error, jnp.float32)
        return _measure(state, step, loss, error, jnp.asarray(measured, bool), p.factor)

    return Controller(init_fn, update_fn)


# ----------------------------------------------------------------------------- optax

def _is_bool(x) -> bool:
    return isinstance(x, (bool, np.bool_))


def _check_mask(mask):
    """``mask`` as given: None, a callable, or a pytree whose leaves are all bools (static)."""
    if mask is None or callable(mask):
        return mask
    bad = [leaf for leaf in jax.tree.leaves(mask) if not _is_bool(leaf)]
    if bad:
        raise _checks.bad_type("mask", "must be a pytree of bools (True: add L2 to that leaf or subtree) "
                                       f"or a callable params -> such a pytree; found a leaf {type(bad[0]).__name__}")
    return mask


def _mask_tree(mask, params):
    """The bool pytree (a prefix of ``params``) that ``mask`` gives for ``params``."""
    tree = mask(params) if callable(mask) else mask
    bad = [leaf for leaf in jax.tree.leaves(tree) if not _is_bool(leaf)]
    if bad:
        raise _checks.bad_value("mask", "(a callable) must return a pytree of Python bools, got a leaf "
                                        f"{type(bad[0]).__name__} (a mask is static, as in optax.masked)")
    try:
        jax.tree.map(lambda m, p: None, tree, params, is_leaf=lambda x: x is None)
    except (ValueError, TypeError) as e:
        raise _checks.bad_value("mask", f"must have the structure of params, or a prefix of it: {e}") from None
    return tree


def _add_l2_term(updates, params, lam, mask):
    """``updates + lam * params`` on the leaves ``mask`` keeps (all of them without a mask)."""
    add = lambda g, p: g + lam.astype(jnp.result_type(g)) * p
    if mask is None:
        return jax.tree.map(add, updates, params)
    tree = _mask_tree(mask, params)
    return jax.tree.map(lambda m, g, p: jax.tree.map(add, g, p) if m else g, tree, updates, params)


def _concretely_false(measured) -> bool:
    if isinstance(measured, jax.core.Tracer):
        return False
    return not np.any(np.asarray(measured))


def _measurement(loss, error, measured):
    """``(loss, error, measured)`` for the controller: no loss and no error is no measurement."""
    if loss is None and error is None:
        if measured is None or _concretely_false(measured):
            return jnp.float32(np.nan), jnp.float32(np.nan), False
        raise _checks.bad_value("measured", "may be true (it is true, or traced) but no `loss` and `error` "
                                            "were given: pass the measurement, or leave `measured` out")
    if loss is None or error is None:
        missing = "loss" if loss is None else "error"
        raise _checks.bad_value(missing, "must be given too: a measurement is the loss and the error")
    return loss, error, (True if measured is None else measured)


def add_l2(init: float = INIT, factor: float = FACTOR, refractory: float = REFRACTORY, *,
           mask: Any = None) -> optax.GradientTransformationExtraArgs:
    """Coupled L2 with the AutoL2 schedule: ``updates + lam * params``, lam from :func:`controller`.

    ``update(updates, state, params, *, loss=None, error=None, measured=None, step=None)``:
    ``loss`` and ``error`` are a measurement (the module docstring says what it must be: e.g.
    from :func:`measure`) of ``params``, scalars (traced is fine); ``measured`` (bool, traced is
    fine; default: whether ``loss`` and ``error`` were given) says whether they are one. An
    update without ``loss`` and ``error`` carries no measurement (``measured`` true then is a
    ValueError, as is a traced ``measured``, which might be). ``step`` is the measurement's update
    count (default: the updates this transform has applied). The controller acts first, so the
    lam it decides is used by this very update. Chain it before the optimizer:
    ``optax.chain(add_l2(), optax.sgd(eta, momentum=0.9))``; read lam with :func:`current_lam`.

    mask: as in ``optax.add_decayed_weights``: a pytree of bools with the structure of the params
    (or a prefix of it), or a callable ``params -> such a pytree``; leaves (subtrees) marked False
    get no L2 term, e.g. ``mask=lambda p: jax.tree.map(lambda w: w.ndim > 1, p)`` leaves biases
    and normalization scales alone. Other arguments as in :func:`controller`. Raises
    ValueError/TypeError naming a bad argument.
    """
    ctrl = controller(init, factor, refractory)
    mask = _check_mask(mask)

    def init_fn(params) -> AddL2State:
        if mask is not None:
            _mask_tree(mask, params)
        return AddL2State(count=jnp.zeros((), jnp.int32), autol2=ctrl.init())

    def update_fn(updates, state: AddL2State, params=None, *, loss=None, error=None, measured=None,
                  step=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("`params` must be given to add_l2's update (it adds lam * params)")
        loss, error, measured = _measurement(loss, error, measured)
        step = state.count if step is None else step
        inner = ctrl.update(state.autol2, step, loss, error, measured)
        updates = _add_l2_term(updates, params, inner.lam, mask)
        return updates, AddL2State(count=state.count + 1, autol2=inner)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# ----------------------------------------------------------------------------- state lookups

def _is_autol2(x) -> bool:
    return isinstance(x, AutoL2State)


def _pure(tree):
    """``tree`` with Flax NNX variables (``nnx.Optimizer``'s ``OptArray``) replaced by their arrays
    (flax is not imported here: if it is not loaded, ``tree`` holds none)."""
    nnx = sys.modules.get("flax.nnx")
    return tree if nnx is None else nnx.as_pure(tree)


def _find_state(opt_state: Any) -> AutoL2State:
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_autol2) if _is_autol2(s)]
    if len(found) != 1:
        raise _checks.bad_value("opt_state", f"must hold exactly one AutoL2 state, found {len(found)}")
    return found[0]


def controller_state(opt_state: Any) -> AutoL2State:
    """The one :class:`AutoL2State` inside ``opt_state`` (an optax state of any nesting, e.g. of
    ``optax.chain(add_l2(), ...)`` or ``inject_hyperparams``, or ``nnx.Optimizer.opt_state``), its
    fields plain jax arrays. ValueError if none or several."""
    return _pure(_find_state(opt_state))


def current_lam(opt_state: Any) -> jax.Array:
    """The lam in force (float32 jax array ``()``, ``(C,)`` under vmap) of the AutoL2 state in
    ``opt_state`` (as in :func:`controller_state`): the one the last update used (``init`` before
    any)."""
    return controller_state(opt_state).lam


def with_init_lam(opt_state: Any, lam) -> Any:
    """A copy of a *fresh* ``opt_state`` whose AutoL2 schedule starts at ``lam`` (>= 0; may be
    traced, e.g. one starting lam per configuration under vmap). The refractory periods follow
    (``refractory * factor**k / lam``, rounded as the module docstring says). ValueError unless
    ``opt_state`` holds exactly one AutoL2 state."""
    st = _find_state(opt_state)
    if not isinstance(lam, jax.core.Tracer):
        _checks.nonneg_float("lam", lam)
    lam = jnp.asarray(lam, jnp.float32) + jnp.zeros_like(st.lam0)
    new = st._replace(lam=lam / st.scale, lam0=lam, period0=st.refractory / lam,
                      waits=_snapped_waits(st.numer, lam[..., None]))
    return jax.tree.map(lambda s: new if _is_autol2(s) else s, opt_state, is_leaf=_is_autol2)


# ----------------------------------------------------------------------------- measurements

def _evaluator(loss_and_error, params_or_model):
    """``(x, y) -> loss_and_error(thing, x, y)``; an NNX module is evaluated as a fresh copy in
    evaluation mode (``.eval()``), leaving the caller's module as it was."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(params_or_model, nnx.Module):
        graphdef, state = nnx.split(params_or_model)

        def fn(xb, yb):
            model = nnx.merge(graphdef, state)
            model.eval()
            return loss_and_error(model, xb, yb)
        return fn
    return lambda xb, yb: loss_and_error(params_or_model, xb, yb)


def _pair(out):
    """``out`` as two float32 scalars, else a ValueError naming ``loss_and_error``."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(jnp.shape(v) == () for v in out)):
        raise _checks.bad_value("loss_and_error", "must return (loss, error), two scalars (batch means), "
                                                  f"got {jax.tree.map(jnp.shape, out)}")
    return jnp.asarray(out[0], jnp.float32), jnp.asarray(out[1], jnp.float32)


def _examples(x, y) -> int:
    """The common leading size of every leaf of ``x`` and ``y`` (>= 1)."""
    sizes = {name: {int(np.shape(a)[0]) if np.ndim(a) else -1 for a in jax.tree.leaves(v)}
             for name, v in (("x", x), ("y", y))}
    for name, s in sizes.items():
        if len(s) != 1 or min(s) < 1:
            raise _checks.bad_value(name, f"must be arrays (or a pytree of them) with one leading size >= 1, "
                                          f"got leading sizes {sorted(s)}")
    if sizes["x"] != sizes["y"]:
        raise _checks.bad_value("y", f"must have as many examples as `x`: {sizes['y']} != {sizes['x']}")
    return sizes["x"].pop()


def measure(loss_and_error: Callable, params_or_model: Any, x, y, *,
            batch_size: Optional[int] = None) -> tuple:
    """A measurement for Algorithm 1: ``(loss, error)`` of the parameters on the fixed set ``(x, y)``.

    loss_and_error: ``(params_or_model, xb, yb) -> (loss, error)``, the batch means of the loss
    *without* the L2 term and of the error (scalars). params_or_model: the parameters (any
    pytree) or a Flax NNX module, which is evaluated as a copy in evaluation mode (dropout off,
    batch-norm running averages; the module passed in is left as it was); with plain parameters
    ``loss_and_error`` must itself evaluate in evaluation mode. x, y: the training set or a fixed
    subset of it (arrays, or pytrees of arrays, with one leading size ``n``); the same subset at
    every measurement. batch_size: examples per call of ``loss_and_error`` (None: all ``n`` at
    once); the batches run in ``lax.map`` (a last, smaller batch on its own) and their means are
    averaged with weights batch size / ``n``. Returns two float32 scalars. Pure and jittable (under
    ``jax.jit`` or ``nnx.jit``; ``batch_size`` static). Raises ValueError/TypeError naming a bad
    argument.
    """
    if not callable(loss_and_error):
        raise _checks.bad_type("loss_and_error", f"must be callable, got {type(loss_and_error).__name__}")
    n = _examples(x, y)
    bs = n if batch_size is None else min(_checks.positive_int("batch_size", batch_size), n)
    fn = _evaluator(loss_and_error, params_or_model)
    full, rest = divmod(n, bs)
    head = jax.tree.map(lambda a: jnp.reshape(a[:full * bs], (full, bs) + tuple(np.shape(a)[1:])), (x, y))
    losses, errors = jax.lax.map(lambda b: _pair(fn(*b)), head)
    loss, error = jnp.sum(losses) * bs, jnp.sum(errors) * bs
    if rest:
        tail = jax.tree.map(lambda a: a[full * bs:], (x, y))
        l_rest, e_rest = _pair(fn(*tail))
        loss, error = loss + l_rest * rest, error + e_rest * rest
    return loss / n, error / n


# ----------------------------------------------------------------------------- replay

def _check_stream(steps, losses, errors):
    """steps: int (M,) strictly increasing in [0, 2**31); losses, errors: real (M,), same M."""
    s = np.asarray(steps)
    if s.dtype.kind not in "iu" and not (s.dtype.kind == "f" and np.all(s == np.round(s))):
        raise _checks.bad_type("steps", f"must be integers, got dtype {s.dtype}")
    s = _checks.curve("steps", s).astype(np.int64)
    if np.any(s < 0) or np.any(s > _INT_MAX) or np.any(np.diff(s) <= 0):
        raise _checks.bad_value("steps", "must be strictly increasing integers in [0, 2**31)")
    losses = _checks.curve("losses", losses).astype(np.float32)
    errors = _checks.curve("errors", errors).astype(np.float32)
    _checks.same_length("steps", s, "losses", losses)
    _checks.same_length("steps", s, "errors", errors)
    return s, losses, errors


def _replay_min_step(step: int, decays: int, waits: np.ndarray, period: np.float32) -> int:
    """:func:`_saturating_add` of :func:`_wait_after` in Python integers."""
    if decays <= MAX_EXACT_DECAYS or waits[-1] in (0, _INT_MAX):
        wait = int(waits[min(decays, MAX_EXACT_DECAYS)])
    else:
        wait = _INT_MAX if (np.isnan(period) or period >= _BIG) else int(np.floor(period))
    return _INT_MAX if wait == _INT_MAX else min(step + wait, _INT_MAX)


def replay(steps, losses, errors, *, init: float = INIT, factor: float = FACTOR,
           refractory: float = REFRACTORY) -> np.ndarray:
    """Algorithm 1 over a recorded measurement stream: the lam in force after each measurement.

    steps: update counts (M,) of the measurements, strictly increasing integers >= 0; losses:
    training losses without the L2 term (M,); errors: training errors (M,) (NaN allowed: such a
    measurement never triggers a decay). Returns float32 (M,). Plain numpy, written as the
    pseudo-code (the reference the jitted :func:`controller` is tested against); arithmetic as
    in the module docstring. Raises ValueError/TypeError naming a bad argument.
    """
    p = _check_args(init, factor, refractory)
    steps, losses, errors = _check_stream(steps, losses, errors)
    lam0, f = np.float32(p.init), np.float32(p.factor)
    period0, waits = _period0(p.refractory, p.init), _exact_waits(p)
    lam, scale, decays, min_step = lam0, np.float32(1.0), 0, 0
    min_loss = min_error = np.float32(np.inf)
    out = np.empty(len(steps), np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i, (s, loss, error) in enumerate(zip(steps.tolist(), losses, errors)):
            if i > 0:
                lp, ep = losses[i - 1], errors[i - 1]
                increases = (loss > min_loss and lp > min_loss) or (error > min_error and ep > min_error)
                if increases and s > min_step:
                    scale, decays = np.float32(scale * f), decays + 1
                    lam = np.float32(lam0 / scale)
                    min_step = _replay_min_step(s, decays, waits, np.float32(period0 * scale))
                else:
                    min_loss, min_error = np.fmin(lp, min_loss), np.fmin(ep, min_error)
            out[i] = lam
    return out
