"""Training one configuration, exactly as in the paper (Sec. 1.1, Sec. 2, SM A).

:class:`TrainConfig` is one configuration (its engine settings flat, as its JSON is written);
:func:`train` trains it with :class:`l2lab.engine.Engine` and returns its curves
(:class:`l2lab.engine.TrainResult`). The objective, optimizers and lam schedules are described
in :mod:`l2lab.engine.core`.
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks
from l2lab.engine.core import N_SCALARS, Engine, TrainResult, measurement_grid, seed_keys
from l2lab.engine.settings import AUTOL2_EVERY, EngineSettings, parse_lam_schedule, settings_of

__all__ = ["TrainConfig", "train", "progress_bar"]

Params = Any


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
    autol2_every: int = AUTOL2_EVERY
    optimizer: str = "sgd"

    @property
    def settings(self) -> EngineSettings:
        """The engine settings of this configuration (checked: ValueError/TypeError naming the field)."""
        return settings_of(self)

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError``/``TypeError`` naming the bad field; return ``self``."""
        _checks.float32_exact("eta", _checks.positive_float("eta", self.eta))
        _checks.float32_exact("lam", _checks.nonneg_float("lam", self.lam))
        _checks.int32_steps("steps", self.steps)
        _checks.prng_seed("seed", self.seed)
        _checks.positive_int("points_per_octave", self.points_per_octave)
        self.settings
        parse_lam_schedule(self.lam_schedule, self.steps)
        return self



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
    from l2lab.engine import models as _models

    engine = Engine(lambda p, x: model.apply({"params": p}, x), train_ds, test_ds, config.settings)
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
    rows.append(meas0[:N_SCALARS])
    kns.append(meas0.kernel_norms)
    lams.append(jax.device_get(lam))
    bar = progress_bar(total=config.steps, disable=not progress, desc=f"eta={config.eta:g} lam={config.lam:g}")
    for a, b in zip(grid[:-1], grid[1:]):
        state, meas, lam = run(state, jnp.int32(b - a), engine.data)
        meas = jax.device_get(meas)
        rows.append(meas[:N_SCALARS])
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




def progress_bar(**kw):
    """A ``tqdm.auto`` progress bar (imported on first use)."""
    from tqdm.auto import tqdm
    return tqdm(**kw)
