"""figures.theory.kernel_decay_ratio_table: the kernel-decay page's table, transposed."""
import numpy as np
import pytest

from l2lab import theory
from l2lab.figures import theory as figs
from l2lab.theory import wide

LAM = 0.01


def _traj(times, factor):
    n = 3
    ntk = np.stack([f * (np.eye(n) + 0.5) for f in factor])
    z = np.zeros(len(times))
    return wide.Trajectory(steps=z.astype(int), t=times, f=np.zeros((len(times), n, 1)), loss=z,
                           param_norm=z, ntk_t=np.asarray(times, float), ntk=ntk, diverged=False,
                           wall_time=0.0)


def test_rows_are_times_columns_are_networks_and_values_are_measured_over_predicted():
    t = np.linspace(0, 3 / LAM, 13)
    exact = _traj(t, theory.kernel_decay(t, LAM, 2))          # follows Eq. (2): ratio 1
    slower = _traj(t, theory.kernel_decay(t, LAM, 2) * np.exp(LAM * t))
    tab = figs.kernel_decay_ratio_table({"exact": (2, exact), "slower": (2, slower)}, LAM)
    assert tab.header == ["λt", "exact", "slower"]
    assert [r[0] for r in tab.rows] == ["0.00", "0.50", "1.00", "1.50", "2.00", "2.50", "3.00"]
    assert all(r[1] == "1" for r in tab.rows)
    assert [float(r[2]) for r in tab.rows] == pytest.approx(np.exp([0, .5, 1, 1.5, 2, 2.5, 3]), rel=5e-3)
    # the last record is kept when the step skips it
    assert figs.kernel_decay_ratio_table({"e": (2, exact)}, LAM, every=5).rows[-1][0] == "3.00"
    assert len(tab.header) <= 6          # fits the page at 1280 px whatever the number of records


def test_rejects_bad_arguments():
    t = np.linspace(0, 300, 5)
    a = _traj(t, np.ones(5))
    with pytest.raises(TypeError, match="results"):
        figs.kernel_decay_ratio_table({}, LAM)
    with pytest.raises(ValueError, match="results"):
        figs.kernel_decay_ratio_table({"a": (1, a), "b": (1, _traj(t * 1.5, np.ones(5)))}, LAM)
    with pytest.raises(ValueError, match="lam"):
        figs.kernel_decay_ratio_table({"a": (1, a)}, -1.0)
