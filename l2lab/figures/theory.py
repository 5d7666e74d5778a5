"""The book's theory figures: Eq. (3) with plotly frame sliders that work in static HTML.

Each function returns a ``go.Figure`` (see :mod:`l2lab.plots` for the look and the slider
mechanics); the chapters only choose parameters.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from l2lab import _checks, plots, theory

__all__ = ["mode_figure", "mode_ratio_figure", "mode_lambda_figure", "kernel_decay_figure"]


def _times(lam: float, gammas, t_max_over_lam: float = 30.0, num: int = 300) -> np.ndarray:
    g = max(float(np.max(gammas)), lam)
    return np.geomspace(1e-2 / g, t_max_over_lam / lam, num)


def mode_figure(lam: float = 0.01, ratios: Sequence[float] = (0.3, 100.0),
                ks: Sequence[float] = (0, 1, 2, 3, 4), active_k: float = 2,
                y: float = 1.0, f0: float = 0.0) -> go.Figure:
    """Figure 5a/5b: modes with small and large ``gamma/lam``; the slider moves ``k``.

    Solid curves are the k-homogeneous network, dashed the linear model (k = 1).
    """
    lam = _checks.positive_float("lam", lam)
    ratios = [float(r) for r in ratios]
    if not ratios or min(ratios) <= 0:
        raise ValueError("ratios must be a non-empty sequence of positive numbers")
    ks = [float(k) for k in ks]
    if float(active_k) not in ks:
        raise ValueError(f"active_k={active_k} must be one of ks={ks}")
    t = _times(lam, np.array(ratios) * lam)
    frames = {}
    for k in ks:
        curves, dash = {}, {}
        for r in ratios:
            curves[f"γ/λ = {r:g}"] = theory.mse_mode(t, r * lam, lam, k, y, f0)
        for r in ratios:
            name = f"γ/λ = {r:g}, linear (k = 1)"
            curves[name] = theory.mse_mode(t, r * lam, lam, 1.0, y, f0)
            dash[name] = "dash"
        frames[f"{k:g}"] = plots.traces(t, curves, dash=dash,
                                        colors={n: plots.COLORS[i % len(ratios)]
                                                for i, n in enumerate(curves)})
    return plots.slider_figure(frames, slider_label="k", active=ks.index(float(active_k)),
                               title=f"One mode of Eq. (3), λ = {lam:g}, y = {y:g}",
                               xaxis="t", yaxis="f_mode", log_x=True)


def mode_ratio_figure(lam: float = 0.01, k: float = 2.0,
                      ratios: Sequence[float] = tuple(np.round(np.logspace(-2, 4, 25), 4)),
                      y: float = 1.0, f0: float = 0.0) -> go.Figure:
    """One mode against time while the slider moves ``gamma/lam``: learning at ``t ~ 1/gamma``
    happens only for ``gamma/lam > 1``; the decay at ``t ~ 1/lam`` is there for every mode."""
    lam = _checks.positive_float("lam", lam)
    ratios = [float(r) for r in ratios]
    t = _times(lam, np.array(ratios) * lam)
    frames = {}
    for r in ratios:
        gamma = r * lam
        frames[f"{r:.3g}"] = plots.traces(t, {
            f"k = {k:g}": theory.mse_mode(t, gamma, lam, k, y, f0),
            "linear model (k = 1)": theory.mse_mode(t, gamma, lam, 1.0, y, f0),
            "kernel decay e^(-2(k-1)λt)": theory.kernel_decay(t, lam, k) if k >= 1 else
            np.minimum(theory.kernel_decay(t, lam, k), 10.0),
        }, dash={"linear model (k = 1)": "dash", "kernel decay e^(-2(k-1)λt)": "dot"})
    active = int(np.argmin(np.abs(np.log(np.array(ratios) / 100.0))))
    return plots.slider_figure(frames, slider_label="γ/λ", active=active,
                               title=f"Learning and decay of one mode (λ = {lam:g})",
                               xaxis="t", yaxis="f_mode", log_x=True, y_range=(-0.05, 1.1))


def mode_lambda_figure(gamma: float = 1.0, k: float = 2.0,
                       lams: Sequence[float] = tuple(np.round(np.logspace(-4, -1, 13), 6)),
                       y: float = 1.0, f0: float = 0.0) -> go.Figure:
    """Fixed eigenvalue ``gamma``, the slider moves ``lam``: the decay (and the peak) moves
    with ``1/lam`` while the learning time ``1/gamma`` stays put."""
    gamma = float(gamma)
    if not np.isfinite(gamma) or gamma <= 0:
        raise ValueError(f"gamma must be finite and > 0, got {gamma!r}")
    lams = [_checks.positive_float("lams", v) for v in lams]
    t = np.geomspace(1e-2 / gamma, 30.0 / min(lams), 400)
    frames = {}
    for lam in lams:
        frames[f"{lam:.2g}"] = plots.traces(t, {
            f"k = {k:g}": theory.mse_mode(t, gamma, lam, k, y, f0),
            "linear model (k = 1)": theory.mse_mode(t, gamma, lam, 1.0, y, f0),
        }, dash={"linear model (k = 1)": "dash"})
    return plots.slider_figure(frames, slider_label="λ", active=len(lams) // 2,
                               title=f"One mode with γ = {gamma:g}: the decay follows 1/λ",
                               xaxis="t", yaxis="f_mode", log_x=True, y_range=(-0.05, 1.1))


def kernel_decay_figure(results: dict, lam: float) -> go.Figure:
    """Measured ``tr Theta_t / tr Theta_0`` (markers) against ``exp(-2(k-1) lam t)`` (lines).

    Args:
      results: ``label -> (k, trajectory)`` with ``trajectory`` a :class:`l2lab.wide.Trajectory`
        that recorded the empirical NTK.
      lam: the L2 coefficient used in training.
    """
    lam = _checks.positive_float("lam", lam)
    fig = go.Figure()
    for i, (label, (k, tr)) in enumerate(results.items()):
        color = plots.COLORS[i % len(plots.COLORS)]
        ratio = np.trace(tr.ntk, axis1=1, axis2=2) / np.trace(tr.ntk[0])
        fig.add_scatter(x=tr.ntk_t, y=ratio, mode="markers", name=f"{label}: measured",
                        marker={"color": color, "size": 8})
        t = np.linspace(0, tr.ntk_t.max(), 200)
        fig.add_scatter(x=t, y=theory.kernel_decay(t, lam, k), mode="lines",
                        name=f"e^(-2({k}-1)λt)", line={"color": color, "dash": "dash"})
    return plots.style(fig, title=f"Kernel decay during training (λ = {lam:g})",
                       xaxis="t = step · η", yaxis="tr Θ_t / tr Θ_0", log_y=True)


# ------------------------------------------------------------------------------------------
# Experiment figures (Figures 2, 3, S1, S6): from sweep records (l2lab.sweep.load_sweep)
# ------------------------------------------------------------------------------------------

def _records_by_eta(records) -> dict:
    if not records:
        raise ValueError("records must be a non-empty list of l2lab.sweep.Record")
    by_eta: dict = {}
    for r in records:
        by_eta.setdefault(float(r.config.eta), []).append(r)
    return {eta: sorted(rs, key=lambda r: r.config.lam) for eta, rs in sorted(by_eta.items())}


def steps_to_peak_figure(records, *, collapse: bool = False, c_prime: float | None = None,
                         steps_per_epoch: float = 1.0) -> go.Figure:
    """Figure 2a/3a: steps (or epochs) to peak test accuracy against ``lam``, one curve per ``eta``.

    With ``collapse=True`` the x axis is ``eta * lam``; if ``c_prime`` is given the line
    ``t = c'/(eta lam)`` is drawn. Diverged runs and runs with ``lam = 0`` are left out.
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
