"""What a sweep is about to run, and how long it will take here: said before it starts.

A reader who runs a chapter at ``L2LAB_SCALE=paper`` (on Colab, say) should know whether to wait
or to cut the grid. :func:`estimate_sweep` counts the configurations, groups, steps and
measurements of a :class:`l2lab.engine.SweepSpec` and times, on the current device, one short
run of its real training program (the same :class:`l2lab.engine.Engine` step and measurement a
sweep runs); :class:`SweepEstimate` shows the result as a sentence and a table.
"""
from __future__ import annotations

import html
import math
import time
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks
from l2lab.engine import models as _models
from l2lab.engine.core import Engine, measurement_grid, seed_keys
from l2lab.engine.spec import SweepSpec, expand, plan_groups, validate_spec

__all__ = ["SweepEstimate", "PlanSize", "plan_size", "estimate_sweep", "describe_model", "human_duration", "announce"]


class SweepEstimate(NamedTuple):
    """A sweep's size and its estimated time on ``device`` (``devices`` of them).

    ``step_seconds``, ``measure_seconds``, ``compile_seconds``: one update, one measurement
    (train and test sets) and one compilation with its first measurement, timed here.
    ``seconds``: the estimate, :meth:`predicted_seconds` of these.
    """
    model: str
    dataset: str
    configurations: int
    dropped: int
    groups: int
    steps: int                 # updates in all, as the groups run them (to each group's longest)
    measurements: int          # measurements in all
    device_steps: int          # updates one device runs one after another (its share of each group)
    device_measurements: int   # measurements one device runs one after another
    step_seconds: float
    measure_seconds: float
    compile_seconds: float
    devices: int
    device: str
    seconds: float

    def predicted_seconds(self) -> float:
        """``device_steps * step + device_measurements * measurement + groups * compilation``:
        the configurations of a group are sharded over the devices (padded to a multiple of
        their count) and trained one after another on each (conv nets on CPU; vmapped groups on
        an accelerator finish sooner)."""
        work = self.device_steps * self.step_seconds + self.device_measurements * self.measure_seconds
        return work + self.groups * self.compile_seconds

    def sentence(self) -> str:
        """One sentence: what is about to run and about how long it will take here."""
        dropped = f" ({self.dropped} left out above max_steps)" if self.dropped else ""
        return (f"About to train {self.model} on {self.dataset}: {self.configurations} "
                f"configurations{dropped} in {self.groups} group{'s' if self.groups > 1 else ''}, "
                f"{self.steps:,} steps and "
                f"{self.measurements:,} measurements in all; on {self.devices} {self.device} "
                f"device{'s' if self.devices > 1 else ''} that takes about "
                f"{human_duration(self.seconds)} (one step timed here: "
                f"{human_duration(self.step_seconds)}).")

    def rows(self):
        """The estimate as ``(what, value)`` rows of text."""
        return [("model, data", f"{self.model}, {self.dataset}"),
                ("configurations (groups)", f"{self.configurations} ({self.groups})"),
                ("steps in all", f"{self.steps:,}"), ("measurements in all", f"{self.measurements:,}"),
                ("one step (timed)", human_duration(self.step_seconds)),
                ("one measurement (timed)", human_duration(self.measure_seconds)),
                ("compilation, per group (timed)", human_duration(self.compile_seconds)),
                ("estimated time", human_duration(self.seconds))]

    def _repr_html_(self) -> str:
        # a plain table: the engine does not import the figures wing (tests/test_layout.py)
        esc = html.escape
        body = "".join(f'<tr><td style="padding:2px 8px">{esc(a)}</td>'
                       f'<td style="padding:2px 8px;text-align:right">{esc(b)}</td></tr>'
                       for a, b in self.rows())
        return (f"<p>{esc(self.sentence())}</p><div style='overflow-x:auto'><table "
                f"style='border-collapse:collapse;font-size:0.9em'><thead><tr><th></th><th>"
                f"{self.devices} x {esc(self.device)}</th></tr></thead><tbody>{body}</tbody></table></div>")

    def __str__(self) -> str:
        return self.sentence()


def human_duration(seconds: float) -> str:
    """``seconds`` in the unit a reader plans with: ``"0.87 s"``, ``"12 min"``, ``"42 h"``,
    ``"6.1 days"``."""
    seconds = _checks.real("seconds", seconds, minimum=0.0)
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h" if seconds >= 10 * 3600 else f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def describe_model(spec: SweepSpec) -> str:
    """A short name of ``spec``'s network: ``"FC 3x2048"``, ``"CNN (300 channels)"``,
    ``"CNN with BN (300 channels)"``, ``"WRN-28-10"``."""
    validate_spec(spec)
    kw = spec.model_kwargs
    if spec.arch == "fc":
        widths = tuple(kw.get("widths", ()))
        if widths and len(set(widths)) == 1:
            return f"FC {len(widths)}x{widths[0]}"
        return "FC " + "-".join(str(w) for w in widths) if widths else "FC"
    if spec.arch == "wrn":
        return f"WRN-{kw.get('depth', 28)}-{kw.get('width', 10)}"
    name = "CNN with BN" if spec.arch == "cnn_bn" else "CNN"
    return f"{name} ({kw['channels']} channels)" if "channels" in kw else name


