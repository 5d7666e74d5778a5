"""The engine's static settings: one type, the only home of their rules.

:class:`EngineSettings` holds the nine settings that are fixed for a compiled training program
(one :class:`l2lab.engine.Engine`): batch size, loss, momentum, learning-rate schedule,
evaluation batch size, augmentation, lam schedule, AutoL2 measurement interval, optimizer. An
instance is valid by construction: ``EngineSettings(...)`` checks every field and the rules
between them (Adam needs momentum 0; AutoL2 schedules a coupled L2 term, so not ``"adamw"``) and
raises a ``ValueError``/``TypeError`` naming the field. :class:`l2lab.engine.TrainConfig` and
:class:`l2lab.engine.SweepSpec` keep these fields flat (the JSON they write is unchanged) and
derive their settings with :func:`settings_of`; code that holds an ``EngineSettings`` trusts it.

A new engine option is one field here (with its rule), one in ``TrainConfig`` and one in
``SweepSpec`` (their flat JSON), and its use in :class:`l2lab.engine.Engine`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

from l2lab import _checks

__all__ = ["EngineSettings", "settings_of", "parse_lam_schedule", "check_momentum", "check_optimizer", "FIELDS",
           "LOSSES", "SCHEDULES", "LAM_SCHEDULES", "OPTIMIZERS", "AUTOL2_EVERY"]

LOSSES = ("xent", "mse")
SCHEDULES = ("constant", "paper")
LAM_SCHEDULES = ("constant", "early:E", "autol2")
OPTIMIZERS = ("sgd", "adam", "adamw")
AUTOL2_EVERY = 5    # SM E: AutoL2 measures every 5 steps


def check_momentum(momentum) -> float:
    """Heavy-ball momentum: a real number in [0, 1)."""
    return _checks.real("momentum", momentum, minimum=0.0, maximum=1.0, open_maximum=True)


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


def check_optimizer(optimizer, momentum, lam_kind: Optional[str] = None) -> Tuple[str, float]:
    """``(optimizer, momentum)`` checked: one of :data:`OPTIMIZERS`; momentum 0 unless SGD; not
    ``"adamw"`` with the lam schedule kind ``"autol2"`` (AutoL2 schedules a coupled L2 term)."""
    _checks.one_of("optimizer", optimizer, OPTIMIZERS)
    momentum = check_momentum(momentum)
    if optimizer != "sgd" and momentum != 0:
        raise _checks.bad_value("momentum", f"must be 0 with optimizer={optimizer!r} (Adam has its own "
                                            f"first moment), got {momentum:g}")
    if optimizer == "adamw" and lam_kind == "autol2":
        raise _checks.bad_value("optimizer", "'adamw' (decoupled decay) cannot be used with lam_schedule "
                                             "'autol2', which schedules a coupled L2 term; use 'adam' or 'sgd'")
    return optimizer, momentum


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """The static settings of one training program (see the module docstring).

    batch_size: minibatch size (>= N means full batch). loss: ``"xent"`` (SM A) or ``"mse"``.
    momentum: heavy-ball momentum in [0, 1) (0 for Adam). schedule: ``"constant"`` or
    ``"paper"`` (eta x0.2 at 0.3T, 0.6T, 0.9T). eval_batch_size: evaluate in chunks of this
    size (None: all at once). augment: SM A's flip, crop and mixup on training minibatches.
    lam_schedule: ``"constant"``, ``"early:E"`` or ``"autol2"``. autol2_every: AutoL2 measures
    every this many updates. optimizer: ``"sgd"``, ``"adam"`` (coupled L2) or ``"adamw"``
    (decoupled; not with AutoL2). ``lam_kind``/``lam_until``: the parsed lam schedule.
    """

    batch_size: int
    loss: str = "xent"
    momentum: float = 0.0
    schedule: str = "constant"
    eval_batch_size: Optional[int] = None
    augment: bool = False
    lam_schedule: str = "constant"
    autol2_every: int = AUTOL2_EVERY
    optimizer: str = "sgd"

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)
        put("batch_size", _checks.positive_int("batch_size", self.batch_size))
        _checks.one_of("loss", self.loss, LOSSES)
        put("momentum", check_momentum(self.momentum))
        _checks.one_of("schedule", self.schedule, SCHEDULES)
        if self.eval_batch_size is not None:
            put("eval_batch_size", _checks.positive_int("eval_batch_size", self.eval_batch_size))
        _checks.boolean("augment", self.augment)
        kind, _ = parse_lam_schedule(self.lam_schedule)
        put("autol2_every", _checks.positive_int("autol2_every", self.autol2_every))
        check_optimizer(self.optimizer, self.momentum, kind)

    @property
    def lam_kind(self) -> str:
        return parse_lam_schedule(self.lam_schedule)[0]

    @property
    def lam_until(self) -> Optional[int]:
        return parse_lam_schedule(self.lam_schedule)[1]


FIELDS = tuple(f.name for f in dataclasses.fields(EngineSettings))


def settings_of(obj: Any) -> EngineSettings:
    """The :class:`EngineSettings` of anything that carries its fields flat (a ``TrainConfig``,
    a ``SweepSpec``); raises as :class:`EngineSettings` does for a bad field."""
    return EngineSettings(**{name: getattr(obj, name) for name in FIELDS})
