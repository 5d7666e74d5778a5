"""The training engine: pure device functions for one model, data set and settings.

Objective (coupled L2, the paper's ``L = L_data + lam/2 ||theta||^2``)::

    L(theta) = L_data(theta) + (lam / 2) * sum_mu theta_mu^2

The L2 term covers **all** parameters, biases and batch-norm scale/offset included (the paper
regularizes ``||theta||^2`` with no exception stated). With SGD the update is
``theta <- theta - eta * (grad L_data + lam * theta)``; we realise it as
``optax.add_decayed_weights(lam)`` followed by ``optax.sgd(eta, momentum)`` -- the same
gradient (the weight-decay term is added *before* momentum, i.e. it is coupled, not AdamW-style
decoupled). Both ``eta`` and ``lam`` live in an ``optax.inject_hyperparams`` state, so they are
traced values that can change during training (AutoL2) and be ``vmap``-ed over (sweeps).

Optimizers (``TrainConfig.optimizer``, ``Engine(optimizer=...)``; not in the paper, which uses
SGD): ``"sgd"`` as above; ``"adam"`` -- Adam on the same objective, coupled L2: the gradient
``grad L_data + lam * theta`` goes through Adam's moments and normalisation
(``add_decayed_weights(lam)``, ``scale_by_adam()``, ``scale(-eta)``); ``"adamw"`` -- decoupled
weight decay (Loshchilov & Hutter): ``theta <- theta - eta * (adam(grad L_data) + lam * theta)``
(``scale_by_adam()``, ``add_decayed_weights(lam)``, ``scale(-eta)``, i.e. ``optax.adamw``). Adam
uses optax's b1 = 0.9, b2 = 0.999, eps = 1e-8 and needs ``momentum == 0``. Every lam schedule
and the learning-rate schedule act on both; AutoL2 (coupled by definition) takes sgd or adam.

Data loss (SM A): the paper's normalised softmax cross-entropy::

    L_data(B) = -1 / (2 K |B|) * sum_{(x, y) in B} sum_i y_i log p_i(x),   p = softmax(f(x))

with K the number of classes and y one-hot. (SM A prints the formula without the minus sign, a
typo: as printed it would be maximised.) This is the usual mean cross-entropy divided by 2K, so
the paper's learning rates are 2K = 20 times larger than the usual ones for the same dynamics.
``loss="mse"`` uses the same normalisation: ``1 / (2 K |B|) * sum ||f(x) - y||^2``.

The inner loop runs on device (``lax.fori_loop`` with a *traced* trip count, so one compiled
program serves every chunk length) between measurements taken on a grid that is dense in
``log t`` (:func:`measurement_grid`). At each measurement we record the training loss *without*
the L2 term, the training error, test accuracy and loss, and ``||theta||``. A step whose loss or
new parameters are not finite marks the run ``diverged``: that configuration stops updating
(parameters stay at their last finite value) and later measurements are NaN. Nothing raises.

lam schedules (``TrainConfig.lam_schedule``, ``Engine(lam_schedule=...)``): every schedule sets
the lam of each update inside the step, from the step count, the configuration's ``lam`` and
(AutoL2) a measurement taken in the step's own forward pass:

* ``"constant"`` -- ``lam`` throughout (the default; the same program and results as before).
* ``"early:E"`` -- ``lam`` for the first ``E`` updates, then 0 (``1 <= E <= steps``).
* ``"autol2"`` -- SM E's AutoL2 (:mod:`l2lab.autol2`) starting at ``lam``: the optimizer is
  ``optax.chain(autol2.add_l2(...), optax.sgd(eta, momentum))`` (the public transform itself;
  with ``optimizer="adam"``, ``optax.scale_by_adam()`` and ``optax.scale(-eta)`` after it) and
  every ``autol2_every`` updates (SM E: 5) the step passes it a measurement of the current
  parameters: the data loss (no L2 term) and the error **on the training batch the step already
  computes** (no extra forward pass; the measurement costs an argmax). With full-batch training
  (every tiny preset) that batch is the training set, as in the paper; with minibatches it is
  the current minibatch (augmented, if ``augment``), a noisier signal.

The lam in force is read with :meth:`Engine.lam` and recorded with the curves
(``TrainResult.lam``: the lam used by the update that produced each measured point; the initial
lam at step 0) together with ``TrainResult.lam_changes``, the update counts after which lam
changed (AutoL2: the steps of the measurements that decided a decay; ``early:E``: ``E``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2lab import _checks
from l2lab.engine import autol2 as _autol2
from l2lab.engine.objective import LOSS_FNS, l2_penalty
from l2lab.engine.optimizers import lr_factor, make_autol2_optimizer, make_optimizer
from l2lab.engine.settings import EngineSettings
from l2lab.engine.tree import kernel_norms

__all__ = ["Engine", "TrainState", "Measurement", "TrainResult", "measurement_grid", "seed_keys",
           "set_hyperparams", "augmentation", "lam_change_steps", "check_dataset", "MAX_LAM_CHANGES",
           "N_SCALARS"]

Params = Any
MAX_LAM_CHANGES = 64       # AutoL2 decays logged per run (float32 lam reaches 0 after ~45 decays)


class Measurement(NamedTuple):
    """Scalars (or (C,) under vmap) measured at one grid point; NaN once diverged."""

    train_loss: jax.Array      # data loss on the whole training set, no L2 term
    train_error: jax.Array     # 1 - training accuracy
    test_accuracy: jax.Array
    test_loss: jax.Array       # data loss on the test set
    param_norm: jax.Array      # ||theta||_2 over all parameters
    kernel_norms: Optional[Dict[str, jax.Array]] = None   # {path: ||w||_2} of each kernel (kernel_norms())


N_SCALARS = 5     # the scalar fields of a Measurement, in order (rows of 5 on the host)


class TrainResult(NamedTuple):
    """Curves of one run, all ``(M,)`` numpy arrays aligned with ``steps`` (int64 update counts,
    starting at 0 and ending at ``config.steps``); float64 values, NaN after divergence.
    ``diverged`` is a bool, ``diverged_at`` the number of updates applied before the first
    non-finite step (-1 if none), ``wall_time`` seconds (compilation included). ``lam``: float64
    (M,), the lam used by update ``steps[i]`` (the initial lam at step 0; NaN after divergence);
    ``lam_changes``: int64 (D,), the update counts after which lam changed (see the module
    docstring). Both ``None`` where unknown (results built without them). ``kernel_norms``:
    ``{path: float64 (M,)}``, ``||w||_2`` of each Dense/Conv kernel (:func:`kernel_norms`; NaN
    after divergence), ``None`` where unknown (older sweep records, ``l2lab.predict``)."""

    steps: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_accuracy: np.ndarray
    test_loss: np.ndarray
    param_norm: np.ndarray
    diverged: bool
    diverged_at: int
    wall_time: float
    lam: Optional[np.ndarray] = None
    lam_changes: Optional[np.ndarray] = None
    kernel_norms: Optional[Dict[str, np.ndarray]] = None


class TrainState(NamedTuple):
    """Device state of one run (a pytree; leading config axis under vmap).

    params, opt_state (``lam`` is ``opt_state.hyperparams["weight_decay"]``), step: int32 number
    of updates applied, key: minibatch PRNG key, eta0: float32 base learning rate (the schedule
    multiplies it), total_steps: int32 budget T (no update once ``step == T``), diverged: bool.
    lam0: float32 base lam of an ``"early:E"`` schedule (else None). lam_changes: int32 (64,)
    steps of the AutoL2 decays, -1 padded (else None). For ``"autol2"`` lam lives in the
    optimizer's AutoL2 state (:meth:`Engine.lam` reads it for every schedule).
    """

    params: Params
    opt_state: Any
    step: jax.Array
    key: jax.Array
    eta0: jax.Array
    total_steps: jax.Array
    diverged: jax.Array
    lam0: Any = None
    lam_changes: Any = None


def measurement_grid(total_steps: int, points_per_octave: int = 4) -> np.ndarray:
    """Update counts at which to measure: 0, then increments ``max(1, 2^floor(log2 t) // ppo)``
    (so ``ppo`` points per doubling of t once ``t >= ppo``), ending exactly at ``total_steps``.

    Prefix-stable: ``measurement_grid(T1)`` is ``measurement_grid(T2)`` cut at ``T1`` plus ``T1``
    for ``T1 < T2``. Returns int64 array (M,), M = O(ppo * log2 T).
    """
    total_steps = _checks.positive_int("total_steps", total_steps)
    points_per_octave = _checks.positive_int("points_per_octave", points_per_octave)
    out = [0]
    t = 0
    while t < total_steps:
        inc = 1 if t == 0 else max(1, (1 << (int(t).bit_length() - 1)) // points_per_octave)
        t = min(t + inc, total_steps)
        out.append(t)
    return np.asarray(out, np.int64)


def seed_keys(seed: int) -> Tuple[jax.Array, jax.Array]:
    """``(init_key, data_key)`` derived from an integer seed (shared by train and sweep)."""
    seed = _checks.nonneg_int("seed", seed)
    k_init, k_data = jax.random.split(jax.random.PRNGKey(int(seed)))
    return k_init, k_data


# ----------------------------------------------------------------------------- the engine

class Engine:
    """Pure device functions for one (model, data, static hyper-parameters) combination.

    ``augment(key, x, y_onehot) -> (x, y_onehot)`` (optional) transforms each training
    minibatch, e.g. :func:`augmentation` (SM A's flip, crop and mixup).
    ``init_state(params, eta, lam, total_steps, key) -> TrainState`` and
    ``run(state, n, data) -> (TrainState, Measurement)`` (``n`` more updates, then measure) are
    pure and jittable; ``data = engine.data`` is the tuple ``(x_train, y_train_onehot, x_test,
    y_test_onehot)`` of device arrays, passed as an argument so it is never baked into the
    program. :mod:`l2lab.sweep` vmaps ``run`` over the configuration axis.
    The static settings are an :class:`EngineSettings` (``engine.settings``; an ``"early:E"``
    bound above a state's budget is not checked here: :meth:`TrainConfig.validate` does). The
    optax transformation is ``engine.optimizer``, its name ``engine.optimizer_name``.
    """

    def __init__(self, apply_fn: Callable, train_ds: Any, test_ds: Any,
                 settings: Optional[EngineSettings] = None, *, augment: Optional[Callable] = None,
                 **settings_fields):
        """``settings``: the static settings (an :class:`EngineSettings`, valid by construction);
        or, as before it existed, its fields as keywords (``batch_size=512, loss="xent", ...``).
        ``augment``: a callable ``(key, x, y_onehot) -> (x, y_onehot)`` for the minibatches
        (default: :func:`augmentation` when ``settings.augment``, else none)."""
        check_dataset("train_ds", train_ds)
        check_dataset("test_ds", test_ds)
        if settings is None:
            settings = EngineSettings(**settings_fields, augment=augment is not None)
        elif settings_fields:
            raise TypeError(f"Engine takes settings or their fields, not both (got {sorted(settings_fields)})")
        elif not isinstance(settings, EngineSettings):
            raise _checks.bad_type("settings", f"must be an EngineSettings, got {type(settings).__name__}")
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be None or a callable (key, x, y_onehot) -> (x, y_onehot), got {augment!r}")
        if augment is None and settings.augment:
            augment = augmentation()
        s = self.settings = settings
        self.lam_kind, self.lam_until = s.lam_kind, s.lam_until
        self.optimizer_name = s.optimizer
        self.lam_schedule = s.lam_schedule
        self.autol2_every = s.autol2_every
        k = int(train_ds.num_classes)
        self.apply_fn = apply_fn
        self.num_classes = k
        self.n_train = int(np.shape(train_ds.y)[0])
        self.batch_size = min(s.batch_size, self.n_train)
        self.full_batch = self.batch_size >= self.n_train
        self.batches_per_epoch = self.n_train // self.batch_size
        self.loss_name = s.loss
        self.loss_fn = LOSS_FNS[s.loss]
        self.momentum = s.momentum
        self.schedule = s.schedule
        self.eval_batch_size = s.eval_batch_size
        self.augment = augment
        self.optimizer = self._make_optimizer(1.0, 0.0)  # values replaced per state
        self.data = (
            jnp.asarray(train_ds.x, jnp.float32),
            jax.nn.one_hot(jnp.asarray(train_ds.y), k, dtype=jnp.float32),
            jnp.asarray(test_ds.x, jnp.float32),
            jax.nn.one_hot(jnp.asarray(test_ds.y), k, dtype=jnp.float32),
        )

    # -- state -------------------------------------------------------------------------
    def _make_optimizer(self, eta, lam) -> optax.GradientTransformation:
        if self.lam_kind == "autol2":
            return make_autol2_optimizer(eta, self.momentum, self.optimizer_name)
        return make_optimizer(eta, lam, self.momentum, self.optimizer_name)

    def init_state(self, params: Params, eta, lam, total_steps, key) -> TrainState:
        lam = jnp.asarray(lam, jnp.float32)
        opt_state = self._make_optimizer(jnp.asarray(eta, jnp.float32), lam).init(params)
        extra = {}
        if self.lam_kind == "early":
            extra["lam0"] = lam
        if self.lam_kind == "autol2":
            opt_state = _autol2.with_init_lam(opt_state, lam)
            extra["lam_changes"] = jnp.full((MAX_LAM_CHANGES,), -1, jnp.int32)
        return TrainState(
            params=params,
            opt_state=opt_state,
            step=jnp.zeros((), jnp.int32),
            key=key,
            eta0=jnp.asarray(eta, jnp.float32),
            total_steps=jnp.asarray(total_steps, jnp.int32),
            diverged=jnp.zeros((), bool),
            **extra,
        )

    def lam(self, state: TrainState) -> jax.Array:
        """The lam used by the last update (the initial lam before any), float32; NaN once
        diverged (as a :class:`Measurement`). Pure; jit/vmap friendly."""
        if self.lam_kind == "autol2":
            lam = _autol2.current_lam(state.opt_state)
        else:
            lam = state.opt_state.hyperparams["weight_decay"]
        return jnp.where(state.diverged, jnp.float32(jnp.nan), jnp.asarray(lam, jnp.float32))

    # -- one step ----------------------------------------------------------------------
    def batch(self, state: TrainState, data):
        """The training batch of update ``state.step``: the whole set (full batch), or the
        minibatch of a fresh permutation every epoch (key ``fold_in(state.key, epoch)``)."""
        x, y = data[0], data[1]
        if self.full_batch:
            return x, y
        epoch = state.step // self.batches_per_epoch
        i = state.step % self.batches_per_epoch
        perm = jax.random.permutation(jax.random.fold_in(state.key, epoch), self.n_train)
        idx = jax.lax.dynamic_slice_in_dim(perm, i * self.batch_size, self.batch_size)
        return x[idx], y[idx]

    def _loss_and_grads(self, state: TrainState, xb, yb, active):
        """Data loss and gradient on the batch, and the optimizer's extra arguments: for AutoL2
        the measurement of the current parameters on this batch (every ``autol2_every`` steps)."""
        if self.lam_kind != "autol2":
            loss, grads = jax.value_and_grad(lambda p: self.loss_fn(self.apply_fn(p, xb), yb))(state.params)
            return loss, grads, {}

        def f(p):
            logits = self.apply_fn(p, xb)
            return self.loss_fn(logits, yb), logits

        (loss, logits), grads = jax.value_and_grad(f, has_aux=True)(state.params)
        error = 1.0 - jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(yb, -1))
        measured = active & (state.step % self.autol2_every == 0)
        return loss, grads, dict(step=state.step, loss=loss, error=error, measured=measured)

    def _log_lam_changes(self, state: TrainState) -> TrainState:
        """AutoL2: write the last decay's step into ``state.lam_changes`` at its index."""
        if self.lam_kind != "autol2":
            return state
        ctrl = _autol2.controller_state(state.opt_state)
        idx = jnp.arange(MAX_LAM_CHANGES, dtype=jnp.int32)
        return state._replace(lam_changes=jnp.where(idx == ctrl.decays - 1, ctrl.last_decay, state.lam_changes))

    def step(self, state: TrainState, data) -> TrainState:
        """One optimizer update (a no-op once diverged or ``step == total_steps``)."""
        return self.step_with_grads(state, data)[0]

    def step_with_grads(self, state: TrainState, data) -> Tuple[TrainState, jax.Array, Params]:
        """:meth:`step`, and the data loss (no L2 term) and its gradient at ``state.params`` on
        the update's batch (what the update used; for per-step trackers)."""
        xb, yb = self.batch(state, data)
        if self.augment is not None:
            k_aug = jax.random.fold_in(jax.random.fold_in(state.key, 0x5A17), state.step)
            xb, yb = self.augment(k_aug, xb, yb)
        active = (state.step < state.total_steps) & ~state.diverged
        loss, grads, extra = self._loss_and_grads(state, xb, yb, active)
        hp = dict(state.opt_state.hyperparams)
        hp["learning_rate"] = state.eta0 * lr_factor(state.step, state.total_steps, self.schedule)
        if self.lam_kind == "early":
            hp["weight_decay"] = jnp.where(state.step < self.lam_until, state.lam0, jnp.zeros_like(state.lam0))
        opt_state = state.opt_state._replace(hyperparams=hp)
        updates, new_opt = self.optimizer.update(grads, opt_state, state.params, **extra)
        new_params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & jnp.isfinite(2.0 * l2_penalty(new_params))
        take = active & finite
        sel = lambda a, b: jax.tree.map(lambda u, v: jnp.where(take, u, v), a, b)
        new = self._log_lam_changes(state._replace(
            params=sel(new_params, state.params),
            opt_state=sel(new_opt, state.opt_state),
            step=state.step + take.astype(jnp.int32),
            diverged=state.diverged | (active & ~finite),
        ))
        return new, loss, grads

    # -- measurement -------------------------------------------------------------------
    def _eval(self, params, x, y):
        """(sum of per-sample data loss * normaliser, number correct) over a whole dataset."""
        n = x.shape[0]
        eb = self.eval_batch_size

        def part(xs, ys):
            logits = self.apply_fn(params, xs)
            l = self.loss_fn(logits, ys) * xs.shape[0]       # = sum / (2K)
            c = jnp.sum(jnp.argmax(logits, -1) == jnp.argmax(ys, -1))
            return l, c

        if eb is None or eb >= n:
            l, c = part(x, y)
            return l / n, c / n
        nf = n // eb
        xs = x[: nf * eb].reshape((nf, eb) + x.shape[1:])
        ys = y[: nf * eb].reshape((nf, eb) + y.shape[1:])
        ls, cs = jax.lax.map(lambda a: part(*a), (xs, ys))
        l, c = jnp.sum(ls), jnp.sum(cs)
        if nf * eb < n:
            l2, c2 = part(x[nf * eb:], y[nf * eb:])
            l, c = l + l2, c + c2
        return l / n, c / n

    def measure(self, state: TrainState, data) -> Measurement:
        tr_l, tr_a = self._eval(state.params, data[0], data[1])
        te_l, te_a = self._eval(state.params, data[2], data[3])
        norm = jnp.sqrt(2.0 * l2_penalty(state.params))
        vals = [tr_l, 1.0 - tr_a, te_a, te_l, norm]
        nan = jnp.float32(jnp.nan)
        mask = lambda v: jnp.where(state.diverged, nan, jnp.asarray(v, jnp.float32))
        return Measurement(*[mask(v) for v in vals],
                           kernel_norms={k: mask(v) for k, v in kernel_norms(state.params).items()})

    def run(self, state: TrainState, n, data) -> Tuple[TrainState, Measurement]:
        """``n`` (traced int) more updates, then a measurement. Pure; jit/vmap friendly."""
        state = jax.lax.fori_loop(0, n, lambda _, s: self.step(s, data), state)
        return state, self.measure(state, data)

    def run_with_lam(self, state: TrainState, n, data) -> Tuple[TrainState, Measurement, jax.Array]:
        """:meth:`run`, and the lam in force after it (:meth:`lam`)."""
        state, meas = self.run(state, n, data)
        return state, meas, self.lam(state)

    def lam_changes(self, state: TrainState) -> np.ndarray:
        """int64 (D,): the update counts after which lam changed in the (single, not vmapped)
        run ``state`` (AutoL2: the deciding measurements' steps; ``early:E``: E once passed)."""
        return lam_change_steps(self.lam_kind, self.lam_until, int(state.step),
                                 None if state.lam_changes is None else np.asarray(state.lam_changes))


def lam_change_steps(kind: str, until: Optional[int], steps_done: int, log: Optional[np.ndarray]) -> np.ndarray:
    """Host side of :meth:`Engine.lam_changes` (also used by :mod:`l2lab.sweep` per configuration)."""
    if kind == "autol2" and log is not None:
        return np.asarray(log, np.int64)[np.asarray(log) >= 0]
    if kind == "early" and until < steps_done:
        return np.asarray([until], np.int64)
    return np.zeros(0, np.int64)


def set_hyperparams(state: TrainState, *, eta=None, lam=None) -> TrainState:
    """A copy of ``state`` with a new base learning rate and/or L2 parameter (jit/vmap friendly).
    The schedule multiplies the new ``eta``; for ``"early:E"`` the new ``lam`` is the base one,
    for ``"autol2"`` the start of the AutoL2 schedule (meant for a fresh state)."""
    if not isinstance(state, TrainState):
        raise TypeError(f"state must be a TrainState, got {type(state).__name__}")
    if eta is not None:
        state = state._replace(eta0=jnp.asarray(eta, jnp.float32) + jnp.zeros_like(state.eta0))
    if lam is not None and state.lam_changes is not None:      # AutoL2
        return state._replace(opt_state=_autol2.with_init_lam(state.opt_state, lam))
    if lam is not None and state.lam0 is not None:             # early:E
        state = state._replace(lam0=jnp.asarray(lam, jnp.float32) + jnp.zeros_like(state.lam0))
    if lam is not None:
        hp = dict(state.opt_state.hyperparams)
        hp["weight_decay"] = jnp.asarray(lam, hp["weight_decay"].dtype) + jnp.zeros_like(hp["weight_decay"])
        state = state._replace(opt_state=state.opt_state._replace(hyperparams=hp))
    return state


def augmentation(mixup_alpha: Optional[float] = 1.0) -> Callable:
    """SM A's augmentation ``(key, x, y_onehot) -> (x, y_onehot)``: random flip, random crop
    (zero padding 4) and mixup (``l2lab.data.augment``); ``mixup_alpha=None`` skips mixup."""
    from l2lab import data as _data

    def fn(key, x, y):
        return _data.augment(key, x, y, flip=True, crop=True, mixup_alpha=mixup_alpha)

    return fn




def check_dataset(name, ds) -> None:
    """A dataset (``l2lab.data.Dataset`` or any object with ``x`` (N, ...), ``y`` (N,) and a
    positive int ``num_classes``) with N >= 1."""
    for attr in ("x", "y", "num_classes"):
        if not hasattr(ds, attr):
            raise _checks.bad_type(name, f"must be a dataset with x, y, num_classes (missing {attr!r})")
    n = np.shape(ds.x)[0] if np.ndim(ds.x) else 0
    if np.ndim(ds.y) != 1 or n != np.shape(ds.y)[0] or n == 0:
        raise _checks.bad_value(name, f"must have x of shape (N, ...) and y of shape (N,) with N >= 1, got "
                                      f"{np.shape(ds.x)} and {np.shape(ds.y)}")
    _checks.positive_int(f"{name}.num_classes", ds.num_classes)