def _time(fn) -> float:
    """Seconds ``fn()`` takes, its result waited for."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def _timings(spec: SweepSpec, train_ds: Any, test_ds: Any, cfg: Any, timed_steps: int):
    """``(step, measurement, compilation)`` seconds of ``cfg``'s training program."""
    model = _models.make_model(spec.arch, num_classes=int(train_ds.num_classes), **spec.model_kwargs)
    engine = Engine(lambda p, x: model.apply({"params": p}, x), train_ds, test_ds, spec.settings)
    k_init, k_data = seed_keys(cfg.seed)
    params = _models.init(model, k_init, (1,) + tuple(np.shape(train_ds.x)[1:]))
    state = engine.init_state(params, cfg.eta, cfg.lam, cfg.steps, k_data)
    run = jax.jit(engine.run_with_lam)
    compile_s = _time(lambda: run(state, jnp.int32(0), engine.data))    # compiles, measures
    measure_s = _time(lambda: run(state, jnp.int32(0), engine.data))
    _time(lambda: run(state, jnp.int32(1), engine.data))                # the first update's one-off costs
    # a step is the difference of two runs, so that what every call costs once cancels
    one_s = _time(lambda: run(state, jnp.int32(1), engine.data))
    more_s = _time(lambda: run(state, jnp.int32(1 + timed_steps), engine.data))
    return max(more_s - one_s, 1e-9) / timed_steps, measure_s, compile_s


class PlanSize(NamedTuple):
    """What a sweep's plan trains (:func:`plan_size`): counts only, no time."""
    configurations: int
    dropped: int               # left out: budget above max_steps
    groups: int
    steps: int                 # updates in all, as the groups run them (to each group's longest)
    measurements: int
    device_steps: int          # updates one device runs one after another
    device_measurements: int
    longest: int               # the longest budget (the floor of the wall time on any number of devices)


def plan_size(spec: SweepSpec, devices: int = 1) -> PlanSize:
    """Count what ``spec`` trains on ``devices`` devices: its configurations and groups as
    :func:`l2lab.engine.run_sweep` plans them (:func:`l2lab.engine.plan_groups`), the updates and
    measurements in all (each configuration of a group runs to the group's longest budget) and
    those one device runs in a row (``ceil(len(group) / devices)`` configurations per group).
    ``device_steps`` times a step time is the sweep's training time on such devices (the
    README's cost table: ``tools/cost_table.py``). Pure counting: no data, no compilation."""
    validate_spec(spec)
    devices = _checks.positive_int("devices", devices)
    configs, dropped = expand(spec)
    groups = plan_groups(configs, spec.bucket, spec.max_group_size, devices)
    steps = measurements = device_steps = device_measurements = 0
    for g in groups:
        longest = max(configs[i].steps for i in g)
        points, share = len(measurement_grid(longest, spec.points_per_octave)), -(-len(g) // devices)
        steps, measurements = steps + len(g) * longest, measurements + len(g) * points
        device_steps, device_measurements = device_steps + share * longest, device_measurements + share * points
    return PlanSize(len(configs), len(dropped), len(groups), steps, measurements, device_steps,
                    device_measurements, max((c.steps for c in configs), default=0))


def estimate_sweep(spec: SweepSpec, *, train_ds: Any = None, test_ds: Any = None,
                   timed_steps: int = 2, devices: Optional[int] = None) -> SweepEstimate:
    """What ``spec`` will run and about how long it takes on the current device.

    Counts ``spec``'s configurations, groups (:func:`l2lab.engine.plan_groups`, as
    :func:`l2lab.engine.run_sweep` plans them on ``devices``), updates (a group runs each of its
    configurations to the group's longest budget) and measurements, then
    times its training program once: compilation with a first measurement, a second
    measurement, and a step as the difference between runs of 1 and ``1 + timed_steps``
    updates (what every call costs once cancels) of the first configuration on the real data and
    model (``train_ds``/``test_ds`` as in :func:`l2lab.engine.run_sweep`; default the spec's
    own). The estimate is :meth:`SweepEstimate.predicted_seconds`. Costs one compilation and a
    few steps; nothing is written.

    Args:
      spec: the sweep. timed_steps: updates timed (>= 1). devices: devices the sweep shards
        over (default: all of ``jax.devices()``).
    """
    validate_spec(spec)
    timed_steps = _checks.positive_int("timed_steps", timed_steps)
    if (train_ds is None) != (test_ds is None):
        raise _checks.bad_value("train_ds", "train_ds and test_ds must be given together")
    n_devices = len(jax.devices()) if devices is None else _checks.positive_int("devices", devices)
    if train_ds is None:
        from l2lab.engine.runner import load_data
        train_ds, test_ds = load_data(spec)
    size = plan_size(spec, n_devices)
    configs = expand(spec)[0]
    step_s, measure_s, compile_s = _timings(spec, train_ds, test_ds, configs[0], timed_steps)
    est = SweepEstimate(describe_model(spec), spec.dataset, size.configurations, size.dropped,
                        size.groups, size.steps, size.measurements, size.device_steps,
                        size.device_measurements, step_s, measure_s, compile_s, n_devices,
                        jax.devices()[0].device_kind, math.nan)
    return est._replace(seconds=est.predicted_seconds())


def announce(est: SweepEstimate) -> None:
    """Show ``est`` to the reader: as HTML in a notebook, as its sentence on stderr elsewhere."""
    from l2lab import display

    display.show(est.sentence(), html=est._repr_html_())
