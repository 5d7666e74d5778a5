"""The experiment chapters' figures (Figures 1a, 2, 3, S1, S6), from sweep records
(:func:`l2lab.sweep.load_sweep`): steps to peak against lam, peak (or final) accuracy against lam,
training curves with a lam slider, and the provenance line under them.

Each function returns a ``go.Figure`` in the look of :mod:`l2lab.figures.plots`.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from l2lab.figures import plots

__all__ = ["steps_to_peak_figure", "peak_accuracy_figure", "training_curves_figure",
           "provenance_text", "param_norm_figure"]


def _records_by_eta(records) -> dict:
    """``eta -> records at it`` sorted by lam; an empty sequence gives ``{}`` (an empty figure)."""
    if isinstance(records, (str, bytes)) or not isinstance(records, (list, tuple)):
        raise TypeError("records must be a list of l2lab.sweep.Record")
    by_eta: dict = {}
    for r in records:
        by_eta.setdefault(float(r.config.eta), []).append(r)
    return {eta: sorted(rs, key=lambda r: r.config.lam) for eta, rs in sorted(by_eta.items())}


def steps_to_peak_figure(records, *, collapse: bool = False, c_prime: float | None = None,
                         steps_per_epoch: float = 1.0) -> go.Figure:
    """Figure 2a/3a: steps (or epochs) to peak test accuracy against ``lam``, one curve per ``eta``.

    With ``collapse=True`` the x axis is ``eta * lam``; if ``c_prime`` is given the line
    ``t = c'/(eta lam)`` is drawn. Diverged runs and runs with ``lam = 0`` are left out.
    ``records`` may be empty (the runs that trained, when none did): the figure then says so.
    """
    if steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be > 0, got {steps_per_epoch}")
    unit = "steps" if steps_per_epoch == 1 else "epochs"
    fig = go.Figure()
    xs_all = []
    for i, (eta, rs) in enumerate(_records_by_eta(records).items()):
        rs = [r for r in rs if r.config.lam > 0 and np.isfinite(r.t_star) and not r.result.diverged]
        if not rs:
            continue
        lam = np.array([r.config.lam for r in rs])
        x = lam * eta if collapse else lam
        xs_all.append(x)
        fig.add_scatter(x=x, y=[r.t_star / steps_per_epoch for r in rs], mode="lines+markers",
                        name=f"η = {eta:g}", line={"color": plots.COLORS[i % len(plots.COLORS)]})
    if c_prime is not None and xs_all and collapse:
        x = np.geomspace(min(map(np.min, xs_all)), max(map(np.max, xs_all)), 50)
        fig.add_scatter(x=x, y=c_prime / x / steps_per_epoch, mode="lines",
                        name=f"c'/(ηλ), c' = {c_prime:.2g}", line={"dash": "dash", "color": "gray"})
    plots.note_if_empty(fig, "No run to draw: none has λ > 0, a t* and no divergence")
    return plots.style(fig, title=f"{unit.capitalize()} to peak test accuracy t*",
                       xaxis="η·λ" if collapse else "λ", yaxis=f"t* ({unit})", log_x=True,
                       log_y=True)


def _final_accuracy(record) -> float:
    acc = np.asarray(record.result.test_accuracy, float)
    return float(acc[-1]) if acc.size and not record.result.diverged else float("nan")


def _best_per_lam(records, eta, value) -> dict:
    """``lam -> best value over the etas`` (or at ``eta``), finite values only."""
    best: dict = {}
    for r in records:
        v = value(r)
        if (eta is not None and not np.isclose(r.config.eta, eta)) or not np.isfinite(v):
            continue
        best[r.config.lam] = max(best.get(r.config.lam, -np.inf), v)
    return best


def peak_accuracy_figure(sweeps: dict, *, eta: float | None = None, statistic: str = "peak") -> go.Figure:
    """Figure 2b/2c (peak) and Figure 1a (final): test accuracy against ``lam`` for several budgets.

    Args:
      sweeps: ``label -> records`` (e.g. ``{"t ∝ 1/(ηλ)": ..., "fixed budget": ...}``).
      eta: show only this learning rate (default: the best eta at each lam).
      statistic: ``"peak"`` (maximum test accuracy during training) or ``"final"`` (at the end,
        NaN for a diverged run; the paper's Figure 1a, with a learning-rate schedule).

    Runs with ``lam = 0`` (the paper's no-L2 reference) are a dotted horizontal line in the
    colour of their sweep, since a log axis has no place for 0.
    """
    if not isinstance(sweeps, dict) or not sweeps:
        raise ValueError("sweeps must be a non-empty dict label -> records")
    if statistic not in ("peak", "final"):
        raise ValueError(f"statistic must be 'peak' or 'final', got {statistic!r}")
    value = (lambda r: r.peak_accuracy) if statistic == "peak" else _final_accuracy
    fig = go.Figure()
    for i, (label, records) in enumerate(sweeps.items()):
        best = _best_per_lam(records, eta, value)
        color = plots.COLORS[i % len(plots.COLORS)]
        lam = np.array(sorted(v for v in best if v > 0))
        if lam.size:
            fig.add_scatter(x=lam, y=[best[v] for v in lam], mode="lines+markers", name=label,
                            line={"color": color})
        if 0.0 in best:     # lam = 0 has no place on a log axis: a reference line
            fig.add_hline(y=best[0.0], line_dash="dot", line_color=color, annotation_text=f"λ = 0 ({label})",
                          annotation_position="bottom left")
    name = "Peak" if statistic == "peak" else "Final"
    return plots.style(fig, title=f"{name} test accuracy" + (f" (η = {eta:g})" if eta else ""),
                       xaxis="λ", yaxis=("max test accuracy" if statistic == "peak" else "final test accuracy"),
                       log_x=True)


def training_curves_figure(records, *, eta: float | None = None) -> go.Figure:
    """Figure S6: test accuracy and training error against steps; the slider moves ``lam``."""
    rs = [r for r in records if eta is None or np.isclose(r.config.eta, eta)]
    if not rs:
        raise ValueError(f"no records with eta = {eta}")
    eta = rs[0].config.eta if eta is None else eta
    rs = sorted([r for r in rs if np.isclose(r.config.eta, eta)], key=lambda r: r.config.lam)
    frames = {}
    for r in rs:
        s = np.maximum(r.result.steps, 0.5)            # step 0 on a log axis
        frames[f"{r.config.lam:.3g}"] = plots.traces(s, {
            "test accuracy": r.result.test_accuracy,
            "training error": r.result.train_error,
            "train loss (no L2)": r.result.train_loss})
    return plots.slider_figure(frames, slider_label="λ", title=f"Training curves (η = {eta:g})",
                               xaxis="step", yaxis="accuracy / error / loss", log_x=True,
                               active=len(frames) // 2, y_range=(0.0, 1.05))


def param_norm_figure(sweeps: dict) -> go.Figure:
    """The parameter norm ``||theta||`` against ``step * eta * lam`` (log axis; step 0 drawn at
    step 1/2), one line per run: one colour per ``lam`` (the same in every sweep), dash by sweep
    (the first solid, the next dashed, dotted, ...). ``sweeps``: ``label -> records`` (e.g.
    ``{"no BN": ..., "BN": ...}``); runs with ``lam = 0`` are left out (no ``eta lam`` clock)."""
    if not isinstance(sweeps, dict) or not sweeps:
        raise ValueError("sweeps must be a non-empty dict label -> records")
    dashes = ("solid", "dash", "dot", "dashdot")
    lams = sorted({float(r.config.lam) for rs in sweeps.values() for r in rs if r.config.lam > 0})
    fig = go.Figure()
    for i, (label, records) in enumerate(sweeps.items()):
        rs = sorted((r for r in records if r.config.lam > 0), key=lambda r: r.config.lam)
        for r in rs:
            j = lams.index(float(r.config.lam))           # one colour per lam, in every sweep
            clock = np.maximum(np.asarray(r.result.steps, float), 0.5) * r.config.eta * r.config.lam
            fig.add_scatter(x=clock, y=np.asarray(r.result.param_norm, float), mode="lines",
                            name=f"{label}, λ = {r.config.lam:g}",
                            line={"color": plots.COLORS[j % len(plots.COLORS)],
                                  "dash": dashes[i % len(dashes)]})
    if not fig.data:
        raise ValueError("sweeps hold no run with lam > 0")
    return plots.style(fig, title="Parameter norm during training", xaxis="step · η · λ",
                       yaxis="‖θ‖", log_x=True)


def provenance_text(records) -> str:
    """One line per distinct provenance of ``records``: who made the numbers, where and when."""
    if not records:
        raise ValueError("records must be a non-empty list")
    seen = []
    for r in records:
        p = r.provenance or {}
        line = (f"l2lab {p.get('l2lab_version', '?')} (commit {str(p.get('git_commit', '?'))[:10]}"
                f"{', dirty' if p.get('git_dirty') else ''}), jax {p.get('jax_version', '?')}, "
                f"{p.get('num_devices', '?')} x {p.get('device_kind', '?')}, {p.get('date_utc', '?')}")
        if line not in seen:
            seen.append(line)
    return "Results produced by " + "; ".join(seen)
