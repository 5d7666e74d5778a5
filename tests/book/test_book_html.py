"""Every built page of the book, opened in headless Chromium, works offline and logs no error.

For each ``*.html`` page under ``_build/html`` (served from 127.0.0.1 by a local HTTP server) the
test drives Chromium over the DevTools protocol (``--remote-debugging-pipe``: no websocket, no
extra package) and fails on

* any JavaScript error: an uncaught exception, ``console.error``, or a browser log entry of level
  ``error`` (e.g. a resource that failed to load);
* a page over 1.5 MB, or one that inlines plotly.js or loads it other than once from
  ``_static/l2lab_js/plotly.min.js`` (static checks of the HTML);
* any request to a non-local address (the page must need no internet);
* a plotly figure that did not draw (plotly.js must come once from ``_static/l2lab_js``):
  each ``.plotly-graph-div`` must hold a ``main-svg`` with at
  least one data trace, and a figure with a slider must redraw when moved to its last frame;
* an ipywidgets view that the local widget manager did not render, or math that the local
  MathJax did not typeset or typeset as an error (``mjx-merror``, e.g. a ``\\tag`` where
  MathJax allows none).

* at both window widths, 1280 px and a phone's 412 px: display math wider than its parent (unless it
  scrolls inside its own box) or cut off, a page wider than the window, a plotly figure wider
  than its column or whose title, legend, mode bar and plot area overlap; at 1280 px also any
  code cell that scrolls sideways.

A full-page PNG screenshot of every page at both widths goes to ``_build/screenshots/`` (kept by
CI; ``<page>__w412.png`` is the phone width).

Without ``_build/html`` (run ``make book`` first) or without Chromium the test is skipped, except
when ``CI=true``, where it fails.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import select
import shutil
import signal
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--window-size=1280,900", "--remote-debugging-pipe", "--hide-scrollbars",
]
PAGE_TIMEOUT_S = 30.0
#: The most a built page may weigh (plotly.js is a shared static file, not part of a page).
MAX_PAGE_BYTES = 1_500_000
#: Where pages load plotly.js from, under ``_static`` (book/_ext/l2lab_book.py, PLOTLY_JS).
PLOTLY_JS = "l2lab_js/plotly.min.js"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the book must be built and Chromium installed)")
    pytest.skip(reason)


def _find_chromium() -> str | None:
    for cand in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def _is_redirect_stub(path: Path) -> bool:
    text = path.read_text(encoding="utf8", errors="replace")
    return len(text) < 2000 and 'http-equiv="Refresh"' in text.replace("refresh", "Refresh")


def _pages() -> list[str]:
    if not HTML.is_dir():
        return []
    skip_dirs = {"_static", "_sources", "reports", "_images", "jupyter_execute"}
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if not (skip_dirs & set(p.relative_to(HTML).parts)))


PAGES = _pages()


# --------------------------------------------------------------------------------------------
# A minimal DevTools-protocol client over --remote-debugging-pipe (fd 3: to Chrome, fd 4: from).
# --------------------------------------------------------------------------------------------
class CDPError(RuntimeError):
    pass


class Browser:
    def __init__(self, chromium: str, user_data_dir: Path, log_path: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        self._log = open(log_path, "wb")
        argv = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"]
        self.pid = os.posix_spawn(chromium, argv, dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, to_chrome_r, 3),
            (os.POSIX_SPAWN_DUP2, from_chrome_w, 4),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
        ], setpgroup=0)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    # -- transport --
    def _read_message(self, deadline: float) -> dict | None:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise CDPError("Chromium closed the DevTools pipe (crashed?)")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = PAGE_TIMEOUT_S) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply is None:
                raise CDPError(f"no reply to {method} within {timeout} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (msg := self._read_message(deadline)) is not None:
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, session: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if ev["method"] == method and ev.get("sessionId") == session:
                    return ev
            seen = len(self.events)
            msg = self._read_message(deadline)
            if msg is None:
                return None
            if "method" in msg:
                self.events.append(msg)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (CDPError, OSError):
            pass
        for _ in range(50):
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.1)
        else:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server():
    if not HTML.is_dir():
        _skip_or_fail(f"{HTML} does not exist: run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = _find_chromium()
    if chromium is None:
        _skip_or_fail("Chromium not found (Debian: apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("chromium")
    b = Browser(chromium, tmp / "profile", tmp / "chromium.log")
    try:
        b.call("Browser.getVersion", timeout=60)
    except CDPError:
        b.close()
        raise
    yield b
    b.close()


# JavaScript evaluated in the page: what has rendered so far.
_STATUS_JS = r"""
(() => {
  const plots = Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
    id: d.id,
    mainSvg: d.querySelectorAll('svg.main-svg').length,
    traces: d.querySelectorAll('g.trace, g.hm, .imagelayer image').length,
    data: (d.data || []).length,
    sliders: ((d.layout || {}).sliders || []).length,
    frames: ((d._transitionData || {})._frames || []).length,
  }));
  const widgetViews = document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]').length;
  // the widget manager renders each view into a new div.widget-subarea before its script
  const widgetsDrawn = Array.from(document.querySelectorAll('div.widget-subarea'))
      .filter(d => d.firstElementChild !== null).length;
  const math = document.querySelectorAll('.math, span.math, div.math').length;
  const mathDone = document.querySelectorAll('mjx-container').length;
  const plotlyScripts = Array.from(document.scripts)
      .filter(s => /plotly[^/]*\.js/.test(s.src)).map(s => s.src);
  return {plots, widgetViews, widgetsDrawn, math, mathDone, plotlyScripts,
          ready: document.readyState, plotly: typeof window.Plotly};
})()
"""

# Move a figure's first slider to its last step; compare the drawn data with that frame's data
# (plotly >= 6 stores numpy arrays as {dtype, bdata}: decoded here).
_SLIDER_JS = r"""
(async (id) => {
  const types = {f8: Float64Array, f4: Float32Array, i1: Int8Array, u1: Uint8Array,
                 i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
  const values = (v) => {
    if (v && v.bdata !== undefined) {
      const bin = atob(v.bdata), bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return Array.from(new types[v.dtype](bytes.buffer));
    }
    return Array.from(v || []);
  };
  const same = (a, b) => a.length === b.length &&
      a.every((x, i) => Math.abs(x - b[i]) <= 1e-12 * Math.max(1, Math.abs(b[i])));
  const d = document.getElementById(id);
  const steps = d.layout.sliders[0].steps;
  const before = d.data.map(t => values(t.y));
  const step = steps[steps.length - 1];
  await Plotly.animate(d, step.args[0], Object.assign({}, step.args[1],
      {frame: {duration: 0, redraw: true}, transition: {duration: 0}}));
  const frame = d._transitionData._frames.find(f => f.name === step.args[0][0]);
  const after = d.data.map(t => values(t.y));
  const want = frame.data.map(t => values(t.y));
  return {steps: steps.length,
          changed: !before.every((y, i) => same(y, after[i])),
          matches: want.length === after.length && want.every((y, i) => same(after[i], y)),
          mainSvg: d.querySelectorAll('svg.main-svg').length};
})
"""


# What does not fit: display math wider than its parent (unless it scrolls in its own box) or
# cut off at its left edge, code cells that scroll sideways, a page wider than the window, and
# plotly figures whose title, legend, mode bar and plot area overlap or leave the figure.
_LAYOUT_JS = r"""
(() => {
  const R = (el) => el.getBoundingClientRect();
  const union = (els) => {
    const rs = Array.from(els).map(R).filter(r => r.width > 0 && r.height > 0);
    if (!rs.length) return null;
    return {left: Math.min(...rs.map(r => r.left)), right: Math.max(...rs.map(r => r.right)),
            top: Math.min(...rs.map(r => r.top)), bottom: Math.max(...rs.map(r => r.bottom))};
  };
  const hits = (a, b) => a && b && a.left < b.right - 1 && b.left < a.right - 1 &&
                         a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1;
  const label = (el) => (el.textContent || "").trim().slice(0, 60);
  const math = [];
  for (const c of document.querySelectorAll('mjx-container[display="true"]')) {
    const cr = R(c), pr = R(c.parentElement);
    const ov = getComputedStyle(c).overflowX, scrolls = ov === "auto" || ov === "scroll";
    const content = union(c.querySelectorAll(":scope > mjx-math, mjx-labels"));
    const why = [];
    if (!inside(cr, pr)) why.push(`container ${cr.width.toFixed(0)} px in a ${pr.width.toFixed(0)} px parent`);
    if (content && content.left < cr.left - 1) why.push("left part cut off");
    if (content && content.right > cr.right + 1 && !scrolls) why.push("right part cut off");
    if (why.length) math.push(`${why.join(", ")}: ${label(c)}`);
  }
  const code = [];
  for (const pre of document.querySelectorAll("div.cell_input pre, div.cell_input div.highlight pre")) {
    if (pre.scrollWidth > pre.clientWidth + 1)
      code.push(`${pre.scrollWidth} px of code in ${pre.clientWidth} px: ${label(pre).slice(0, 40)}`);
  }
  const outputs = [];
  for (const pre of document.querySelectorAll("div.cell_output pre")) {
    if (pre.scrollWidth > pre.clientWidth + 1)
      outputs.push(`${pre.scrollWidth} px of output in ${pre.clientWidth} px: ${label(pre).slice(0, 40)}`);
  }
  // a chapter's findings: the first thing after its title (issue 17), in view without scrolling
  const h1 = document.querySelector("article.bd-article h1");
  let findings = null;
  if (h1) {
    const next = h1.nextElementSibling;
    const title = next && next.querySelector(":scope > .admonition-title");
    findings = {first: !!(next && next.classList.contains("admonition") && title &&
                          title.textContent.trim() === "Findings"),
                next: next ? `${next.tagName.toLowerCase()}.${next.className}: ${label(next).slice(0, 50)}` : "",
                top: next ? R(next).top + window.scrollY : null};
  }
  const figures = [];
  for (const d of document.querySelectorAll(".plotly-graph-div")) {
    const fr = R(d), pr = R(d.parentElement);
    const title = union(d.querySelectorAll(".g-gtitle text, .legendtitletext"));
    const legend = union(d.querySelectorAll("g.legend"));
    const modebar = union(d.querySelectorAll(".modebar"));
    const area = union(d.querySelectorAll("rect.nsewdrag"));
    const why = [];
    if (!inside(fr, pr)) why.push(`figure ${fr.width.toFixed(0)} px in a ${pr.width.toFixed(0)} px column`);
    if (title && !inside(title, fr)) why.push("title leaves the figure");
    if (legend && !inside(legend, fr)) why.push("legend leaves the figure");
    const gtitle = union(d.querySelectorAll(".g-gtitle text"));
    if (hits(gtitle, legend)) why.push("title overlaps the legend");
    if (hits(title, modebar)) why.push("title under the mode bar");
    if (hits(legend, modebar)) why.push("legend under the mode bar");
    if (hits(legend, area)) why.push("legend covers the plot area");
    if (hits(gtitle, area)) why.push("title covers the plot area");
    if (why.length) figures.push(`${d.id}: ${why.join(", ")}`);
  }
  const page = document.documentElement.scrollWidth > window.innerWidth + 1
      ? [`page is ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`] : [];
  // formulas MathJax could not typeset (it shows their error message in place of the math)
  const mathErrors = Array.from(document.querySelectorAll("mjx-merror"))
      .map(e => (e.getAttribute("data-mjx-error") || label(e)).slice(0, 100));
  return {math, mathErrors, code, outputs, figures, page, findings};
})()
"""


def _evaluate(browser: Browser, session: str, expr: str, await_promise: bool = False):
    res = browser.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                            "awaitPromise": await_promise}, session=session)
    if "exceptionDetails" in res:
        raise AssertionError(f"evaluating page script failed: {res['exceptionDetails']}")
    return res["result"].get("value")


def _problems_from_events(events: list[dict]) -> tuple[list[str], list[str]]:
    """(JavaScript errors, non-local requests) among a page's events."""
    errors, remote = [], []
    for ev in events:
        m, p = ev["method"], ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            det = p.get("exceptionDetails", {})
            text = det.get("exception", {}).get("description") or det.get("text")
            errors.append(f"uncaught: {text} ({det.get('url', '')}:{det.get('lineNumber')})")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            errors.append(f"console.{p['type']}: {args}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            if urllib.parse.urlparse(e.get("url", "")).path == "/favicon.ico":
                continue  # Chromium's own request for the server root's icon, not the page's
            errors.append(f"log: {e.get('text')} {e.get('url', '')}")
        elif m == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            parsed = urllib.parse.urlparse(url)
            if parsed.scheme in ("data", "blob", "about", "chrome", "devtools") or (
                    not parsed.scheme and not parsed.netloc):
                continue
            if parsed.hostname not in LOCAL_HOSTS:
                remote.append(url)
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            errors.append(f"load failed: {p.get('errorText')} ({p.get('type')})")
    return errors, remote


#: Window widths every page is checked at: a laptop, and a phone (412 px, e.g. a Pixel).
WIDTHS = (1280, 412)


def _shot_name(page: str, width: int) -> str:
    suffix = "" if width == 1280 else f"__w{width}"
    return page.replace("/", "__").removesuffix(".html") + suffix + ".png"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES or [None])
def test_page_renders_offline_without_errors(page, width, server, browser):
    if page is None:
        _skip_or_fail(f"no built pages under {HTML}: run `make book` first")
    path = HTML / page
    url = f"{server}/{page}"
    if _is_redirect_stub(path):
        target = re.search(r'url=([^"\']+)', path.read_text(encoding="utf8"), re.I)
        assert target, f"{page}: redirect without a target"
        assert (path.parent / target.group(1).strip()).is_file(), \
            f"{page} redirects to a missing page {target.group(1)}"
        return

    target_id = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget",
                           {"targetId": target_id, "flatten": True})["sessionId"]
    first_event = len(browser.events)
    try:
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.call(f"{domain}.enable", session=session)
        mobile = width < 800
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile},
                     session=session)
        browser.call("Page.navigate", {"url": url}, session=session)
        loaded = browser.wait_event("Page.loadEventFired", session, PAGE_TIMEOUT_S)
        assert loaded is not None, f"{page}: no load event within {PAGE_TIMEOUT_S} s"

        # Wait until every plotly figure, widget and formula has rendered (or time runs out).
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        while True:
            st = _evaluate(browser, session, _STATUS_JS)
            done = (all(p["mainSvg"] > 0 and p["traces"] > 0 for p in st["plots"])
                    and st["widgetsDrawn"] >= st["widgetViews"]
                    and (st["math"] == 0 or st["mathDone"] > 0))
            if done or time.monotonic() > deadline:
                break
            browser.pump(0.25)

        browser.pump(0.5)  # late console messages and requests
        # Full-page screenshot: grow the viewport to the page's height (capturing beyond a
        # small viewport mis-renders pages with wide elements), then capture it.
        metrics = browser.call("Page.getLayoutMetrics", session=session)
        height = max(100, min(int(metrics["cssContentSize"]["height"]), 12000))
        layout = _evaluate(browser, session, _LAYOUT_JS)   # at the window's own height
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                     session=session)
        browser.pump(0.5)  # relayout (plotly resizes with the window)
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
        out = SHOTS / _shot_name(page, width)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))

        slider_results = {}
        for p in st["plots"]:
            if p["sliders"] and p["frames"]:
                slider_results[p["id"]] = _evaluate(
                    browser, session, f"({_SLIDER_JS})({json.dumps(p['id'])})",
                    await_promise=True)
        browser.pump(0.2)
    finally:
        browser.call("Target.closeTarget", {"targetId": target_id})

    events = [e for e in browser.events[first_event:] if e.get("sessionId") == session]
    errors, remote = _problems_from_events(events)
    assert not errors, f"{page}: JavaScript errors:\n" + "\n".join(errors)
    assert not remote, f"{page}: requests to non-local addresses:\n" + "\n".join(remote)
    if st["plots"]:
        scripts = [urllib.parse.urlparse(u).path for u in st["plotlyScripts"]]
        assert len(scripts) == 1 and scripts[0].endswith("/_static/" + PLOTLY_JS), \
            f"{page}: plotly.js must load once from _static/{PLOTLY_JS}, got {scripts}"
    for p in st["plots"]:
        assert p["mainSvg"] > 0, f"{page}: plotly figure {p['id']} has no main-svg (not drawn)"
        assert p["traces"] > 0, f"{page}: plotly figure {p['id']} drew no data trace"
    for pid, res in slider_results.items():
        assert res["changed"] and res["matches"], \
            f"{page}: moving the slider of {pid} did not show its last frame: {res}"
    assert st["widgetsDrawn"] >= st["widgetViews"], (
        f"{page}: {st['widgetViews']} ipywidgets views but {st['widgetsDrawn']} rendered")
    if st["math"]:
        assert st["mathDone"] > 0, f"{page}: {st['math']} math nodes but MathJax rendered none"
    at = f"{page} at {width} px"
    assert not layout["page"], f"{at}: {layout['page']}"
    assert not layout["mathErrors"], f"{at}: MathJax errors: {layout['mathErrors']}"
    assert not layout["math"], f"{at}: display math clips:\n" + "\n".join(layout["math"])
    assert not layout["figures"], f"{at}: figures do not fit:\n" + "\n".join(layout["figures"])
    if width >= 1280:
        assert not layout["code"], f"{at}: code cells scroll sideways:\n" + "\n".join(layout["code"])
        assert not layout["outputs"], f"{at}: outputs scroll sideways:\n" + "\n".join(layout["outputs"])
    if _is_chapter(page):
        found = layout["findings"]
        assert found and found["first"], f"{at}: the findings box is not the first thing after the title: {found}"
        assert found["top"] < 900, f"{at}: the findings box starts below the first screen ({found['top']:.0f} px)"


