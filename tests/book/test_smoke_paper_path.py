"""The paper path of the experiment chapters, in CI (issue 19): every paper-scale conv
architecture (CNN-300 with and without BN, WRN-28-10 with augmentation and momentum) on CIFAR-10
in its own python format (a small synthetic copy read by the real loader), through
``run_sweep`` at ``L2LAB_SCALE=paper L2LAB_SMOKE=1``, announced before it trains, into records
whose figures draw; and the applications' paper path on the paper's FC. The chapters run in ``make smoke``
(CI: the subset ``SMOKE_ARGS=--ci``, tools/smoke.py)."""
from __future__ import annotations

import numpy as np
import pytest

from l2lab import engine
from l2lab.data import synthetic_cifar10
from l2lab.figures import experiments as figs

PAPER = {"cnn": ("channels", 300), "cnn_bn": ("channels", 300), "wrn": ("width", 10)}


@pytest.mark.parametrize("arch", sorted(PAPER))
def test_paper_path_trains_announces_and_draws(arch, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("L2LAB_SCALE", "paper")
    monkeypatch.setenv("L2LAB_SMOKE", "1")
    monkeypatch.setenv("L2LAB_DATA_DIR", str(tmp_path / "data"))
    synthetic_cifar10(tmp_path / "data" / "cifar10", n_train=64, n_test=32, seed=0)
    spec = engine.preset(arch, "paper")
    key, value = PAPER[arch]
    assert spec.dataset == "cifar10" and spec.model_kwargs[key] == value      # the paper's model
    # a chapter that sets a paper budget (the WRN's schedule cells) stays a smoke run
    records = engine.run_sweep(spec._replace(budget="steps:4000"), tmp_path / "runs",
                               progress=False)
    said = capsys.readouterr().err
    assert "About to train" in said and "configurations" in said               # announced
    assert len(records) == len(spec.etas) * len(spec.lams) * len(spec.seeds) >= 2
    for r in records:
        assert r.config.steps <= 8                                             # shrunk
        assert np.all(np.isfinite(r.result.train_loss)) and not r.result.diverged
        assert r.provenance["num_processes"] == 1
    assert figs.steps_to_peak_figure(records).data
    assert figs.training_curves_figure(records, eta=records[0].config.eta).data


def test_applications_paper_path(tmp_path, monkeypatch):
    """The applications chapters' paper path in CI (their chapters, on WRN-28-10, run in
    ``make smoke``): c measured on a paper spec, the tuning sweep (constant and the paper's
    schedule), the predicted runs and AutoL2, shrunk to smoke runs, compared and judged."""
    from l2lab.applications import predict, tuning

    monkeypatch.setenv("L2LAB_SCALE", "paper")
    monkeypatch.setenv("L2LAB_SMOKE", "1")
    spec = engine.preset("fc", "paper")._replace(etas=(0.15,), lams=(1e-4, 1e-3, 0.01))
    assert spec.model_kwargs["widths"] == (2048, 2048, 2048)
    m = predict.measure_c_spec(spec, progress=False)
    assert m.steps_run <= engine.presets.SMOKE["max_steps"]
    c = m.c if np.isfinite(m.c) and m.c > 0 else 1.0        # 16 steps may show no peak
    for sched in ("constant", "paper"):
        s = spec._replace(schedule=sched)
        rows = tuning.compare(tuning.tuning_sweep(s, (1, 2), tmp_path),
                              tuning.predicted_runs(s, c, (1, 2), tmp_path))
        assert [r.budget for r in rows] == [1, 2]
        assert tuning.prediction_verdict(rows).word in ("reproduced", "partly", "not at this scale",
                                                         "contradicted")
    const = tuning.tuning_sweep(spec, (2,), tmp_path)[2]
    auto = tuning.autol2_runs(spec, (0.01,), 2, tmp_path)
    assert len(auto) == 1 and auto[0].config.steps == 2
    assert np.isfinite(tuning.compare_autol2(const, auto[0]).best_accuracy)
