"""l2lab.sweep: vmapped groups equal per-config runs, shared initial weights, budgets/grouping,
resume after SIGKILL equals an uninterrupted run, sharded (4 fake CPU devices) equals unsharded."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from l2lab import measure as ms
from l2lab.engine import models as M
from l2lab.engine import records, runner
from l2lab import sweep as S
from l2lab import train as T
from l2lab.data import Dataset as DS
from toy_data import toy as _toy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


SPEC = S.SweepSpec(arch="fc", model_kwargs={"widths": (8, 8)}, etas=(1.0, 4.0), lams=(0.02, 0.1),
                   budget="etalam:2", batch_size=64, points_per_octave=4, bucket=4.0)


def test_budgets_and_grouping():
    cfgs, dropped = S.expand(SPEC._replace(etas=(0.5, 1.0), lams=(0.0, 0.01, 0.02), max_steps=300))
    steps = {(c.eta, c.lam): c.steps for c in cfgs}
    assert steps == {(0.5, 0.02): 200, (1.0, 0.01): 200, (1.0, 0.02): 100}
    assert {(d["eta"], d["lam"]) for d in dropped} == {(0.5, 0.0), (1.0, 0.0), (0.5, 0.01)}
    assert S.expand(SPEC._replace(budget="steps:17"))[0][0].steps == 17
    # epochs: 64 samples, batch 16 -> 4 steps per epoch
    spec = SPEC._replace(budget="etalam-epochs:2", batch_size=16, n_train=64, etas=(1.0,), lams=(0.1,))
    assert S.expand(spec)[0][0].steps == 80
    cs = [T.TrainConfig(eta=1.0, lam=0.1, steps=s) for s in (10, 100, 12, 16, 17, 100, 9)]
    assert S.group_configs(cs, bucket=1) == [[6], [0], [2], [3], [4], [1, 5]]
    assert S.group_configs(cs, bucket=2) == [[6, 0, 2, 3], [4], [1, 5]]   # bins (8,16], (16,32], (64,128]
    assert S.group_configs(cs, bucket=2, max_group_size=2) == [[6, 0], [2, 3], [4], [1, 5]]
    assert S.parse_budget("etalam:0.1") == ("etalam", 0.1)


def test_bad_model_kwargs_fail_before_the_folder_is_written(tmp_path):
    tr, te = _toy()
    with pytest.raises(ValueError, match="widths"):
        S.run_sweep(SPEC._replace(model_kwargs={"widths": (8, 0)}), str(tmp_path / "sw"),
                    train_ds=tr, test_ds=te, progress=False)
    assert not (tmp_path / "sw").exists()


def test_vmapped_sweep_equals_per_config_runs(tmp_path):
    tr, te = _toy()
    spec = SPEC
    recs = S.run_sweep(spec, str(tmp_path / "sw"), train_ds=tr, test_ds=te, progress=False)
    div = S.run_sweep(spec._replace(etas=(1.0, 1e6), lams=(0.05,), budget="steps:30"), str(tmp_path / "div"),
                      train_ds=tr, test_ds=te, progress=False)
    assert len(recs) == 4 and len(div) == 2
    groups = {}
    for r in recs:
        groups.setdefault(r.group, []).append(r)
    assert any(len(g) > 1 and len({r.config.steps for r in g}) > 1 for g in groups.values())  # masked budgets
    model = M.make_model("fc", num_classes=3, widths=(8, 8))
    norms0 = set()
    for r in recs + div:
        ref = T.train(model, tr, te, r.config, progress=False)
        np.testing.assert_array_equal(r.result.steps, ref.steps)
        assert r.result.diverged == ref.diverged
        for name in ("train_loss", "train_error", "test_accuracy", "test_loss", "param_norm"):
            np.testing.assert_allclose(getattr(r.result, name), getattr(ref, name), rtol=2e-4, atol=1e-5,
                                       equal_nan=True, err_msg=f"{r.id} {name}")
        assert r.t_star == ms.steps_to_peak(r.result.steps, r.result.test_accuracy) or np.isnan(r.t_star)
        norms0.add(round(float(r.result.param_norm[0]), 5))
        assert r.provenance["jax_version"] and r.raw["format"] == S.RECORD_FORMAT
    assert len(norms0) == 1          # same seed -> same initial weights for every configuration
    assert [r.result.diverged for r in sorted(div, key=lambda r: r.config.eta)] == [False, True]
    assert not any(r.result.diverged for r in recs)
    # resuming a finished sweep recomputes nothing and returns the same records
    again = S.run_sweep(spec, str(tmp_path / "sw"), train_ds=tr, test_ds=te, progress=False)
    assert [r.raw for r in again] == [r.raw for r in recs]
    with pytest.raises(ValueError, match="different sweep"):
        S.run_sweep(spec._replace(lams=(0.5,)), str(tmp_path / "sw"), train_ds=tr, test_ds=te, progress=False)


_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from l2lab import sweep as S
    from l2lab.data import Dataset as DS
    r = np.random.RandomState(0)
    x = r.randn(96, 10).astype(np.float32); y = np.argmax(x @ r.randn(10, 3), 1).astype(np.int32)
    tr, te = DS(x[:64], y[:64], "toy-train", 3), DS(x[64:], y[64:], "toy-test", 3)
    opt = sys.argv[3]        # Adam: 100x smaller etas, 100x larger lams (the same budgets)
    etas, lams = ((1.0, 2.0, 4.0), (0.001, 0.002)) if opt == "sgd" else ((0.01, 0.02, 0.04), (0.1, 0.2))
    spec = S.SweepSpec(arch="fc", model_kwargs={"widths": (32, 32)}, etas=etas, lams=lams,
                       budget="etalam:4", batch_size=16, points_per_octave=4, max_group_size=1,
                       lam_schedule=sys.argv[2], optimizer=opt)
    S.run_sweep(spec, sys.argv[1], train_ds=tr, test_ds=te, progress=False, checkpoint_seconds=0)
""")