def _is_chapter(page: str) -> bool:
    """Whether a built page is a chapter (``book/<part>/<name>.html``, not the intro or a report)."""
    return re.fullmatch(r"book/(theory|experiments|applications|related)/\d\d_\w+\.html", page) is not None


def test_built_pages_reference_no_remote_script_or_style():
    """Static check of the HTML: every script/stylesheet/font source is local."""
    if not PAGES:
        _skip_or_fail(f"no built pages under {HTML}: run `make book` first")
    pat = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\s(?:src|href)\s*=\s*["\']'
                     r'((?:https?:)?//[^"\']+)', re.I)
    bad = {}
    for page in PAGES:
        text = (HTML / page).read_text(encoding="utf8", errors="replace")
        found = []
        for m in pat.finditer(text):
            tag = m.group(0)
            # plain links (<a>, <link rel=canonical/...>) are not loads; stylesheets and
            # preloads are
            if tag.lower().startswith("<link") and not re.search(
                    r'rel\s*=\s*["\'](?:stylesheet|preload|modulepreload|icon)', tag, re.I):
                continue
            found.append(m.group(1))
        if found:
            bad[page] = found
    assert not bad, f"remote resources referenced: {bad}"


def test_pages_are_small():
    """Every page is under MAX_PAGE_BYTES: no page carries its own copy of plotly.js."""
    if not PAGES:
        _skip_or_fail(f"no built pages under {HTML}: run `make book` first")
    sizes = {page: (HTML / page).stat().st_size for page in PAGES}
    big = {page: n for page, n in sizes.items() if n > MAX_PAGE_BYTES}
    assert not big, f"pages over {MAX_PAGE_BYTES} bytes: {big}"


