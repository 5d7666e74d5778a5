"""Local Sphinx extension of the l2lab book (Jupyter Book 1.0.4, myst-nb 1.4, Sphinx 7.4).

What it does, so that the built HTML works offline and logs no console error:

* The kernels that execute the chapters (they inherit this process's environment, set by
  :func:`kernel_environment`, which ``tools/build_book.py`` also applies before it executes the
  chapters in parallel) start with ``l2lab_kernel_startup.py`` (``PYTHONSTARTUP``): plotly's
  renderer there writes each figure as ``text/html`` (not the
  ``application/vnd.plotly.v1+json`` output that myst-nb drops) that draws with the global
  ``Plotly`` and holds no copy of plotly.js. Each page with a figure (in a cell output or in
  its saved widget state) loads ``_static/l2lab_js/plotly.min.js`` (copied from the installed
  ``plotly`` package by tools/build_book.py, so it matches the kernels' plotly) with one
  ``<script src>`` in its head, before require.js: the browser caches it across pages, and a
  plain script tag is never an anonymous AMD ``define``. ``L2LAB_STATIC_BUILD=1`` for the
  kernels too (live widgets show inert controls, see ``l2lab.figures.widgets``).
* Removes the ``<script src="https://cdnjs.../mathjax/...">`` tag that plotly's HTML renderer
  puts in front of every figure (the page already loads the book's local MathJax when it has
  math; plotly labels are plain text), in cell outputs and in saved widget state (a figure
  shown inside an ``ipywidgets.Output``).
* Keeps one copy of each script: sphinx-thebe adds its inline settings script
  (``const THEBE_JS_URL = ...``) with ``app.add_js_file(None, body=...)``, which lands both in
  the builder's list (filename ``None``) and, via the registry, a second time (filename
  ``""``); Sphinx's own de-duplication sees two different scripts, and the second ``const`` is
  an ``Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared`` on every
  page.
* Polls the kernel's channels in slices of at most 1 s (same total timeout): a cell that makes
  ipywidgets otherwise sometimes waits for the whole cell timeout although its reply has
  arrived (nbclient issue #312, a missed wake-up of the zmq socket's poll; a fresh poll
  looks at the socket's events first, so slicing bounds the lost time by the slice).
* Writes ``<outdir>/reports/execution.json``: per executed notebook, its runtime, whether it
  succeeded and its error (tools/build_book.py prints it and fails the build on a failure).
* Serves a stylesheet, ``l2lab.css`` (display math scrolls in its own box instead of clipping;
  plotly's mode bar sits above its figure, not over the title and legend), and two small
  scripts of its own (``book/_ext/static``): ``l2lab-mathjax-config.js``
  (every page, before MathJax) gives MathJax 3 the MathJax-2 ``Hub.Queue`` call that the
  ipywidgets manager uses for labels; ``l2lab-widgets-config.js`` (listed in
  ``nb_ipywidgets_js`` before require.js) makes the widget manager load its fonts from the
  book's copy instead of a path relative to the page.
* Fails the build (a Sphinx warning, an error under ``-W``) if a page still references a
  script, stylesheet or font on another host.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from queue import Empty
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# plotly's to_html(include_mathjax="cdn") tag, plus the MathJax-2 config script after it.
_PLOTLY_MATHJAX_RE = re.compile(
    r'<script[^>]*\ssrc="https?://[^"]*mathjax[^"]*"[^>]*>\s*</script>'
    r'(\s*<script[^>]*>\s*if \(window\.MathJax && window\.MathJax\.Hub[^<]*</script>)?',
    re.IGNORECASE,
)
# Anything that makes a browser fetch from another host when the page loads.
_REMOTE_LOAD_RE = re.compile(
    r'<(?:script|link|img|iframe|source|embed)\b[^>]*\s(?:src|href)\s*=\s*["\']'
    r'(?:https?:)?//(?!127\.0\.0\.1|localhost)[^"\']*["\']',
    re.IGNORECASE,
)


_POLL_SLICE_S = 1.0


def patch_channel_polling(slice_s: float = _POLL_SLICE_S) -> None:
    """Make ``AsyncZMQSocketChannel.get_msg(timeout)`` poll in slices of ``slice_s`` seconds.

    The deadline and the result are unchanged (a message, or ``queue.Empty`` once ``timeout``
    has passed; ``timeout=None`` still waits forever). Idempotent.
    """
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg
    if getattr(original, "_l2lab_sliced", False):
        return

    async def get_msg(self, timeout: float | None = None):
        if timeout is not None and timeout <= slice_s:
            return await original(self, timeout=timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_s if deadline is None else min(slice_s, deadline - time.monotonic())
            try:
                return await original(self, timeout=max(left, 0.0))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    get_msg._l2lab_sliced = True  # type: ignore[attr-defined]
    get_msg.__doc__ = original.__doc__
    AsyncZMQSocketChannel.get_msg = get_msg  # type: ignore[method-assign]


def _exception_chain(exc: BaseException | None) -> list[str]:
    names = []
    while exc is not None and len(names) < 10:
        names.append(f"{type(exc).__name__}: {str(exc)[:300]}")
        exc = exc.__cause__ or exc.__context__
    return names


def _write_execution_report(app: Sphinx, exception: Exception | None) -> None:
    """Write ``<outdir>/reports/execution.json``.

    ``{"notebooks": {docname: {source, runtime_s, succeeded, error, method}},
    "exception": [chain of "Type: message"] or [], "reading": docname being read when the build
    stopped, or null}``.
    """
    if app.builder.format != "html":
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    notebooks = {}
    for docname, data in sorted(NbMetadataCollector.get_doc_data(app.env).items()):
        exec_data = data.get("exec_data")
        if not exec_data:
            continue
        notebooks[docname] = {
            "source": str(app.env.doc2path(docname, base=False)),
            "runtime_s": exec_data.get("runtime"),
            "succeeded": bool(exec_data.get("succeeded")),
            "error": exec_data.get("error"),
            "method": exec_data.get("method"),
        }
    report = {
        "notebooks": notebooks,
        "exception": _exception_chain(exception),
        "reading": app.env.temp_data.get("docname") if exception is not None else None,
    }
    out = Path(app.outdir, "reports", "execution.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf8")


KERNEL_STARTUP = Path(__file__).resolve().parent / "l2lab_kernel_startup.py"
#: Where the page loads plotly.js from, relative to ``_static`` (tools/build_book.py copies it
#: into ``_build/local_js/l2lab_js``, an ``html_static_path``).
PLOTLY_JS = "l2lab_js/plotly.min.js"
# After l2lab-mathjax-config.js (400), before require.js and the widget manager (500).
_PLOTLY_JS_PRIORITY = 450
_FIGURE_RE = re.compile(r'class=\\?"plotly-graph-div\\?"')


def kernel_environment() -> dict[str, str]:
    """Environment variables for the kernels that execute the chapters (see the module
    docstring). ``PLOTLY_RENDERER`` is not among them: it must be unset (plotly would activate
    that renderer instead, and it cannot name the startup file's renderer)."""
    return {
        "PYTHONSTARTUP": str(KERNEL_STARTUP),
        # l2lab.figures.widgets: live widgets show inert controls (no plot in the widget state)
        "L2LAB_STATIC_BUILD": "1",
    }


def apply_kernel_environment(environ: Any = os.environ) -> None:
    """Set :func:`kernel_environment` in ``environ`` and remove ``PLOTLY_RENDERER``."""
    environ.pop("PLOTLY_RENDERER", None)
    environ.update(kernel_environment())


def _set_kernel_environment(app: Sphinx, config: Any) -> None:
    apply_kernel_environment()


def _page_has_figure(app: Sphinx, pagename: str, body: str) -> bool:
    """Whether the page draws a plotly figure: in its body or in its saved widget state (the
    HTML of an ``ipywidgets.Output``, where quotes are JSON-escaped)."""
    if _FIGURE_RE.search(body or ""):
        return True
    from myst_nb.sphinx_ import NbMetadataCollector

    entry = NbMetadataCollector.get_js_files(app.env, pagename).get("ipywidgets_state")
    return bool(entry and _FIGURE_RE.search(entry[1].get("body") or ""))


def _plotly_js_found(app: Sphinx) -> bool:
    for folder in app.config.html_static_path:
        if Path(app.confdir, folder, PLOTLY_JS).is_file():
            return True
    return False


def _add_plotly_js(app: Sphinx, pagename: str, templatename: str, context: dict,
                   doctree: Any) -> None:
    """Load the book's plotly.js (once, in the head) on a page that has a figure."""
    if app.builder.format != "html" or not _page_has_figure(app, pagename, context.get("body")):
        return
    if not _plotly_js_found(app):
        logger.warning("[l2lab_book] page %s has a plotly figure but no html_static_path holds "
                       "%s (tools/build_book.py copies it there)", pagename, PLOTLY_JS,
                       type="l2lab_book", subtype="plotly")
    app.add_js_file(PLOTLY_JS, priority=_PLOTLY_JS_PRIORITY)


def _strip_plotly_mathjax(app: Sphinx, doctree: nodes.document) -> None:
    for node in doctree.findall(nodes.raw):
        if "html" not in node.get("format", "").split():
            continue
        text = node.astext()
        new = _PLOTLY_MATHJAX_RE.sub("", text)
        if new != text:
            node.children = [nodes.Text(new)]
            node.rawsource = new


def _clean_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _PLOTLY_MATHJAX_RE.sub("", value)
    if isinstance(value, list):
        return [_clean_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean_strings(v) for k, v in value.items()}
    return value


def _strip_widget_state_mathjax(app: Sphinx, doctree: nodes.document) -> None:
    """The same for the page's saved widget state (myst-nb keeps it in the environment)."""
    from myst_nb.core.render import sanitize_script_content
    from myst_nb.sphinx_ import NbMetadataCollector

    js_files = NbMetadataCollector.get_js_files(app.env, app.env.docname)
    entry = js_files.get("ipywidgets_state")
    if not entry or not entry[1].get("body"):
        return
    uri, kwargs = entry
    state = json.loads(kwargs["body"])  # "<\/script>" is a valid JSON escape of "</script>"
    cleaned = _clean_strings(state)
    if cleaned != state:
        body = sanitize_script_content(json.dumps(cleaned))
        js_files["ipywidgets_state"] = (uri, {**kwargs, "body": body})


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                    doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    kept = []
    for js in scripts:
        if isinstance(js, str):
            key: tuple = (js, ())
        else:  # sphinx.builders.html._assets._JavaScript; priority ignored on purpose, and an
            # inline script's filename is None in one copy and "" in the other
            attrs = tuple(sorted((k, str(v)) for k, v in js.attributes.items()))
            key = (str(js.filename or ""), attrs)
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    if len(kept) != len(scripts):
        scripts[:] = kept  # in place: it is the builder's list, later handlers append to it


def _check_no_remote_loads(app: Sphinx, pagename: str, templatename: str, context: dict,
                           doctree: Any) -> None:
    found = [m.group(0)[:200] for m in _REMOTE_LOAD_RE.finditer(context.get("body") or "")]
    for asset in list(context.get("script_files") or []) + list(context.get("css_files") or []):
        name = str(getattr(asset, "filename", asset) or "")
        if "://" in name or name.startswith("//"):
            found.append(name)
        attrs = getattr(asset, "attributes", {}) or {}
        if attrs.get("type") == "application/vnd.jupyter.widget-state+json" and attrs.get("body"):
            # HTML that the widget manager will insert (e.g. an Output widget's outputs)
            text = json.dumps(json.loads(attrs["body"]), ensure_ascii=False)
            text = text.replace('\\"', '"')
            found += [m.group(0)[:200] for m in _REMOTE_LOAD_RE.finditer(text)]
    for item in found:
        logger.warning("[l2lab_book] page %s loads from another host: %s", pagename, item,
                       type="l2lab_book", subtype="remote")


_STATIC = Path(__file__).resolve().parent / "static"


def _add_static_path(app: Sphinx) -> None:
    if str(_STATIC) not in app.config.html_static_path:
        app.config.html_static_path.append(str(_STATIC))


def setup(app: Sphinx) -> dict[str, Any]:
    # config-inited runs before myst-nb executes any notebook (that happens while reading).
    app.connect("config-inited", _set_kernel_environment)
    app.connect("doctree-read", _strip_plotly_mathjax)
    app.connect("doctree-read", _strip_widget_state_mathjax)
    app.connect("build-finished", _write_execution_report)
    app.connect("builder-inited", _add_static_path)
    # Sync and before Sphinx's MathJax script (priority 500, deferred).
    app.add_js_file("l2lab-mathjax-config.js", priority=400)
    app.add_css_file("l2lab.css")  # math that scrolls instead of clipping, figure mode bars
    patch_channel_polling()
    # Before the default priority (500): Sphinx emits html-page-context with emit_firstresult,
    # and a theme handler at 500/501 returns a value, so later handlers never run.
    app.connect("html-page-context", _dedupe_scripts, priority=450)
    app.connect("html-page-context", _check_no_remote_loads, priority=450)
    app.connect("html-page-context", _add_plotly_js, priority=450)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
