"""Build the l2lab book: ``make book`` runs ``.venv/bin/python tools/build_book.py``.

Steps (any failure exits non-zero with the reason):

1. every chapter's MyST source ``book/<part>/<name>.md`` and its paired ``.ipynb`` are in sync,
   with the standard Colab cell first and no outputs (``tools/chapters.py check``);
2. the npm packages of ``package.json`` are installed (``npm ci`` when ``node_modules`` is missing
   or older than ``package-lock.json``);
3. require.js, the ipywidgets HTML manager and MathJax are copied from ``node_modules``, and
   plotly.js from the installed ``plotly`` package (the version the kernels' figures are made
   for), into ``_build/local_js/l2lab_js`` (Sphinx copies that folder's content into
   ``_build/html/_static``; every page with a figure loads ``l2lab_js/plotly.min.js`` once);
4. ``_build/verdicts`` (the chapters' verdicts for the intro's table) is emptied, and every
   chapter is executed, several at once, one per CPU (``tools/execute_chapters.py``), into
   an emptied jupyter-cache (``execute.cache`` of _config.yml); ``--serial`` skips this step;
5. ``jupyter-book build . --all -W`` (config ``_config.yml``/``_toc.yml`` at the repository root):
   ``execute_notebooks: cache`` takes each chapter's outputs from step 4 and executes any chapter
   that is not there (one that failed in step 4, or every chapter with ``--serial``) itself;
   any Sphinx warning is an error, no ``--keep-going``;
6. the execution report that ``book/_ext/l2lab_book.py`` writes
   (``_build/html/reports/execution.json``) must list every notebook of the table of contents as
   succeeded, and no ``*.err.log`` traceback may exist: Jupyter Book 1 can exit 0 after a failed
   cell. A per-notebook execution-time table is printed.

A build that fails only because a cell hit its timeout is run once more (a widget cell can stall
under nbclient, issue #312). Environment for the executing kernels: the book extension's
``kernel_environment()`` (a ``PYTHONSTARTUP`` file that sets the book's plotly renderer,
``L2LAB_STATIC_BUILD=1``; ``PLOTLY_RENDERER`` removed) and ``JAX_PLATFORMS=cpu`` (unless set).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

sys.path.insert(0, str(ROOT / "book" / "_ext"))

import chapters  # noqa: E402  (tools/chapters.py)
import execute_chapters  # noqa: E402  (tools/execute_chapters.py)
import l2lab_book  # noqa: E402  (book/_ext/l2lab_book.py: the kernels' environment)

BUILD = ROOT / "_build"
HTML = BUILD / "html"
LOCAL_JS = BUILD / "local_js"          # html_static_path in _config.yml
JS_DIR = LOCAL_JS / "l2lab_js"         # -> _build/html/_static/l2lab_js
REPORT = HTML / "reports" / "execution.json"
VERDICTS = BUILD / "verdicts"          # l2lab.claims.record_verdicts, one file per chapter
NODE_MODULES = ROOT / "node_modules"

# What of MathJax's es5 folder the pages can load (the combined component and what it loads
# on demand: TeX extensions, fonts, the menu and its accessibility/speech parts).
_MATHJAX_KEEP = ["tex-mml-chtml.js", "input", "output", "a11y", "ui", "sre", "adaptors"]


def log(msg: str) -> None:
    print(f"[build_book] {msg}", flush=True)


def fail(msg: str) -> "None":
    print(f"[build_book] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def ensure_npm() -> None:
    """``npm ci`` if node_modules is missing or older than package-lock.json."""
    lock = ROOT / "package-lock.json"
    if not lock.is_file():
        fail("package-lock.json is missing (run `npm install` once and commit it)")
    stamp = NODE_MODULES / ".package-lock.json"  # written by npm on every install
    needed = [NODE_MODULES / "requirejs" / "require.js",
              NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js",
              NODE_MODULES / "mathjax" / "es5" / "tex-mml-chtml.js"]
    fresh = stamp.is_file() and stamp.stat().st_mtime >= lock.stat().st_mtime
    if fresh and all(p.is_file() for p in needed):
        return
    npm = shutil.which("npm")
    if npm is None:
        fail("npm is not installed (Debian: apt-get install -y nodejs npm)")
    log("npm ci (JavaScript for offline widgets and math)")
    res = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=ROOT)
    if res.returncode != 0:
        fail(f"npm ci exited {res.returncode}")
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        fail(f"npm ci did not install {missing}")


def plotly_package_js() -> Path:
    """plotly.min.js of the installed ``plotly`` package (what its offline HTML embeds)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        fail(f"{path} is missing (reinstall plotly: `make install`)")
    return path


