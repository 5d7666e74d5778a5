"""Execute one chapter as the book build does and show what its page would show.

    .venv/bin/python tools/run_chapter.py book/theory/02_modes.md [--out /tmp/modes.ipynb]

The chapter runs in its own folder with the book's kernel environment (the same reader and
executor as ``tools/execute_chapters.py``). Printed: every code cell's text outputs (stream,
text/plain; HTML tables and figures are named, not shown), the glued values, any error with its
traceback, and the time. Exit status 1 when a cell failed. For writing a chapter: a full
``make book`` executes every chapter.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))
sys.path.insert(0, str(ROOT / "tools"))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _outputs(nb) -> list[str]:
    lines = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream":
                lines.append(f"[cell {i} {out['name']}] {out['text'].rstrip()}")
            elif "application/papermill.record/text/plain" in data:
                key = out.get("metadata", {}).get("scrapbook", {}).get("name", "?")
                lines.append(f"[cell {i} glue {key}] {data['application/papermill.record/text/plain']}")
            elif "text/html" in data:
                lines.append(f"[cell {i} html] {len(''.join(data['text/html']))} chars")
            elif "application/vnd.plotly.v1+json" in data or "application/vnd.jupyter.widget-view+json" in data:
                lines.append(f"[cell {i} figure]")
            elif "text/plain" in data:
                lines.append(f"[cell {i} text] {''.join(data['text/plain']).rstrip()}")
            elif out.get("output_type") == "error":
                lines.append(f"[cell {i} ERROR] {out['ename']}: {out['evalue']}")
                frames = [_ANSI.sub("", t) for t in out.get("traceback", [])][1:-1]
                lines += ["    " + ln for f in frames[-3:] for ln in f.splitlines()
                          if ln.strip().startswith(("File", "Cell", "---->"))]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", type=Path, help="a chapter's .md file")
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.chapter.is_file() or args.chapter.suffix != ".md":
        parser.error(f"chapter: not a chapter .md file: {args.chapter}")
    import nbformat
    import l2lab_book
    from execute_chapters import read_chapter
    from jupyter_cache.executors.utils import single_nb_execution

    l2lab_book.apply_kernel_environment()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    l2lab_book.patch_channel_polling()
    path = args.chapter.resolve()
    nb = read_chapter(path)
    t0 = time.perf_counter()
    res = single_nb_execution(nb, cwd=str(path.parent), timeout=args.timeout,
                              allow_errors=True, meta_override=True)
    print("\n".join(_outputs(nb)))
    if args.out:
        args.out.write_text(nbformat.writes(nb))
    failed = any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    print(f"{args.chapter}: {'FAILED' if failed or res.err else 'ok'} in {time.perf_counter() - t0:.1f} s")
    return 1 if failed or res.err else 0


if __name__ == "__main__":
    sys.exit(main())
