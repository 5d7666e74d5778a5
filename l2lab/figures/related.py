"""Figures of the "Related results" chapters: MSE and the catapult (SM C.4, Figure S5) and the
narrow network where the 1/lam scaling fails (SM D, Figure S7).

Each function returns a ``go.Figure`` in the look of :mod:`l2lab.figures.plots` (plotly, rendered
offline by the book); the chapters only choose what to show.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from l2lab import _checks
from l2lab.figures import plots

__all__ = ["catapult_accuracy_figure", "mse_loss_figure", "t_star_regimes_figure"]


def _critical_lines(fig: go.Figure, critical: Mapping[str, float] | None) -> None:
    """Vertical dashed lines at the critical learning rates ``label -> eta``."""
    if critical is None:
        return
    if not isinstance(critical, Mapping):
        raise _checks.bad_type("critical", f"must be a mapping label -> learning rate, got "
                                           f"{type(critical).__name__}")
    for i, (label, eta) in enumerate(critical.items()):
        _checks.string("critical label", label, nonempty=True)
        eta = _checks.positive_float("critical", eta)
        fig.add_vline(x=eta, line_dash="dash" if i == 0 else "dot", line_color="#444",
                      annotation_text=label, annotation_position="top left" if i == 0 else "bottom right")


def catapult_accuracy_figure(etas, curves: Mapping[str, Sequence[float]], *,
                             critical: Mapping[str, float] | None = None,
                             title: str = "Test accuracy against the learning rate") -> go.Figure:
    """Test accuracy against ``eta`` (log axis), one curve per entry of ``curves``, with the
    critical learning rates ``2/lambda_max`` as vertical lines (Figure S5).

    etas: (E,) positive learning rates; curves: ``label -> (E,)`` accuracies (NaN: no point,
    e.g. a run that never fitted); critical: optional ``label -> eta_crit`` (> 0), drawn dashed
    (the first) and dotted (the others).
    """
    x = np.asarray(_checks.curve("etas", etas))
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise _checks.bad_value("etas", "must be finite and > 0 (a log axis)")
    if not isinstance(curves, Mapping) or not curves:
        raise _checks.bad_value("curves", "must be a non-empty mapping label -> accuracies")
    ys = {}
    for label, y in curves.items():
        yv = _checks.curve(f"curves[{label!r}]", y)
        if yv.shape != x.shape:
            raise _checks.bad_value("curves", f"[{label!r}] has shape {yv.shape}, etas {x.shape}")
        ys[label] = yv
    fig = go.Figure(data=plots.traces(x, ys, mode="lines+markers"))
    _critical_lines(fig, critical)
    return plots.style(fig, title=title, xaxis="η", yaxis="test accuracy", log_x=True)


def mse_loss_figure(records: Sequence, *, minima: Mapping[float, tuple] | None = None,
                    lam_time: bool = True) -> go.Figure:
    """Training MSE (without the L2 term) against time, one curve per learning rate, with each
    curve's minimum marked (SM C.4: with L2 the training loss has a minimum, then rises).

    records: sweep records (:class:`l2lab.sweep.Record`), one per eta; minima: optional
    ``eta -> (step, value)`` to mark (e.g. from :func:`l2lab.studies.catapult.loss_minimum`); lam_time:
    x axis ``eta * lam * step`` (the L2 time: 1 is t = 1/(eta lam) steps) instead of the step.
    Log axes; step 0 is left out.
    """
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence) or not records:
        raise _checks.bad_value("records", "must be a non-empty sequence of sweep records")
    lam_time = _checks.boolean("lam_time", lam_time)
    if minima is not None and not isinstance(minima, Mapping):
        raise _checks.bad_type("minima", f"must be a mapping eta -> (step, value), got {type(minima).__name__}")
    fig = go.Figure()
    for i, r in enumerate(sorted(records, key=lambda r: r.config.eta)):
        eta, lam = float(r.config.eta), float(r.config.lam)
        if lam_time and lam <= 0:
            raise _checks.bad_value("records", "need lam > 0 for lam_time=True (the L2 time eta lam t)")
        scale = eta * lam if lam_time else 1.0
        s = np.asarray(r.result.steps, float)
        keep = s > 0
        color = plots.COLORS[i % len(plots.COLORS)]
        fig.add_scatter(x=s[keep] * scale, y=np.asarray(r.result.train_loss)[keep], mode="lines",
                        name=f"η = {eta:g}", line={"color": color})
        if minima is not None and eta in minima:
            step, value = (float(v) for v in minima[eta])
            if math.isfinite(step) and math.isfinite(value) and step > 0:
                fig.add_scatter(x=[step * scale], y=[value], mode="markers", showlegend=i == 0,
                                name="minimum", marker={"color": color, "symbol": "x", "size": 11,
                                                        "line": {"width": 1, "color": "black"}})
    plots.style(fig, title="Training MSE (no L2 term)",
                xaxis="η·λ·step" if lam_time else "step", yaxis="training MSE", log_x=True,
                log_y=True)
    return plots.place_title(fig)


def t_star_regimes_figure(series: Mapping[str, tuple], *, lam_zero: Mapping[str, float] | None = None,
                          fits: Mapping[str, tuple] | None = None,
                          lam_opt: float | None = None, unit: str = "steps") -> go.Figure:
    """Steps to the peak test accuracy ``t*`` against ``lam`` (log-log), one curve per network
    (Figure S7b), with ``t*`` of each network's ``lam = 0`` run as a dotted horizontal line, fit
    lines and ``lam_opt`` as a vertical line.

    series: ``label -> (lams (L,), t_star (L,))`` with lams > 0; lam_zero: optional
    ``label -> t*`` at lam = 0; fits: optional ``name -> (lams, t_fit)`` drawn dashed (e.g.
    ``c/lam`` above lam_opt and the flat value below it); lam_opt: optional vertical line.
    """
    if not isinstance(series, Mapping) or not series:
        raise _checks.bad_value("series", "must be a non-empty mapping label -> (lams, t_star)")
    unit = _checks.string("unit", unit, nonempty=True)
    fig = go.Figure()
    colors = {}
    for i, (label, pair) in enumerate(series.items()):
        try:
            lams, ts = pair
        except (TypeError, ValueError):
            raise _checks.bad_value("series", f"[{label!r}] must be a pair (lams, t_star)") from None
        lams = _checks.curve(f"series[{label!r}] lams", lams)
        ts = _checks.curve(f"series[{label!r}] t_star", ts)
        _checks.same_length("lams", lams, "t_star", ts)
        if np.any(lams <= 0):
            raise _checks.bad_value("series", f"[{label!r}] lams must be > 0 (draw lam = 0 with lam_zero)")
        colors[label] = plots.COLORS[i % len(plots.COLORS)]
        fig.add_scatter(x=lams, y=ts, mode="lines+markers", name=label, line={"color": colors[label]})
    for label, t0 in (lam_zero or {}).items():
        if label not in colors:
            raise _checks.bad_value("lam_zero", f"names {label!r}, which is not in series")
        if t0 is not None and math.isfinite(float(t0)):
            fig.add_hline(y=float(t0), line_dash="dot", line_color=colors[label],
                          annotation_text=f"λ = 0 ({label})", annotation_position="bottom left")
    for j, (name, pair) in enumerate((fits or {}).items()):
        lams, tf = (np.asarray(v, float) for v in pair)
        fig.add_scatter(x=lams, y=tf, mode="lines", name=name,
                        line={"dash": "dash", "color": ("#444", "#999", "#bbb")[j % 3]})
    if lam_opt is not None:
        lam_opt = _checks.positive_float("lam_opt", lam_opt)
        fig.add_vline(x=lam_opt, line_dash="dash", line_color="#d62728", annotation_text="λ_opt",
                      annotation_position="top right")
    plots.style(fig, title="Steps to the peak test accuracy t*", xaxis="λ", yaxis=f"t* ({unit})",
                log_x=True, log_y=True)
    return plots.place_title(fig)