_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
_SRC_RE = re.compile(r'\ssrc\s*=\s*["\']([^"\']+)["\']', re.I)


def test_plotly_js_loaded_once_from_static():
    """A page with a figure loads plotly.js exactly once, from ``_static/l2lab_js/plotly.min.js``,
    before require.js, and inlines no copy of it; a page without a figure does not load it."""
    if not PAGES:
        _skip_or_fail(f"no built pages under {HTML}: run `make book` first")
    assert (HTML / "_static" / PLOTLY_JS).is_file(), f"_static/{PLOTLY_JS} was not copied"
    with_figures = 0
    for page in PAGES:
        text = (HTML / page).read_text(encoding="utf8", errors="replace")
        scripts = [(_SRC_RE.search(attrs), body) for attrs, body in _SCRIPT_RE.findall(text)]
        srcs = [m.group(1) for m, _ in scripts if m]
        plotly_srcs = [s for s in srcs if re.search(r"plotly[^/]*\.js", s)]
        inlined = [len(body) for m, body in scripts if m is None and len(body) > 1_000_000]
        assert "plotly.js v" not in text and not inlined, f"{page}: plotly.js inlined {inlined}"
        has_figure = re.search(r'class=\\?"plotly-graph-div', text) is not None
        if not has_figure:
            assert not plotly_srcs, f"{page} has no figure but loads {plotly_srcs}"
            continue
        with_figures += 1
        assert len(plotly_srcs) == 1, f"{page}: plotly.js loaded {len(plotly_srcs)} times"
        src = plotly_srcs[0].split("?")[0]
        assert src.endswith("_static/" + PLOTLY_JS), f"{page}: plotly.js from {src}"
        assert ((HTML / page).parent / src).resolve() == (HTML / "_static" / PLOTLY_JS).resolve()
        require = [i for i, s in enumerate(srcs) if s.split("?")[0].endswith("require.js")]
        if require:   # a plain script after require.js could be taken for an anonymous define()
            assert srcs.index(plotly_srcs[0]) < require[0], f"{page}: plotly.js after require.js"
    assert with_figures, "no built page has a plotly figure"