def _records(d):
    return {r.id: r for r in S.load_sweep(d)}


@pytest.mark.parametrize("lam_schedule,optimizer", [("constant", "sgd"), ("autol2", "sgd"), ("constant", "adamw")])
def test_resume_after_sigkill_equals_uninterrupted(tmp_path, lam_schedule, optimizer):
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
    args = [lam_schedule, optimizer]
    subprocess.run([sys.executable, str(script), full, *args], check=True, env=env, timeout=300)
    proc = subprocess.Popen([sys.executable, str(script), killed, *args], env=env)
    rec_dir, ck_dir = os.path.join(killed, "records"), os.path.join(killed, "checkpoints")
    deadline = time.time() + 200
    while time.time() < deadline:
        n = len([f for f in os.listdir(rec_dir) if f.endswith(".json")]) if os.path.isdir(rec_dir) else 0
        ck = os.path.isdir(ck_dir) and any(f.endswith(".npz") for f in os.listdir(ck_dir))
        if n >= 2 and ck:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_at_kill = len([f for f in os.listdir(rec_dir) if f.endswith(".json")])
    assert 2 <= n_at_kill < 6, "the kill must land mid-sweep"
    subprocess.run([sys.executable, str(script), killed, *args], check=True, env=env, timeout=300)
    a, b = _records(full), _records(killed)
    assert sorted(a) == sorted(b) and len(a) == 6
    for k in a:
        assert a[k].raw["curves"] == b[k].raw["curves"], k       # bit-for-bit equal (lam curve included)
        assert a[k].raw["t_star"] == b[k].raw["t_star"]
        assert a[k].raw["lam_changes"] == b[k].raw["lam_changes"]
    if lam_schedule == "autol2":
        assert any(len(r.raw["lam_changes"]) for r in a.values())
    assert all(r.config.optimizer == optimizer and not r.result.diverged for r in a.values())
    assert not os.listdir(ck_dir)                       # checkpoints (and stale temporary files) cleaned up
    assert not [f for f in os.listdir(rec_dir) if not f.endswith(".json")]



_TWICE_SCRIPT = _SCRIPT.replace("progress=False", "progress=True") + textwrap.dedent("""
    import json, os
    rec = os.path.join(sys.argv[1], "records")
    print(json.dumps({f: os.stat(os.path.join(rec, f)).st_mtime_ns for f in sorted(os.listdir(rec))}))
""")


