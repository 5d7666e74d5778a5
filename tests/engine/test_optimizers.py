"""l2lab.train/l2lab.sweep ``optimizer`` option: sgd, adam (coupled L2) and adamw (decoupled decay)
checked against hand-written update loops (Adam moments with bias correction), schedules acting on
Adam, AutoL2 with Adam, sweeps equal to per-config runs, unchanged spec ids, argument errors."""
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2lab.engine import models as M
from l2lab.engine import records
from l2lab import sweep as S
from l2lab.engine import cli as engine_cli
from l2lab import train as T
from toy_data import toy as _toy

B1, B2, EPS = 0.9, 0.999, 1e-8


MODEL = M.make_model("fc", num_classes=3, widths=(8, 8))


def _params():
    return M.init(MODEL, jax.random.PRNGKey(0), (1, 10))


@functools.lru_cache(maxsize=None)
def _engine(optimizer, kw):
    """An Engine on the toy data and its jitted ``run`` (cached: one compilation per setting)."""
    tr, te = _toy()
    eng = T.Engine(lambda p, x: MODEL.apply({"params": p}, x), tr, te, batch_size=64, optimizer=optimizer,
                   **dict(kw))
    return eng, jax.jit(eng.run)


def _engine_params(optimizer, eta, lam, steps, **kw):
    """Parameters after ``steps`` full-batch updates of the Engine (budget ``steps``)."""
    eng, run = _engine(optimizer, tuple(sorted(kw.items())))
    state = eng.init_state(_params(), eta, lam, steps, jax.random.PRNGKey(1))
    state = run(state, jnp.int32(steps), eng.data)[0]
    assert int(state.step) == steps and not bool(state.diverged)
    return [np.asarray(p, np.float64) for p in jax.tree.leaves(state.params)]


@functools.lru_cache(maxsize=None)
def _data_grad():
    """Jitted full-batch data gradient (the SM A loss, no L2 term) as a function of the leaves."""
    tr, _ = _toy()
    x, y = jnp.asarray(tr.x), jax.nn.one_hot(jnp.asarray(tr.y), 3)
    treedef = jax.tree.structure(_params())
    return jax.jit(jax.grad(lambda ls: T.xent_loss(MODEL.apply({"params": jax.tree.unflatten(treedef, ls)}, x), y)))


def _reference(optimizer, eta, lam, steps, lr_at=None, lam_at=None):
    """The update formulas written out: theta (float64 numpy) after ``steps`` full-batch updates.
    ``lr_at(t)``/``lam_at(t)``: the learning rate / lam of update t (default: constant)."""
    grad = _data_grad()
    theta = [np.asarray(p, np.float64) for p in jax.tree.leaves(_params())]
    m = [np.zeros_like(p) for p in theta]
    v = [np.zeros_like(p) for p in theta]
    for t in range(steps):
        lr = eta if lr_at is None else lr_at(t)
        lm = lam if lam_at is None else lam_at(t)
        g = [np.asarray(a, np.float64) for a in grad([jnp.asarray(p, jnp.float32) for p in theta])]
        if optimizer == "sgd":
            theta = [p - lr * (gi + lm * p) for p, gi in zip(theta, g)]
            continue
        if optimizer == "adam":                       # coupled: the L2 gradient goes through Adam
            g = [gi + lm * p for p, gi in zip(theta, g)]
        m = [B1 * mi + (1 - B1) * gi for mi, gi in zip(m, g)]
        v = [B2 * vi + (1 - B2) * gi ** 2 for vi, gi in zip(v, g)]
        d = [(mi / (1 - B1 ** (t + 1))) / (np.sqrt(vi / (1 - B2 ** (t + 1))) + EPS) for mi, vi in zip(m, v)]
        if optimizer == "adam":
            theta = [p - lr * di for p, di in zip(theta, d)]
        else:                                         # decoupled: theta -= lr (adam_dir + lam theta)
            theta = [p - lr * (di + lm * p) for p, di in zip(theta, d)]
    return theta


