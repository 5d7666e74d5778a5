"""``python -m l2lab.sweep``: run (or resume) a preset sweep from the command line.

Every bad option value ends in an argparse error naming the option (exit status 2) before
anything is written or trained (see :func:`main`). ``python -m l2lab.sweep --help`` lists them.

Several hosts: run the same command on every host with ``--coordinator HOST:PORT
--num-processes N --process-id I`` (process 0's address; I differs per host), or with
``--distributed`` alone where ``jax.distributed.initialize()`` finds them itself (TPU pod slices,
SLURM). Process 0 writes the folder and prints the progress and the summary
(:mod:`l2lab.engine.distributed`).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from l2lab import _checks
from l2lab import measure as _measure
from l2lab.engine import distributed
from l2lab.engine.models import ARCHS
from l2lab.engine.presets import preset
from l2lab.engine.records import Record
from l2lab.engine.runner import CONFIG_BATCHINGS, SweepInterrupted, load_data, run_sweep
from l2lab.engine.settings import LOSSES, OPTIMIZERS, SCHEDULES, parse_lam_schedule
from l2lab.engine.spec import IMAGE_SIZES, SweepSpec, expand, parse_budget, validate_spec
from l2lab.scales import SCALES

__all__ = ["main"]

_DESCRIPTION = "eta x lam (x seed) sweeps as one compiled program per budget group, resumable, on any devices."

# ----------------------------------------------------------------------------- CLI

# Every bad option value ends in ``p.error`` ("python -m l2lab.sweep: error: argument --etas: ...",
# exit status 2) before any data is trained on: single values and lists are checked by their
# ``type=`` functions, then the final spec by _validate_spec (its errors name the spec field, which
# _OPTIONS maps back to the option), then what needs the data (sizes, augment) and the budgets.

_OPTIONS = {"model_kwargs": "--width", "out_dir": "--out"}   # spec field -> option, where not --field


def _option(field: Optional[str]) -> Optional[str]:
    """The option that sets the spec field ``field`` (every field has one), else None."""
    if field in _OPTIONS:
        return _OPTIONS[field]
    return "--" + field.replace("_", "-") if field in SweepSpec._fields else None


_cli_type = _checks.cli_type


def _cli_list(what: str, parse, name: str, check):
    """Comma-separated values (blanks skipped), each ``check(name, value)``, none twice (as the
    configuration ids tell them apart: to 6 significant digits), at least one."""

    def parse_all(text: str) -> Tuple[Any, ...]:
        values = tuple(parse(v) for v in text.split(",") if v.strip())
        if not values:
            raise ValueError("empty list")
        return values

    def check_all(values):
        values = tuple(check(name, v) for v in values)
        seen = {}
        for v in values:
            key = f"{v:.6g}"
            if key in seen:
                raise ValueError(f"`{name}` lists {seen[key]!r} and {v!r}, the same configuration")
            seen[key] = v
        return values

    return _cli_type(f"comma-separated {what}", parse_all, check_all)


def _budget_arg(text: str) -> str:
    parse_budget(text)
    return text


def _lam_schedule_arg(text: str) -> str:
    parse_lam_schedule(text)
    return text


def _parser() -> argparse.ArgumentParser:
    from l2lab import data as _data

    pos_int = lambda name: _cli_type("an integer", int, lambda v: _checks.positive_int(name, v))
    number = lambda name, **kw: _cli_type("a number", float, lambda v: _checks.real(name, v, **kw))
    p = argparse.ArgumentParser(prog="python -m l2lab.sweep", description=_DESCRIPTION)
    p.add_argument("--arch", default="fc", choices=list(ARCHS))
    p.add_argument("--scale", default="tiny", choices=list(SCALES))
    p.add_argument("--dataset", choices=list(_data.DATASET_NAMES),
                   help="l2lab.data name (default: the preset's)")
    p.add_argument("--etas", type=_cli_list("numbers", float, "etas",
                                            lambda n, v: _checks.float32_exact(n, _checks.positive_float(n, v))),
                   help="comma-separated learning rates (> 0)")
    p.add_argument("--lams", type=_cli_list("numbers", float, "lams",
                                            lambda n, v: _checks.float32_exact(n, _checks.nonneg_float(n, v))),
                   help="comma-separated L2 parameters (>= 0)")
    p.add_argument("--seeds", type=_cli_list("integers", int, "seeds", _checks.prng_seed),
                   help="comma-separated seeds (>= 0)")
    p.add_argument("--budget", type=_cli_type("a budget", str, _budget_arg),
                   help="'etalam:2', 'steps:1000', 'epochs:10' or 'etalam-epochs:0.1'")
    p.add_argument("--width", type=pos_int("width"), help="FC hidden width (3 hidden layers)")
    p.add_argument("--image-size", type=int, choices=list(IMAGE_SIZES),
                   help="conv nets: average-pool the 32x32 images down to this size")
    p.add_argument("--n-train", type=pos_int("n_train"))
    p.add_argument("--n-test", type=pos_int("n_test"))
    p.add_argument("--batch-size", type=pos_int("batch_size"))
    p.add_argument("--momentum", type=number("momentum", minimum=0.0, maximum=1.0, open_maximum=True),
                   help="heavy-ball momentum in [0, 1)")
    p.add_argument("--schedule", choices=list(SCHEDULES))
    p.add_argument("--loss", choices=list(LOSSES))
    p.add_argument("--points-per-octave", type=pos_int("points_per_octave"))
    p.add_argument("--eval-batch-size", type=pos_int("eval_batch_size"),
                   help="evaluate the train/test sets in chunks of this size (default: the preset's)")
    p.add_argument("--max-steps", type=_cli_type("an integer", int,
                                                 lambda v: _checks.int32_steps("max_steps", v)))
    p.add_argument("--bucket", type=number("bucket", minimum=1.0, allow_inf=True),
                   help="budget grouping factor >= 1 (1: equal budgets only)")
    p.add_argument("--max-group-size", type=pos_int("max_group_size"))
    p.add_argument("--augment", action="store_true", help="flip, crop and mixup (SM A; images only)")
    p.add_argument("--lam-schedule", type=_cli_type("a lam schedule", str, _lam_schedule_arg),
                   help="'constant' (default), 'early:E' (lam for the first E steps, then 0) or "
                        "'autol2' (SM E, starting at each of --lams)")
    p.add_argument("--autol2-every", type=pos_int("autol2_every"),
                   help="AutoL2: measure every this many steps (SM E: 5)")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS),
                   help="'sgd' (default, the paper's), 'adam' (coupled L2) or 'adamw' (decoupled decay)")
    p.add_argument("--t-star-tol", type=number("t_star_tol", minimum=0.0, maximum=1.0, open_maximum=True),
                   help="accuracy tolerance of the recorded t* (in [0, 1); paper: 0.005)")
    p.add_argument("--checkpoint-seconds", type=number("checkpoint_seconds", minimum=0.0, allow_inf=True),
                   default=60.0)
    p.add_argument("--config-batching", default="auto", choices=list(CONFIG_BATCHINGS),
                   help="vmap or lax.map over a device's configurations (auto: map for conv nets on CPU)")
    p.add_argument("--out", help="output directory (default data/sweeps/<arch>-<dataset>-<scale>)")
    p.add_argument("--no-progress", action="store_true")
    g = p.add_argument_group("several hosts (every host runs the same command; process 0 writes --out)")
    g.add_argument("--coordinator", type=_cli_type("HOST:PORT", str, distributed.parse_coordinator),
                   help="address of process 0 (with --num-processes and --process-id)")
    g.add_argument("--num-processes", type=pos_int("num_processes"), help="how many processes in all")
    g.add_argument("--process-id", type=_cli_type("an integer", int,
                                                  lambda v: _checks.integer("process_id", v, minimum=0)),
                   help="this process's number, 0 to N-1")
    g.add_argument("--distributed", action="store_true",
                   help="let jax.distributed.initialize() find the processes (TPU pod slices, SLURM)")
    return p


def _start_processes(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Join the multi-process runtime the options ask for (none: one process)."""
    opts = {"--coordinator": a.coordinator, "--num-processes": a.num_processes, "--process-id": a.process_id}
    given = [o for o, v in opts.items() if v is not None]
    if a.distributed and given:
        p.error(f"argument --distributed: finds the processes itself; not with {given[0]}")
    if given and len(given) < 3:
        missing = [o for o in opts if o not in given]
        p.error(f"argument {given[0]}: needs {' and '.join(missing)} too")
    if given and a.process_id >= a.num_processes:
        p.error(f"argument --process-id: must be below --num-processes {a.num_processes}, got {a.process_id}")
    if not (given or a.distributed):
        return
    try:
        distributed.initialize(a.coordinator, a.num_processes, a.process_id)
    except Exception as e:       # a coordinator that never answers, a missing cluster environment
        raise SystemExit(f"python -m l2lab.sweep: could not start the processes "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:300]})") from None