def _wait_for(path, text, proc, deadline):
    while not (os.path.exists(path) and text in open(path).read()):
        assert proc.poll() is None and time.time() < deadline, open(path).read()
        time.sleep(0.02)


def test_two_processes_on_one_folder_train_it_once(tmp_path):
    from l2lab.engine import lock as _lock

    script = tmp_path / "run.py"
    script.write_text(_TWICE_SCRIPT)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    out = tmp_path / "sw"
    out.mkdir()
    cmd = [sys.executable, str(script), str(out), "constant", "sgd"]
    procs, errs = [], [tmp_path / "a.err", tmp_path / "b.err"]
    deadline = time.time() + 200
    with _lock.folder_lock(str(out)):          # both start while the folder is taken
        for err in errs:
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=open(err, "w"),
                                          text=True))
            _wait_for(err, "another process is running", procs[-1], deadline)
    outs = [p.communicate(timeout=300)[0] for p in procs]       # then one trains, the other waits
    assert [p.returncode for p in procs] == [0, 0], [e.read_text() for e in errs]
    mtimes = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    assert len(mtimes[0]) == 6 and mtimes[0] == mtimes[1]      # every record written once

_SHARD_SCRIPT = textwrap.dedent("""
    import sys, json, numpy as np, jax
    from l2lab import sweep as S
    from l2lab.data import Dataset as DS
    assert jax.device_count() == 4, jax.devices()
    r = np.random.RandomState(0)
    x = r.randn(96, 10).astype(np.float32); y = np.argmax(x @ r.randn(10, 3), 1).astype(np.int32)
    tr, te = DS(x[:64], y[:64], "toy-train", 3), DS(x[64:], y[64:], "toy-test", 3)
    spec = S.SweepSpec(arch="fc", model_kwargs={"widths": (16,)}, etas=(1.0, 2.0, 4.0), lams=(0.02, 0.05),
                       budget="steps:40", batch_size=16, points_per_octave=4)
    a = S.run_sweep(spec, sys.argv[1] + "/sharded", train_ds=tr, test_ds=te, progress=False)
    b = S.run_sweep(spec, sys.argv[1] + "/single", train_ds=tr, test_ds=te, progress=False, devices=jax.devices()[:1])
    assert max(r.raw["group_size"] for r in a) == 6   # 6 configs padded to 8 over 4 devices
    out = {r.id: r.raw["curves"] for r in a}, {r.id: r.raw["curves"] for r in b}
    json.dump(out, open(sys.argv[1] + "/out.json", "w"))
""")


def test_sharded_equals_unsharded(tmp_path):
    script = tmp_path / "shard.py"
    script.write_text(_SHARD_SCRIPT)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT,
               XLA_FLAGS="--xla_force_host_platform_device_count=4")
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, env=env, timeout=300)
    with open(tmp_path / "out.json") as f:
        sharded, single = json.load(f)
    assert sorted(sharded) == sorted(single) and len(sharded) == 6
    for k in sharded:
        assert sharded[k]["steps"] == single[k]["steps"]
        for name in ("train_loss", "test_accuracy", "param_norm"):
            np.testing.assert_allclose(np.asarray(sharded[k][name], float), np.asarray(single[k][name], float),
                                       rtol=1e-5, atol=1e-6, err_msg=f"{k} {name}")


def test_cli_runs_on_mnist5k(tmp_path, capsys):
    out = str(tmp_path / "cli")
    recs = S.main(["--arch", "fc", "--scale", "tiny", "--width", "8", "--etas", "2", "--lams", "0.05,0.1",
                   "--budget", "steps:12", "--n-test", "100", "--no-progress", "--out", out])
    assert len(recs) == 2 and all(r.config.steps == 12 for r in recs)
    assert "c' = t* eta lam" in capsys.readouterr().out
    man = json.load(open(os.path.join(out, "manifest.json")))
    assert man["format"] == S.MANIFEST_FORMAT and len(man["configs"]) == 2
    assert man["provenance"]["l2lab_version"]


