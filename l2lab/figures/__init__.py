"""The figures wing: every figure of the book, the plot helpers and the live widgets.

One module per part of the book; each function returns a plotly ``go.Figure`` and the chapters
only choose parameters:

* :mod:`~l2lab.figures.theory`           -- Eq. (3) with sliders, kernel decay (theory chapters).
* :mod:`~l2lab.figures.experiments`      -- steps to peak, peak accuracy, training curves
  (experiment chapters, from sweep records).
* :mod:`~l2lab.figures.applications`     -- lam_pred = c/T, tuning and AutoL2.
* :mod:`~l2lab.figures.related`          -- the catapult, MSE losses, the narrow network's t*.
* :mod:`~l2lab.figures.scale_invariance` -- per-step traces of :func:`l2lab.studies.tracker.track`.
* :mod:`~l2lab.figures.weight_decay`     -- Adam + L2 against AdamW grids.
* :mod:`~l2lab.figures.plots`            -- the look, traces and static-HTML sliders.
* :mod:`~l2lab.figures.widgets`          -- ipywidgets that recompute Eq. (3) live.
* :mod:`~l2lab.figures.tables`           -- results as rendered HTML tables.
* :mod:`~l2lab.figures.results`          -- the intro's results at a glance (every verdict).

Every figure function is re-exported here (``from l2lab.figures import mode_figure``), as are the
modules; both are imported on first use, so ``import l2lab.figures`` is cheap. Figures may use
:mod:`l2lab.studies`; the studies never import figures.
"""
from __future__ import annotations

import importlib

#: Figure name -> the module of this package that defines it.
FIGURES = {
    **dict.fromkeys(("mode_figure", "mode_ratio_figure", "mode_lambda_figure",
                     "kernel_decay_figure", "kernel_decay_ratio_table"), "theory"),
    **dict.fromkeys(("steps_to_peak_figure", "peak_accuracy_figure", "training_curves_figure",
                     "provenance_text", "param_norm_figure"), "experiments"),
    **dict.fromkeys(("measurement_figure", "accuracy_vs_lambda_figure",
                     "tuned_vs_predicted_figure", "accuracy_vs_budget_figure", "autol2_figure",
                     "comparison_table", "autol2_comparison_table"),
                    "applications"),
    **dict.fromkeys(("catapult_accuracy_figure", "mse_loss_figure", "t_star_regimes_figure"),
                    "related"),
    **dict.fromkeys(("trace_figure", "kernel_slider_figure", "QUANTITIES", "scaling_table", "late_table"),
                    "scale_invariance"),
    **dict.fromkeys(("accuracy_heatmap", "best_lam_figure", "best_decay_table", "early_wd_table"),
                    "weight_decay"),
    **dict.fromkeys(("table", "Table", "Link"), "tables"),
}

SUBMODULES = ("theory", "experiments", "applications", "related", "scale_invariance",
              "weight_decay", "plots", "widgets", "tables", "results")

__all__ = list(FIGURES) + list(SUBMODULES)


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in FIGURES:
        value = getattr(importlib.import_module(f"{__name__}.{FIGURES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
