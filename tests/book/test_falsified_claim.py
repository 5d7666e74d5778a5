"""A number under a checked claim of a real chapter, edited, fails that chapter's execution as
the build runs it (tools/execute_chapters.py), and the error names the sentence (issue 17)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))

CHAPTER = ROOT / "book" / "experiments" / "01_fc_mnist.md"
# the test set's size behind "0.5% is about one standard error": a tenth of it triples the error
NUMBER = "collapse.accuracy_noise(0.88, 4488)"
EDITED = "collapse.accuracy_noise(0.88, 448)"
SENTENCE = "0.5% is about one standard error of a test accuracy"


def test_editing_a_number_under_a_claim_fails_the_page_with_its_sentence(tmp_path, monkeypatch):
    import l2lab_book
    from execute_chapters import read_chapter
    from jupyter_cache.executors.utils import single_nb_execution

    text = CHAPTER.read_text(encoding="utf8")
    assert text.count(NUMBER) == 1 and SENTENCE in text
    edited = tmp_path / CHAPTER.name
    edited.write_text(text.replace(NUMBER, EDITED), encoding="utf8")
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    for key, value in l2lab_book.kernel_environment().items():
        monkeypatch.setenv(key, value)
    nb = read_chapter(edited)
    res = single_nb_execution(nb, cwd=str(CHAPTER.parent), timeout=600, allow_errors=False,
                              meta_override=True)
    assert res.err is not None, "the edited chapter still executed without an error"
    assert "ClaimFailed" in res.exc_string and SENTENCE in res.exc_string