def test_bad_arguments_raise(tmp_path):
    tr, te = _toy()
    with pytest.raises(ValueError, match="budget"):
        S.parse_budget("time:3")
    with pytest.raises(ValueError, match="budget"):
        S.parse_budget("etalam:-1")
    with pytest.raises(TypeError, match="spec"):
        S.run_sweep({"arch": "fc"}, str(tmp_path), train_ds=tr, test_ds=te)
    with pytest.raises(ValueError, match="etas"):
        S.expand(SPEC._replace(etas=()))
    with pytest.raises(ValueError, match="lams"):
        S.expand(SPEC._replace(lams=(-0.1,)))
    with pytest.raises(ValueError, match="arch"):
        S.expand(SPEC._replace(arch="mlp"))
    with pytest.raises(ValueError, match="max_steps"):
        S.expand(SPEC._replace(max_steps=1))
    with pytest.raises(ValueError, match="together"):
        S.run_sweep(SPEC, str(tmp_path), train_ds=tr)
    with pytest.raises(ValueError, match="bucket"):
        S.group_configs([], bucket=0.5)
    with pytest.raises(ValueError, match="scale"):
        S.preset("fc", "huge")
    with pytest.raises(ValueError, match="no sweep"):
        S.load_sweep(str(tmp_path / "nothing"))


def test_bench_flop_count_matches_xla_cost_analysis():
    # the FLOP count behind the FLOP/s figure of `python -m l2lab.bench sweep`, checked against XLA
    import jax
    import jax.numpy as jnp
    from l2lab import _bench_sweep as B

    m = M.FC(widths=(128, 96, 64))
    p = M.init(m, jax.random.PRNGKey(0), (1, 28, 28, 1))
    x, y = jnp.ones((32, 28, 28, 1)), jax.nn.one_hot(jnp.zeros(32, int), 10)
    g = jax.jit(jax.grad(lambda p: T.xent_loss(m.apply({"params": p}, x), y)))
    ca = g.lower(p).compile().cost_analysis()
    ca = ca[0] if isinstance(ca, list) else ca
    assert B._fc_step_flops((128, 96, 64), 784, 10, 32) == pytest.approx(ca["flops"], rel=0.02)


