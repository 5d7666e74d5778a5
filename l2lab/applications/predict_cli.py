"""``python -m l2lab.predict``: measure c for a preset and print lam_pred = c/T (or c/T1).

Bad options exit with status 2 and a one-line argparse error before any training; a diverged
measurement prints why and exits with status 1.
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import Optional, Sequence

from l2lab import _checks
from l2lab.applications.predict import (DEFAULT_LAM, CMeasurement, first_decay_step, measure_c_preset,
                                        predict_lambda, preset_setup)
from l2lab.engine.models import ARCHS
from l2lab.engine.settings import SCHEDULES
from l2lab.scales import SCALES

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    c = _checks
    p = argparse.ArgumentParser(prog="python -m l2lab.predict", description=__doc__.split("\n")[0].split(": ", 1)[1])
    p.add_argument("--arch", default="fc", choices=list(ARCHS))
    p.add_argument("--scale", default="tiny", choices=list(SCALES))
    steps = lambda name: c.cli_type("an integer", int, lambda v: c.int32_steps(name, v))
    f32 = lambda name: c.cli_type("a number", float, lambda v: c.float32_exact(name, c.positive_float(name, v)))
    p.add_argument("--budget", required=True, type=steps("budget"),
                   help="training budget T in SGD steps (> 0)")
    p.add_argument("--schedule", default="constant", choices=list(SCHEDULES),
                   help="learning-rate schedule of the budgeted run; paper: lam_pred = c / T1, T1 = 0.3 T")
    in_unit = lambda v: c.real("momentum", v, minimum=0.0, maximum=1.0, open_maximum=True)
    p.add_argument("--momentum", type=c.cli_type("a number", float, in_unit),
                   help="heavy-ball momentum in [0, 1) (default: the preset's)")
    p.add_argument("--eta", type=f32("eta"),
                   help="learning rate of the measurement (> 0; default: the preset's middle one)")
    p.add_argument("--lam", default=DEFAULT_LAM,
                   type=f32("lam"),
                   help=f"the large L2 parameter of the measurement (> 0; default {DEFAULT_LAM})")
    p.add_argument("--tol", type=c.cli_type("a number", float,
                                            lambda v: c.real("tol", v, minimum=0.0, maximum=1.0, open_maximum=True)),
                   help="t* tolerance in accuracy (>= 0; default: the preset's t_star_tol)")
    p.add_argument("--max-steps", type=steps("max_steps"),
                   help="stop the measurement here if the peak is not yet certain (default: the preset's)")
    p.add_argument("--seed", default=0, type=c.cli_type("an integer", int, lambda v: c.prng_seed("seed", v)))
    p.add_argument("--no-progress", action="store_true")
    return p


def _report(r: CMeasurement, a: argparse.Namespace, n_lams: int) -> None:
    """Print c, lam_pred, 2c/T (or c/T1, 2c/T1) and the cost of the measurement, also as a
    fraction of the lam-tuning sweep it replaces (``n_lams`` runs of ``--budget`` steps)."""
    paper = a.schedule == "paper"
    t1 = first_decay_step(a.budget, a.schedule) if paper else None
    name, at = ("T1", f"T1 = {t1}, T = {a.budget}") if paper else ("T", f"T = {a.budget}")
    flag = "" if r.certain else "   [peak NOT certain: stopped at --max-steps]"
    rows = [("measured at", f"eta={r.eta:g} lam={r.lam:g} momentum={r.momentum:g}, constant learning rate"),
            ("t*", f"{r.t_star:.0f} steps (within {r.tol:g} of peak test accuracy {r.peak_accuracy:.4f}){flag}"),
            ("c = t* lam", f"{r.c:.4g}"),
            ("c' = t* eta lam", f"{r.c_prime:.4g}"),
            (f"lam_pred = c/{name}", f"{predict_lambda(r.c, a.budget, t1):.4g}   ({at})"),
            (f"2c/{name} (SM C.3)", f"{predict_lambda(2 * r.c, a.budget, t1):.4g}"),
            ("cost", f"{r.steps_run} steps, {len(r.curve.steps)} measurements, {r.wall_time:.1f} s"),
            ("cost / budget", f"{r.steps_run / a.budget:.3g}"),
            ("cost / sweep", f"{r.steps_run / (n_lams * a.budget):.3g}   (tuning sweep: {n_lams} lams x T steps)")]
    for k, v in rows:
        print(f"{k:<18} {v}")


def main(argv: Optional[Sequence[str]] = None) -> CMeasurement:
    """``python -m l2lab.predict``: measure c for a preset, print lam_pred for ``--budget``.
    Bad options exit with status 2 and a one-line argparse error before any training; a
    diverged measurement prints why and exits with status 1."""
    p = _parser()
    a = p.parse_args(argv)
    try:
        setup = preset_setup(a.arch, a.scale, a.seed)
    except FileNotFoundError as e:
        p.error(f"argument --scale: {' '.join(str(e).split())}")
    r = measure_c_preset(a.arch, a.scale, eta=a.eta, lam=a.lam, momentum=a.momentum, tol=a.tol,
                         max_steps=a.max_steps, seed=a.seed, progress=not a.no_progress, setup=setup)
    if r.diverged or not math.isfinite(r.c) or r.c <= 0:
        why = "diverged" if r.diverged else f"gave t* = {r.t_star}"
        print(f"the measurement at eta={r.eta:g} lam={r.lam:g} {why} after {r.steps_run} steps "
              f"({r.wall_time:.1f} s): no prediction; try a smaller --eta or --lam", file=sys.stderr)
        raise SystemExit(1)
    _report(r, a, len(setup.spec.lams))
    return r


if __name__ == "__main__":
    main()
