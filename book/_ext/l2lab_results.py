"""Sphinx extension: the ``{l2lab-results}`` directive, the intro's *results at a glance*.

The table lists every verdict that the chapters recorded in this build
(:func:`l2lab.claims.record_verdicts` writes ``_build/verdicts/<part>__<name>.json``;
``tools/build_book.py`` empties that folder before it executes the chapters), in the order of
``_toc.yml``, with each chapter's execution time from ``_build/chapter_times.json``. A chapter
that did not run in this build (a partial build, ``--serial`` where the intro is read first)
takes its rows from the committed snapshot ``data/verdicts.json`` (``tools/verdicts_snapshot.py``
writes it from a full build), marked ``*`` with a sentence saying when and where it was made.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

VERDICT_DIR = Path("_build") / "verdicts"
TIMES = Path("_build") / "chapter_times.json"
SNAPSHOT = Path("data") / "verdicts.json"


def _chapters(root: Path) -> list[str]:
    """``part/name`` of every chapter in _toc.yml, in order."""
    text = (root / "_toc.yml").read_text(encoding="utf8")
    return re.findall(r"^\s*-\s*file:\s*book/([a-z]+/\d\d_\w+)\s*$", text, re.M)


def _titles(root: Path, chapters: list[str]) -> dict[str, str]:
    out = {}
    for ch in chapters:
        src = root / "book" / f"{ch}.md"
        m = re.search(r"^# (.+)$", src.read_text(encoding="utf8"), re.M) if src.is_file() else None
        out[ch] = re.sub(r"\s*\(.*\)\s*$", "", m.group(1)) if m else ch
    return out


class ResultsDirective(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from l2lab.figures import results

        root = Path(self.env.srcdir)
        chapters = _chapters(root)
        times_file = root / TIMES
        times = {}
        if times_file.is_file():
            raw = json.loads(times_file.read_text(encoding="utf8"))
            times = {k.removeprefix("book/").removesuffix(".md"): v for k, v in raw.items()}
        snap_file = root / SNAPSHOT
        snap = json.loads(snap_file.read_text(encoding="utf8")) if snap_file.is_file() else None
        built = results.collect(root / VERDICT_DIR)
        got = results.results_table(chapters, built, snap, times, _titles(root, chapters))
        out: list[nodes.Node] = [nodes.raw("", got.table._repr_html_(), format="html")]
        notes = []
        if times and all(ch in times for ch in chapters):
            total = sum(times[ch] for ch in chapters)
            notes.append(f"This build executed the {len(chapters)} chapters in "
                         f"{total / 60:.0f} minutes of CPU time in all, several at once.")
        if got.from_snapshot:
            notes.append(f"* from the committed snapshot ({got.snapshot_made}): "
                         f"{', '.join(got.from_snapshot)} did not run in this build.")
        if got.missing:
            notes.append(f"No verdict yet from: {', '.join(got.missing)}.")
        for note in notes:
            out.append(nodes.paragraph(text=note))
        return out


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("l2lab-results", ResultsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