def test_lax_map_batching_equals_vmap_for_a_conv_net(tmp_path):
    # config_batching changes how one device loops over its configurations, never the results
    r = np.random.RandomState(1)
    x = r.rand(40, 12, 12, 1).astype(np.float32)
    y = (x.mean((1, 2, 3)) > np.median(x.mean((1, 2, 3)))).astype(np.int32)
    tr, te = DS(x[:24], y[:24], "img-train", 2), DS(x[24:], y[24:], "img-test", 2)
    spec = S.SweepSpec(arch="cnn_bn", model_kwargs={"channels": 2, "dense": 4, "pool_strides": (2, 2)},
                       etas=(1.0, 3.0), lams=(0.05, 0.2), budget="steps:9", batch_size=8,
                       points_per_octave=2)
    assert S.resolve_config_batching("auto", "cnn_bn", "cpu") == "map"
    assert S.resolve_config_batching("auto", "cnn_bn", "gpu") == "vmap"
    assert S.resolve_config_batching("auto", "fc", "cpu") == "vmap"
    out = {}
    for mode in ("vmap", "map"):
        out[mode] = {q.id: q for q in S.run_sweep(spec, str(tmp_path / mode), train_ds=tr, test_ds=te,
                                                  progress=False, config_batching=mode)}
    assert sorted(out["vmap"]) == sorted(out["map"]) and len(out["map"]) == 4
    for k, a in out["map"].items():
        b = out["vmap"][k]
        for name in ("train_loss", "test_accuracy", "param_norm"):
            np.testing.assert_allclose(getattr(a.result, name), getattr(b.result, name), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{k} {name}")
    with pytest.raises(ValueError, match="config_batching"):
        S.run_sweep(spec, str(tmp_path / "bad"), train_ds=tr, test_ds=te, config_batching="pmap")


def test_truncated_record_equals_a_run_with_the_shorter_budget(tmp_path):
    tr, te = _toy()
    spec = SPEC._replace(etas=(2.0,), lams=(0.02, 0.1), budget="steps:40", points_per_octave=4)
    long = {r.id: r for r in S.run_sweep(spec, str(tmp_path / "long"), train_ds=tr, test_ds=te, progress=False)}
    short = {r.id: r for r in S.run_sweep(spec._replace(budget="steps:16"), str(tmp_path / "short"),
                                          train_ds=tr, test_ds=te, progress=False)}
    for k, r in short.items():
        cut = S.truncate(long[k], 16)
        assert cut.config == r.config
        np.testing.assert_array_equal(cut.result.steps, r.result.steps)
        np.testing.assert_allclose(cut.result.test_accuracy, r.result.test_accuracy, rtol=1e-6)
        np.testing.assert_allclose(cut.result.param_norm, r.result.param_norm, rtol=1e-5)
        assert cut.t_star == r.t_star and cut.peak_accuracy == r.peak_accuracy
    rec = next(iter(long.values()))
    with pytest.raises(ValueError, match="steps"):
        S.truncate(rec, 41)
    with pytest.raises(ValueError, match="schedule"):
        S.truncate(rec._replace(config=rec.config._replace(schedule="paper")), 10)
    with pytest.raises(TypeError, match="record"):
        S.truncate(rec.raw, 10)


def test_spec_id_tracks_the_spec():
    a = S.spec_id(SPEC)
    assert a == S.spec_id(SPEC._replace()) and len(a) == 12
    assert S.spec_id(SPEC._replace(lams=(0.02, 0.2))) != a
    assert S.spec_id(SPEC._replace(schedule="paper")) != a
    with pytest.raises(TypeError, match="spec"):
        S.spec_id(SPEC._asdict())


# ----------------------------------------------------------------------------- lam schedules

def test_lam_schedule_sweeps_equal_per_config_runs(tmp_path):
    tr, te = _toy()
    model = M.make_model("fc", num_classes=3, widths=(8, 8))
    for sched in ("autol2", "early:20"):
        spec = SPEC._replace(etas=(1.0, 4.0), lams=(0.02, 0.1), budget="steps:60", lam_schedule=sched)
        recs = S.run_sweep(spec, str(tmp_path / sched.replace(":", "")), train_ds=tr, test_ds=te, progress=False)
        assert len(recs) == 4
        for r in recs:
            assert r.config.lam_schedule == sched and r.raw["config"]["lam_schedule"] == sched
            ref = T.train(model, tr, te, r.config, progress=False)
            np.testing.assert_allclose(r.result.lam, ref.lam, rtol=1e-6, err_msg=r.id)
            assert r.result.lam_changes.tolist() == ref.lam_changes.tolist(), r.id
            assert r.raw["lam_changes"] == ref.lam_changes.tolist()
            np.testing.assert_allclose(r.result.test_accuracy, ref.test_accuracy, rtol=2e-4, atol=1e-5)
        if sched == "autol2":
            assert any(len(r.result.lam_changes) for r in recs)
        else:
            assert all(r.result.lam_changes.tolist() == [20] for r in recs)
    with pytest.raises(ValueError, match="lam_schedule"):   # E beyond a configuration's budget
        S.expand(SPEC._replace(budget="steps:60", lam_schedule="early:61"))
    with pytest.raises(ValueError, match="lam_schedule"):
        S.expand(SPEC._replace(lam_schedule="cosine"))
    with pytest.raises(ValueError, match="autol2_every"):
        S.expand(SPEC._replace(autol2_every=0))


def test_records_without_lam_curves_still_load(tmp_path):
    tr, te = _toy()
    out = str(tmp_path / "old")
    new = S.run_sweep(SPEC._replace(budget="steps:12"), out, train_ds=tr, test_ds=te, progress=False)
    for name in os.listdir(os.path.join(out, "records")):        # as written before lam schedules
        path = os.path.join(out, "records", name)
        raw = json.load(open(path))
        del raw["curves"]["lam"], raw["lam_changes"], raw["config"]["lam_schedule"], raw["config"]["autol2_every"]
        json.dump(raw, open(path, "w"))
    old = S.load_sweep(out)
    for a, b in zip(old, new):
        assert a.config == b.config and a.config.lam_schedule == "constant"
        np.testing.assert_array_equal(a.result.lam, b.result.lam)
        assert a.result.lam_changes.tolist() == []
        np.testing.assert_array_equal(a.result.lam, np.float32(a.config.lam))


def test_spec_ids_of_specs_without_lam_schedules_are_unchanged():
    import hashlib

    d = SPEC.to_json()
    del d["lam_schedule"], d["autol2_every"], d["optimizer"]   # every field added later, at its default
    old = hashlib.sha256(json.dumps(records.nan_to_none(d), sort_keys=True).encode()).hexdigest()[:12]
    assert S.spec_id(SPEC) == old
    assert S.spec_id(SPEC._replace(lam_schedule="autol2")) != old
    assert S.spec_id(SPEC._replace(lam_schedule="autol2", autol2_every=10)) != S.spec_id(
        SPEC._replace(lam_schedule="autol2"))


def test_truncated_autol2_record_equals_a_run_with_the_shorter_budget(tmp_path):
    tr, te = _toy()
    spec = SPEC._replace(etas=(2.0,), lams=(0.1,), budget="steps:80", points_per_octave=4, lam_schedule="autol2")
    long, = S.run_sweep(spec, str(tmp_path / "long"), train_ds=tr, test_ds=te, progress=False)
    short, = S.run_sweep(spec._replace(budget="steps:20"), str(tmp_path / "short"), train_ds=tr, test_ds=te,
                         progress=False)
    cut = S.truncate(long, 20)
    assert cut.config == short.config and len(long.result.lam_changes) > len(short.result.lam_changes) > 0
    np.testing.assert_array_equal(cut.result.lam, short.result.lam)
    assert cut.result.lam_changes.tolist() == short.result.lam_changes.tolist()
    early = long._replace(config=long.config._replace(lam_schedule="early:40"))
    with pytest.raises(ValueError, match="lam_schedule"):
        S.truncate(early, 20)


def test_cli_lam_schedule_options(tmp_path, capsys):
    for argv, needs in ((["--lam-schedule", "early:x"], "integer"), (["--lam-schedule", "cosine"], "cosine"),
                        (["--autol2-every", "0"], ">= 1"), (["--lam-schedule", "early:100000"], "budget")):
        with pytest.raises(SystemExit) as info:
            S.main(argv + ["--budget", "steps:50", "--out", str(tmp_path / "x"), "--no-progress"])
        assert info.value.code == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"python -m l2lab.sweep: error: argument {argv[0]}: ") and needs in last, last


