"""The runs a lent accelerator is for (issues 19 section 3 and 20), as one prepared script.

    python tools/accelerator_runs.py --seconds 540 --out data/sweeps/h200 [--tar DIR] [--smoke]

Tasks run in order of priority, each in its own process with a timeout cut to the time left, so
one that fails or runs long costs only itself; every sweep resumes where it stopped, so a task cut
short keeps its finished groups. The results are written by the project's own code
(``l2lab.sweep`` records with provenance) under ``--out``; ``--tar DIR`` packs ``--out`` and the
log into ``DIR/results.tar.gz`` every 30 s and at the end (what comes back from the machine).

1. ``check``: the devices, and a 20-step FC sweep (stops the script if the engine fails).
2. ``arch``: engine step time of each paper-scale architecture (``python -m l2lab.bench arch``).
3. ``apps0``: the applications at the paper's FC size, seed 0: c measured at lam = 0.01 at
   eta 0.15 and 1.5 (:func:`l2lab.predict.measure_c_spec`, saved with its curve); a constant-lam
   sweep over SM A's lams for 8000 steps at both etas (truncated to each budget: the tuned lam);
   runs at c/T and 2c/T for T in 500..8000; AutoL2 from lam 0.1 and 0.01 at eta 0.15 for 8000
   steps.
4. ``sma``: the SM A FC grid (Fig. 2a-c: 17 etas x 15 lams, t = 2/(eta lam)) up to 20000 steps.
5. ``apps12``: the constant-lam sweep at eta 0.15 and AutoL2 again with seeds 1 and 2.
6. ``sma12``: the SM A grid again with seeds 1 and 2 (only when named in ``--only``).
7. ``bootstrap``: per-image test correctness of the SM A runs at eta 0.15, 1.5, 10 (budgets up to
   2000 steps) and the bootstrap of their t* (only when named in ``--only``).
8. ``bench``: ``python -m l2lab.bench sweep`` and ``... autol2``.

``--smoke``: every task at a few steps and width 64 (tests the script on a CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

SMA_ETAS = (0.0025, 0.01, 0.02, 0.025, 0.03, 0.05, 0.08, 0.15, 0.3, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0,
            25.0, 50.0)
APP_LAMS = (1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1)    # SM A's lams in the budgets' range
BUDGETS = (500, 1000, 2000, 4000, 8000)


def _fc_spec(smoke: bool):
    from l2lab import sweep
    spec = sweep.preset("fc", "paper")
    if smoke:
        spec = spec._replace(model_kwargs={"widths": (64, 64, 64)}, max_steps=64)
    return spec


def _budgets(smoke: bool):
    return (8, 16, 32) if smoke else BUDGETS


def task_check(out: Path, smoke: bool) -> None:
    import jax
    from l2lab import sweep
    print("devices:", jax.devices(), "jax", jax.__version__, flush=True)
    spec = _fc_spec(True)._replace(etas=(0.15,), lams=(0.01,), budget="steps:20")
    recs = sweep.run_sweep(spec, out / "check", progress=False)
    print("check: t* =", recs[0].t_star, "peak", recs[0].peak_accuracy, flush=True)


def _measure_c(spec, eta, out: Path, smoke: bool) -> float:
    from l2lab.applications import predict
    from l2lab.engine import records
    path = out / f"c-eta{eta:g}-s0.json"
    if path.exists():
        return json.loads(path.read_text())["c"]
    m = predict.measure_c_spec(spec._replace(etas=(eta,)), eta=eta, progress=False,
                               max_steps=spec.max_steps if smoke else 20000)
    curve = m.curve
    records.write_json(str(path), {
        "format": "l2lab.predict.c_measurement/1", "spec": spec._replace(etas=(eta,)).to_json(),
        "c": m.c, "c_prime": m.c_prime, "t_star": m.t_star, "peak_accuracy": m.peak_accuracy,
        "eta": m.eta, "lam": m.lam, "tol": m.tol, "steps_run": m.steps_run, "certain": m.certain,
        "diverged": m.diverged, "wall_time": m.wall_time,
        "curves": {"steps": curve.steps.tolist(), "test_accuracy": curve.test_accuracy.tolist(),
                   "test_loss": curve.test_loss.tolist(), "train_loss": curve.train_loss.tolist(),
                   "train_error": curve.train_error.tolist()},
        "provenance": records.provenance()})
    print(f"c at eta {eta:g}: {m.c:.4g} (t* {m.t_star:g}, {m.steps_run} steps, {m.wall_time:.1f} s)",
          flush=True)
    return m.c


def task_apps(out: Path, smoke: bool, seeds) -> None:
    from l2lab import tuning
    spec = _fc_spec(smoke)._replace(lams=APP_LAMS, seeds=tuple(seeds))
    budgets = _budgets(smoke)
    runs = out / "fc-apps"
    runs.mkdir(parents=True, exist_ok=True)
    if tuple(seeds) == (0,):
        for eta in (0.15, 1.5):
            c = _measure_c(spec, eta, runs, smoke)
            tuning.tuning_sweep(spec._replace(etas=(eta,)), budgets, runs)
            tuning.predicted_runs(spec._replace(etas=(eta,)), c, budgets, runs)
            print(f"apps eta {eta:g}: tuned and predicted runs done", flush=True)
    else:
        tuning.tuning_sweep(spec._replace(etas=(0.15,)), budgets, runs)
    tuning.autol2_runs(spec._replace(etas=(0.15,)), (0.1, 0.01), budgets[-1], runs)
    print(f"apps seeds {seeds}: AutoL2 done", flush=True)


def task_sma(out: Path, smoke: bool, seeds=(0,)) -> None:
    from l2lab import sweep
    spec = _fc_spec(smoke)._replace(etas=SMA_ETAS, bucket=2.0, max_group_size=64,
                                    max_steps=64 if smoke else 20000, seeds=tuple(seeds))
    if smoke:
        spec = spec._replace(etas=SMA_ETAS[-4:], lams=(1.0, 5.0, 10.0))
    name = "fc-sma" if tuple(seeds) == (0,) else "fc-sma-s" + "".join(map(str, seeds))
    sweep.run_sweep(spec, out / name, progress=False, checkpoint_seconds=30.0)


def task_bootstrap(out: Path, smoke: bool) -> None:
    """Per-image test correctness of the trained SM A runs at eta 0.15, 1.5 and 10 with budgets
    up to 2000 steps, and the bootstrap of their t* over resampled test sets (issue 20: the noise
    floor of t*). One JSON, rewritten after every run (resumable)."""
    import base64
    import numpy as np
    from l2lab import engine
    from l2lab.engine import records
    from l2lab.studies import collapse
    spec = _fc_spec(smoke)
    grid = [] if smoke else engine.load_sweep(Path("data/sweeps/h200/fc-sma"))
    todo = [(1.5, 0.1), (10.0, 0.01)] if smoke else sorted(
        (d.eta, d.lam) for d in collapse.diagnose(grid) if d.trained and d.eta in (0.15, 1.5, 10.0)
        and d.steps <= 2000)
    path = out / "bootstrap" / "fc-per-image.json"
    done = json.loads(path.read_text())["runs"] if path.exists() else []
    for eta, lam in todo:
        if any(r["eta"] == eta and r["lam"] == lam for r in done):
            continue
        run = collapse.per_image_run(spec, eta, lam)
        boot = {str(tol): collapse.bootstrap_t_star(run.steps, run.correct, tol, n_boot=1000).tolist()
                for tol in collapse.TOLERANCES}
        done.append({"eta": eta, "lam": lam, "budget": run.budget, "seed": run.seed,
                     "steps": run.steps.tolist(), "n_test": int(run.correct.shape[1]),
                     "correct_packbits": base64.b64encode(np.packbits(run.correct, axis=1).tobytes()).decode(),
                     "bootstrap_t_star": boot})
        records.write_json(str(path), {"format": "l2lab.collapse.bootstrap/1", "spec": spec.to_json(),
                                       "runs": done, "provenance": records.provenance()})
        print(f"bootstrap eta {eta:g} lam {lam:g}: {run.budget} steps", flush=True)


TASKS = {  # name: (seconds it may take at most, command)
    "check": (120, None), "arch": (150, [sys.executable, "-m", "l2lab.bench", "arch"]),
    "apps0": (240, None), "sma": (400, None), "apps12": (300, None),
    "sma12": (400, None),
    "bootstrap": (400, None),
    "bench-sweep": (90, [sys.executable, "-m", "l2lab.bench", "sweep"]),
    "bench-autol2": (90, [sys.executable, "-m", "l2lab.bench", "autol2"]),
}


def run_task(name: str, out: Path, smoke: bool) -> None:
    if name == "check":
        task_check(out, smoke)
    elif name == "apps0":
        task_apps(out, smoke, (0,))
    elif name == "apps12":
        task_apps(out, smoke, (1, 2))
    elif name == "sma":
        task_sma(out, smoke)
    elif name == "sma12":
        task_sma(out, smoke, (1, 2))
    elif name == "bootstrap":
        task_bootstrap(out, smoke)


def _pack(out: Path, log: Path, tar_dir: Path) -> None:
    tmp = tar_dir / "results.tar.gz.part"
    with tarfile.open(tmp, "w:gz") as t:
        if out.exists():
            t.add(out, arcname=out.name, filter=lambda i: None if "checkpoints" in i.name else i)
        if log.exists():
            t.add(log, arcname="accelerator_runs.log")
    os.replace(tmp, tar_dir / "results.tar.gz")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=540.0)
    p.add_argument("--out", default="data/sweeps/h200")
    p.add_argument("--tar", default=None)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--only", default=None, help="comma-separated task names")
    p.add_argument("--task", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    out = Path(a.out)
    if a.task:
        run_task(a.task, out, a.smoke)
        return
    deadline = time.time() + a.seconds
    out.mkdir(parents=True, exist_ok=True)
    tar_dir = Path(a.tar) if a.tar else None
    log = (tar_dir or out) / "accelerator_runs.log"
    stop = threading.Event()
    if tar_dir:
        def packer():
            while not stop.wait(30):
                _pack(out, log, tar_dir)
        threading.Thread(target=packer, daemon=True).start()
    names = a.only.split(",") if a.only else [n for n in TASKS if n not in ("sma12", "bootstrap")]
    with open(log, "a") as f:
        for name in names:
            cap, cmd = TASKS[name]
            left = deadline - time.time()
            if left < 20:
                print(f"== {name}: skipped ({left:.0f} s left)", file=f, flush=True)
                continue
            cmd = cmd or [sys.executable, __file__, "--task", name, "--out", str(out)] + (
                ["--smoke"] if a.smoke else [])
            if a.smoke and name in ("arch", "bench-sweep", "bench-autol2"):
                cmd = cmd + ["--quick"]
            t0 = time.time()
            print(f"== {name}: {' '.join(cmd[1:])} (timeout {min(cap, left):.0f} s)", file=f, flush=True)
            try:
                rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=min(cap, left)).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
            print(f"== {name}: rc {rc} after {time.time() - t0:.0f} s", file=f, flush=True)
            if name == "check" and rc != 0:
                break
    stop.set()
    if tar_dir:
        _pack(out, log, tar_dir)


if __name__ == "__main__":
    main()