def test_every_executed_notebook_succeeded():
    """The execution report written by book/_ext/l2lab_book.py lists only successes."""
    report_path = HTML / "reports" / "execution.json"
    if not report_path.is_file():
        _skip_or_fail(f"{report_path} does not exist: run `make book` first")
    report = json.loads(report_path.read_text(encoding="utf8"))
    assert report["exception"] == [], report["exception"]
    assert report["notebooks"], "no notebook was executed"
    failed = {d: r for d, r in report["notebooks"].items() if not r["succeeded"]}
    assert not failed, failed
    assert not list((HTML / "reports").rglob("*.err.log"))


def test_event_classification_flags_errors_and_remote_requests():
    """The checks above read DevTools events; this pins down what counts (no browser needed)."""
    def ev(method, **params):
        return {"method": method, "params": params, "sessionId": "s"}

    events = [
        ev("Network.requestWillBeSent", request={"url": "http://127.0.0.1:8000/_static/a.js"}),
        ev("Network.requestWillBeSent", request={"url": "http://localhost:8000/b.css"}),
        ev("Network.requestWillBeSent", request={"url": "data:image/png;base64,AAAA"}),
        ev("Network.requestWillBeSent", request={"url": "https://cdn.example.org/x.js"}),
        ev("Network.requestWillBeSent", request={"url": "//fonts.example.org/f.woff2"}),
        ev("Log.entryAdded", entry={"level": "error", "text": "404",
                                    "url": "http://127.0.0.1:8000/favicon.ico"}),
        ev("Log.entryAdded", entry={"level": "warning", "text": "slow"}),
        ev("Log.entryAdded", entry={"level": "error", "text": "404",
                                    "url": "http://127.0.0.1:8000/_static/missing.js"}),
        ev("Runtime.consoleAPICalled", type="log", args=[{"value": "fine"}]),
        ev("Runtime.consoleAPICalled", type="error", args=[{"value": "bad"}]),
        ev("Runtime.exceptionThrown", exceptionDetails={
            "text": "Uncaught", "exception": {"description": "SyntaxError: x"}}),
        ev("Network.loadingFailed", canceled=True, errorText="net::ERR_ABORTED"),
    ]
    errors, remote = _problems_from_events(events)
    assert remote == ["https://cdn.example.org/x.js", "//fonts.example.org/f.woff2"]
    assert len(errors) == 3
    assert "missing.js" in errors[0] and "console.error: bad" == errors[1]
    assert "SyntaxError" in errors[2]


