"""Live ipywidgets for Jupyter and Colab: move gamma/lam, k and lam and watch Eq. (3) recompute.

In the static HTML book the same pictures are plotly figures with precomputed frames
(:mod:`l2lab.figures`); these widgets need a running kernel.
"""
from __future__ import annotations

import os
import time

import numpy as np

from l2lab import theory
from l2lab.figures import plots

__all__ = ["mode_explorer", "ModeExplorer", "static_page"]


def static_page() -> bool:
    """True while the book is being built into static HTML (``L2LAB_STATIC_BUILD=1``)."""
    return os.environ.get("L2LAB_STATIC_BUILD", "") == "1"


class ModeExplorer:
    """Sliders for ``gamma/lam``, ``k``, ``lam`` and a plot of one mode of Eq. (3) with its
    linear-model (``k = 1``) counterpart.

    Attributes:
      widget: the ipywidgets container to display.
      last_update_seconds: wall time of the most recent recomputation + redraw (Python side).
    """

    def __init__(self, gamma_over_lam: float = 100.0, k: float = 2.0, lam: float = 0.01,
                 y: float = 1.0, f0: float = 0.0, num_times: int = 400):
        import ipywidgets as w

        if not (isinstance(num_times, int) and num_times >= 10):
            raise ValueError(f"num_times must be an int >= 10, got {num_times!r}")
        self._num_times = num_times
        self._y, self._f0 = float(y), float(f0)
        self.ratio = w.FloatLogSlider(value=gamma_over_lam, base=10, min=-2, max=4, step=0.05,
                                      description="γ/λ", continuous_update=True)
        self.k = w.FloatSlider(value=k, min=0.0, max=4.0, step=0.25, description="k")
        self.lam = w.FloatLogSlider(value=lam, base=10, min=-4, max=-1, step=0.1, description="λ")
        self.out = w.Output(layout={"min_height": "420px"})
        for s in (self.ratio, self.k, self.lam):
            s.observe(self._on_change, names="value")
        self.last_update_seconds = float("nan")
        if static_page():
            # The static HTML book has no kernel to recompute: show the controls, say where
            # they come alive, and keep the page light (no plot inside the widget state).
            for s in (self.ratio, self.k, self.lam):
                s.disabled = True
            note = w.HTML("<i>Live sliders need a running kernel: open this chapter in Colab "
                          "or Jupyter. The figures above have static sliders.</i>")
            self.widget = w.VBox([w.HBox([self.ratio, self.k, self.lam]), note])
        else:
            self.widget = w.VBox([w.HBox([self.ratio, self.k, self.lam]), self.out])
            self.update()

    def curves(self) -> dict:
        """The curves for the current slider values: ``t`` and ``f`` for ``k`` and ``k = 1``."""
        lam = self.lam.value
        gamma = self.ratio.value * lam
        t = np.geomspace(1e-3 / max(gamma, lam), 30.0 / lam, self._num_times)
        f = theory.mse_mode(t, gamma, lam, self.k.value, self._y, self._f0)
        f_lin = theory.mse_mode(t, gamma, lam, 1.0, self._y, self._f0)
        return {"t": t, "f": f, "f_linear": f_lin, "gamma": gamma, "lam": lam}

    def figure(self):
        import plotly.graph_objects as go

        c = self.curves()
        fig = go.Figure()
        fig.add_scatter(x=c["t"], y=c["f"], name=f"k = {self.k.value:g}")
        fig.add_scatter(x=c["t"], y=c["f_linear"], name="linear model (k = 1)",
                        line={"dash": "dash"})
        for x, label in ((1 / c["gamma"], "1/γ"), (1 / c["lam"], "1/λ")):
            # a shape takes data coordinates, an annotation on a log axis takes log10 of them
            # (x = 100 would stretch the axis to 1e100)
            fig.add_vline(x=x, line={"dash": "dot", "color": "gray"})
            fig.add_annotation(x=np.log10(x), xref="x", y=1, yref="y domain", text=label,
                               showarrow=False, xanchor="left", yanchor="top")
        t_range = [float(np.log10(c["t"][0])), float(np.log10(c["t"][-1]))]
        fig.update_layout(xaxis={"type": "log", "title": "t", "range": t_range, "autorange": False},
                          yaxis={"title": "f<sub>mode</sub> / y<sub>mode</sub>"},
                          height=400, margin={"t": 30}, template="plotly_white")
        return plots.finish(fig)   # powers of ten on the log axis

    def update(self) -> None:
        start = time.perf_counter()
        fig = self.figure()
        self.out.clear_output(wait=True)
        with self.out:
            fig.show()
        self.last_update_seconds = time.perf_counter() - start

    def _on_change(self, _change) -> None:
        self.update()


def mode_explorer(**kwargs) -> "ModeExplorer":
    """Build a :class:`ModeExplorer` (display ``explorer.widget``). Keyword arguments are the
    initial ``gamma_over_lam``, ``k``, ``lam``, ``y``, ``f0`` and ``num_times``."""
    return ModeExplorer(**kwargs)
