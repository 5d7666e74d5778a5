"""tools/smoke.py: its temporary tree (book copy, data linked, synthetic CIFAR-10 that the
paper-scale loader reads), its environment, and a CI subset that covers every architecture."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from l2lab import data, engine

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("smoke_tool", ROOT / "tools" / "smoke.py")
smoke = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smoke)


def test_ci_subset_exists_and_covers_every_architecture():
    chapters = smoke.all_chapters()
    assert set(smoke.CI_CHAPTERS) <= set(chapters) and len(chapters) > len(smoke.CI_CHAPTERS)
    text = "\n".join((ROOT / c).read_text() for c in smoke.CI_CHAPTERS)
    text += (ROOT / "tests" / "book" / "test_smoke_paper_path.py").read_text()  # the conv nets
    for arch in engine.ARCHS:
        assert re.search(rf'["\']{arch}["\']', text), f"no CI smoke chapter or test uses {arch!r}"
    assert any(c.startswith("book/theory/") for c in smoke.CI_CHAPTERS)


def test_tree_and_environment(tmp_path, monkeypatch):
    tree = smoke.make_tree(tmp_path)
    assert (tree / "book" / "experiments" / "02_cnn.md").is_file()
    assert not list((tree / "book").rglob("*.ipynb"))
    assert (tree / "data").resolve() == (ROOT / "data").resolve() and not any((tree / "_build").iterdir())
    env = smoke.smoke_environment(tmp_path)
    assert (env["L2LAB_SCALE"], env["L2LAB_SMOKE"]) == ("paper", "1")
    for key in ("L2LAB_SCALE", "L2LAB_SMOKE", "L2LAB_DATA_DIR"):
        monkeypatch.setenv(key, env[key])
    spec = engine.preset("wrn", "paper")            # the smoke preset
    train, test = data.paper_split(spec.dataset, n_train=spec.n_train, n_test=spec.n_test,
                                   download=False)
    assert train.x.shape == (spec.n_train, 32, 32, 3) and test.x.shape == (spec.n_test, 32, 32, 3)
