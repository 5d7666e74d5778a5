"""l2lab.predict: lam_pred = c/T (c/T1), the stop rule on hand-made curves, measure_c on a real
tiny run (t* is steps_to_peak of its curve, it stops early, its curve is train()'s), and the CLI
(bad options: one-line argparse errors, exit 2, nothing trained; one real tiny run)."""
import math

import numpy as np
import pytest

from l2lab import data as D
from l2lab import measure as Me
from l2lab.engine import models as M
from l2lab import predict as P
from l2lab.applications import predict_cli
from l2lab import train as T


# ----------------------------------------------------------------------------- predict_lambda

def test_predict_lambda_formulas():
    assert P.predict_lambda(0.0066, 1000) == pytest.approx(6.6e-6)
    assert P.predict_lambda(0.0066, 1000, 300) == pytest.approx(0.0066 / 300)
    assert P.predict_lambda(2 * 0.3, 2000) == pytest.approx(3e-4)           # SM C.3's 2c/T
    assert P.predict_lambda(1.0, 10, first_decay=10) == 0.1                   # T1 = T allowed
    assert P.predict_lambda(np.float32(0.5), np.int64(100)) == pytest.approx(0.005)


@pytest.mark.parametrize("args, name, exc", [
    ((0.0, 100), "c", ValueError), ((-1.0, 100), "c", ValueError), ((math.nan, 100), "c", ValueError),
    ((math.inf, 100), "c", ValueError), (("0.1", 100), "c", TypeError), ((True, 100), "c", TypeError),
    ((None, 100), "c", TypeError),
    ((0.1, 0), "budget", ValueError), ((0.1, -5), "budget", ValueError), ((0.1, math.inf), "budget", ValueError),
    ((0.1, "100"), "budget", TypeError),
    ((0.1, 100, 0), "first_decay", ValueError), ((0.1, 100, -3), "first_decay", ValueError),
    ((0.1, 100, 101), "first_decay", ValueError), ((0.1, 100, math.nan), "first_decay", ValueError),
    ((0.1, 100, "30"), "first_decay", TypeError),
])
def test_predict_lambda_bad(args, name, exc):
    with pytest.raises(exc, match=f"`{name}`"):
        P.predict_lambda(*args)


def test_first_decay_step_is_the_engines():
    budgets = np.asarray(list(range(1, 120)) + [1000, 2000, 12345])
    t = np.arange(budgets.max())
    f = np.asarray(T.lr_factor(t[None, :], budgets[:, None], "paper"))   # (B, max T), one call
    for b, row in zip(budgets, f):
        below = np.flatnonzero(row[:b] < 1)
        want = int(below[0]) if below.size else int(b)
        assert P.first_decay_step(int(b)) == want, b
        assert abs(want - 0.3 * b) <= 1
    assert P.first_decay_step(2000) == 600
    assert P.first_decay_step(77, "constant") == 77
    with pytest.raises(ValueError, match="`budget`"):
        P.first_decay_step(0)
    with pytest.raises(ValueError, match="`schedule`"):
        P.first_decay_step(10, "cosine")


# ----------------------------------------------------------------------------- stop rule

def _peaked(n_after, peak_at=10, drop=0.02):
    """Steps 0..peak_at+n_after; acc rises linearly to 0.8 at peak_at, then sits drop below."""
    s = np.arange(peak_at + n_after + 1)
    a = np.where(s <= peak_at, 0.8 * s / peak_at, 0.8 - drop)
    return s, a


