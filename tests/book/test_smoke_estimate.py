"""engine.estimate: what a sweep is about to run, counted independently, and its time from a
short timed step, compared with the sweep's own wall time."""
from __future__ import annotations

import math

import pytest

from l2lab import engine
from l2lab.engine import estimate
from toy_data import toy

SPEC = engine.SweepSpec(arch="fc", model_kwargs={"widths": (64, 64)}, dataset="toy", n_train=64,
                        etas=(0.5, 1.0), lams=(1e-3, 0.1, 1e4), budget="etalam:2", batch_size=64,
                        points_per_octave=4, max_steps=5000, max_group_size=2)


def test_counts_match_the_plan_and_time_follows_the_formula():
    tr, te = toy()
    est = estimate.estimate_sweep(SPEC, train_ds=tr, test_ds=te, devices=2)
    # budgets t = ceil(2 / (eta lam)); 1e4 gives 1 step, 1e-3 at eta 0.5 (4000 > ...) is kept
    budgets = sorted(math.ceil(2 / (e * lam) - 1e-9) for e in SPEC.etas for lam in SPEC.lams)
    kept = [b for b in budgets if b <= SPEC.max_steps]
    assert est.configurations == len(kept) and est.dropped == len(budgets) - len(kept)
    configs = engine.expand(SPEC)[0]
    groups = engine.plan_groups(configs, SPEC.bucket, SPEC.max_group_size, 2)    # as run_sweep plans
    assert est.groups == len(groups) >= 2
    assert len(groups) < len(engine.group_configs(configs, SPEC.bucket, SPEC.max_group_size))
    longest = [max(configs[i].steps for i in g) for g in groups]
    assert est.steps == sum(len(g) * t for g, t in zip(groups, longest)) >= sum(kept)
    assert est.device_steps == sum(-(-len(g) // 2) * t for g, t in zip(groups, longest))
    assert est.steps <= sum(kept) * SPEC.bucket * 2
    assert est.devices == 2 and est.device
    for v in (est.step_seconds, est.measure_seconds, est.compile_seconds):
        assert 0 < v < 60
    want = (est.device_steps * est.step_seconds + est.device_measurements * est.measure_seconds
            + est.groups * est.compile_seconds)
    assert est.seconds == pytest.approx(want)
    # on 4 devices a group of 2 is padded to 4: a device still trains one configuration per group
    four = estimate.estimate_sweep(SPEC, train_ds=tr, test_ds=te, devices=4)
    assert four.groups <= est.groups and four.device_steps <= est.device_steps
    text = est.sentence()
    assert f"{est.configurations} configurations" in text and "FC 2x64 on toy" in text
    assert estimate.human_duration(est.seconds) in text
    html = est._repr_html_()
    assert "<table" in html and "estimated time" in html and str(est) == text


def test_estimate_describes_the_sweep_it_runs(tmp_path):
    """The plan the estimate counts is the one run_sweep trains (how close its time comes is a
    matter of the machine and the compilation cache: a timed unit test would be flaky)."""
    tr, te = toy()
    spec = SPEC._replace(lams=(0.01,), etas=(1.0,), max_group_size=64)    # one group, 200 steps
    est = estimate.estimate_sweep(spec, train_ds=tr, test_ds=te)
    recs = engine.run_sweep(spec, tmp_path / "s", train_ds=tr, test_ds=te, progress=False)
    assert est.steps == 200 and est.groups == 1 and est.configurations == len(recs)
    assert est.steps == sum(r.config.steps for r in recs)
    assert 0 < est.seconds < float("inf")


@pytest.mark.parametrize("seconds, text", [(0.8712, "0.87 s"), (42.4, "42 s"), (720, "12 min"),
                                           (3 * 3600, "3.0 h"), (42 * 3600, "42 h"),
                                           (6.1 * 86400, "6.1 days")])
def test_human_duration(seconds, text):
    assert estimate.human_duration(seconds) == text


def test_model_names_and_bad_arguments():
    assert estimate.describe_model(engine.preset("wrn", "tiny")) == "WRN-10-1"
    assert estimate.describe_model(engine.preset("cnn_bn", "tiny")) == "CNN with BN (8 channels)"
    assert estimate.describe_model(engine.preset("fc", "tiny")) == "FC 3x256"
    tr, te = toy()
    with pytest.raises(TypeError, match="spec"):
        estimate.estimate_sweep({"arch": "fc"})
    with pytest.raises(ValueError, match="timed_steps"):
        estimate.estimate_sweep(SPEC, train_ds=tr, test_ds=te, timed_steps=0)
    with pytest.raises(ValueError, match="train_ds"):
        estimate.estimate_sweep(SPEC, train_ds=tr)
    with pytest.raises(ValueError, match="seconds"):
        estimate.human_duration(-1.0)
