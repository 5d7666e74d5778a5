"""The paper path of the experiment chapters, in CI (issue 19): every paper-scale conv
architecture (CNN-300 with and without BN, WRN-28-10 with augmentation and momentum) on CIFAR-10
in its own python format (a small synthetic copy read by the real loader), through
``run_sweep`` at ``L2LAB_SCALE=paper L2LAB_SMOKE=1``, announced before it trains, into records
whose figures draw. The FC paper path and the theory kernels run as chapters (``make smoke
SMOKE_ARGS=--ci``, tools/smoke.py)."""
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