def test_peak_is_certain_hand_made():
    s, a = _peaked(10)                                    # last step 20 = 2 x 10, 10 points below
    assert P.peak_is_certain(s, a, 0.005)
    assert not P.peak_is_certain(s[:-1], a[:-1], 0.005)   # step 19 < 2 x 10
    assert P.peak_is_certain(s[:-1], a[:-1], 0.005, patience=1.9)
    assert not P.peak_is_certain(s, a, 0.005, min_below=11)
    assert not P.peak_is_certain(s, a, 0.03)              # the drop (0.02) is within tol: plateau
    s, a = np.arange(50), np.linspace(0.1, 0.9, 50)       # still rising
    assert not P.peak_is_certain(s, a)
    s, a = _peaked(30)
    a = a.copy()
    a[-1] = 0.799                                         # came back within tol: not certain
    assert not P.peak_is_certain(s, a, 0.005)
    a[-1] = 0.9                                           # a new peak: not certain
    assert not P.peak_is_certain(s, a, 0.005)


def test_peak_is_certain_log_grid_and_nan():
    s = T.measurement_grid(1000, 8)                       # the grid measure_c uses
    a = np.where(s <= 64, s / 64.0, 1.0 - 0.001 * (s - 64)) * 0.9
    cut = [k for k in range(1, len(s) + 1) if P.peak_is_certain(s[:k], a[:k], 0.005)][0]
    near = np.flatnonzero(a[:cut] >= a.max() - 0.005)[-1]
    assert s[cut - 1] >= 2 * s[near] and s[cut - 2] < 2 * s[near]   # the first point that qualifies
    assert not P.peak_is_certain(s, np.full(len(s), np.nan))
    s, a = _peaked(10)
    a = a.copy()
    a[15] = np.nan                                        # NaN is "not within tol"
    assert P.peak_is_certain(s, a, 0.005)


@pytest.mark.parametrize("kw, name", [
    (dict(steps=[0, 1], acc=[0.1]), "steps"), (dict(steps=[0, 2, 1], acc=[0.1, 0.2, 0.3]), "steps"),
    (dict(steps=[0, np.nan], acc=[0.1, 0.2]), "steps"), (dict(steps=[], acc=[]), "steps"),
    (dict(steps=[0, 1], acc=["a", "b"]), "acc"), (dict(tol=-0.1), "tol"), (dict(patience=0.5), "patience"),
    (dict(min_below=0), "min_below"), (dict(min_below=2.0), "min_below"),
])
def test_peak_is_certain_bad(kw, name):
    args = dict(steps=[0, 1, 2], acc=[0.1, 0.2, 0.3])
    args.update(kw)
    with pytest.raises((TypeError, ValueError), match=f"`{name}`"):
        P.peak_is_certain(**args)


# ----------------------------------------------------------------------------- measure_c

@pytest.fixture(scope="module")
def tiny():
    """A width-64 two-layer FC on 256 MNIST-5k digits (512 test), its apply_fn and weights."""
    tr, te = D.paper_split("mnist5k", n_train=256, n_test=512, seed=0)
    model = M.make_model("fc", num_classes=10, widths=(64, 64))
    params = M.init(model, T.seed_keys(0)[0], (1,) + tr.x.shape[1:])
    return model, (lambda p, x: model.apply({"params": p}, x)), params, tr, te


@pytest.fixture(scope="module")
def measured(tiny):
    _, f, params, tr, te = tiny
    return P.measure_c(f, params, tr, te, eta=2.0, lam=0.01, batch_size=256, max_steps=5000, progress=False)


def test_measure_c_real_run(measured):
    r = measured
    cur = r.curve
    assert not r.diverged and r.certain and not r.hit_max_steps
    assert r.t_star == Me.steps_to_peak(cur.steps, cur.test_accuracy, 0.005)
    assert r.c == pytest.approx(r.t_star * 0.01) and r.c_prime == pytest.approx(r.t_star * 2.0 * 0.01)
    assert r.peak_accuracy == Me.peak_accuracy(cur.test_accuracy) > 0.5
    assert 5 <= r.t_star < r.steps_run <= 500 <= 5000 / 10           # stopped early
    assert r.steps_run == cur.steps[-1]
    np.testing.assert_array_equal(cur.steps, T.measurement_grid(5000, 8)[: len(cur.steps)])
    # it stopped at the first measurement where the peak is certain
    assert P.peak_is_certain(cur.steps, cur.test_accuracy, 0.005)
    assert not P.peak_is_certain(cur.steps[:-1], cur.test_accuracy[:-1], 0.005)
    assert r.wall_time > 0 and (r.eta, r.lam, r.momentum, r.tol) == (2.0, 0.01, 0.0, 0.005)


