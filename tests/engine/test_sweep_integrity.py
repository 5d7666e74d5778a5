"""Sweep folders that cannot be corrupted or confused, and inputs the engine cannot represent
refused up front (issue 18). Each test names the case of the issue it covers."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from l2lab import engine as S
from l2lab.engine import cli, folder, records, runner
from l2lab.applications import predict_cli
from toy_data import toy as _toy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = S.SweepSpec(arch="fc", model_kwargs={"widths": (8, 8)}, etas=(1.0, 4.0), lams=(0.02, 0.1),
                   budget="etalam:2", batch_size=16, points_per_octave=4, max_group_size=2)


def _run(spec, out, **kw):
    tr, te = _toy()
    return S.run_sweep(spec, str(out), train_ds=tr, test_ds=te, progress=False, **kw)


def _raws(recs):
    return {r.id: r.raw["curves"] for r in recs}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps") / "a"
    return str(out), _raws(_run(SPEC, out))


def _copy(src, tmp_path, name="b"):
    dst = str(tmp_path / name)
    shutil.copytree(src, dst)
    return dst


# 1. records and checkpoints are bound to their sweep --------------------------------------

def test_record_copied_from_another_sweep_is_quarantined_not_counted(finished, tmp_path, capsys):
    src, curves = finished
    other = tmp_path / "other"
    rec, = _run(SPEC._replace(lams=(0.05,), etas=(1.0,)), other)
    dst = _copy(src, tmp_path)
    shutil.copy(other / "records" / f"{rec.id}.json", os.path.join(dst, "records"))
    # loading (read only) leaves it out; the summary and the c' fit see the planned 4 only
    assert sorted(r.id for r in S.load_sweep(dst)) == sorted(curves)
    assert "left out records/" + rec.id + ".json" in capsys.readouterr().err
    # a finished sweep is only read; an unfinished one, resumed, moves it to the quarantine
    assert sorted(r.id for r in _run(SPEC, dst)) == sorted(curves)
    assert os.path.exists(os.path.join(dst, "records", f"{rec.id}.json"))
    os.unlink(os.path.join(dst, "records", sorted(curves)[0] + ".json"))
    assert sorted(r.id for r in _run(SPEC, dst)) == sorted(curves)
    assert not os.path.exists(os.path.join(dst, "records", f"{rec.id}.json"))
    assert any(n.startswith(f"records_{rec.id}.json") for n in os.listdir(os.path.join(dst, "quarantine")))
    assert "not planned in this sweep" in capsys.readouterr().err


def test_record_of_the_same_id_from_another_width_is_retrained(finished, tmp_path, capsys):
    src, curves = finished
    narrow = SPEC._replace(model_kwargs={"widths": (4, 4)})
    other = _run(narrow, tmp_path / "narrow")
    dst = _copy(src, tmp_path)
    rid = other[0].id
    shutil.copy(tmp_path / "narrow" / "records" / f"{rid}.json", os.path.join(dst, "records"))
    recs = _run(SPEC, dst)
    err = capsys.readouterr().err
    assert f"moved records/{rid}.json" in err and "sweep" in err
    assert _raws(recs) == curves             # retrained: the width-8 curves, bit for bit


def test_missing_manifest_beside_records_is_refused_not_a_fresh_start(finished, tmp_path):
    dst = _copy(finished[0], tmp_path)
    os.unlink(os.path.join(dst, "manifest.json"))
    with pytest.raises(ValueError, match="no manifest.json"):
        _run(SPEC._replace(model_kwargs={"widths": (4, 4)}), dst)
    with pytest.raises(ValueError, match="no sweep|no manifest"):
        S.load_sweep(dst)


def test_checkpoint_of_another_sweep_or_garbage_is_never_used(finished, tmp_path, capsys):
    src, curves = finished
    for name, content in (("other", None), ("garbage", b"not a zip")):
        dst = _copy(src, tmp_path, name)
        manifest = json.load(open(os.path.join(dst, "manifest.json")))
        for c in manifest["configs"]:                            # group 0 must be trained again
            if c["group"] == 0:
                os.unlink(os.path.join(dst, "records", c["id"] + ".json"))
        os.makedirs(os.path.join(dst, "checkpoints"), exist_ok=True)
        ck = os.path.join(dst, "checkpoints", "g0.npz")
        if content is None:         # a checkpoint bound to another sweep (other lams)
            np.savez(ck, sweep=np.asarray("0123456789ab"), configs=np.asarray(["x"]), start=np.int64(1))
        else:
            open(ck, "wb").write(content)
        assert _raws(_run(SPEC, dst)) == curves
        err = capsys.readouterr().err
        assert "checkpoints/g0.npz" in err and "checkpoint not used" in err
        assert not os.path.exists(ck)


def test_half_written_record_is_quarantined_and_retrained(finished, tmp_path, capsys):
    src, curves = finished
    dst = _copy(src, tmp_path)
    path = os.path.join(dst, "records", sorted(curves)[0] + ".json")
    open(path, "w").write(open(path).read()[:100])
    assert _raws(_run(SPEC, dst)) == curves
    assert "does not read (JSONDecodeError" in capsys.readouterr().err


def test_garbage_manifest_names_the_file(finished, tmp_path):
    dst = _copy(finished[0], tmp_path)
    open(os.path.join(dst, "manifest.json"), "w").write("{garbage")
    with pytest.raises(ValueError, match="manifest.json' is not a readable manifest"):
        _run(SPEC, dst)


def test_a_different_sweep_names_the_fields_that_differ(finished):
    with pytest.raises(ValueError, match=r"spec.model_kwargs: .*8, 8.* -> .*4, 4"):
        _run(SPEC._replace(model_kwargs={"widths": (4, 4)}), finished[0])


def test_set_valued_lists_in_another_order_are_the_same_sweep(finished, tmp_path):
    dst = _copy(finished[0], tmp_path)
    reordered = SPEC._replace(lams=(0.1, 0.02), etas=(4.0, 1.0))
    assert _raws(_run(reordered, dst)) == finished[1]
    os.unlink(os.path.join(dst, "records", sorted(finished[1])[0] + ".json"))
    assert _raws(_run(reordered, dst)) == finished[1]           # resumes with the plan as written


# 2. bucket inf: a folder that resumes ------------------------------------------------------

def test_bucket_inf_round_trips_and_resumes(tmp_path):
    spec = SPEC._replace(bucket=float("inf"))
    first = _run(spec, tmp_path / "inf")
    manifest = json.load(open(tmp_path / "inf" / "manifest.json"))
    assert manifest["spec"]["bucket"] == "Infinity"
    assert _raws(_run(spec, tmp_path / "inf")) == _raws(first)


def test_negative_zero_is_not_zero_in_a_manifest():
    defaults = S.SweepSpec().to_json()
    a = folder.canonical_manifest({"spec": {"momentum": 0.0}, "configs": []}, defaults)
    b = folder.canonical_manifest({"spec": {"momentum": -0.0}, "configs": []}, defaults)
    assert folder.differences(a, b) == ["spec.momentum: 0.0 -> -0.0"]
    assert folder.decode_nonfinite(folder.encode_nonfinite([float("nan"), -float("inf")]))[1] == -float("inf")


# 3., 5., 6. values the engine cannot represent, refused before anything is written ----------

@pytest.mark.parametrize("field,value,match", [
    ("seeds", (0, 2 ** 32), "seeds"), ("lams", (1e-50,), "lams"), ("etas", (1e39,), "etas"),
    ("lams", (1e-40,), "lams"), ("t_star_tol", 2.0, "t_star_tol"), ("max_steps", 2 ** 31, "max_steps"),
    ("image_size", 16, "image_size"), ("autol2_every", 7, "autol2_every")])
def test_unrepresentable_or_inapplicable_values_are_refused_before_writing(tmp_path, field, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _run(SPEC._replace(**{field: value}), tmp_path / "x")
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.parametrize("argv,option", [
    (["--seeds", "0,4294967296"], "--seeds"), (["--lams", "1e-50"], "--lams"), (["--etas", "1e39"], "--etas"),
    (["--t-star-tol", "1.5"], "--t-star-tol"), (["--max-steps", "3000000000"], "--max-steps"),
    (["--image-size", "16"], "--image-size"), (["--autol2-every", "7"], "--autol2-every")])
def test_cli_refuses_them_in_one_line_exit_2(capsys, tmp_path, argv, option):
    with pytest.raises(SystemExit) as info:
        cli.main(argv + ["--out", str(tmp_path / "x"), "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"python -m l2lab.sweep: error: argument {option}"), err[-1]
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.parametrize("argv,option", [(["--budget", "3000000000"], "--budget"),
                                         (["--budget", "100", "--seed", "4294967296"], "--seed"),
                                         (["--budget", "100", "--lam", "1e-50"], "--lam")])
def test_predict_cli_refuses_them_before_measuring(capsys, argv, option):
    with pytest.raises(SystemExit) as info:
        predict_cli.main(argv + ["--schedule", "paper", "--max-steps", "30"])
    assert info.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_model_too_large_for_memory_is_refused_before_the_manifest(tmp_path, monkeypatch):
    def oom(self, seed):
        raise MemoryError("cannot allocate")
    monkeypatch.setattr(runner.GroupRunner, "init_params", oom)
    with pytest.raises(ValueError, match="does not fit in memory"):
        _run(SPEC, tmp_path / "big")
    assert not os.path.exists(tmp_path / "big" / "manifest.json")


# 4. only our own temporary files --------------------------------------------------------

def test_only_the_engines_own_temporary_files_are_removed(finished, tmp_path):
    dst = _copy(finished[0], tmp_path)
    mine = os.path.join(dst, "records", ".l2lab-s0-eta1-lam0.02.json.abc123.tmp")
    theirs = os.path.join(dst, ".sync-tool.tmp")
    for p in (mine, theirs):
        open(p, "w").write("x")
    _run(SPEC, dst)                          # a finished sweep returns without touching the folder
    assert os.path.exists(mine)
    done = sorted(f for f in os.listdir(os.path.join(dst, "records")) if f.endswith(".json"))
    os.unlink(os.path.join(dst, "records", done[-1]))
    _run(SPEC, dst)                          # an unfinished one tidies under its lock
    assert not os.path.exists(mine) and os.path.exists(theirs)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ".l2lab-x.tmp").write_text("x")
    assert folder.remove_temporary_files(str(plain)) == 0 and (plain / ".l2lab-x.tmp").exists()


# stale checkpoints, read-only use, the umask -----------------------------------------------

def test_kill_between_last_record_and_checkpoint_removal_leaves_no_checkpoint(finished, tmp_path, monkeypatch):
    real = os.unlink

    class Killed(BaseException):
        pass

    def unlink(path, *a, **k):
        if str(path).endswith(".npz"):
            raise Killed(path)
        return real(path, *a, **k)

    out = tmp_path / "k"
    monkeypatch.setattr(runner.os, "unlink", unlink)
    with pytest.raises(Killed):
        _run(SPEC, out, checkpoint_seconds=0)
    monkeypatch.undo()
    assert os.listdir(out / "checkpoints")            # the group's records are written, its checkpoint left
    assert _raws(_run(SPEC, out)) == finished[1]
    assert not [f for f in os.listdir(out / "checkpoints") if f.endswith(".npz")]


def test_finished_sweep_needs_no_write_access(finished, monkeypatch):
    def no_lock(*a, **k):
        raise PermissionError("read-only file system")
    monkeypatch.setattr(runner._lock, "folder_lock", no_lock)
    monkeypatch.setattr(runner, "_check_writable", no_lock)
    assert _raws(_run(SPEC, finished[0])) == finished[1]
    assert _raws(S.load_sweep(finished[0])) == finished[1]


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        records.write_json(str(tmp_path / "r.json"), {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode) == mode


# interrupts end cleanly --------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_at_a_safe_point_and_says_how_to_resume(tmp_path, signum):
    out = str(tmp_path / "sig")
    argv = [sys.executable, "-m", "l2lab.sweep", "--arch", "fc", "--scale", "tiny", "--width", "16",
            "--etas", "1", "--lams", "0.003,0.01", "--bucket", "1", "--checkpoint-seconds", "0",
            "--points-per-octave", "64", "--out", out, "--no-progress"]
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ck = os.path.join(out, "checkpoints")
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (os.path.isdir(ck) and os.listdir(ck)):
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "run the same command again to resume" in lines[0], err
    assert signal.Signals(signum).name in lines[0]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(S.load_sweep(out)) == 2
    assert not [f for f in os.listdir(ck) if f.endswith(".npz")]
