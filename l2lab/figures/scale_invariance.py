"""Figures of the chapter "L2 with batch normalization is an effective learning rate"
(:mod:`l2lab.studies.scale_invariance` traces), in the look of :mod:`l2lab.figures.plots`."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from l2lab import _checks
from l2lab.figures import plots
from l2lab.figures.tables import Table, table
from l2lab.studies import scale_invariance as si
from l2lab.studies import tracker

__all__ = ["trace_figure", "kernel_slider_figure", "QUANTITIES", "scaling_table", "late_table"]

#: Trace fields :func:`trace_figure` can draw, with their axis titles.
QUANTITIES = {"kernel_norm": "||w||", "effective_lr": "η / ||w||²",
              "angular_update": "angle(w<sub>t</sub>, w<sub>t+1</sub>) [rad]"}


def trace_figure(traces: Mapping[str, tracker.Trace], quantity: str, paths: Sequence[str], *,
                 title: str = "", equilibrium: bool = False, log_y: bool = False,
                 smooth: int = 1) -> go.Figure:
    """One curve per (run, kernel): ``traces[label].<quantity>[path]`` against the step.

    Args:
      traces: ordered ``label -> Trace`` (:func:`l2lab.studies.tracker.track`).
      quantity: one of :data:`QUANTITIES`; paths: kernels to draw (each in every trace).
      equilibrium: draw each run's ``arccos(1 - eta lam)`` as a dashed line (angular updates).
      smooth: running mean over this many steps (>= 1), to see through step-to-step noise.
    Returns:
      a styled plotly figure (curves of the same run share a colour, kernels differ by dash).
    """
    if not isinstance(traces, Mapping) or not traces:
        raise _checks.bad_type("traces", "must be a non-empty mapping label -> Trace")
    _checks.one_of("quantity", quantity, tuple(QUANTITIES))
    if isinstance(paths, str) or not paths:
        raise _checks.bad_value("paths", "must be a non-empty sequence of kernel paths")
    smooth = _checks.positive_int("smooth", smooth)
    dashes = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    fig = go.Figure()
    for i, (label, tr) in enumerate(traces.items()):
        if not isinstance(tr, tracker.Trace):
            raise _checks.bad_type("traces", f"values must be Trace, got {type(tr).__name__}")
        color = plots.COLORS[i % len(plots.COLORS)]
        for j, p in enumerate(paths):
            data = getattr(tr, quantity)
            if p not in data:
                raise _checks.bad_value("paths", f"{p!r} is not a kernel of run {label!r}")
            y = np.asarray(data[p], np.float64)
            if smooth > 1:
                y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            x = np.arange(y.size) + (smooth - 1) / 2
            fig.add_scatter(x=x, y=y, mode="lines", name=f"{label} · {p.split('/')[0]}",
                            line=dict(color=color, dash=dashes[j % len(dashes)], width=1.5))
        if equilibrium:
            eq = float(si.equilibrium_angular_step(tr.config["eta"], tr.config["lam"]))
            fig.add_scatter(x=[0, len(tr.steps) - 1], y=[eq, eq], mode="lines",
                            name=f"{label} · arccos(1 − ηλ)",
                            line=dict(color=color, dash="dash", width=3), opacity=0.5)
    return plots.style(fig, title=title, xaxis="step", yaxis=QUANTITIES[quantity], log_y=log_y)


def kernel_slider_figure(traces: Mapping[str, tracker.Trace], quantity, *, title: str = "",
                         yaxis: str = "", log_y: bool = True) -> go.Figure:
    """One slider frame per kernel of the traces: ``quantity(trace, path)`` (an ``(n,)`` array
    over steps) for every run of ``traces`` (``{label: Trace}``, the same kernels in each)."""
    if not traces:
        raise ValueError("traces must name at least one run")
    if not callable(quantity):
        raise TypeError(f"quantity must be a function (trace, path) -> array, got {quantity!r}")
    first = next(iter(traces.values()))
    frames = {}
    for p in first.kernel_norm:
        ys = {n: np.asarray(quantity(tr, p)) for n, tr in traces.items()}
        x = np.arange(len(next(iter(ys.values()))))
        frames[p.split("/")[0]] = plots.traces(x, ys)
    return plots.slider_figure(frames, slider_label="kernel", title=title, xaxis="step",
                               yaxis=yaxis, log_y=log_y)


def scaling_table(paths: Sequence[str], factors: Sequence[float], losses, invariant: Sequence[str],
                  *, caption: str = "") -> Table:
    """The training loss with each kernel (row) multiplied by each factor (column), from
    :func:`l2lab.studies.scale_invariance.loss_under_kernel_scaling`, and whether the kernel is
    in ``invariant``."""
    losses = np.asarray(losses, np.float64)
    if losses.shape != (len(paths), len(factors)):
        raise _checks.bad_value("losses", f"must be {(len(paths), len(factors))}, got {losses.shape}")
    rows = [[p.split("/")[0]] + [f"{v:.6f}" for v in row] + ["yes" if p in invariant else "no"]
            for p, row in zip(paths, losses)]
    return table(["kernel"] + [f"c = {c:g}" for c in factors] + ["scale invariant"], rows,
                 caption=caption)


def late_table(traces: Mapping[str, tracker.Trace], paths: Sequence[str], *, frac: float = 0.3,
               equilibrium: bool = True, caption: str = "") -> Table:
    """One row per run and kernel: the final test accuracy, the mean angular update over the
    last ``frac`` of the steps, its ratio to ``arccos(1 - eta lam)`` (``equilibrium``) and the
    change of the kernel norm over those steps (:func:`l2lab.studies.tracker.late_values`)."""
    if not isinstance(traces, Mapping) or not traces:
        raise _checks.bad_type("traces", "must be a non-empty mapping label -> Trace")
    header = ["run", "kernel", "test acc.", "late angle (rad)"]
    header += ["angle / arccos(1 − ηλ)"] if equilibrium else []
    header += ["norm change (late)"]
    rows = []
    for label, tr in traces.items():
        a = tracker.late_values(tr, paths, "angular_update", frac)
        d = tracker.late_values(tr, paths, "kernel_norm", frac)
        eq = float(si.equilibrium_angular_step(tr.config["eta"], tr.config["lam"]))
        for p in paths:
            row = [str(label), p.split("/")[0], float(tr.test_accuracy[-1]), a[p]]
            rows.append(row + ([a[p] / eq] if equilibrium else []) + [d[p]])
    return table(header, rows, caption=caption, digits=3)
