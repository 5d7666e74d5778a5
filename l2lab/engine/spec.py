"""What defines a sweep: :class:`SweepSpec`, its budgets, configurations and groups.

A spec is data (flat JSON, :meth:`SweepSpec.to_json`; :func:`spec_id` is a hash of it that names
cache folders, unchanged by fields added later at their defaults). :func:`expand` turns it into
one :class:`l2lab.engine.TrainConfig` per ``(seed, eta, lam)`` with its step budget;
:func:`group_configs` bins them by budget into the groups that train as one program.
:func:`validate_spec` is the one check of a spec (its engine settings through
:class:`l2lab.engine.EngineSettings`); the functions after it trust a checked spec.
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from l2lab import _checks
from l2lab.engine.models import ARCHS
from l2lab.engine.records import nan_to_none
from l2lab.engine.settings import EngineSettings, parse_lam_schedule, settings_of
from l2lab.engine.train import TrainConfig

__all__ = ["SweepSpec", "parse_budget", "spec_id", "spec_id_of_json", "config_id", "budget_steps", "expand",
           "group_configs", "validate_spec", "BUDGET_KINDS", "IMAGE_SIZES", "LATER_FIELDS"]

BUDGET_KINDS = ("steps", "epochs", "etalam", "etalam-epochs")
IMAGE_SIZES = (8, 16, 32)
LATER_FIELDS = {"lam_schedule": "constant", "autol2_every": 5,   # SweepSpec fields added later
                "optimizer": "sgd"}


class SweepSpec(NamedTuple):
    """Everything that defines a sweep (and hence its results).

    arch: ``"fc" | "cnn" | "cnn_bn" | "wrn"``; model_kwargs: dict for :func:`l2lab.models.make_model`.
    dataset: name for :func:`l2lab.data.paper_split`; n_train, n_test: its sizes (n_test None: all).
    etas, lams, seeds: the grid. budget: ``"steps:N" | "epochs:E" | "etalam:c" | "etalam-epochs:c"``.
    batch_size, momentum, schedule, loss, points_per_octave, eval_batch_size: as in TrainConfig.
    max_steps: budgets above it are dropped. bucket: budget-grouping factor (>= 1).
    max_group_size: most configurations trained together; on ``n`` devices rounded up to a
    multiple of ``n`` (each device holds at most ``ceil(max_group_size / n)``, as it would
    with the group padded; see :func:`plan_groups`). t_star_tol: absolute accuracy
    tolerance of the recorded t* (the paper's 0.5% = 0.005; recompute any other from the curves).
    augment: SM A's flip/crop/mixup on training minibatches (images only).
    lam_schedule, autol2_every: as in TrainConfig (for ``"autol2"`` the ``lams`` are the
    starting lams; an ``"early:E"`` above a configuration's budget is an error).
    optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"``, as in TrainConfig (one per sweep: its single
    Engine trains every group with it).
    """

    arch: str = "fc"
    model_kwargs: Dict[str, Any] = {}
    dataset: str = "mnist5k"
    n_train: int = 512
    n_test: Optional[int] = None
    etas: Tuple[float, ...] = (0.1,)
    lams: Tuple[float, ...] = (0.01,)
    seeds: Tuple[int, ...] = (0,)
    budget: str = "etalam:2"
    batch_size: int = 512
    momentum: float = 0.0
    schedule: str = "constant"
    loss: str = "xent"
    points_per_octave: int = 8
    eval_batch_size: Optional[int] = None
    max_steps: int = 2 ** 20
    bucket: float = 2.0
    max_group_size: int = 64
    t_star_tol: float = 0.005
    augment: bool = False
    image_size: int = 32
    lam_schedule: str = "constant"
    autol2_every: int = 5
    optimizer: str = "sgd"

    @property
    def settings(self) -> EngineSettings:
        """The engine settings every configuration of this sweep trains with (checked)."""
        return settings_of(self)

    def to_json(self) -> Dict[str, Any]:
        d = self._asdict()
        for k in ("etas", "lams", "seeds"):
            d[k] = list(d[k])
        d["model_kwargs"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d["model_kwargs"].items()}
        return d



def parse_budget(budget: str) -> Tuple[str, float]:
    """``"etalam:2"`` -> ``("etalam", 2.0)``; kinds: steps, epochs, etalam, etalam-epochs."""
    if not isinstance(budget, str) or ":" not in budget:
        raise _checks.bad_value("budget", f"must look like 'etalam:2' or 'steps:1000', got {budget!r}")
    kind, _, val = budget.partition(":")
    if kind not in BUDGET_KINDS:
        raise _checks.bad_value("budget", f"kind must be steps, epochs, etalam or etalam-epochs, got {kind!r}")
    try:
        v = float(val)
    except ValueError:
        raise _checks.bad_value("budget", f"value must be a number, got {val!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise _checks.bad_value("budget", f"value must be finite and > 0, got {v}")
    return kind, v


def spec_id(spec: SweepSpec) -> str:
    """Short content hash of ``spec`` (12 hex digits), e.g. for a cache folder name that changes
    whenever the spec does (:func:`run_sweep` refuses a folder holding a different sweep)."""
    validate_spec(spec)
    return spec_id_of_json(spec.to_json())


def spec_id_of_json(spec_json: Dict[str, Any]) -> str:
    """:func:`spec_id` of a spec's JSON form (as :meth:`SweepSpec.to_json` gives it; a manifest's
    ``spec`` once its non-finite numbers are decoded). Fields added later are left out at their
    defaults, so the ids of older specs stay."""
    d = {**SweepSpec().to_json(), **spec_json}
    for k, v in LATER_FIELDS.items():
        if d[k] == v:
            del d[k]
    text = json.dumps(nan_to_none(d), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def config_id(cfg: TrainConfig) -> str:
    """Stable file-name-safe id, e.g. ``"s0-eta0.1-lam0.001"``."""
    return f"s{cfg.seed}-eta{cfg.eta:.6g}-lam{cfg.lam:.6g}"


def budget_steps(kind: str, v: float, eta: float, lam: float, steps_per_epoch: int) -> float:
    if kind == "steps":
        return math.ceil(v)
    if kind == "epochs":
        return math.ceil(v * steps_per_epoch)
    if eta * lam == 0:
        return math.inf
    if kind == "etalam":
        return math.ceil(v / (eta * lam) - 1e-9)
    return math.ceil(v / (eta * lam) * steps_per_epoch - 1e-9)


def expand(spec: SweepSpec) -> Tuple[List[TrainConfig], List[Dict[str, Any]]]:
    """All configurations of ``spec`` (seed-major, then eta, then lam) and the dropped ones."""
    validate_spec(spec)
    kind, v = parse_budget(spec.budget)
    lam_kind, until = parse_lam_schedule(spec.lam_schedule)
    spe = max(1, spec.n_train // min(spec.batch_size, spec.n_train))
    keep, dropped = [], []
    for seed in spec.seeds:
        for eta in spec.etas:
            for lam in spec.lams:
                t = budget_steps(kind, v, float(eta), float(lam), spe)
                if t > spec.max_steps:
                    dropped.append({"seed": int(seed), "eta": float(eta), "lam": float(lam),
                                    "steps": None if math.isinf(t) else int(t),
                                    "reason": f"budget above max_steps={spec.max_steps}"})
                    continue
                cfg = TrainConfig(
                    eta=float(eta), lam=float(lam), steps=int(max(1, t)), batch_size=spec.batch_size,
                    momentum=float(spec.momentum), schedule=spec.schedule, loss=spec.loss, seed=int(seed),
                    points_per_octave=spec.points_per_octave, eval_batch_size=spec.eval_batch_size,
                    augment=bool(spec.augment), lam_schedule=spec.lam_schedule,
                    autol2_every=spec.autol2_every, optimizer=spec.optimizer)
                if lam_kind == "early" and until > cfg.steps:
                    parse_lam_schedule(spec.lam_schedule, cfg.steps)     # the error naming lam_schedule
                keep.append(cfg)
    if not keep:
        raise ValueError("the sweep has no configuration within max_steps")
    return keep, dropped


def group_configs(configs: Sequence[TrainConfig], bucket: float = 2.0,
                  max_group_size: int = 64) -> List[List[int]]:
    """Indices of ``configs`` grouped by budget bin ``ceil(log_bucket(steps))`` (``bucket == 1``:
    equal steps), shortest budgets first, each group at most ``max_group_size`` long."""
    bucket = _checks.real("bucket", bucket, minimum=1.0, allow_inf=True)
    max_group_size = _checks.positive_int("max_group_size", max_group_size)

    def key(c):
        if bucket == 1:
            return c.steps
        return math.ceil(math.log(c.steps) / math.log(bucket) - 1e-9)

    bins: Dict[Any, List[int]] = {}
    for i, c in enumerate(configs):
        bins.setdefault(key(c), []).append(i)
    groups = []
    for k in sorted(bins):
        idx = sorted(bins[k], key=lambda i: (configs[i].steps, i))
        groups += [idx[j:j + max_group_size] for j in range(0, len(idx), max_group_size)]
    return groups


def fill_groups(groups: List[List[int]], n_devices: int) -> List[List[int]]:
    """``groups`` (shortest budgets first) with a group moved into the next one when it fits
    into that one's padding (a group is padded to a multiple of ``n_devices``): the slots would
    train copies otherwise, so this costs nothing and saves the group's own program. One device:
    ``groups`` unchanged."""
    n_devices = _checks.positive_int("n_devices", n_devices)
    out: List[List[int]] = []
    for g in reversed(groups):
        if out and len(g) + len(out[0]) <= -(-len(out[0]) // n_devices) * n_devices:
            out[0] = list(g) + out[0]
        else:
            out.insert(0, list(g))
    return out


def plan_groups(configs: Sequence[TrainConfig], bucket: float = 2.0, max_group_size: int = 64,
                n_devices: int = 1) -> List[List[int]]:
    """The groups a fresh sweep trains on ``n_devices`` devices: :func:`group_configs` with
    ``max_group_size`` rounded up to a multiple of ``n_devices`` (a group is padded to one
    anyway, so no device holds more than ``ceil(max_group_size / n_devices)`` configurations
    and full groups waste no device), then :func:`fill_groups`. One device: ``group_configs``.

    E.g. 12 configurations of one budget, ``max_group_size=4`` on 8 devices: one group of 8
    and one of 4 padded to 8 (not three groups of 4, each leaving half the devices idle)."""
    n_devices = _checks.positive_int("n_devices", n_devices)
    max_group_size = _checks.positive_int("max_group_size", max_group_size)
    per_device = -(-max_group_size // n_devices)
    return fill_groups(group_configs(configs, bucket, per_device * n_devices), n_devices)



def validate_spec(spec: SweepSpec) -> None:
    """Raise TypeError/ValueError for a bad field of ``spec``. Every error but the first
    (``spec`` is no SweepSpec) comes from :mod:`l2lab._checks` and names the field in its
    ``argument`` attribute (:func:`main` turns it into the command-line option)."""
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec, got {type(spec).__name__}")
    _checks.one_of("arch", spec.arch, ARCHS)
    if not isinstance(spec.model_kwargs, dict):
        raise _checks.bad_type("model_kwargs", f"must be a dict, got {type(spec.model_kwargs).__name__}")
    _checks.string("dataset", spec.dataset, nonempty=True)
    _checks.positive_int("n_train", spec.n_train)
    if spec.n_test is not None:
        _checks.positive_int("n_test", spec.n_test)
    for name in ("etas", "lams", "seeds"):
        v = getattr(spec, name)
        if not isinstance(v, (tuple, list)) or len(v) == 0:
            raise _checks.bad_value(name, f"must be a non-empty tuple, got {v!r}")
    for e in spec.etas:
        _checks.float32_exact("etas", _checks.positive_float("etas", e))
    for l in spec.lams:
        _checks.float32_exact("lams", _checks.nonneg_float("lams", l))
    for s in spec.seeds:
        _checks.prng_seed("seeds", s)
    parse_budget(spec.budget)
    _checks.int32_steps("max_steps", spec.max_steps)
    _checks.positive_int("max_group_size", spec.max_group_size)
    _checks.real("bucket", spec.bucket, minimum=1.0, allow_inf=True)
    _checks.real("t_star_tol", spec.t_star_tol, minimum=0.0, maximum=1.0, open_maximum=True)
    _checks.boolean("augment", spec.augment)
    _checks.one_of("image_size", spec.image_size, IMAGE_SIZES)
    if spec.arch == "fc" and spec.image_size != 32:
        raise _checks.bad_value("image_size", f"applies to the conv nets only, not to arch {spec.arch!r}")
    if spec.lam_schedule != "autol2" and spec.autol2_every != LATER_FIELDS["autol2_every"]:
        raise _checks.bad_value("autol2_every", f"applies to lam_schedule 'autol2' only, not to "
                                                f"{spec.lam_schedule!r}")
    # batch_size, momentum, schedule, loss, eval_batch_size, augment, lam_schedule (its form;
    # "early:E" against each budget in expand), autol2_every, optimizer: EngineSettings's rules
    spec.settings
    _checks.positive_int("points_per_octave", spec.points_per_octave)

