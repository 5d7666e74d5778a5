"""Figures of the two applications (Sec. 3): predicting lam (Figures 1b, 4, S3, S4) and AutoL2
(Figures 1c, S9-S11). Each function takes what :mod:`l2lab.applications.predict`,
:mod:`l2lab.applications.tuning` or :mod:`l2lab.sweep` returned and gives a ``go.Figure``; the
chapters only choose parameters.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from l2lab import _checks
from l2lab.figures import plots

__all__ = ["measurement_figure", "accuracy_vs_lambda_figure", "tuned_vs_predicted_figure",
           "accuracy_vs_budget_figure", "autol2_figure", "comparison_table", "autol2_comparison_table"]


def _rows(rows) -> list:
    if not isinstance(rows, (list, tuple)) or not rows:
        raise _checks.bad_type("rows", "must be the non-empty list of l2lab.applications.tuning.compare")
    return list(rows)


def measurement_figure(m) -> go.Figure:
    """Figure 4a: test accuracy of the measurement run against ``t lam``; the dashed line is
    ``c = t* lam``. ``m``: :class:`l2lab.applications.predict.CMeasurement`."""
    if not hasattr(m, "curve") or not hasattr(m, "c"):
        raise _checks.bad_type("m", "must be an l2lab.applications.predict.CMeasurement")
    x = np.maximum(m.curve.steps, 0.5) * m.lam
    fig = plots.line(x, {"test accuracy": m.curve.test_accuracy}, mode="lines+markers",
                     title=f"Measuring c: η = {m.eta:g}, λ = {m.lam:g}", xaxis="t·λ",
                     yaxis="test accuracy", log_x=True)
    fig.add_vline(x=m.c, line_dash="dash", line_color="gray",
                  annotation_text=f"c = t*·λ = {m.c:.3g}", annotation_position="bottom right")
    fig.update_layout(showlegend=False)      # one curve; plotly would show a legend with the line
    return plots.place_title(fig)


def accuracy_vs_lambda_figure(rows) -> go.Figure:
    """Figure S3: peak test accuracy within each budget against lam, one curve per budget; the
    predicted ``c/T`` of each budget is a dashed line of the same colour."""
    fig = go.Figure()
    for i, r in enumerate(_rows(rows)):
        color = plots.COLORS[i % len(plots.COLORS)]
        fig.add_scatter(x=r.tuned.lams, y=r.tuned.accuracies, mode="lines+markers",
                        name=f"T = {r.budget}", line={"color": color})
        if 1.0 in r.predicted_lam:
            fig.add_vline(x=r.predicted_lam[1.0], line_dash="dash", line_color=color, opacity=0.6)
    return plots.style(fig, title="Peak accuracy within T (dashed: c/T)",
                       xaxis="λ", yaxis="max test accuracy", log_x=True)


def tuned_vs_predicted_figure(rows, *, budget_name: str = "T") -> go.Figure:
    """Figure 4b / S4: the tuned lam per budget, with the band within 0.1% of its accuracy as
    error bars, against ``c/T`` and ``2c/T`` (``budget_name`` labels the axis, e.g. ``"T1"``)."""
    rows = _rows(rows)
    t = np.array([r.budget for r in rows], float)
    lam = np.array([r.tuned.lam for r in rows])
    fig = go.Figure()
    fig.add_scatter(x=t, y=lam, mode="markers", name="tuned λ (0.1% band)",
                    marker={"color": plots.COLORS[0], "size": 9},
                    error_y=dict(type="data", symmetric=False,
                                 array=[r.tuned.high for r in rows] - lam,
                                 arrayminus=lam - [r.tuned.low for r in rows]))
    for i, (f, name) in enumerate(((1.0, f"c/{budget_name}"), (2.0, f"2c/{budget_name}"))):
        y = [r.predicted_lam.get(f, np.nan) for r in rows]
        fig.add_scatter(x=t, y=y, mode="lines+markers", name=name,
                        line={"color": plots.COLORS[i + 1], "dash": "dash"})
    return plots.style(fig, title="Tuned and predicted λ", xaxis="training budget T (steps)",
                       yaxis="λ", log_x=True, log_y=True)


def accuracy_vs_budget_figure(rows) -> go.Figure:
    """Figure 1b: peak test accuracy within each budget at the tuned lam, at ``c/T`` and at ``2c/T``."""
    rows = _rows(rows)
    t = np.array([r.budget for r in rows], float)
    ys = {"tuned λ": [r.tuned.accuracy for r in rows],
          "λ<sub>pred</sub> = c/T": [r.predicted_accuracy.get(1.0, np.nan) for r in rows],
          "2c/T": [r.predicted_accuracy.get(2.0, np.nan) for r in rows]}
    return plots.line(t, ys, mode="lines+markers", title="Tuned against predicted λ",
                      xaxis="training budget T (steps)", yaxis="max test accuracy within T",
                      log_x=True, dash={"λ<sub>pred</sub> = c/T": "dash", "2c/T": "dot"})


def autol2_figure(constant: Sequence, auto: Sequence, *, title: str = "AutoL2") -> go.Figure:
    """Figure 1c / S9-S11: test accuracy against step for constant-lam runs (``constant``: sweep
    records) and AutoL2 runs (``auto``: records with a ``lam`` curve, drawn thick), with each
    AutoL2 run's lam on a second, logarithmic axis (dotted)."""
    if not constant or not auto:
        raise _checks.bad_value("constant", "and `auto` must be non-empty lists of sweep records")
    if any(r.config.lam_schedule != "autol2" or r.result.lam is None for r in auto):
        raise _checks.bad_value("auto", "records must carry a lam curve (lam_schedule='autol2')")
    fig = go.Figure()
    for i, r in enumerate(sorted(constant, key=lambda r: r.config.lam)):
        fig.add_scatter(x=np.maximum(r.result.steps, 0.5), y=r.result.test_accuracy, mode="lines",
                        name=f"λ = {r.config.lam:g}", line={"color": plots.COLORS[(i + 2) % 10], "width": 1.5})
    for i, r in enumerate(auto):
        color = ("black", plots.COLORS[1])[i % 2]
        s = np.maximum(r.result.steps, 0.5)
        fig.add_scatter(x=s, y=r.result.test_accuracy, mode="lines", line={"color": color, "width": 3},
                        name=f"AutoL2 from λ = {r.config.lam:g}")
        fig.add_scatter(x=s, y=r.result.lam, mode="lines", yaxis="y2", showlegend=False,
                        line={"color": color, "dash": "dot"}, name=f"λ (AutoL2 from {r.config.lam:g})")
    plots.style(fig, title=title, xaxis="step", yaxis="test accuracy", log_x=True)
    fig.update_layout(yaxis2=dict(title=dict(text="AutoL2 λ (dotted)"), type="log", overlaying="y",
                                  side="right", showgrid=False, automargin=True, dtick=1,
                                  exponentformat="power"))
    return plots.place_title(fig)