def test_measure_c_curve_is_trains(tiny, measured):
    """The same engine path as l2lab.train.train (constant eta: prefix-stable)."""
    model, _, params, tr, te = tiny
    ref = T.train(model, tr, te, T.TrainConfig(eta=2.0, lam=0.01, steps=measured.steps_run, batch_size=256,
                                                points_per_octave=8), params=params, progress=False)
    np.testing.assert_array_equal(ref.steps, measured.curve.steps)
    for k in ("test_accuracy", "train_loss", "train_error", "param_norm"):
        np.testing.assert_allclose(getattr(ref, k), getattr(measured.curve, k), rtol=1e-5, atol=1e-6)


def test_measure_c_max_steps_and_divergence(tiny):
    _, f, params, tr, te = tiny
    r = P.measure_c(f, params, tr, te, eta=2.0, lam=0.01, batch_size=256, max_steps=12, progress=False)
    assert r.hit_max_steps and not r.certain and r.steps_run == 12 and math.isfinite(r.c)
    r = P.measure_c(f, params, tr, te, eta=1e5, lam=0.01, batch_size=256, max_steps=5000, progress=False)
    assert r.diverged and r.curve.diverged and math.isnan(r.c) and math.isnan(r.c_prime)
    assert not r.certain and not r.hit_max_steps and r.steps_run < 50


@pytest.mark.parametrize("kw, name", [
    (dict(apply_fn=3), "apply_fn"), (dict(params={}), "params"), (dict(params={"w": "x"}), "params"),
    (dict(eta=0.0), "eta"), (dict(eta=-1.0), "eta"), (dict(eta="1"), "eta"), (dict(lam=0.0), "lam"),
    (dict(lam=math.nan), "lam"), (dict(tol=-0.01), "tol"), (dict(max_steps=0), "max_steps"),
    (dict(max_steps=10.0), "max_steps"), (dict(points_per_octave=0), "points_per_octave"),
    (dict(patience=0.9), "patience"), (dict(min_below=0), "min_below"), (dict(seed=-1), "seed"),
    (dict(progress=1), "progress"), (dict(batch_size=0), "batch_size"), (dict(momentum=1.0), "momentum"),
    (dict(loss="hinge"), "loss"), (dict(train_ds=object()), "train_ds"), (dict(test_ds=(1, 2)), "test_ds"),
])
def test_measure_c_bad(tiny, kw, name):
    _, f, params, tr, te = tiny
    args = dict(apply_fn=f, params=params, train_ds=tr, test_ds=te, eta=1.0, batch_size=256, progress=False)
    args.update(kw)
    with pytest.raises((TypeError, ValueError), match=f"`{name}`|{name} "):
        P.measure_c(**args)


