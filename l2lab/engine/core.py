"""Training one configuration, exactly as in the paper (Sec. 1.1, Sec. 2, SM A).

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

import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2lab import _checks
from l2lab import autol2 as _autol2

__all__ = [
    "TrainConfig", "TrainResult", "TrainState", "Measurement", "Engine", "kernel_paths", "kernel_norms",
    "kernel_leaves", "path_str",
    "xent_loss", "mse_loss", "l2_penalty", "total_loss", "make_optimizer", "lr_factor",
    "measurement_grid", "seed_keys", "set_hyperparams", "train", "LAM_SCHEDULES",
    "parse_lam_schedule", "make_autol2_optimizer", "OPTIMIZERS",
]

Params = Any
LOSSES = ("xent", "mse")
SCHEDULES = ("constant", "paper")
LAM_SCHEDULES = ("constant", "early:E", "autol2")
OPTIMIZERS = ("sgd", "adam", "adamw")
_MAX_LAM_CHANGES = 64       # AutoL2 decays logged per run (float32 lam reaches 0 after ~45 decays)


# ----------------------------------------------------------------------------- losses

def xent_loss(logits: jax.Array, y_onehot: jax.Array) -> jax.Array:
    """SM A softmax loss ``-1/(2 K |B|) sum y_i log softmax(f)_i``. logits, y_onehot: (B, K)."""
    b, k = logits.shape
    return -jnp.sum(y_onehot * jax.nn.log_softmax(logits)) / (2.0 * k * b)


def mse_loss(logits: jax.Array, y_onehot: jax.Array) -> jax.Array:
    """MSE with the same normalisation: ``1/(2 K |B|) sum ||f - y||^2``. (B, K) -> scalar."""
    b, k = logits.shape
    return jnp.sum(jnp.square(logits - y_onehot)) / (2.0 * k * b)


_LOSS_FNS = {"xent": xent_loss, "mse": mse_loss}


def l2_penalty(params: Params) -> jax.Array:
    """``1/2 ||theta||^2`` over every leaf of ``params`` (biases included), float32 scalar."""
    return 0.5 * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params))


def total_loss(apply_fn: Callable, params: Params, x: jax.Array, y_onehot: jax.Array,
               lam: float, loss: str = "xent") -> jax.Array:
    """The paper's objective ``L_data + lam/2 ||theta||^2`` (``apply_fn(params, x) -> logits``)."""
    _checks.one_of("loss", loss, LOSSES)
    return _LOSS_FNS[loss](apply_fn(params, x), y_onehot) + lam * l2_penalty(params)


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


def _last_key(path) -> Any:
    k = path[-1] if path else None
    return getattr(k, "key", getattr(k, "name", None))


