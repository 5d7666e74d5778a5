"""The book's theory figures: Eq. (3) with plotly frame sliders that work in static HTML.

Each function returns a ``go.Figure`` (see :mod:`l2lab.figures.plots` for the look and the
slider mechanics); the chapters only choose parameters. The experiment chapters' figures are in
:mod:`l2lab.figures.experiments`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from l2lab import _checks, theory
from l2lab.figures import plots
from l2lab.figures.tables import Table, table

__all__ = ["mode_figure", "mode_ratio_figure", "mode_lambda_figure", "kernel_decay_figure",
           "kernel_decay_ratio_table"]


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
                               xaxis="t", yaxis="f<sub>mode</sub>", log_x=True)


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
            "kernel decay e<sup>−2(k−1)λt</sup>": theory.kernel_decay(t, lam, k) if k >= 1 else
            np.minimum(theory.kernel_decay(t, lam, k), 10.0),
        }, dash={"linear model (k = 1)": "dash", "kernel decay e<sup>−2(k−1)λt</sup>": "dot"})
    active = int(np.argmin(np.abs(np.log(np.array(ratios) / 100.0))))
    return plots.slider_figure(frames, slider_label="γ/λ", active=active,
                               title=f"Learning and decay of one mode (λ = {lam:g})",
                               xaxis="t", yaxis="f<sub>mode</sub>", log_x=True, y_range=(-0.05, 1.1))


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
                               xaxis="t", yaxis="f<sub>mode</sub>", log_x=True, y_range=(-0.05, 1.1))


def kernel_decay_figure(results: dict, lam: float) -> go.Figure:
    """Measured ``tr Theta_t / tr Theta_0`` (markers) against ``exp(-2(k-1) lam t)`` (lines).

    Args:
      results: ``label -> (k, trajectory)`` with ``trajectory`` a :class:`l2lab.theory.wide.Trajectory`
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
                        name=f"e<sup>−2({k}−1)λt</sup>", line={"color": color, "dash": "dash"})
    return plots.style(fig, title=f"Kernel decay during training (λ = {lam:g})",
                       xaxis="t = step · η", yaxis="tr Θ<sub>t</sub> / tr Θ<sub>0</sub>", log_y=True)


def kernel_decay_ratio_table(results: dict, lam: float, every: int = 2) -> Table:
    """Measured over predicted kernel decay, ``(tr Theta_t / tr Theta_0) / e^{-2(k-1) lam t}``,
    one row per recorded ``lam t`` (every ``every``-th record, and the last) and one column per
    network: narrow enough for the page at any number of records.

    ``results``: ``label -> (k, trajectory)`` as for :func:`kernel_decay_figure`; all
    trajectories must have recorded the NTK at the same times (up to 0.01 in ``lam t``).
    """
    from l2lab.theory import wide

    lam = _checks.positive_float("lam", lam)
    every = _checks.positive_int("every", every)
    if not isinstance(results, dict) or not results:
        raise _checks.bad_type("results", "must be a non-empty dict label -> (k, trajectory)")
    ratios = {label: wide.kernel_decay_ratios(tr, k, lam) for label, (k, tr) in results.items()}
    times = lam * next(iter(ratios.values())).t
    if any(r.t.shape != times.shape or not np.allclose(lam * r.t, times, rtol=0, atol=0.01)
           for r in ratios.values()):
        raise _checks.bad_value("results", "must record the NTK at the same times (lam t within 0.01)")
    rows = sorted(set(range(0, len(times), every)) | {len(times) - 1})
    return table(["λt", *ratios], [[f"{times[i]:.2f}", *(float(r.trace[i]) for r in ratios.values())]
                                   for i in rows],
                 caption="tr Θ_t / tr Θ_0 measured, over e^(−2(k−1)λt) predicted (1: exactly as "
                         "Theorem 1 says; above 1: the kernel decays less).", digits=3)