def test_measure_c_preset_bad():
    with pytest.raises(ValueError, match="`arch`"):
        P.measure_c_preset("resnet", "tiny")
    with pytest.raises(ValueError, match="`scale`"):
        P.measure_c_preset("fc", "huge")
    with pytest.raises(ValueError, match="`seed`"):
        P.preset_setup("fc", "tiny", seed=-1)


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def no_training(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(predict_cli, "measure_c_preset", boom)
    monkeypatch.setattr(P, "measure_c", boom)
    monkeypatch.setattr(predict_cli, "preset_setup", boom)


BAD = [
    ([], "--budget", ["required"]),
    (["--budget", "0"], "--budget", [">= 1"]), (["--budget", "-5"], "--budget", [">= 1"]),
    (["--budget", "1.5"], "--budget", ["'1.5'"]), (["--budget", "x"], "--budget", ["'x'"]),
    (["--budget", "10", "--arch", "mlp"], "--arch", ["invalid choice"]),
    (["--budget", "10", "--scale", "big"], "--scale", ["invalid choice"]),
    (["--budget", "10", "--schedule", "cosine"], "--schedule", ["invalid choice"]),
    (["--budget", "10", "--momentum", "1"], "--momentum", ["< 1"]),
    (["--budget", "10", "--momentum", "-0.1"], "--momentum", [">= 0"]),
    (["--budget", "10", "--momentum", "m"], "--momentum", ["'m'"]),
    (["--budget", "10", "--eta", "0"], "--eta", ["> 0"]), (["--budget", "10", "--eta", "nan"], "--eta", ["finite"]),
    (["--budget", "10", "--lam", "0"], "--lam", ["> 0"]), (["--budget", "10", "--lam", "inf"], "--lam", ["finite"]),
    (["--budget", "10", "--tol", "-0.1"], "--tol", [">= 0"]),
    (["--budget", "10", "--max-steps", "0"], "--max-steps", [">= 1"]),
    (["--budget", "10", "--seed", "-1"], "--seed", [">= 0"]),
]


@pytest.mark.parametrize("argv, option, words", BAD)
def test_cli_bad_arguments(argv, option, words, capsys, no_training):
    with pytest.raises(SystemExit) as info:
        P.main(argv + ["--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("python -m l2lab.predict: error: ") and option in lines[-1], err
    assert lines[0].startswith("usage:")
    for w in words:
        assert w in lines[-1], lines[-1]


def test_cli_missing_dataset(monkeypatch, capsys):
    def missing(*a, **k):
        raise FileNotFoundError("CIFAR-10 not found under\n/nowhere; run download_dataset")

    monkeypatch.setattr(predict_cli, "preset_setup", missing)
    with pytest.raises(SystemExit) as info:
        P.main(["--arch", "wrn", "--scale", "paper", "--budget", "1000"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("python -m l2lab.predict: error: argument --scale: CIFAR-10 not found under /nowhere")


def test_cli_diverged_exits_1(monkeypatch, capsys, measured):
    fake = measured._replace(c=math.nan, c_prime=math.nan, t_star=math.nan, diverged=True, certain=False)
    monkeypatch.setattr(predict_cli, "preset_setup", lambda *a, **k: None)
    monkeypatch.setattr(predict_cli, "measure_c_preset", lambda *a, **k: fake)
    with pytest.raises(SystemExit) as info:
        P.main(["--budget", "1000", "--no-progress"])
    assert info.value.code == 1
    assert "diverged" in capsys.readouterr().err


def test_cli_tiny_fc(capsys):
    r = P.main(["--arch", "fc", "--scale", "tiny", "--budget", "2000", "--schedule", "paper", "--no-progress"])
    out = capsys.readouterr().out
    assert r.certain and not r.diverged and r.steps_run < 2000 / 10
    assert r.tol == 0.001 and r.eta == 2.0 and r.lam == 0.01      # the preset's t_star_tol and middle eta
    assert r.t_star == Me.steps_to_peak(r.curve.steps, r.curve.test_accuracy, 0.001)
    lines = {l.split("  ")[0].strip(): l for l in out.splitlines()}
    assert f"{r.c:.4g}" in lines["c = t* lam"]
    assert f"{r.c / 600:.4g}" in lines["lam_pred = c/T1"] and "T1 = 600" in lines["lam_pred = c/T1"]
    assert f"{2 * r.c / 600:.4g}" in lines["2c/T1 (SM C.3)"]
    assert f"{r.steps_run} steps" in lines["cost"]
    assert f"{r.steps_run / (5 * 2000):.3g}" in lines["cost / sweep"]