def kernel_leaves(params: Params) -> Dict[str, Any]:
    """``{path: array}``, sorted by path (``"/".join(keys)``), of the leaves of ``params`` whose
    last key is ``"kernel"`` (flax Dense/Conv kernels; biases and batch-norm scales are not
    kernels). Works on traced pytrees (inside jit/scan)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    out = {path_str(p): w for p, w in leaves if p and _last_key(p) == "kernel"}
    return {k: out[k] for k in sorted(out)}


def kernel_paths(params: Params) -> List[str]:
    """Sorted paths of the kernels of ``params`` (:func:`kernel_leaves`)."""
    return list(kernel_leaves(params))


def kernel_norms(params: Params) -> Dict[str, jax.Array]:
    """``{path: ||w||_2}`` (float32 scalars) of every kernel of ``params`` (:func:`kernel_paths`)."""
    return {p: jnp.sqrt(jnp.sum(jnp.square(jnp.asarray(w, jnp.float32))))
            for p, w in kernel_leaves(params).items()}


# ----------------------------------------------------------------------------- optimiser

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


def _check_optimizer(optimizer, momentum, lam_kind: Optional[str] = None) -> Tuple[str, float]:
    """``(optimizer, momentum)`` checked: one of :data:`OPTIMIZERS`; momentum 0 unless SGD; not
    ``"adamw"`` with the lam schedule kind ``"autol2"`` (AutoL2 schedules a coupled L2 term)."""
    _checks.one_of("optimizer", optimizer, OPTIMIZERS)
    momentum = _check_momentum(momentum)
    if optimizer != "sgd" and momentum != 0:
        raise _checks.bad_value("momentum", f"must be 0 with optimizer={optimizer!r} (Adam has its own "
                                            f"first moment), got {momentum:g}")
    if optimizer == "adamw" and lam_kind == "autol2":
        raise _checks.bad_value("optimizer", "'adamw' (decoupled decay) cannot be used with lam_schedule "
                                             "'autol2', which schedules a coupled L2 term; use 'adam' or 'sgd'")
    return optimizer, momentum


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
    optimizer, momentum = _check_optimizer(optimizer, momentum)
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
    optimizer, momentum = _check_optimizer(optimizer, momentum, "autol2")
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


def parse_lam_schedule(lam_schedule: str, steps: Optional[int] = None) -> Tuple[str, Optional[int]]:
    """``"constant"`` / ``"autol2"`` -> ``(name, None)``; ``"early:E"`` -> ``("early", E)``.

    ValueError naming ``lam_schedule`` for anything else, or (given the budget ``steps``) for an
    ``E`` outside ``[1, steps]``; TypeError if it is not a str.
    """
    _checks.string("lam_schedule", lam_schedule)
    if lam_schedule in ("constant", "autol2"):
        return lam_schedule, None
    kind, sep, val = lam_schedule.partition(":")
    if kind != "early" or not sep:
        raise _checks.bad_value("lam_schedule", f"must be one of {LAM_SCHEDULES}, got {lam_schedule!r}")
    try:
        until = int(val)
    except ValueError:
        raise _checks.bad_value("lam_schedule", f"'early:E' needs an integer E, got {val!r}") from None
    if until < 1 or (steps is not None and until > steps):
        top = "" if steps is None else f" and <= the budget steps={steps}"
        raise _checks.bad_value("lam_schedule", f"'early:E' needs E >= 1{top}, got E={until}")
    return "early", until


def lr_factor(step: jax.Array, total_steps: jax.Array, schedule: str) -> jax.Array:
    """Multiplier of ``eta`` at update ``step`` (0-based). ``"paper"``: x0.2 at 0.3T, 0.6T, 0.9T."""
    _checks.one_of("schedule", schedule, SCHEDULES)
    if schedule == "constant":
        return jnp.ones((), jnp.float32)
    t = jnp.asarray(step, jnp.float32)
    tt = jnp.asarray(total_steps, jnp.float32)
    n = (t >= 0.3 * tt).astype(jnp.float32) + (t >= 0.6 * tt) + (t >= 0.9 * tt)
    return jnp.power(jnp.float32(0.2), n)


# ----------------------------------------------------------------------------- config/records

class TrainConfig(NamedTuple):
    """One training configuration.

    eta: learning rate (> 0). lam: L2 parameter (>= 0). steps: number of SGD updates T (>= 1).
    batch_size: minibatch size; ``>= N`` means full batch (the paper's FC: 512 of 512 samples).
    momentum: heavy-ball momentum in [0, 1). schedule: ``"constant"`` or ``"paper"``
    (eta x0.2 at 0.3T, 0.6T, 0.9T). loss: ``"xent"`` (SM A) or ``"mse"``. seed: initial weights
    and minibatch order. points_per_octave: measurements per doubling of t (>= 1).
    eval_batch_size: evaluate train/test sets in chunks of this size (``None``: all at once).
    augment: SM A's "flip, crop and mixup" (``l2lab.data.augment``, mixup alpha 1) applied to
    every training minibatch (images ``(N, H, W, C)`` only); measurements use clean data.
    lam_schedule: ``"constant"``, ``"early:E"`` (lam for the first E updates, then 0;
    ``1 <= E <= steps``) or ``"autol2"`` (SM E, starting at ``lam``; see the module docstring).
    autol2_every: AutoL2 measures every this many updates (SM E: 5).
    optimizer: ``"sgd"`` (the paper's), ``"adam"`` (coupled L2 through Adam) or ``"adamw"``
    (decoupled weight decay; not with ``"autol2"``); Adam needs ``momentum == 0``.
    """

    eta: float
    lam: float
    steps: int
    batch_size: int = 512
    momentum: float = 0.0
    schedule: str = "constant"
    loss: str = "xent"
    seed: int = 0
    points_per_octave: int = 4
    eval_batch_size: Optional[int] = None
    augment: bool = False
    lam_schedule: str = "constant"
    autol2_every: int = _autol2.EVERY
    optimizer: str = "sgd"

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError``/``TypeError`` naming the bad field; return ``self``."""
        _checks.positive_float("eta", self.eta)
        _checks.nonneg_float("lam", self.lam)
        _checks.positive_int("steps", self.steps)
        _checks.positive_int("batch_size", self.batch_size)
        _check_momentum(self.momentum)
        _checks.one_of("schedule", self.schedule, SCHEDULES)
        _checks.one_of("loss", self.loss, LOSSES)
        _checks.nonneg_int("seed", self.seed)
        _checks.positive_int("points_per_octave", self.points_per_octave)
        if self.eval_batch_size is not None:
            _checks.positive_int("eval_batch_size", self.eval_batch_size)
        _checks.boolean("augment", self.augment)
        kind, _ = parse_lam_schedule(self.lam_schedule, self.steps)
        _checks.positive_int("autol2_every", self.autol2_every)
        _check_optimizer(self.optimizer, self.momentum, kind)
        return self


class Measurement(NamedTuple):
    """Scalars (or (C,) under vmap) measured at one grid point; NaN once diverged."""

    train_loss: jax.Array      # data loss on the whole training set, no L2 term
    train_error: jax.Array     # 1 - training accuracy
    test_accuracy: jax.Array
    test_loss: jax.Array       # data loss on the test set
    param_norm: jax.Array      # ||theta||_2 over all parameters
    kernel_norms: Optional[Dict[str, jax.Array]] = None   # {path: ||w||_2} of each kernel (kernel_norms())


_N_SCALARS = 5     # the scalar fields of a Measurement, in order (rows of 5 on the host)


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
    ``lam_schedule``/``autol2_every``/``optimizer``: as in :class:`TrainConfig` (an ``"early:E"``
    bound above a state's budget is not checked here: :meth:`TrainConfig.validate` does). The
    optax transformation is ``engine.optimizer``, its name ``engine.optimizer_name``.
    """

    def __init__(self, apply_fn: Callable, train_ds: Any, test_ds: Any, *, batch_size: int,
                 loss: str = "xent", momentum: float = 0.0, schedule: str = "constant",
                 eval_batch_size: Optional[int] = None, augment: Optional[Callable] = None,
                 lam_schedule: str = "constant", autol2_every: int = _autol2.EVERY,
                 optimizer: str = "sgd"):
        _check_dataset("train_ds", train_ds)
        _check_dataset("test_ds", test_ds)
        _checks.one_of("loss", loss, LOSSES)
        _checks.one_of("schedule", schedule, SCHEDULES)
        _checks.positive_int("batch_size", batch_size)
        if eval_batch_size is not None:
            eval_batch_size = _checks.positive_int("eval_batch_size", eval_batch_size)
        self.lam_kind, self.lam_until = parse_lam_schedule(lam_schedule)
        self.optimizer_name, momentum = _check_optimizer(optimizer, momentum, self.lam_kind)
        self.lam_schedule = lam_schedule
        self.autol2_every = _checks.positive_int("autol2_every", autol2_every)
        k = int(train_ds.num_classes)
        self.apply_fn = apply_fn
        self.num_classes = k
        self.n_train = int(np.shape(train_ds.y)[0])
        self.batch_size = min(int(batch_size), self.n_train)
        self.full_batch = self.batch_size >= self.n_train
        self.batches_per_epoch = self.n_train // self.batch_size
        self.loss_name = loss
        self.loss_fn = _LOSS_FNS[loss]
        self.momentum = float(momentum)
        self.schedule = schedule
        self.eval_batch_size = eval_batch_size
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be None or a callable (key, x, y_onehot) -> (x, y_onehot), got {augment!r}")
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
            extra["lam_changes"] = jnp.full((_MAX_LAM_CHANGES,), -1, jnp.int32)
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
    def _batch(self, state: TrainState, data):
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
        idx = jnp.arange(_MAX_LAM_CHANGES, dtype=jnp.int32)
        return state._replace(lam_changes=jnp.where(idx == ctrl.decays - 1, ctrl.last_decay, state.lam_changes))

    def step(self, state: TrainState, data) -> TrainState:
        """One optimizer update (a no-op once diverged or ``step == total_steps``)."""
        xb, yb = self._batch(state, data)
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
        return self._log_lam_changes(state._replace(
            params=sel(new_params, state.params),
            opt_state=sel(new_opt, state.opt_state),
            step=state.step + take.astype(jnp.int32),
            diverged=state.diverged | (active & ~finite),
        ))

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
        return _lam_change_steps(self.lam_kind, self.lam_until, int(state.step),
                                 None if state.lam_changes is None else np.asarray(state.lam_changes))


def _lam_change_steps(kind: str, until: Optional[int], steps_done: int, log: Optional[np.ndarray]) -> np.ndarray:
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


# ----------------------------------------------------------------------------- train()

def train(model: Any, train_ds: Any, test_ds: Any, config: TrainConfig, *,
          params: Optional[Params] = None, progress: bool = True) -> TrainResult:
    """Train one configuration and return its measured curves (never raises on divergence).

    model: a flax module (``l2lab.models``) or any object with ``apply({"params": p}, x)``.
    train_ds, test_ds: datasets with ``x`` float32 (N, ...), ``y`` int (N,), ``num_classes``
    (``l2lab.data.Dataset``). params: initial parameters (default: ``l2lab.models.init`` with the
    init key of :func:`seed_keys(config.seed)`, the same weights a sweep uses for that seed).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    if not hasattr(model, "apply"):
        raise TypeError(f"model must be a flax module, got {type(model).__name__}")
    from l2lab import models as _models

    apply_fn = lambda p, x: model.apply({"params": p}, x)
    engine = Engine(apply_fn, train_ds, test_ds, batch_size=config.batch_size, loss=config.loss,
                    momentum=config.momentum, schedule=config.schedule,
                    eval_batch_size=config.eval_batch_size,
                    augment=augmentation() if config.augment else None,
                    lam_schedule=config.lam_schedule, autol2_every=config.autol2_every,
                    optimizer=config.optimizer)
    if config.augment and np.ndim(train_ds.x) != 4:
        raise ValueError(f"augment=True needs image data (N, H, W, C), got x of shape {np.shape(train_ds.x)}")
    k_init, k_data = seed_keys(config.seed)
    if params is None:
        params = _models.init(model, k_init, (1,) + tuple(np.shape(train_ds.x)[1:]))
    t0 = time.perf_counter()
    state = engine.init_state(params, config.eta, config.lam, config.steps, k_data)
    run = jax.jit(engine.run_with_lam)
    grid = measurement_grid(config.steps, config.points_per_octave)
    rows, lams, kns = [], [], []
    state, meas0, lam = run(state, jnp.int32(0), engine.data)     # same program: 0 updates, measure
    meas0 = jax.device_get(meas0)
    rows.append(meas0[:_N_SCALARS])
    kns.append(meas0.kernel_norms)
    lams.append(jax.device_get(lam))
    bar = _tqdm(total=config.steps, disable=not progress, desc=f"eta={config.eta:g} lam={config.lam:g}")
    for a, b in zip(grid[:-1], grid[1:]):
        state, meas, lam = run(state, jnp.int32(b - a), engine.data)
        meas = jax.device_get(meas)
        rows.append(meas[:_N_SCALARS])
        kns.append(meas.kernel_norms)
        lams.append(jax.device_get(lam))
        bar.update(int(b - a))
    bar.close()
    wall = time.perf_counter() - t0
    cols = np.asarray(rows, np.float64).T  # (5, M)
    diverged = bool(state.diverged) or not np.all(np.isfinite(cols))
    return TrainResult(grid, *cols, diverged=diverged,
                       diverged_at=int(state.step) if bool(state.diverged) else -1, wall_time=wall,
                       lam=np.asarray(lams, np.float64), lam_changes=engine.lam_changes(state),
                       kernel_norms={k: np.asarray([r[k] for r in kns], np.float64) for k in sorted(kns[0])})


# ----------------------------------------------------------------------------- helpers

def _tqdm(**kw):
    from tqdm.auto import tqdm
    return tqdm(**kw)


def _check_momentum(momentum) -> float:
    """Heavy-ball momentum: a real number in [0, 1)."""
    return _checks.real("momentum", momentum, minimum=0.0, maximum=1.0, open_maximum=True)


def _check_dataset(name, ds) -> None:
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
