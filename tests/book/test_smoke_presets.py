"""L2LAB_SMOKE: the switch (validated) and the smoke presets, which keep the paper's
architectures, data, sharding and settings and shrink only what costs time."""
from __future__ import annotations

import pytest

from l2lab import engine, scales
from l2lab.engine import presets

ARCHS = ("fc", "cnn", "cnn_bn", "wrn")


@pytest.mark.parametrize("value, want", [(None, False), ("", False), ("0", False), ("1", True),
                                         (" 1 ", True)])
def test_smoke_switch_values(monkeypatch, value, want):
    if value is None:
        monkeypatch.delenv("L2LAB_SMOKE", raising=False)
    else:
        monkeypatch.setenv("L2LAB_SMOKE", value)
    assert scales.smoke() is want


@pytest.mark.parametrize("value", ["yes", "true", "2", "on", "01"])
def test_smoke_switch_refuses_anything_else(monkeypatch, value):
    monkeypatch.setenv("L2LAB_SMOKE", value)
    with pytest.raises(ValueError, match="L2LAB_SMOKE must be '1'.*" + value):
        scales.smoke()
    with pytest.raises(ValueError, match="L2LAB_SMOKE"):   # a paper preset asks, and fails loudly
        engine.preset("fc", "paper")


@pytest.mark.parametrize("arch", ARCHS)
def test_smoke_presets_keep_the_paper_setup_and_shrink_only_time(monkeypatch, arch):
    monkeypatch.delenv("L2LAB_SMOKE", raising=False)
    paper = engine.preset(arch, "paper")
    monkeypatch.setenv("L2LAB_SMOKE", "1")
    smoke = engine.preset(arch, "paper")
    changed = {f for f in paper._fields if getattr(paper, f) != getattr(smoke, f)}
    assert changed <= set(presets.SMOKE_FIELDS), changed - set(presets.SMOKE_FIELDS)
    # the architecture, its sizes and the data format are the paper's
    for f in ("arch", "model_kwargs", "dataset", "image_size", "augment", "momentum", "loss",
              "optimizer", "max_group_size", "schedule", "lam_schedule"):
        assert getattr(smoke, f) == getattr(paper, f), f
    # what costs time is small
    configs, dropped = engine.expand(smoke)
    assert dropped == [] and 1 <= len(configs) <= 4
    assert all(c.steps <= presets.SMOKE["steps"] for c in configs)
    assert smoke.n_train <= presets.SMOKE["n_train"] and smoke.n_test <= presets.SMOKE["n_test"]
    assert smoke.batch_size <= presets.SMOKE["n_train"]
    # the extreme etas and lams are kept, and a full-batch preset stays full batch
    assert smoke.etas == tuple(dict.fromkeys((paper.etas[0], paper.etas[-1])))
    assert smoke.lams[0] == paper.lams[0] and smoke.lams[-1] == paper.lams[-1]
    assert (smoke.batch_size == smoke.n_train) == (paper.batch_size >= paper.n_train)
    assert presets.smoke_spec(smoke) == smoke                      # idempotent


def test_smoke_leaves_the_tiny_presets_alone(monkeypatch):
    monkeypatch.setenv("L2LAB_SMOKE", "1")
    for arch in ARCHS:
        assert engine.preset(arch, "tiny") == presets.PRESETS[arch, "tiny"]


def test_smoke_spec_of_a_custom_spec():
    spec = engine.SweepSpec(arch="wrn", model_kwargs={"depth": 28, "width": 10}, dataset="cifar10",
                            n_train=50000, n_test=10000, etas=(0.1, 0.2, 0.4), lams=(1e-4,),
                            budget="steps:3", batch_size=1024, eval_batch_size=1000,
                            points_per_octave=8)
    s = presets.smoke_spec(spec)
    assert s.etas == (0.1, 0.4) and s.lams == (1e-4,) and s.budget == "steps:2"
    assert (s.n_train, s.n_test, s.batch_size, s.eval_batch_size, s.points_per_octave) == (
        16, 16, 4, 8, 1)
    s = presets.smoke_spec(spec._replace(lams=(1e-4, 2e-4, 5e-4), budget="steps:1"))
    assert s.lams == (1e-4, 5e-4) and s.budget == "steps:1"
    with pytest.raises(TypeError, match="spec"):
        presets.smoke_spec({"arch": "fc"})


def test_pick_takes_an_optional_smoke_value(monkeypatch):
    three = {"tiny": 1, "paper": 2, "smoke": 3}
    monkeypatch.delenv("L2LAB_SMOKE", raising=False)
    monkeypatch.setenv("L2LAB_SCALE", "paper")
    assert scales.pick(three) == 2 and scales.pick({"tiny": 1, "paper": 2}) == 2
    monkeypatch.setenv("L2LAB_SMOKE", "1")
    assert scales.pick(three) == 3 and scales.pick({"tiny": 1, "paper": 2}) == 2
    assert scales.pick(three, "tiny") == 1
    monkeypatch.setenv("L2LAB_SCALE", "tiny")
    assert scales.pick(three) == 1
    with pytest.raises(ValueError, match="smoke"):
        scales.pick({"tiny": 1, "smoke": 3})
    with pytest.raises(ValueError, match="options"):
        scales.pick({"tiny": 1, "paper": 2, "huge": 4})


def test_every_entry_that_trains_from_a_spec_shrinks_it(monkeypatch):
    """A chapter that widens a smoke preset again (its own budget, grid or max_steps) still runs
    a smoke run: run_sweep (tests/book/test_smoke_paper_path.py) and the c measurement, which
    trains until its peak is certain, stop within SMOKE's max_steps."""
    from l2lab.applications import predict

    monkeypatch.setenv("L2LAB_SCALE", "paper")
    monkeypatch.setenv("L2LAB_SMOKE", "1")
    wide = engine.preset("fc", "paper")._replace(budget="steps:100000", max_steps=2 ** 20,
                                                 lams=(1e-5, 1e-4, 1e-3))
    assert presets.smoke_if_asked(wide) == presets.smoke_spec(wide)
    assert presets.smoke_if_asked(wide).max_steps == presets.SMOKE["max_steps"]
    m = predict.measure_c_spec(wide, progress=False)
    assert 0 < m.steps_run <= presets.SMOKE["max_steps"]
    monkeypatch.setenv("L2LAB_SMOKE", "0")
    assert presets.smoke_if_asked(wide) is wide
    monkeypatch.setenv("L2LAB_SCALE", "tiny")
    monkeypatch.setenv("L2LAB_SMOKE", "1")
    assert presets.smoke_if_asked(wide) is wide
