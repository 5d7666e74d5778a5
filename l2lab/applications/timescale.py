"""lam_pred = c/T read as an EMA timescale (Wang & Aitchison, ICML 2025).

Wang & Aitchison show that the weights of AdamW (decoupled weight decay lam, learning rate eta)
are an exponential moving average of recent updates over ``tau = 1/(eta lam)`` iterations; the
best ``tau``, counted in epochs, stays roughly constant as model and data grow and lies between
one epoch (average over every example) and the whole run (forget the start). For SGD with L2 the
same ``1/(eta lam)`` is the paper's time scale. The paper's prediction ``lam_pred = c/T`` (``c``
in this book's units: ``t* lam`` with ``t*`` in steps) sets

    tau_pred = 1/(eta lam_pred) = T/(eta c) = T/c',     c' = eta c = t* eta lam,

a fixed fraction ``1/c'`` of the run, whatever the budget.
"""
from __future__ import annotations

from typing import List, NamedTuple, Sequence

from l2lab import _checks

__all__ = ["TimescaleRow", "ema_timescale", "timescale_rows"]


def ema_timescale(eta: float, lam: float) -> float:
    """``1/(eta lam)``: the iterations over which the weights average their updates."""
    eta = _checks.positive_float("eta", eta)
    lam = _checks.positive_float("lam", lam)
    return 1.0 / (eta * lam)


class TimescaleRow(NamedTuple):
    """One budget ``budget`` (steps): the tuned lam's timescale ``tau_tuned`` and that of
    ``c/T``, ``tau_pred``, both in epochs, and as fractions of the run (``*_of_run``)."""
    budget: int
    tau_tuned: float
    tau_pred: float
    tau_tuned_of_run: float
    tau_pred_of_run: float


def timescale_rows(rows: Sequence, eta: float, steps_per_epoch: int) -> List[TimescaleRow]:
    """The timescales of the tuned lam and of ``c/T`` for each budget of ``rows``
    (:func:`l2lab.applications.tuning.compare`'s rows, at learning rate ``eta``), in epochs of
    ``steps_per_epoch`` steps (1 for full batch)."""
    eta = _checks.positive_float("eta", eta)
    spe = _checks.positive_int("steps_per_epoch", steps_per_epoch)
    rows = list(rows)
    if not rows:
        raise _checks.bad_value("rows", "must hold at least one Comparison")
    out = []
    for r in rows:
        t_tuned = ema_timescale(eta, r.tuned.lam) / spe
        t_pred = ema_timescale(eta, r.predicted_lam[1.0]) / spe
        run = r.budget / spe
        out.append(TimescaleRow(int(r.budget), t_tuned, t_pred, t_tuned / run, t_pred / run))
    return out
