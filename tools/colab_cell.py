"""The standard first cell of every chapter notebook, and a checker/fixer for it.

Every chapter under ``book/`` is an ``.ipynb`` committed without outputs, so that the Colab
launch button of its page opens it as is. Its first code cell installs l2lab when the notebook
runs on Colab (any runtime: CPU, GPU or TPU) and does nothing anywhere else, in particular not
in the book build (the branch is not taken; IPython still parses the ``%pip`` line). The book's
Sphinx extension (``book/_ext/l2lab_book.py``) leaves this cell out of the HTML pages; Colab
shows it.

Usage::

    python tools/colab_cell.py --check            # every notebook under book/ (exit 1 if not)
    python tools/colab_cell.py --fix [NB ...]     # insert/replace the cell, strip outputs

The build (``tools/build_book.py``) runs the check and stops on any problem.
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = ROOT / "book"

#: Exact source of the first code cell of every chapter.
COLAB_CELL = (
    "# On Colab (CPU, GPU or TPU runtime) this installs l2lab; elsewhere it does nothing.\n"
    "import sys\n"
    'if "google.colab" in sys.modules:\n'
    '    %pip install -q "l2lab @ git+https://github.com/l2lab/l2lab"'
)

_SKIP_PARTS = {"_build", ".ipynb_checkpoints", "_ext", "node_modules"}


def chapter_notebooks(book_dir: Path = BOOK_DIR) -> list[Path]:
    """Every ``.ipynb`` under ``book_dir`` (recursively), sorted; checkpoints and builds skipped."""
    book_dir = Path(book_dir)
    if not book_dir.is_dir():
        raise ValueError(f"book_dir {book_dir} is not a directory")
    return sorted(p for p in book_dir.rglob("*.ipynb")
                  if not (_SKIP_PARTS & set(p.relative_to(book_dir).parts)))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _read(path: Path) -> dict:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable notebook ({err})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not a notebook (no 'cells' list)")
    return nb


def problems(path: Path) -> list[str]:
    """What is wrong with one notebook: first code cell not the standard one, or outputs kept.

    Returns a list of human-readable problems (empty when the notebook is fine).
    """
    nb = _read(path)
    out = []
    code = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    if not code:
        out.append("has no code cell (the first one must be the Colab install cell)")
    else:
        first = code[0]
        if _source(first) != COLAB_CELL:
            out.append("first code cell is not exactly the Colab install cell "
                       "(tools/colab_cell.py COLAB_CELL)")
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    if dirty:
        out.append(f"cells {dirty} keep outputs or execution counts (commit notebooks stripped)")
    return out


def check(paths: Iterable[Path]) -> dict[str, list[str]]:
    """``{path: problems}`` for every notebook in ``paths`` that has a problem."""
    report = {}
    for p in paths:
        found = problems(Path(p))
        if found:
            report[str(p)] = found
    return report


def fix(path: Path) -> bool:
    """Make ``path`` conform: standard first code cell (inserted or replaced), outputs stripped.

    Markdown cells before the first code cell stay where they are. Returns True if the file
    changed. Writes nbformat's layout (1-space indent, trailing newline).
    """
    path = Path(path)
    nb = _read(path)
    before = json.dumps(nb, sort_keys=True)
    cells = nb["cells"]
    idx = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), None)
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "colab-install",
        "metadata": {},
        "outputs": [],
        "source": COLAB_CELL.splitlines(keepends=True),
    }
    if idx is not None and _source(cells[idx]).startswith(COLAB_CELL.splitlines()[0]):
        old = cells[idx]
        cell["metadata"] = old.get("metadata", {})
        cell["id"] = old.get("id", cell["id"])
        cells[idx] = cell
    else:
        ids = {c.get("id") for c in cells}
        if cell["id"] in ids:
            cell["id"] = uuid.uuid4().hex[:8]
        cells.insert(idx if idx is not None else len(cells), cell)
    for c in cells:
        if c.get("cell_type") == "code":
            c["outputs"] = []
            c["execution_count"] = None
            c.get("metadata", {}).pop("execution", None)
    nb.get("metadata", {}).pop("widgets", None)
    nb.setdefault("nbformat", 4)
    nb["nbformat_minor"] = max(int(nb.get("nbformat_minor", 5)), 5)  # cell ids need >= 4.5
    if json.dumps(nb, sort_keys=True) == before:
        return False
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf8")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report problems, exit 1 if any")
    mode.add_argument("--fix", action="store_true", help="insert the cell and strip outputs")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebook under book/")
    args = parser.parse_args(argv)
    paths = args.notebooks or chapter_notebooks()
    if args.fix:
        for p in paths:
            if fix(p):
                print(f"fixed {p}")
        return 0
    report = check(paths)
    for p, found in report.items():
        for msg in found:
            print(f"{p}: {msg}", file=sys.stderr)
    if report:
        print("run `python tools/colab_cell.py --fix` to repair", file=sys.stderr)
        return 1
    print(f"{len(paths)} notebook(s): Colab cell and stripped outputs OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