def test_resume_from_a_checkpoint_written_before_lam_curves(tmp_path, monkeypatch):
    # a group checkpoint of the previous format (no "lams") resumes to the uninterrupted records
    tr, te = _toy()
    spec = SPEC._replace(etas=(1.0, 4.0), lams=(0.02,), budget="steps:40", batch_size=16)
    full = {r.id: r.raw for r in S.run_sweep(spec, str(tmp_path / "full"), train_ds=tr, test_ds=te,
                                             progress=False)}
    write = records.atomic_write_bytes

    def stop_after_a_checkpoint(path, data):
        write(path, data)
        if path.endswith(".npz"):
            raise KeyboardInterrupt

    out = str(tmp_path / "old")
    monkeypatch.setattr(runner, "atomic_write_bytes", stop_after_a_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep(spec, out, train_ds=tr, test_ds=te, progress=False, checkpoint_seconds=0)
    monkeypatch.undo()
    ck, = [os.path.join(out, "checkpoints", f) for f in os.listdir(os.path.join(out, "checkpoints"))]
    with np.load(ck) as z:
        arrays = {k: z[k] for k in z.files if k != "lams"}
    np.savez(ck, **arrays)
    got = {r.id: r.raw for r in S.run_sweep(spec, out, train_ds=tr, test_ds=te, progress=False)}
    assert sorted(got) == sorted(full)
    for k in full:
        assert got[k]["curves"] == full[k]["curves"], k


def test_load_data_is_the_data_a_sweep_trains_on():
    spec = S.preset("cnn_bn", "tiny")
    tr, te = S.load_data(spec)
    assert tr.x.shape == (spec.n_train, spec.image_size, spec.image_size, 1) and len(te.y) == spec.n_test
    with pytest.raises(TypeError, match="spec"):
        S.load_data({"arch": "fc"})
