"""book/_ext/l2lab_results.py: the intro's results-at-a-glance directive renders the verdicts a
build's chapters recorded, and the committed snapshot for a chapter that did not run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("myst_parser")


def _project(tmp_path):
    src = tmp_path / "src"
    (src / "book" / "theory").mkdir(parents=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_parser', 'l2lab_results']\nexclude_patterns = ['_build', 'book']\n")
    (src / "index.md").write_text("# Intro\n\n```{l2lab-results}\n```\n")
    (src / "_toc.yml").write_text("root: index\nchapters:\n  - file: book/theory/01_kernel_decay\n"
                                  "  - file: book/theory/02_modes\n")
    (src / "book" / "theory" / "01_kernel_decay.md").write_text("# Kernel decay (Eq. 2)\n")
    (src / "book" / "theory" / "02_modes.md").write_text("# Modes of Eq. 3\n")
    return src


def _build(src, tmp_path):
    from sphinx.application import Sphinx

    app = Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None, freshenv=True, warningiserror=True)
    app.build()
    return (tmp_path / "html" / "index.html").read_text(encoding="utf8")


def test_rows_from_this_build_and_the_snapshot(tmp_path, monkeypatch):
    from l2lab import claims
    from l2lab.figures import results

    src = _project(tmp_path)
    claims.record_verdicts(src / "_build" / "verdicts", "theory/01_kernel_decay", [
        claims.Verdict("Eq. 2: kernel decay", "reproduced", "rate within 0.1%", "exact NTK")])
    old = tmp_path / "old"
    claims.record_verdicts(old, "theory/02_modes", [
        claims.Verdict("Eq. 3: modes", "partly", "peak at log(γ/λ)/λ", "exact NTK")])
    (src / "data").mkdir()
    snap = results.snapshot(old, {"theory/02_modes": 2.0},
                            {"date_utc": "2026-12-04T21:00:00+00:00", "device_kind": "cpu",
                             "num_devices": 1, "git_commit": "abcdef123"})
    (src / "data" / "verdicts.json").write_text(json.dumps(snap))
    (src / "_build" / "chapter_times.json").write_text(
        json.dumps({"book/theory/01_kernel_decay.md": 25.8, "book/theory/02_modes.md": 2.1}))
    page = _build(src, tmp_path)
    assert '<a href="theory/01_kernel_decay.html">Kernel decay (26 s)</a>' in page
    assert "rate within 0.1%" in page and "reproduced" in page
    assert "partly *" in page and "made on 2026-12-04 on cpu (1 device) at commit abcdef1" in page
    assert "2 chapters in 0 minutes" in page
    sys.modules.pop("l2lab_results", None)


def test_the_committed_snapshot_covers_every_chapter():
    """data/verdicts.json stands in for any chapter a build did not run: it must hold every
    chapter of the table of contents, with verdicts the table can show, and say where it was made."""
    from l2lab import claims
    from l2lab.figures import results

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import l2lab_results

    snap = json.loads((ROOT / "data" / "verdicts.json").read_text(encoding="utf8"))
    chapters = l2lab_results._chapters(ROOT)
    assert len(chapters) == 16 and set(snap["chapters"]) == set(chapters)
    for ch in chapters:
        for v in snap["chapters"][ch]["verdicts"]:
            assert claims.Verdict(**v).verdict in claims.VERDICTS
        assert snap["seconds"][ch] > 0
    assert results.made_sentence(snap["provenance"]).startswith("made on 2026-")
