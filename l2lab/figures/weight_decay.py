"""Figures of the chapter "Decoupled and early weight decay": the ``eta x lam`` accuracy grid
as a heatmap and the best lam against eta (:mod:`l2lab.studies.weight_decay` computes both)."""
from __future__ import annotations

from typing import Dict

import numpy as np
import plotly.graph_objects as go

from l2lab import _checks
from l2lab.figures import plots
from l2lab.figures.tables import Table, table
from l2lab.studies import weight_decay as wd

__all__ = ["accuracy_heatmap", "best_lam_figure", "best_decay_table", "early_wd_table"]


def accuracy_heatmap(grid: wd.AccuracyGrid, *, title: str = "", lam_label: str = "λ",
                     eta_label: str = "η") -> go.Figure:
    """Heatmap of ``grid.accuracy`` (rows: etas, columns: lams, both as category labels, so that
    lam = 0 has a column), each cell printed with its value; the best cell of each row is
    marked with a star. Returns a ``go.Figure`` in the book's style (:func:`l2lab.figures.plots.style`).
    """
    grid = wd.check_grid(grid)
    for name, v in (("title", title), ("lam_label", lam_label), ("eta_label", eta_label)):
        _checks.string(name, v)
    xs = [f"{v:.3g}" for v in grid.lams]
    ys = [f"{v:.3g}" for v in grid.etas]
    acc = grid.accuracy
    text = []
    for row in acc:
        best = np.nanmax(row) if np.isfinite(row).any() else np.nan
        text.append(["–" if not np.isfinite(v) else f"{v:.3f}" + ("★" if v == best else "")
                     for v in row])
    fig = go.Figure(go.Heatmap(z=acc, x=xs, y=ys, text=text, texttemplate="%{text}",
                               colorscale="Viridis", colorbar=dict(title=dict(text="accuracy")),
                               hovertemplate=f"{eta_label} = %{{y}}<br>{lam_label} = %{{x}}"
                                             "<br>accuracy %{z:.4f}<extra></extra>"))
    plots.style(fig, title=title, xaxis=lam_label, yaxis=eta_label)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def best_lam_figure(best: Dict[str, wd.BestLam], *, title: str = "Best λ against η",
                    yaxis: str = "best λ (bar: within the band)") -> go.Figure:
    """The best lam of each eta (markers and lines) with its band as an error bar, one curve per
    entry of ``best`` (``label -> BestLam``), on log axes; a best lam of 0 has no place there and
    is left out (a gap). Returns a ``go.Figure``."""
    if not isinstance(best, dict) or not best:
        raise _checks.bad_value("best", "must be a non-empty dict label -> BestLam")
    fig = go.Figure()
    for i, (label, b) in enumerate(best.items()):
        if not isinstance(b, wd.BestLam):
            raise _checks.bad_type("best", f"values must be BestLam, got {type(b).__name__}")
        pos = np.isfinite(b.lam) & (b.lam > 0)
        lam = np.where(pos, b.lam, np.nan)
        low = np.where(pos & (b.low > 0), b.low, lam)
        fig.add_scatter(x=b.etas, y=lam, mode="lines+markers", name=str(label),
                        line={"color": plots.COLORS[i % len(plots.COLORS)]},
                        error_y=dict(type="data", symmetric=False, array=np.where(pos, b.high - lam, np.nan),
                                     arrayminus=np.where(pos, lam - low, np.nan)))
    return plots.style(fig, title=title, xaxis="η", yaxis=yaxis, log_x=True, log_y=True)


def best_decay_table(grids: Dict[str, wd.AccuracyGrid], band: float, *,
                     caption: str = "") -> Table:
    """One row per grid (``label -> AccuracyGrid``, e.g. one per optimizer and seed): the best
    decay at each eta (0: none is better) and the values within ``band`` of the best at every
    eta (:func:`l2lab.studies.weight_decay.common_lams`, "none" if there is no such value). The
    columns are the etas of the first grid; every grid must have them."""
    if not isinstance(grids, dict) or not grids:
        raise _checks.bad_value("grids", "must be a non-empty dict label -> AccuracyGrid")
    band = _checks.nonneg_float("band", band)
    etas = wd.check_grid(next(iter(grids.values()))).etas
    rows = []
    for label, g in grids.items():
        g = wd.check_grid(g)
        if not np.allclose(g.etas, etas):
            raise _checks.bad_value("grids", f"{label!r} has other etas than the first grid")
        best = wd.best_lam_per_eta(g, band)
        com = wd.common_lams(g, band)
        rows.append([str(label)] + [f"{v:.3g}" for v in best.lam]
                    + [", ".join(f"{v:.3g}" for v in com) or "none"])
    header = ["grid"] + [f"η = {e:.3g}" for e in etas] + [f"within {band:.2%} at every η"]
    return table(header, rows, caption=caption)


def early_wd_table(peak: Dict[str, np.ndarray], final: Dict[str, np.ndarray],
                   measures: Dict[str, Dict[str, float]], *, caption: str = "") -> Table:
    """The early-decay runs side by side: peak test accuracy of each seed and the seed mean of the
    final one (``peak``, ``final``: ``{run: (S,) accuracies}``), then one column per entry of
    ``measures`` (``{column title: {run: value}}``, e.g. the seed-0 trace's norms and angles)."""
    if not isinstance(peak, dict) or not peak:
        raise _checks.bad_value("peak", "must be a non-empty dict run -> per-seed accuracies")
    runs = list(peak)
    n = np.asarray(peak[runs[0]]).size
    for name, d in (("final", final), *((f"measures[{k!r}]", v) for k, v in measures.items())):
        if not isinstance(d, dict) or set(d) != set(runs):
            raise _checks.bad_value(name, f"must have the runs {runs}")
    header = (["run"] + [f"peak acc., seed {s}" for s in range(n)] + ["final acc. (mean)"]
              + [str(k) for k in measures])
    rows = [[r] + [float(v) for v in np.asarray(peak[r])] + [float(np.mean(final[r]))]
            + [float(m[r]) for m in measures.values()] for r in runs]
    return table(header, rows, caption=caption, digits=3)