def copy_js() -> None:
    """Copy the local JavaScript into JS_DIR (replacing an older copy)."""
    if JS_DIR.exists():
        shutil.rmtree(JS_DIR)
    JS_DIR.mkdir(parents=True)
    shutil.copy2(NODE_MODULES / "requirejs" / "require.js", JS_DIR / "require.js")
    # embed-amd.js loads its fonts from its own folder (webpack public path = script URL).
    hm_src = NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist"
    hm_dst = JS_DIR / "html-manager"
    hm_dst.mkdir()
    for f in hm_src.iterdir():
        if f.name == "embed-amd.js" or f.suffix in {".woff", ".woff2", ".ttf", ".eot", ".svg"}:
            shutil.copy2(f, hm_dst / f.name)
    mj_src = NODE_MODULES / "mathjax" / "es5"
    mj_dst = JS_DIR / "mathjax"
    mj_dst.mkdir()
    for name in _MATHJAX_KEEP:
        src = mj_src / name
        if src.is_dir():
            shutil.copytree(src, mj_dst / name)
        elif src.is_file():
            shutil.copy2(src, mj_dst / name)
    plotly_js = JS_DIR.parent / l2lab_book.PLOTLY_JS
    shutil.copy2(plotly_package_js(), plotly_js)
    for path in [JS_DIR / "require.js", hm_dst / "embed-amd.js", mj_dst / "tex-mml-chtml.js",
                 plotly_js]:
        if not path.is_file():
            fail(f"missing {path} after copying the JavaScript")


def toc_docnames() -> list[str]:
    """Docnames (paths without extension) of every file listed in _toc.yml."""
    text = (ROOT / "_toc.yml").read_text(encoding="utf8")
    names = re.findall(r"^\s*(?:-\s*)?(?:file|root)\s*:\s*['\"]?([^'\"#\s]+)", text, re.M)
    return [re.sub(r"\.(ipynb|md)$", "", n) for n in names]


def toc_notebooks() -> list[str]:
    """Docnames in _toc.yml whose source is a chapter (a MyST text notebook)."""
    sources = {str(p.relative_to(ROOT).with_suffix("")) for p in chapters.chapter_sources()}
    return [d for d in toc_docnames() if d in sources]


def run_jupyter_book(env: dict[str, str]) -> tuple[int, str]:
    """Run the build, streaming its output; returns (exit code, full output)."""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", ".", "--all", "-W",
           "--builder", "html"]
    log(" ".join(["jupyter-book"] + cmd[1:]))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    return proc.wait(), "".join(lines)


def failed_notebooks(output: str) -> list[str]:
    """Notebooks named as failed in the jupyter-book output."""
    found = re.findall(r"ExecutionError:\s*(\S+\.ipynb)", output)
    found += re.findall(r"Notebook exception traceback saved in:\s*(\S+)", output)
    found += re.findall(r"(\S+\.ipynb)\S*:\s*WARNING: Executing notebook failed", output)
    return sorted(set(found))


def check_reports(expected: list[str]) -> list[str]:
    """Problems found in the execution report and the reports folder (empty: all good)."""
    problems = []
    for err_log in sorted((HTML / "reports").rglob("*.err.log")):
        problems.append(f"failed notebook, traceback in {err_log.relative_to(ROOT)}")
    if not REPORT.is_file():
        return problems + [f"{REPORT.relative_to(ROOT)} was not written"]
    report = json.loads(REPORT.read_text(encoding="utf8"))
    for doc, rec in report.get("notebooks", {}).items():
        if not rec.get("succeeded"):
            problems.append(f"{rec.get('source', doc)}: execution failed ({rec.get('error')})")
    for doc in expected:
        if doc not in report.get("notebooks", {}):
            problems.append(f"{doc}.md is in _toc.yml but was not executed")
    return problems


def print_table() -> None:
    if not REPORT.is_file():
        return
    full = json.loads(REPORT.read_text(encoding="utf8"))
    report = dict(full["notebooks"])
    if full.get("reading") and full["reading"] not in report:  # the build stopped there
        chain = full.get("exception") or ["?"]
        error = chain[min(1, len(chain) - 1)].split(":", 1)[0]  # what myst-nb's error wraps
        report[full["reading"]] = {"source": full["reading"] + " (stopped the build)",
                                   "runtime_s": None, "succeeded": False, "error": error}
    if not report:
        return
    width = max(len(rec.get("source", d)) for d, rec in report.items())
    print(f"\n{'notebook':<{width}}  {'time (s)':>9}  status")
    print(f"{'-' * width}  {'-' * 9}  ------")
    total = 0.0
    for doc, rec in report.items():
        rt = rec.get("runtime_s")
        total += rt or 0.0
        status = "ok" if rec.get("succeeded") else f"FAILED ({rec.get('error')})"
        shown = "-" if rt is None else f"{rt:.1f}"
        print(f"{rec.get('source', doc):<{width}}  {shown:>9}  {status}")
    print(f"{'total':<{width}}  {total:>9.1f}\n")


