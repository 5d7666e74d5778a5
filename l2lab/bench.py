"""Benchmarks: ``python -m l2lab.bench theory``, ``... sweep``, ``... autol2``, ``... arch`` or ``... estimate``.

Each benchmark prints ratios measured side by side in one run (see DEVELOPERS.md)."""
from __future__ import annotations

import argparse
import importlib

_BENCHES = {"theory": "l2lab._bench_theory", "sweep": "l2lab._bench_sweep", "autol2": "l2lab._bench_autol2",
           "arch": "l2lab._bench_arch", "estimate": "l2lab._bench_estimate"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m l2lab.bench", description=__doc__)
    parser.add_argument("name", choices=sorted(_BENCHES), help="which benchmark to run")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for smoke tests)")
    args = parser.parse_args(argv)
    importlib.import_module(_BENCHES[args.name]).main(quick=args.quick)


if __name__ == "__main__":
    main()
