"""The old ``l2lab.weight_decay``: its summaries now live in :mod:`l2lab.studies.weight_decay`,
its figures in :mod:`l2lab.figures.weight_decay` (``import l2lab.weight_decay as wd`` loads this
module and keeps every old name working)."""
from __future__ import annotations

from l2lab.figures.weight_decay import accuracy_heatmap, best_lam_figure
from l2lab.studies.weight_decay import (CNN_BN_SCALE_INVARIANT, STATISTICS, AccuracyGrid, BestLam,
                                        accuracy_grid, best_lam_per_eta, check_grid, common_lams,
                                        cumulative_angle, eta_exponent, phase_means)

__all__ = ["AccuracyGrid", "accuracy_grid", "BestLam", "best_lam_per_eta", "eta_exponent",
           "common_lams", "phase_means", "cumulative_angle", "CNN_BN_SCALE_INVARIANT", "STATISTICS",
           "accuracy_heatmap", "best_lam_figure", "check_grid"]
