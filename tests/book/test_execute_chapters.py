"""tools/execute_chapters.py: the parallel execution that `make book` does before Jupyter Book.
A chapter executed there must be found in the cache by the notebook myst-nb reads from the same
source (else the book would execute it a second time); a failing one is left out of the cache."""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
from chapter_text import HEADER

ROOT = Path(__file__).resolve().parents[2]


def _tool(name):
    """tools/<name>.py, imported under its own name (the worker processes pickle its functions)."""
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    return importlib.import_module(name)


X = _tool("execute_chapters")

_PAGE = HEADER + """
# A page

```{code-cell}
:tags: [hide-input]
import os
print("cwd", os.path.basename(os.getcwd()), "cpus", len(os.sched_getaffinity(0)))
```
"""


def test_longest_first_and_worker_cpus():
    times = {"a.md": 5.0, "b.md": 50.0, "c.md": 1.0}
    assert X.order_longest_first(["a.md", "b.md", "new.md", "c.md"], times) == ["new.md", "b.md", "a.md", "c.md"]
    cpus = sorted(os.sched_getaffinity(0))
    assert X.workers_for(None) == cpus and X.workers_for(1) == cpus[:1]
    with pytest.raises(ValueError, match="workers"):
        X.workers_for(0)


def test_executed_chapters_are_cache_hits_for_myst_nb_and_failures_are_not_cached(tmp_path):
    from jupyter_cache import get_cache

    good, bad = tmp_path / "ch" / "good.md", tmp_path / "ch" / "bad.md"
    good.parent.mkdir()
    good.write_text(_PAGE)
    bad.write_text(_PAGE + "\n```{code-cell}\nraise RuntimeError('boom')\n```\n")
    cache_dir = tmp_path / "cache"
    done = X.execute_into_cache([str(good), str(bad)], cache_dir, timeout=120, workers=2,
                                times_file=tmp_path / "times.json", log=lambda *a: None)
    assert done[str(good)].error is None and "boom" in done[str(bad)].error
    cache = get_cache(str(cache_dir))
    # what myst-nb matches during the Sphinx build: the notebook its reader makes of the source
    record = cache.match_cache_notebook(X.read_chapter(good))
    _, merged = cache.merge_match_into_notebook(X.read_chapter(good))
    out = "".join(o.get("text", "") for c in merged.cells if c.cell_type == "code" for o in c.outputs)
    assert out.strip() == "cwd ch cpus 1"           # ran in its own folder, pinned to one CPU
    assert record.data["execution_seconds"] == done[str(good)].seconds
    with pytest.raises(KeyError):
        cache.match_cache_notebook(X.read_chapter(bad))
    assert set((tmp_path / "times.json").read_text().split('"')) >= {str(good), str(bad)}
