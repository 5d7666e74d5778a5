"""Write the committed snapshot of the intro's *results at a glance*, ``data/verdicts.json``,
from the last full build (``_build/verdicts`` and ``_build/chapter_times.json``).

    make book && .venv/bin/python tools/verdicts_snapshot.py

The snapshot stands in for a chapter that did not run in a build (Colab, a partial build); it
says when, where and at which commit it was made. Refused (exit 2) when a chapter of the table
of contents has no verdict in ``_build/verdicts``: a snapshot must be whole.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import l2lab_results  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    from l2lab.engine import records
    from l2lab.figures import results

    chapters = l2lab_results._chapters(ROOT)
    built = results.collect(ROOT / l2lab_results.VERDICT_DIR)
    missing = [c for c in chapters if c not in built]
    if missing:
        parser.error(f"no verdict in {l2lab_results.VERDICT_DIR} for {missing}: run `make book` first")
    raw = json.loads((ROOT / l2lab_results.TIMES).read_text(encoding="utf8"))
    times = {k.removeprefix("book/").removesuffix(".md"): round(v, 1) for k, v in raw.items()}
    snap = results.snapshot(ROOT / l2lab_results.VERDICT_DIR, times, records.provenance())
    records.write_json(str(ROOT / l2lab_results.SNAPSHOT), snap)
    print(f"wrote {l2lab_results.SNAPSHOT}: {len(built)} chapters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