def _close(a, b, atol=1e-5):
    assert len(a) == len(b)
    for u, w in zip(a, b):
        np.testing.assert_allclose(u, w, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("optimizer,eta", [("sgd", 1.0), ("adam", 0.01), ("adamw", 0.01)])
def test_engine_equals_the_written_out_update(optimizer, eta):
    _close(_engine_params(optimizer, eta, 0.1, 8), _reference(optimizer, eta, 0.1, 8))
    assert T.OPTIMIZERS == ("sgd", "adam", "adamw")


def test_adam_and_adamw_differ_with_l2_and_coincide_without():
    a, w = _engine_params("adam", 0.01, 0.5, 6), _engine_params("adamw", 0.01, 0.5, 6)
    assert max(np.max(np.abs(u - v)) for u, v in zip(a, w)) > 1e-3
    _close(_engine_params("adam", 0.01, 0.0, 6), _engine_params("adamw", 0.01, 0.0, 6), atol=1e-7)
    ref0 = _reference("adamw", 0.01, 0.5, 6, lam_at=lambda t: 0.0)      # lam really acts in adamw
    assert max(np.max(np.abs(u - v)) for u, v in zip(w, ref0)) > 1e-4


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_schedules_act_on_adam(optimizer):
    steps, e = 10, 4
    paper = lambda t: 0.02 * 0.2 ** ((t >= 0.3 * steps) + (t >= 0.6 * steps) + (t >= 0.9 * steps))
    _close(_engine_params(optimizer, 0.02, 0.1, steps, schedule="paper"),
           _reference(optimizer, 0.02, 0.1, steps, lr_at=paper))
    early = _engine_params(optimizer, 0.02, 0.3, steps, lam_schedule=f"early:{e}")
    _close(early, _reference(optimizer, 0.02, 0.3, steps, lam_at=lambda t: 0.3 if t < e else 0.0))
    const = _reference(optimizer, 0.02, 0.3, steps)                     # the schedule did change the run
    assert max(np.max(np.abs(u - v)) for u, v in zip(early, const)) > 1e-4


def test_autol2_with_adam_and_argument_errors():
    tr, te = _toy()
    cfg = T.TrainConfig(eta=0.01, lam=0.1, steps=60, batch_size=64, optimizer="adam", lam_schedule="autol2")
    res = T.train(MODEL, tr, te, cfg, progress=False)
    assert res.lam.shape == res.steps.shape and np.all(np.isfinite(res.lam)) and res.lam[0] == np.float32(0.1)
    assert len(res.lam_changes) >= 1 and np.all(np.diff(res.lam) <= 0) and res.lam[-1] < res.lam[0]
    # before the first decay AutoL2 + Adam is coupled Adam at the starting lam
    const = T.train(MODEL, tr, te, cfg._replace(lam_schedule="constant"), progress=False)
    upto = res.steps <= res.lam_changes[0]
    np.testing.assert_allclose(res.train_loss[upto], const.train_loss[upto], rtol=1e-5)
    assert not np.allclose(res.train_loss, const.train_loss)
    for bad, name in ((dict(optimizer="adamw", lam_schedule="autol2"), "optimizer"),
                      (dict(optimizer="adam", momentum=0.9), "momentum"),
                      (dict(optimizer="adamw", momentum=0.5), "momentum"),
                      (dict(optimizer="nope"), "optimizer"), (dict(optimizer=None), "optimizer")):
        with pytest.raises(ValueError, match=f"`{name}`"):
            cfg._replace(**{"lam_schedule": "constant", **bad}).validate()
        with pytest.raises(ValueError, match=f"`{name}`"):
            T.Engine(lambda p, x: x, tr, te, batch_size=64, **bad)
    with pytest.raises(ValueError, match="`optimizer`"):
        T.make_autol2_optimizer(0.1, optimizer="adamw")
    with pytest.raises(ValueError, match="`momentum`"):
        T.make_optimizer(0.1, 0.01, momentum=0.9, optimizer="adam")
    with pytest.raises(ValueError, match="`optimizer`"):
        T.make_optimizer(0.1, 0.01, optimizer="rmsprop")
    with pytest.raises(ValueError, match="`optimizer`"):
        S.expand(S.SweepSpec(optimizer="adamw", lam_schedule="autol2"))
    with pytest.raises(ValueError, match="`momentum`"):
        S.expand(S.SweepSpec(optimizer="adam", momentum=0.9))


def test_hyperparameters_stay_injected():
    for opt in T.OPTIMIZERS:
        st = T.make_optimizer(0.1, 0.01, optimizer=opt).init(_params())
        assert sorted(st.hyperparams) == ["learning_rate", "weight_decay"], opt
    st = T.make_autol2_optimizer(0.1, optimizer="adam").init(_params())
    assert sorted(st.hyperparams) == ["learning_rate"]


SPEC = S.SweepSpec(arch="fc", model_kwargs={"widths": (8, 8)}, etas=(0.01, 0.03), lams=(0.02, 0.1),
                   budget="steps:30", batch_size=64, points_per_octave=4, bucket=4.0)


def test_adamw_sweep_equals_per_config_runs(tmp_path):
    tr, te = _toy()
    spec = SPEC._replace(optimizer="adamw")
    recs = S.run_sweep(spec, str(tmp_path / "sw"), train_ds=tr, test_ds=te, progress=False)
    assert len(recs) == 4
    for r in recs:
        assert r.config.optimizer == "adamw" and r.raw["config"]["optimizer"] == "adamw"
        ref = T.train(MODEL, tr, te, r.config, progress=False)
        np.testing.assert_array_equal(r.result.steps, ref.steps)
        for name in ("train_loss", "train_error", "test_accuracy", "test_loss", "param_norm", "lam"):
            np.testing.assert_allclose(getattr(r.result, name), getattr(ref, name), rtol=2e-4, atol=1e-5,
                                       err_msg=f"{r.id} {name}")
    sgd = S.run_sweep(SPEC, str(tmp_path / "sgd"), train_ds=tr, test_ds=te, progress=False)
    assert not np.allclose(sgd[0].result.param_norm, recs[0].result.param_norm)
    with pytest.raises(ValueError, match="different sweep"):      # same folder, another optimizer
        S.run_sweep(spec._replace(optimizer="adam"), str(tmp_path / "sw"), train_ds=tr, test_ds=te,
                    progress=False)


def test_records_and_manifests_without_optimizer_load_as_sgd(tmp_path):
    tr, te = _toy()
    out = str(tmp_path / "old")
    new = S.run_sweep(SPEC._replace(etas=(1.0,), budget="steps:8"), out, train_ds=tr, test_ds=te, progress=False)
    for name in os.listdir(os.path.join(out, "records")):        # as written before the option
        path = os.path.join(out, "records", name)
        raw = json.load(open(path))
        del raw["config"]["optimizer"]
        json.dump(raw, open(path, "w"))
    man_path = os.path.join(out, "manifest.json")
    man = json.load(open(man_path))
    del man["spec"]["optimizer"]
    json.dump(man, open(man_path, "w"))
    old = S.run_sweep(SPEC._replace(etas=(1.0,), budget="steps:8"), out, train_ds=tr, test_ds=te, progress=False)
    assert [a.config for a in old] == [b.config for b in new] and all(a.config.optimizer == "sgd" for a in old)


def test_spec_ids_are_unchanged_by_the_new_field():
    import hashlib

    old_preset = S.preset("fc", "tiny")._replace(max_steps=2 ** 20)     # the tiny FC preset until session 6
    assert S.spec_id(old_preset) == "a9b490f93388"                      # computed before the option existed
    d = SPEC.to_json()
    del d["lam_schedule"], d["autol2_every"], d["optimizer"]
    old = hashlib.sha256(json.dumps(records.nan_to_none(d), sort_keys=True).encode()).hexdigest()[:12]
    assert S.spec_id(SPEC) == old == S.spec_id(SPEC._replace(optimizer="sgd"))
    ids = {S.spec_id(SPEC._replace(optimizer=o)) for o in T.OPTIMIZERS}
    assert len(ids) == 3
    cfg = S.expand(SPEC._replace(optimizer="adam"))[0][0]
    assert S.config_id(cfg) == S.config_id(cfg._replace(optimizer="sgd"))   # ids inside a sweep: unchanged


@pytest.fixture
def no_training(monkeypatch):
    def no_run(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(engine_cli, "run_sweep", no_run)
    monkeypatch.setattr(M, "make_model", no_run)


@pytest.mark.parametrize("argv,option,needs", [
    (["--optimizer", "nope"], "--optimizer", ["nope"]),
    (["--optimizer", "adamw", "--lam-schedule", "autol2"], "--optimizer", ["autol2"]),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum", ["adam"]),
])
def test_cli_optimizer_errors(argv, option, needs, no_training, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        S.main(argv + ["--out", str(tmp_path / "x"), "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith(f"python -m l2lab.sweep: error: argument {option}: "), err
    assert all(w in last for w in needs), last
