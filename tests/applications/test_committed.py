"""l2lab.applications.committed against the committed paper-size FC runs (data/sweeps/h200/fc-apps):
the runs at lam_pred are those the committed c predicts, truncation matches the records, and the
loaders feed tuning.compare / compare_autol2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l2lab.applications import committed, predict, tuning

FOLDER = Path(__file__).resolve().parents[2] / "data" / "sweeps" / "h200" / "fc-apps"
BUDGETS = (500, 1000, 2000, 4000, 8000)
pytestmark = pytest.mark.skipif(not FOLDER.is_dir(), reason="no committed fc-apps runs")


@pytest.mark.parametrize("eta", [0.15, 1.5])
def test_predicted_runs_sit_at_f_c_over_t(eta):
    m = committed.load_c(FOLDER, eta)
    assert m.c == pytest.approx(m.t_star * m.lam) and m.c_prime == pytest.approx(m.c * eta)
    pred = committed.load_predicted(FOLDER, eta)
    assert sorted({t for t, _ in pred}) == list(BUDGETS)
    for (t, f), r in pred.items():
        assert r.config.steps == t
        assert r.config.lam == pytest.approx(predict.predict_lambda(f * m.c, t), rel=1e-9)


def test_tuning_is_the_long_runs_cut_at_each_budget():
    tuned = committed.load_tuning(FOLDER, 0.15, BUDGETS)
    longest = committed.load_tuning(FOLDER, 0.15, (8000,))[8000]
    for t, recs in tuned.items():
        assert [r.config.lam for r in recs] == sorted(r.config.lam for r in recs)
        for cut, full in zip(recs, longest):
            assert cut.config.steps == t and cut.result.steps[-1] <= t
            k = len(cut.result.steps)
            np.testing.assert_array_equal(cut.result.test_accuracy, full.result.test_accuracy[:k])
            assert cut.peak_accuracy == np.nanmax(full.result.test_accuracy[:k])
    rows = tuning.compare(tuned, committed.load_predicted(FOLDER, 0.15))
    assert [r.budget for r in rows] == list(BUDGETS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_autol2_against_the_same_seeds_constant_runs(seed):
    const, auto = committed.load_autol2(FOLDER, 0.15, seed)
    assert {r.config.seed for r in const + auto} == {seed}
    assert sorted(r.config.lam for r in auto) == [0.01, 0.1]
    assert all(r.config.steps == auto[0].config.steps for r in const)
    for a in auto:
        c = tuning.compare_autol2(const, a)
        best = max(const, key=lambda r: r.peak_accuracy)
        assert c.best_lam == best.config.lam and c.best_accuracy == best.peak_accuracy


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        committed.load_c(tmp_path / "nothing", 0.15)
    with pytest.raises(ValueError, match="eta"):
        committed.load_c(FOLDER, 0.7)
    with pytest.raises(ValueError, match="budgets"):
        committed.load_tuning(FOLDER, 0.15, (9000,))
    with pytest.raises(ValueError, match="seed"):
        committed.load_autol2(FOLDER, 0.15, 7)