_BAD_LAYOUT_PAGE = """<!doctype html><html><body style="margin:0">
<div style="width:300px"><div class="cell_input"><pre style="overflow:auto">""" + "x" * 200 + """</pre></div>
<div class="math"><mjx-container jax="CHTML" display="true" style="display:block;width:600px">
<mjx-math style="display:inline-block;width:600px">wide</mjx-math></mjx-container></div>
<div class="math"><mjx-container jax="CHTML" display="true"
 style="display:block;overflow-x:auto;text-align:right;direction:rtl">
<mjx-math style="display:inline-block;width:500px">clipped left</mjx-math></mjx-container></div>
<div class="math"><mjx-container jax="CHTML" display="true" style="display:block;overflow-x:auto">
<mjx-math style="display:inline-block;width:500px">scrolls: fine</mjx-math></mjx-container></div>
<mjx-container jax="CHTML"><mjx-math><mjx-merror data-mjx-error="\\tag not allowed">x</mjx-merror>
</mjx-math></mjx-container>
</div><div style="width:2000px">wide page</div></body></html>"""


def test_layout_checks_flag_what_does_not_fit(browser):
    """The layout script flags each kind of problem on a hand-made page (and only those)."""
    target_id = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget",
                           {"targetId": target_id, "flatten": True})["sessionId"]
    try:
        browser.call("Page.enable", session=session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 412, "height": 900, "deviceScaleFactor": 1, "mobile": True},
                     session=session)
        frame = browser.call("Page.getFrameTree", session=session)["frameTree"]["frame"]["id"]
        browser.call("Page.setDocumentContent", {"frameId": frame, "html": _BAD_LAYOUT_PAGE},
                     session=session)
        layout = _evaluate(browser, session, _LAYOUT_JS)
    finally:
        browser.call("Target.closeTarget", {"targetId": target_id})
    assert len(layout["code"]) == 1 and "px of code in" in layout["code"][0]
    assert layout["page"] and "2000" in layout["page"][0]
    assert len(layout["math"]) == 2, layout["math"]
    assert "parent" in layout["math"][0] and "wide" in layout["math"][0]
    assert "left part cut off" in layout["math"][1]
    assert layout["figures"] == []
    assert layout["mathErrors"] == ["\\tag not allowed"]
