"""How close the announced time comes to the sweep's: ``python -m l2lab.bench estimate [--quick]``.

A chapter at ``L2LAB_SCALE=paper`` announces, before it trains, about how long its sweep will take
(:func:`l2lab.engine.estimate.estimate_sweep`: counted steps and measurements times a short timed
run of the real program). This benchmark makes that estimate for a few sweeps of the book's tiny
presets (FC, CNN with batch norm, WRN), then runs each sweep in a temporary folder and prints the
estimate, the measured wall time and their ratio side by side. The persistent compilation cache
is off for the run, so that the sweep compiles as a reader's first run does. ``--quick``: fewer
configurations and steps (a smoke test of the code path).
"""
from __future__ import annotations

import tempfile
import time

import jax

from l2lab import engine
from l2lab.engine import estimate

# (label, arch, changes to the tiny preset; quick changes)
CASES = (
    ("FC 3x256, full batch", "fc", dict(etas=(1.0,), lams=(1e-3, 1e-2)), dict(budget="steps:50")),
    ("CNN + BN (8 ch.)", "cnn_bn", dict(lams=(3e-3, 1e-2)), dict(budget="steps:20")),
    ("WRN-10-1", "wrn", dict(etas=(2.0,), lams=(3e-3, 1e-2)), dict(budget="steps:20")),
)


def measure(spec) -> tuple:
    """``(estimate, wall seconds of run_sweep)`` of ``spec`` in a fresh temporary folder."""
    est = estimate.estimate_sweep(spec)
    with tempfile.TemporaryDirectory(prefix="l2lab-bench-") as out:
        t0 = time.perf_counter()
        engine.run_sweep(spec, out, progress=False, announce=False)
        wall = time.perf_counter() - t0
    return est, wall


def main(quick: bool = False) -> None:
    jax.config.update("jax_enable_compilation_cache", False)
    dev = jax.devices()[0]
    print(f"Announced vs measured sweep time on {len(jax.devices())} x {dev.platform} "
          f"({dev.device_kind}), jax {jax.__version__}" + ("  [--quick]" if quick else ""))
    print(f"{'sweep':<22} {'configs':>7} {'steps':>7} {'estimate':>9} {'measured':>9} {'ratio':>6}")
    for label, arch, changes, quick_changes in CASES:
        spec = engine.preset(arch, "tiny")._replace(**changes, **(quick_changes if quick else {}))
        est, wall = measure(spec)
        print(f"{label:<22} {est.configurations:>7} {est.steps:>7} {est.seconds:8.1f}s {wall:8.1f}s "
              f"{est.seconds / wall:6.2f}", flush=True)
    print("ratio = estimate / measured (1 is exact; the estimate leaves out data loading and "
          "the folder's records)")


if __name__ == "__main__":
    main()
