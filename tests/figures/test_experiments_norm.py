"""figures.experiments.param_norm_figure: its lines are the runs' norms on the eta*lam clock."""
import numpy as np
import pytest

from l2lab.engine import TrainConfig, TrainResult
from l2lab.figures.experiments import param_norm_figure


class _Rec:
    def __init__(self, eta, lam, norm):
        self.config = TrainConfig(eta=eta, lam=lam, steps=100)
        steps = np.array([0, 1, 10, 100])
        self.result = TrainResult(steps, np.ones(4), np.zeros(4), np.full(4, 0.9), np.ones(4),
                                  np.asarray(norm, float), False, -1, 0.0)


def test_lines_are_the_norms_against_step_eta_lam():
    a = [_Rec(2.0, 0.01, [4, 3, 2, 1]), _Rec(2.0, 0.001, [4, 4, 3, 2]), _Rec(2.0, 0.0, [4] * 4)]
    b = [_Rec(1.0, 0.01, [5, 5, 5, 5])]
    fig = param_norm_figure({"no BN": a, "BN": b})
    assert [t.name for t in fig.data] == ["no BN, λ = 0.001", "no BN, λ = 0.01", "BN, λ = 0.01"]
    np.testing.assert_allclose(fig.data[0].x, np.array([0.5, 1, 10, 100]) * 2.0 * 0.001)
    np.testing.assert_allclose(fig.data[1].y, [4, 3, 2, 1])
    assert [t.line.dash for t in fig.data] == ["solid", "solid", "dash"]
    assert fig.data[0].line.color != fig.data[1].line.color
    assert fig.data[1].line.color == fig.data[2].line.color        # colour by the lam's rank
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"


def test_bad_arguments():
    with pytest.raises(ValueError, match="sweeps"):
        param_norm_figure({})
    with pytest.raises(ValueError, match="sweeps"):
        param_norm_figure({"a": [_Rec(1.0, 0.0, [1, 1, 1, 1])]})
