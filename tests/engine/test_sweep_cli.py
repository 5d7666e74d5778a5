"""``python -m l2lab.sweep`` (l2lab.sweep.main): every bad option value is a one-line argparse
error naming the option, exit status 2, and nothing is trained. No test here trains: run_sweep
and the model builder are replaced by functions that fail the test if they are reached."""
import json

import pytest

from l2lab import sweep as S
from l2lab.engine import cli as engine_cli
from l2lab.engine import models as M


@pytest.fixture
def no_training(monkeypatch):
    """Record run_sweep calls instead of training; fail if a model is ever built."""
    calls = []

    def fake_run_sweep(spec, out_dir, **kw):
        calls.append((spec, out_dir, kw))
        return []

    def no_model(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(engine_cli, "run_sweep", fake_run_sweep)
    monkeypatch.setattr(M, "make_model", no_model)
    return calls


def _fails(argv, option, capsys, tmp_path, needs=()):
    """main(argv) exits with status 2 and a one-line error naming ``option``."""
    if "--out" not in argv:
        argv = list(argv) + ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as info:
        S.main(list(argv) + ["--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"python -m l2lab.sweep: error: argument {option}: "), err
    for word in needs:
        assert word in last, last
    return last


BAD = [
    (["--etas", "-1"], "--etas", ["> 0"]),
    (["--etas", "0"], "--etas", ["> 0"]),
    (["--etas", "nan"], "--etas", ["finite"]),
    (["--etas", "a,b"], "--etas", ["'a,b'"]),
    (["--etas", ","], "--etas", []),
    (["--etas", "1,1.0"], "--etas", ["same configuration"]),
    (["--lams", "-0.1"], "--lams", [">= 0"]),
    (["--lams", "inf"], "--lams", ["finite"]),
    (["--lams", "x"], "--lams", ["'x'"]),
    (["--seeds", "-1"], "--seeds", [">= 0"]),
    (["--seeds", "1.5"], "--seeds", ["'1.5'"]),
    (["--seeds", "0,0"], "--seeds", ["same configuration"]),
    (["--budget", "steps:0"], "--budget", ["> 0"]),
    (["--budget", "steps:-5"], "--budget", ["> 0"]),
    (["--budget", "steps:x"], "--budget", ["number"]),
    (["--budget", "forever:2"], "--budget", ["kind"]),
    (["--budget", "2"], "--budget", ["etalam:2"]),
    (["--dataset", "nope"], "--dataset", ["nope"]),
    (["--arch", "mlp"], "--arch", ["mlp"]),
    (["--scale", "huge"], "--scale", ["huge"]),
    (["--width", "0"], "--width", [">= 1"]),
    (["--width", "wide"], "--width", ["'wide'"]),
    (["--arch", "cnn", "--width", "8"], "--width", ["fc only"]),
    (["--image-size", "12"], "--image-size", ["12"]),
    (["--n-train", "0"], "--n-train", [">= 1"]),
    (["--n-train", "-3"], "--n-train", [">= 1"]),
    (["--n-test", "0"], "--n-test", [">= 1"]),
    (["--batch-size", "0"], "--batch-size", [">= 1"]),
    (["--batch-size", "1.5"], "--batch-size", ["'1.5'"]),
    (["--momentum", "-0.1"], "--momentum", [">= 0"]),
    (["--momentum", "1"], "--momentum", ["< 1"]),
    (["--schedule", "cosine"], "--schedule", ["cosine"]),
    (["--loss", "hinge"], "--loss", ["hinge"]),
    (["--points-per-octave", "0"], "--points-per-octave", [">= 1"]),
    (["--eval-batch-size", "0"], "--eval-batch-size", [">= 1"]),
    (["--max-steps", "0"], "--max-steps", [">= 1"]),
    (["--bucket", "0.5"], "--bucket", [">= 1"]),
    (["--bucket", "nan"], "--bucket", ["nan"]),
    (["--max-group-size", "0"], "--max-group-size", [">= 1"]),
    (["--t-star-tol", "-0.01"], "--t-star-tol", [">= 0"]),
    (["--t-star-tol", "nan"], "--t-star-tol", ["finite"]),
    (["--t-star-tol", "half"], "--t-star-tol", ["'half'"]),
    (["--checkpoint-seconds", "-1"], "--checkpoint-seconds", [">= 0"]),
    (["--config-batching", "pmap"], "--config-batching", ["pmap"]),
]


@pytest.mark.parametrize("argv,option,needs", BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_bad_option_values_exit_2_naming_the_option(argv, option, needs, capsys, tmp_path, no_training):
    _fails(argv, option, capsys, tmp_path, needs)
    assert no_training == []


def test_sizes_beyond_the_dataset(capsys, tmp_path, no_training):
    _fails(["--n-train", "6000"], "--n-train", capsys, tmp_path, ["5000"])
    _fails(["--n-test", "4900"], "--n-test", capsys, tmp_path, ["n_train", "5000"])
    assert no_training == []


def test_budgets_all_above_max_steps(capsys, tmp_path, no_training):
    _fails(["--budget", "steps:100", "--max-steps", "10"], "--max-steps", capsys, tmp_path,
           ["no configuration within max_steps"])
    assert no_training == []


def test_out_is_a_file(capsys, tmp_path, no_training):
    f = tmp_path / "file"
    f.write_text("x")
    _fails(["--out", str(f)], "--out", capsys, tmp_path, ["not a directory"])
    assert no_training == []


def test_out_holding_a_different_sweep(capsys, tmp_path, monkeypatch):
    # the real run_sweep: its manifest check comes before any model is built or trained
    monkeypatch.setattr(M, "make_model", lambda *a, **k: pytest.fail("training started"))
    out = tmp_path / "old"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"spec": {"arch": "wrn"}, "data": {}, "configs": []}))
    _fails(["--out", str(out)], "--out", capsys, tmp_path, ["different sweep"])


def test_spec_errors_are_mapped_to_their_option(capsys, tmp_path, no_training, monkeypatch):
    # a bad field that reaches _validate_spec (here through the preset) names its option
    base = S.preset("fc", "tiny")
    monkeypatch.setattr(engine_cli, "preset", lambda arch, scale: base._replace(batch_size=0))
    _fails([], "--batch-size", capsys, tmp_path, ["batch_size"])
    monkeypatch.setattr(engine_cli, "preset", lambda arch, scale: base._replace(eval_batch_size=-1))
    _fails([], "--eval-batch-size", capsys, tmp_path, ["eval_batch_size"])
    monkeypatch.setattr(engine_cli, "preset", lambda arch, scale: base._replace(model_kwargs=[]))
    _fails([], "--width", capsys, tmp_path, ["model_kwargs"])
    assert no_training == []


def test_good_options_reach_run_sweep_with_the_spec(tmp_path, no_training, capsys):
    out = str(tmp_path / "out")
    S.main(["--etas", "0.5,2", "--lams", "0,1e-3", "--seeds", "0,3", "--budget", "steps:7",
            "--width", "16", "--momentum", "0.9", "--bucket", "1", "--t-star-tol", "0",
            "--checkpoint-seconds", "0", "--out", out, "--no-progress"])
    (spec, out_dir, kw), = no_training
    assert out_dir == out
    assert spec.etas == (0.5, 2.0) and spec.lams == (0.0, 1e-3) and spec.seeds == (0, 3)
    assert spec.budget == "steps:7" and spec.model_kwargs["widths"] == (16, 16, 16)
    assert spec.momentum == 0.9 and spec.bucket == 1.0 and spec.t_star_tol == 0.0
    assert kw["checkpoint_seconds"] == 0.0 and kw["train_ds"] is not None
    assert "0 configurations" in capsys.readouterr().out
