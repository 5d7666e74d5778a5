"""l2lab.applications.timescale: lam_pred = c/T as an EMA timescale, against the closed form
tau_pred / T = 1 / c' and a direct EMA."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from l2lab.applications import timescale


def test_ema_timescale_is_the_decay_time_of_sgd_with_l2():
    # gradient-free SGD with L2: w <- (1 - eta lam) w decays by e after ~1/(eta lam) steps
    eta, lam = 0.15, 1e-3
    tau = timescale.ema_timescale(eta, lam)
    w = (1 - eta * lam) ** np.arange(int(3 * tau))
    assert np.argmax(w < np.exp(-1)) == pytest.approx(tau, rel=1e-3)
    with pytest.raises(ValueError, match="lam"):
        timescale.ema_timescale(0.1, 0.0)


def test_the_prediction_is_a_fixed_fraction_of_the_run():
    eta, c, spe = 0.2, 0.8, 49                  # c' = eta c = 0.16
    rows = [SimpleNamespace(budget=t, tuned=SimpleNamespace(lam=lam), predicted_lam={1.0: c / t})
            for t, lam in ((490, 1e-3), (4900, 2e-4))]
    got = timescale.timescale_rows(rows, eta, spe)
    for g, r in zip(got, rows):
        assert g.tau_pred_of_run == pytest.approx(1 / (eta * c))        # T / c', whatever T
        assert g.tau_tuned == pytest.approx(1 / (eta * r.tuned.lam) / spe)
        assert g.tau_tuned_of_run == pytest.approx(g.tau_tuned / (r.budget / spe))
    with pytest.raises(ValueError, match="steps_per_epoch"):
        timescale.timescale_rows(rows, eta, 0)
    with pytest.raises(ValueError, match="rows"):
        timescale.timescale_rows([], eta, 1)
