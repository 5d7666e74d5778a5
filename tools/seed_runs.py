"""Seeds for the book's tiny sweeps (issue 20, item 4), resumable, on the CPU.

    taskset -c 1 .venv/bin/python tools/seed_runs.py [--out data/sweeps/tiny-seeds] [--only NAMES]

Every sweep the experiment chapters run at the tiny scale (FC, CNN, CNN with BN, WRN: the
presets), and the AutoL2 comparisons of the AutoL2 chapter (constant-lam sweep and AutoL2 at
the same budget), each with seeds 0, 1 and 2 (seed 0 is the book's own run), one sweep folder
each under ``--out``. A killed run resumes where it stopped when started again; commit finished
records as they land.
"""
from __future__ import annotations

import argparse
from pathlib import Path

SEEDS = (0, 1, 2)


def sweeps():
    from l2lab import sweep
    for arch in ("fc", "cnn", "cnn_bn", "wrn"):
        yield arch, sweep.preset(arch, "tiny")._replace(seeds=SEEDS)


def autol2_cases():
    """(name, constant-lam spec, budget, AutoL2 initial lams): the AutoL2 chapter's tiny cases."""
    from l2lab import sweep
    fc = sweep.preset("fc", "tiny")._replace(etas=(2.0,), points_per_octave=8,
                                             lams=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2), seeds=SEEDS)
    cnn = sweep.preset("cnn", "tiny")._replace(lams=(1e-3, 3e-3), seeds=SEEDS)
    wrn = sweep.preset("wrn", "tiny")._replace(etas=(2.0,), lams=(1e-3, 3e-3), seeds=SEEDS)
    return [("autol2-fc", fc, 1024, (0.1, 0.01)), ("autol2-cnn", cnn, 320, (0.01,)),
            ("autol2-wrn", wrn, 256, (0.01,))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="data/sweeps/tiny-seeds")
    p.add_argument("--only", default=None, help="comma-separated names (fc, cnn, cnn_bn, wrn, autol2-fc, ...)")
    a = p.parse_args()
    from l2lab import sweep, tuning
    out = Path(a.out)
    only = set(a.only.split(",")) if a.only else None
    for name, spec in sweeps():
        if only is None or name in only:
            sweep.run_sweep(spec, out / name, progress=False)
            print(f"{name}: done", flush=True)
    for name, spec, budget, inits in autol2_cases():
        if only is None or name in only:
            tuning.tuning_sweep(spec, (budget,), out / name)
            tuning.autol2_runs(spec, inits, budget, out / name)
            print(f"{name}: done", flush=True)


if __name__ == "__main__":
    main()