def _cli_spec(p: argparse.ArgumentParser, a: argparse.Namespace) -> Tuple[SweepSpec, Any, Any, str]:
    """The checked spec, its datasets and the output directory of the parsed options ``a``
    (``p.error`` naming the option for anything bad)."""
    spec = preset(a.arch, a.scale)
    over = {"dataset": a.dataset, "etas": a.etas, "lams": a.lams, "seeds": a.seeds, "budget": a.budget,
            "n_train": a.n_train, "n_test": a.n_test, "batch_size": a.batch_size, "momentum": a.momentum,
            "schedule": a.schedule, "loss": a.loss, "points_per_octave": a.points_per_octave,
            "eval_batch_size": a.eval_batch_size, "max_steps": a.max_steps, "bucket": a.bucket,
            "max_group_size": a.max_group_size, "t_star_tol": a.t_star_tol, "augment": True if a.augment else None,
            "image_size": a.image_size, "lam_schedule": a.lam_schedule, "autol2_every": a.autol2_every,
            "optimizer": a.optimizer}
    spec = spec._replace(**{k: v for k, v in over.items() if v is not None})
    if a.width is not None:
        if spec.arch != "fc":
            p.error(f"argument --width: applies to --arch fc only, not {spec.arch}")
        spec = spec._replace(model_kwargs=dict(spec.model_kwargs, widths=(a.width,) * 3))
    try:
        validate_spec(spec)
    except (TypeError, ValueError) as e:
        opt = _option(_checks.argument_of(e))
        p.error(f"argument {opt}: {e}" if opt else str(e))
    out = a.out or os.path.join("data", "sweeps", f"{spec.arch}-{spec.dataset}-{a.scale}")
    if not out or (os.path.exists(out) and not os.path.isdir(out)):
        p.error(f"argument --out: {out!r} is not a directory")
    try:
        train_ds, test_ds = load_data(spec)
    except FileNotFoundError as e:
        p.error(f"argument --dataset: {e}")
    except ValueError as e:      # sizes larger than the dataset: blame the size(s) named, given ones first
        msg = str(e)
        named = [o for o in ("--n-train", "--n-test") if f"`{o[2:].replace('-', '_')}`" in msg]
        given = [o for o in named if getattr(a, o[2:].replace("-", "_")) is not None]
        p.error(f"argument {(given or named or ['--dataset'])[-1]}: {msg}")
    if spec.augment and np.ndim(train_ds.x) != 4:
        p.error(f"argument --augment: needs image data (N, H, W, C), got {spec.dataset} inputs of shape "
                f"{np.shape(train_ds.x)[1:]} for --arch {spec.arch}; use --arch cnn, cnn_bn or wrn")
    try:
        expand(spec)
    except ValueError as e:      # an early:E beyond a budget, or every budget above max_steps
        if _checks.argument_of(e) == "lam_schedule":
            p.error(f"argument --lam-schedule: {e} (budget {spec.budget})")
        p.error(f"argument --max-steps: {e} ({spec.max_steps}; budget {spec.budget})")
    return spec, train_ds, test_ds, out