def execute_config() -> dict:
    """The ``execute:`` section of _config.yml."""
    import yaml
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))["execute"]


def report_reuse(pre: dict) -> None:
    """Say how many chapters Jupyter Book took from the parallel run and how many it executed
    itself (a chapter it executed again although it had succeeded there is worth a look)."""
    if not pre or not REPORT.is_file():
        return
    report = json.loads(REPORT.read_text(encoding="utf8"))["notebooks"]
    ok = {s: r.seconds for s, r in pre.items() if r.error is None}
    # a cached chapter reports the runtime stored with it; one executed again, its new runtime
    again = [rec.get("source", d) for d, rec in report.items()
             if f"{d}.md" in ok and rec.get("runtime_s") != ok[f"{d}.md"]]
    log(f"{len(ok)} of {len(pre)} chapters executed in parallel"
        + (f"; executed again by Jupyter Book: {again}" if again else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the l2lab book (see module docstring).")
    parser.add_argument("--no-retry", action="store_true",
                        help="do not rebuild once after a cell timeout")
    parser.add_argument("--serial", action="store_true",
                        help="let Jupyter Book execute the chapters one after another")
    parser.add_argument("--workers", type=int, default=None,
                        help="chapters executed at once (default: one per CPU)")
    args = parser.parse_args(argv)
    t0 = time.time()

    report = chapters.check()
    if report:
        for path, found in report.items():
            for msg in found:
                print(f"{path}: {msg}", file=sys.stderr)
        fail(f"chapters are not in sync (run `{chapters.SYNC_COMMAND}`, or `make sync`)")
    expected = toc_notebooks()
    missing = [d for d in toc_docnames()
               if not any((ROOT / f"{d}{ext}").is_file() for ext in (".ipynb", ".md"))]
    if missing:
        fail(f"_toc.yml lists files that do not exist: {missing}")

    ensure_npm()
    copy_js()

    env = dict(os.environ)
    l2lab_book.apply_kernel_environment(env)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # no debugger warning in outputs
    env.setdefault("TQDM_DISABLE", "1")                      # no progress bars in the pages

    os.environ.update(env)                 # the chapter workers and their kernels inherit it
    os.environ.pop("PLOTLY_RENDERER", None)
    pre, ex = {}, execute_config()         # the cache, timeout and allow_errors Jupyter Book uses
    cache = ROOT / ex["cache"]
    # the chapters' verdicts of this build only (the intro's table; book/_ext/l2lab_results.py)
    shutil.rmtree(VERDICTS, ignore_errors=True)
    if args.serial:
        shutil.rmtree(cache, ignore_errors=True)
    else:
        try:
            pre = execute_chapters.execute_into_cache([f"{d}.md" for d in expected], cache,
                                                      timeout=int(ex["timeout"]),
                                                      allow_errors=bool(ex["allow_errors"]),
                                                      workers=args.workers, log=log)
        except ValueError as e:
            fail(str(e))

    attempts = 1 if args.no_retry else 2
    for attempt in range(1, attempts + 1):
        if HTML.exists():
            shutil.rmtree(HTML)  # stale reports or pages must not survive a failed build
        rc, output = run_jupyter_book(env)
        problems = check_reports(expected) if rc == 0 else []
        if rc == 0 and not problems:
            break
        timed_out = "CellTimeoutError" in output
        names = failed_notebooks(output)
        if rc != 0:
            problems.append(f"jupyter-book exited {rc}"
                            + (f"; failed notebook(s): {', '.join(names)}" if names else ""))
        print_table()
        for p in problems:
            print(f"[build_book] {p}", file=sys.stderr)
        if timed_out and attempt < attempts:
            log("a cell timed out (nbclient #312 can stall a widget cell): building once more")
            continue
        fail("book build failed" + (" (cell timeout)" if timed_out else ""))

    print_table()
    report_reuse(pre)
    log(f"built in {time.time() - t0:.0f} s; open {HTML / 'index.html'} "
        f"(or `python -m http.server -d {HTML.relative_to(ROOT)}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