def comparison_table(rows, *, caption: str = "", budget_name: str = "T"):
    """The tuned lam against ``c/T`` and ``2c/T`` per budget (``l2lab.applications.tuning.compare``
    rows), as a rendered :class:`l2lab.figures.tables.Table`."""
    from l2lab.figures.tables import Table

    rows = _rows(rows)
    body = [(str(r.budget), f"{r.tuned.lam:.3g}", f"{r.tuned.low:g} .. {r.tuned.high:g}",
             f"{r.tuned.accuracy:.4f}", f"{r.predicted_lam[1.0]:.3g}", f"{r.predicted_accuracy[1.0]:.4f}",
             f"{r.predicted_lam[2.0]:.3g}", f"{r.predicted_accuracy[2.0]:.4f}") for r in rows]
    return Table([f"{budget_name} (steps)", "tuned λ", "0.1% band", "acc.", f"c/{budget_name}", "acc.",
                  f"2c/{budget_name}", "acc."], body, caption)


def autol2_comparison_table(comparisons, *, caption: str = "", detail: bool = False):
    """AutoL2 against the best constant lam (``{label: AutoL2Comparison}``, label e.g. ``"seed 0,
    from 0.1"``), as a rendered :class:`l2lab.figures.tables.Table`: both peaks, their
    difference, the step AutoL2 reaches the constant one's peak, and its decays; with ``detail``
    also both runs' t* and how far each shrank the weights (smallest ``||theta||`` over the
    initial one)."""
    from l2lab.figures.tables import Table

    if not isinstance(comparisons, dict) or not comparisons:
        raise _checks.bad_value("comparisons", "must be a non-empty dict {label: AutoL2Comparison}")
    body = []
    for label, c in comparisons.items():
        reach = c.steps_to_best
        row = [str(label), f"{c.best_lam:g}", f"{c.best_accuracy:.4f}", f"{c.auto_accuracy:.4f}",
               f"{c.auto_accuracy - c.best_accuracy:+.2%}", f"{reach:.0f}" if np.isfinite(reach) else "never",
               ", ".join(str(int(x)) for x in c.changes)]
        if detail:
            row[4:4] = [f"{c.best_t_star:.0f}", f"{c.auto_t_star:.0f}", f"{c.best_shrink:.2f}",
                        f"{c.auto_shrink:.2f}"]
        body.append(row)
    head = ["run", "best constant λ", "its peak", "AutoL2 peak", "difference",
            "AutoL2 reaches it at step", "λ decays at steps"]
    if detail:
        head[4:4] = ["t*, constant", "t*, AutoL2", "shrink, constant", "shrink, AutoL2"]
    return Table(head, body, caption)