def main(argv: Optional[Sequence[str]] = None) -> List[Record]:
    """``python -m l2lab.sweep``: run (or resume) a preset sweep with the options' changes, print
    a summary. Bad options exit with status 2 and a one-line argparse error naming the option."""
    p = _parser()
    a = p.parse_args(argv)
    _start_processes(p, a)
    spec, train_ds, test_ds, out = _cli_spec(p, a)
    t0 = time.perf_counter()
    try:
        recs = run_sweep(spec, out, train_ds=train_ds, test_ds=test_ds, progress=not a.no_progress,
                         checkpoint_seconds=a.checkpoint_seconds, config_batching=a.config_batching)
    except SweepInterrupted as e:     # run_sweep printed how far it got and that this command resumes
        raise SystemExit(128 + e.signum) from None
    except distributed.LeaderFailed as e:     # process 0 shows its own error; the others say why they stop
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValueError as e:      # out holds another sweep, or the model does not fit (before anything is written)
        opt = _option(_checks.argument_of(e))
        if opt is None:
            raise
        p.error(f"argument {opt}: {e}")
    if distributed.is_leader():
        _summary(recs, time.perf_counter() - t0, out)
    return recs


def _summary(recs: List[Record], wall: float, out: str) -> None:
    print(f"\n{len(recs)} configurations in {out} ({wall:.1f} s this run)")
    print(f"{'eta':>8} {'lam':>8} {'steps':>7} {'t*':>7} {'t*.eta.lam':>10} {'peak acc':>8} {'div':>4}")
    for r in sorted(recs, key=lambda r: (r.config.seed, r.config.lam, r.config.eta)):
        c = r.config
        print(f"{c.eta:8.4g} {c.lam:8.4g} {c.steps:7d} {r.t_star:7.0f} {r.t_star * c.eta * c.lam:10.3g} "
              f"{r.peak_accuracy:8.4f} {'yes' if r.result.diverged else '':>4}")
    ok = [r for r in recs if not r.result.diverged and math.isfinite(r.t_star)]
    if not ok:
        print("no finite t* (every run diverged or never peaked): no c' to fit")
        return
    tols = sorted({float(r.raw.get("t_star_tol", 0.005)) for r in ok} | {0.005, 0.001}, reverse=True)
    for tol in tols:
        ts = [_measure.steps_to_peak(r.result.steps, r.result.test_accuracy, tol) for r in ok]
        try:
            fit = _measure.fit_c(ts, [r.config.lam for r in ok], [r.config.eta for r in ok])
        except ValueError as e:
            print(e)
            continue
        lams = [r.config.lam for r, t in zip(ok, ts) if np.isfinite(t) and r.config.lam > 0]
        print(f"c' = t* eta lam (t* within {tol:g} of peak): median {fit.median:.3g}, geomean {fit.geomean:.3g}, "
              f"range [{fit.min:.3g}, {fit.max:.3g}], spread x{fit.spread:.2f} over {fit.n} runs, "
              f"lam {min(lams):g}..{max(lams):g} ({math.log10(max(lams) / min(lams)):.1f} decades)")




if __name__ == "__main__":
    main()
