"""Execute the chapters on the paper path, shrunk: ``L2LAB_SCALE=paper L2LAB_SMOKE=1``.

    .venv/bin/python tools/smoke.py                  # every chapter (``make smoke``)
    .venv/bin/python tools/smoke.py --ci             # the CI subset: every code path
    .venv/bin/python tools/smoke.py book/experiments/02_cnn.md ...

Every paper-scale architecture, data format, sharding and figure runs, with a few steps on a
few small batches (:func:`l2lab.engine.presets.smoke_spec`). CIFAR-10 is a small synthetic one
in CIFAR-10's own python format (:func:`l2lab.data.synthetic_cifar10`) in a temporary
``L2LAB_DATA_DIR``. The chapters run from a temporary copy of ``book/`` (with ``data/`` linked
read-only and an empty ``_build/``), so their smoke sweeps and verdicts never mix with the
book's. Each chapter runs through ``tools/run_chapter.py``; a table of outcomes and times
follows, and the exit status is 1 when any chapter failed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The CI subset, with tests/book/test_smoke_paper_path.py: every code path of the paper scale
# but the longest chapters'. FC (3x2048 on MNIST-5k) through a whole chapter and the fit-time
# analysis; the theory kernels and trained wide nets; CNN-300 with and without BN on CIFAR-10
# through the CNN chapter's analysis; the tracked runs of CNN-300 + BN (batch norm, early weight
# decay) and Adam/AdamW grids; the MSE loss; the narrow FC; WRN-28-10 with momentum, augmentation
# and the paper's schedule (init scale). The applications' paper path (c measurement, tuning with
# and without the schedule, predicted runs, AutoL2) runs in that test on the paper's FC; `make
# smoke` adds their chapters on WRN-28-10, the WRN chapter and theory 02-05.
CI_CHAPTERS = ("book/experiments/01_fc_mnist.md", "book/experiments/04_fit_time.md",
               "book/theory/01_kernel_decay.md", "book/experiments/02_cnn.md",
               "book/related/01_batch_norm.md", "book/related/02_decoupled_weight_decay.md",
               "book/related/03_mse_catapult.md", "book/related/04_narrow_fc.md",
               "book/related/05_init_scale.md")
SYNTHETIC_CIFAR = {"n_train": 200, "n_test": 100, "seed": 0}


def all_chapters() -> list[str]:
    """Every chapter of the book (``book/<part>/<name>.md``), in order."""
    return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("book/*/*.md")
                  if not p.parent.name.startswith("_"))


def make_tree(workdir: Path) -> Path:
    """``workdir/tree``: a copy of ``book/`` (no notebooks), ``data/`` linked, ``_build/``
    empty; and ``workdir/data`` holding the synthetic CIFAR-10. Returns the tree."""
    from l2lab.data import synthetic_cifar10

    tree = workdir / "tree"
    shutil.copytree(ROOT / "book", tree / "book", ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    (tree / "data").symlink_to(ROOT / "data", target_is_directory=True)
    (tree / "_build").mkdir()
    synthetic_cifar10(workdir / "data" / "cifar10", **SYNTHETIC_CIFAR)
    return tree


def smoke_environment(workdir: Path) -> dict:
    """The environment of a smoke run: paper scale, smoke on, the synthetic data, CPU."""
    env = dict(os.environ, L2LAB_SCALE="paper", L2LAB_SMOKE="1",
               L2LAB_DATA_DIR=str(workdir / "data"))
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / "_build" / "jax_cache"))
    return env


def run_one(chapter: str, tree: Path, env: dict, timeout: int) -> tuple[bool, float, str]:
    """``(ok, seconds, what failed)`` of executing ``chapter`` in ``tree``; its whole output
    goes to ``tree/../logs/<name>.txt``."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "run_chapter.py"), str(tree / chapter),
                           "--timeout", str(timeout)], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    log = tree.parent / "logs" / (Path(chapter).stem + ".txt")
    log.parent.mkdir(exist_ok=True)
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    lines = proc.stdout.splitlines()
    first = next((i for i, line in enumerate(lines) if " ERROR]" in line), None)
    if first is None:
        why = (proc.stderr.strip().splitlines() or [""])[-1]
    else:     # the error and where in the cell it was raised (run_chapter's indented lines)
        where = [ln.strip() for ln in lines[first + 1:first + 4] if ln.startswith("    ")]
        why = " | ".join([lines[first]] + where[-1:])
    return proc.returncode == 0, seconds, "" if proc.returncode == 0 else why[:400]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapters (book/<part>/<name>.md); default all")
    parser.add_argument("--ci", action="store_true", help="the CI subset (every code path)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--keep", action="store_true", help="keep the temporary tree and print it")
    args = parser.parse_args(argv)
    chapters = list(args.chapters) or list(CI_CHAPTERS if args.ci else all_chapters())
    for c in chapters:
        if not (ROOT / c).is_file():
            parser.error(f"chapters: no chapter {c}")
    workdir = Path(tempfile.mkdtemp(prefix="l2lab-smoke-"))
    try:
        tree, env = make_tree(workdir), smoke_environment(workdir)
        results = []
        for c in chapters:
            ok, seconds, why = run_one(c, tree, env, args.timeout)
            print(f"{'ok    ' if ok else 'FAILED'} {seconds:6.0f} s  {c}  {why}", flush=True)
            results.append((c, ok, seconds, why))
        failed = [r for r in results if not r[1]]
        total = sum(r[2] for r in results)
        print(f"smoke (L2LAB_SCALE=paper L2LAB_SMOKE=1): {len(results) - len(failed)} of {len(results)} "
              f"chapters ran in {total:.0f} s" + (f"; failed: {', '.join(r[0] for r in failed)}" if failed else ""))
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"smoke tree kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
