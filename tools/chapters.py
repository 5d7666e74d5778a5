"""Chapters as text: each chapter's source is a MyST-markdown notebook, paired with an .ipynb.

Every chapter is two files side by side::

    book/<part>/<name>.md      the source (jupytext "md:myst"): edit this one; the book builds it
    book/<part>/<name>.ipynb   generated from it, outputs stripped: what Colab opens

The ``.md`` is the one that is written by people and reviewed; the ``.ipynb`` is written only by
``sync``. The first code cell of both is the Colab install cell (``tools/colab_cell.py``), tagged
``remove-cell`` so that the HTML pages leave it out.

Usage::

    python tools/chapters.py sync [MD ...]    # write each .ipynb from its .md (default: all)
    python tools/chapters.py check [MD ...]   # exit 1 naming every chapter out of sync

``sync`` also puts the current Colab cell into the ``.md`` (inserted before the first code
cell, or replacing an older version of it), so a change of ``repository.url`` in
``_config.yml`` reaches every chapter with one ``sync``. The build (``tools/build_book.py``) and
the tests run ``check``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = ROOT / "book"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import colab_cell  # noqa: E402  (tools/colab_cell.py)

FORMAT = "md:myst"
PAIRING = "ipynb,md:myst"
SYNC_COMMAND = ".venv/bin/python tools/chapters.py sync"
_SKIP_PARTS = {"_build", ".ipynb_checkpoints", "_ext", "node_modules"}
_COLAB_TAGS = ["remove-cell"]
_KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _is_text_notebook(path: Path) -> bool:
    head = path.read_text(encoding="utf8")[:2000]
    return head.startswith("---") and "format_name: myst" in head and "kernelspec:" in head


def chapter_sources(book_dir: Path = BOOK_DIR) -> list[Path]:
    """Every MyST text notebook (``.md`` with a jupytext header) under ``book_dir``, sorted."""
    book_dir = Path(book_dir)
    if not book_dir.is_dir():
        raise ValueError(f"book_dir {book_dir} is not a directory")
    return sorted(p for p in book_dir.rglob("*.md")
                  if not (_SKIP_PARTS & set(p.relative_to(book_dir).parts)) and _is_text_notebook(p))


def orphan_notebooks(book_dir: Path = BOOK_DIR) -> list[Path]:
    """``.ipynb`` files under ``book_dir`` without a ``.md`` source beside them."""
    book_dir = Path(book_dir)
    return sorted(p for p in book_dir.rglob("*.ipynb")
                  if not (_SKIP_PARTS & set(p.relative_to(book_dir).parts))
                  and not p.with_suffix(".md").is_file())


def _read_md(path: Path):
    import jupytext

    try:
        return jupytext.read(Path(path), fmt=FORMAT)
    except Exception as err:  # jupytext raises several kinds
        raise ValueError(f"{path}: not a readable MyST notebook ({err})") from None


def with_colab_cell(nb, cell_text: str | None = None):
    """``nb`` with the Colab cell as its first code cell (inserted, or replacing an older
    version that starts with the same comment line). Returns a new notebook."""
    import copy

    import nbformat

    cell_text = cell_text or colab_cell.COLAB_CELL
    nb = copy.deepcopy(nb)
    cells = nb.cells
    idx = next((i for i, c in enumerate(cells) if c.cell_type == "code"), None)
    cell = nbformat.v4.new_code_cell(cell_text, metadata={"tags": list(_COLAB_TAGS)})
    old = cells[idx].source if idx is not None else ""
    if idx is not None and old.splitlines()[:1] and old.splitlines()[0].startswith("# On Colab"):
        cells[idx] = cell
    else:
        cells.insert(idx if idx is not None else len(cells), cell)
    return nb


def paired_notebook(nb) -> str:
    """The ``.ipynb`` text for the source notebook ``nb``: outputs stripped, deterministic cell
    ids (``cell-00``, ...), pairing metadata for jupytext users, nbformat 4.5 layout."""
    import copy

    import jupytext

    nb = copy.deepcopy(nb)
    nb.metadata = {"jupytext": {"formats": PAIRING},
                   "kernelspec": dict(nb.metadata.get("kernelspec") or _KERNELSPEC),
                   "language_info": {"name": "python"}}
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"
        if c.cell_type == "code":
            c["outputs"], c["execution_count"] = [], None
    nb.nbformat, nb.nbformat_minor = 4, 5
    return jupytext.writes(nb, fmt="ipynb")


def source_text(nb) -> str:
    """The ``.md`` text for ``nb`` (jupytext MyST with the pairing in its header)."""
    import copy

    import jupytext

    nb = copy.deepcopy(nb)
    meta = dict(nb.metadata)
    meta["jupytext"] = {"formats": PAIRING, **{k: v for k, v in meta.get("jupytext", {}).items()
                                              if k == "text_representation"}}
    meta.setdefault("kernelspec", dict(_KERNELSPEC))
    nb.metadata = meta
    return jupytext.writes(nb, fmt=FORMAT)


def problems(md: Path) -> list[str]:
    """What is wrong with one chapter (empty list: in sync and in the committed form)."""
    md = Path(md)
    nb = _read_md(md)
    out = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != colab_cell.COLAB_CELL:
        out.append("first code cell is not the current Colab install cell (tools/colab_cell.py)")
    elif code[0].metadata.get("tags") != _COLAB_TAGS:
        out.append(f"the Colab install cell must carry exactly the tags {_COLAB_TAGS}")
    ipynb = md.with_suffix(".ipynb")
    if not ipynb.is_file():
        out.append(f"{ipynb.name} is missing")
    elif ipynb.read_text(encoding="utf8") != paired_notebook(with_colab_cell(nb)):
        out.append(f"{ipynb.name} is out of sync with {md.name}")
    return out


def check(paths: Iterable[Path] | None = None) -> dict[str, list[str]]:
    """``{path: problems}`` for every chapter with a problem (default: all under ``book/``),
    plus every ``.ipynb`` that has no ``.md`` source."""
    report = {}
    for p in (chapter_sources() if paths is None else paths):
        found = problems(Path(p))
        if found:
            report[str(p)] = found
    if paths is None:
        for p in orphan_notebooks():
            report[str(p)] = ["has no .md source beside it (chapters are written as MyST .md)"]
    return report


def sync(md: Path) -> list[str]:
    """Write ``md``'s Colab cell into it if needed, then its ``.ipynb``. Returns what changed."""
    md = Path(md)
    nb = with_colab_cell(_read_md(md))
    changed = []
    text = source_text(nb)
    if md.read_text(encoding="utf8") != text:
        md.write_text(text, encoding="utf8")
        changed.append(str(md))
    ipynb = md.with_suffix(".ipynb")
    want = paired_notebook(nb)
    if not ipynb.is_file() or ipynb.read_text(encoding="utf8") != want:
        ipynb.write_text(want, encoding="utf8")
        changed.append(str(ipynb))
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/chapters.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check"])
    parser.add_argument("sources", nargs="*", type=Path, help="chapter .md files (default: all)")
    args = parser.parse_args(argv)
    for p in args.sources:
        if p.suffix != ".md" or not p.is_file():
            parser.error(f"argument sources: {p} is not a chapter .md file")
    paths = args.sources or chapter_sources()
    if args.command == "sync":
        for p in paths:
            for f in sync(p):
                print(f"wrote {f}")
        return 0
    report = check(args.sources or None)
    for p, found in report.items():
        for msg in found:
            print(f"{p}: {msg}", file=sys.stderr)
        print(f"  fix: {SYNC_COMMAND} {p if p.endswith('.md') else ''}".rstrip(), file=sys.stderr)
    if report:
        return 1
    print(f"{len(paths)} chapter(s): .md and .ipynb in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
