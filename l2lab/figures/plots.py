"""Plotly figures for the l2lab book: one look, and sliders that work in a static page.

The book is static HTML (no kernel behind it), so interactivity comes from plotly itself: a
figure carries every precomputed curve as a *frame*, and a plotly slider steps through them in
the reader's browser. :func:`slider_figure` builds such a figure; :func:`line` is a plain
multi-curve figure; :func:`traces` turns ``x`` and a dict of curves into the list of
``go.Scatter`` traces that a frame holds.

All figures share :data:`TEMPLATE` (white background, light grid, the same colour cycle), so a
curve keeps its colour across frames and across chapters. Nothing here changes plotly's global
state: the template is passed to each figure, never registered as the default.

Labels are plain text (use Unicode: ``"γ"``, ``"λ"``, ``"η"``, ``"t·λ"``) with plotly's HTML
subset for indices and exponents (``"σ<sub>w</sub>"``, ``"e<sup>−2λt</sup>"``), never a raw
``_`` or ``^``: LaTeX in plotly labels needs MathJax 2 with SVG output, which the book does not
load.

Axes (:func:`finish`, which :func:`style`, :func:`place_title` and :func:`slider_figure` call):
numbers as powers of ten (``exponentformat="power"``), never SI prefixes (``100μ``, ``20k``); a
log axis spanning a decade or more has a tick at each power of ten only (``dtick=1``, no 2-9
labels between them).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import plotly.graph_objects as go

from l2lab import _checks

__all__ = [
    "COLORS",
    "TEMPLATE",
    "axis_range",
    "finish",
    "frame_label",
    "line",
    "slider_figure",
    "style",
    "traces",
]

#: Colour cycle of every l2lab figure (plotly's "D3" qualitative palette).
COLORS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)

#: The shared look: plotly_white, a readable font, the colour cycle above, a legend on top
#: (with the figure's title as its own title: see :func:`style`).
TEMPLATE: go.layout.Template = go.layout.Template(
    layout=go.Layout(
        font=dict(family="Helvetica, Arial, sans-serif", size=14),
        colorway=list(COLORS),
        paper_bgcolor="white",
        plot_bgcolor="white",
        xaxis=dict(showline=True, linecolor="#444", gridcolor="#e5e5e5", zeroline=False,
                   ticks="outside", mirror=True, exponentformat="power"),
        yaxis=dict(showline=True, linecolor="#444", gridcolor="#e5e5e5", zeroline=False,
                   ticks="outside", mirror=True, exponentformat="power"),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        margin=dict(l=70, r=20, t=80, b=60),
        hovermode="closest",
    )
)

_PAD = 0.04  # fraction of the data span added on each side by axis_range


def _check_range(value: Any, name: str) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be None or a pair of numbers (lo, hi), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be a finite pair with lo < hi, got {value!r}")
    return lo, hi


def _as_1d(value: Any, name: str) -> np.ndarray:
    """``value`` as a 1-D float64 array (NaN allowed: plotly leaves a gap there)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of real numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def frame_label(value: Any) -> str:
    """The slider label and frame name of a frame key.

    Strings are kept; real numbers are written with ``format(value, "g")`` (``0.001`` -> ``"0.001"``,
    ``1e-05`` -> ``"1e-05"``, ``3`` -> ``"3"``). Anything else raises ``TypeError``.
    """
    if isinstance(value, str):
        if not value:
            raise ValueError("frame labels must be non-empty strings")
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.integer, np.floating)):
        raise TypeError(f"frame labels must be str or real numbers, got {type(value).__name__}")
    return format(float(value) if isinstance(value, (float, np.floating)) else int(value), "g")


def axis_range(values: Sequence[np.ndarray] | np.ndarray, *, log: bool = False,
               pad: float = _PAD) -> list[float] | None:
    """Axis range covering every finite value (positive ones on a log axis), padded.

    Args:
      values: arrays (any shapes) whose finite entries the range must cover.
      log: if True, the range is in log10 units, as plotly expects for ``type="log"`` axes,
        and non-positive values are ignored.
      pad: fraction of the span added on each side (>= 0).

    Returns:
      ``[lo, hi]`` (floats; log10 units if ``log``), or None when no value qualifies. A
      constant series gets a span of 1 (linear) or one decade (log) around it.
    """
    log = _checks.boolean("log", log)
    if not isinstance(pad, Real) or not pad >= 0:
        raise ValueError(f"pad must be a number >= 0, got {pad!r}")
    if isinstance(values, np.ndarray):
        values = [values]
    parts = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    flat = np.concatenate(parts) if parts else np.zeros(0)
    flat = flat[np.isfinite(flat)]
    if log:
        flat = np.log10(flat[flat > 0])
    if flat.size == 0:
        return None
    lo, hi = float(flat.min()), float(flat.max())
    if hi == lo:
        return [lo - 0.5, hi + 0.5]
    span = hi - lo
    return [lo - pad * span, hi + pad * span]


def traces(x: Any, ys: Mapping[str, Any], *, mode: str = "lines",
           dash: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None,
           showlegend: bool = True) -> list[go.Scatter]:
    """One ``go.Scatter`` per entry of ``ys``, all over the same ``x``.

    Args:
      x: shape ``(n,)``, real numbers.
      ys: ordered mapping ``name -> y`` with each ``y`` of shape ``(n,)``; ``name`` becomes the
        legend entry. Curve ``i`` gets colour ``COLORS[i % 10]`` unless ``colors`` says otherwise,
        so the same dict order gives the same colours in every frame.
      mode: plotly scatter mode, e.g. ``"lines"``, ``"markers"``, ``"lines+markers"``.
      dash: optional ``name -> dash style`` (``"dash"``, ``"dot"``, ...).
      colors: optional ``name -> colour``.
      showlegend: whether the curves appear in the legend.

    Returns:
      A list of ``len(ys)`` traces with float64 data.
    """
    xs = _as_1d(x, "x")
    if not isinstance(ys, Mapping):
        raise TypeError(f"ys must be a mapping name -> array, got {type(ys).__name__}")
    if len(ys) == 0:
        raise ValueError("ys must contain at least one curve")
    mode = _checks.string("mode", mode)
    if not mode:
        raise ValueError("mode must be a non-empty plotly scatter mode")
    showlegend = _checks.boolean("showlegend", showlegend)
    for opt_name, opt in (("dash", dash), ("colors", colors)):
        if opt is not None:
            if not isinstance(opt, Mapping):
                raise TypeError(f"{opt_name} must be None or a mapping name -> str")
            unknown = set(opt) - set(ys)
            if unknown:
                raise ValueError(f"{opt_name} names curves not in ys: {sorted(map(str, unknown))}")
    out = []
    for i, (name, y) in enumerate(ys.items()):
        _checks.string("ys key", name)
        yv = _as_1d(y, f"ys[{name!r}]")
        if yv.shape != xs.shape:
            raise ValueError(f"ys[{name!r}] has shape {yv.shape}, x has shape {xs.shape}")
        line_style: dict[str, str] = {"color": (colors or {}).get(name, COLORS[i % len(COLORS)])}
        if dash and name in dash:
            line_style["dash"] = dash[name]
        kwargs: dict[str, Any] = dict(x=xs, y=yv, name=name, mode=mode, showlegend=showlegend)
        if "lines" in mode:
            kwargs["line"] = line_style
        if "markers" in mode:
            kwargs["marker"] = {"color": line_style["color"]}
        out.append(go.Scatter(**kwargs))
    return out


def style(fig: go.Figure, *, title: str = "", xaxis: str = "", yaxis: str = "",
          log_x: bool = False, log_y: bool = False, height: int | None = None) -> go.Figure:
    """Apply :data:`TEMPLATE`, the title, axis titles and axis types to ``fig`` (in place).

    Returns ``fig`` for chaining.
    """
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    title = _checks.string("title", title)
    xaxis = _checks.string("xaxis", xaxis)
    yaxis = _checks.string("yaxis", yaxis)
    log_x = _checks.boolean("log_x", log_x)
    log_y = _checks.boolean("log_y", log_y)
    if height is not None and (isinstance(height, bool) or not isinstance(height, int)
                               or height < 100):
        raise ValueError(f"height must be None or an int >= 100 (pixels), got {height!r}")
    fig.update_layout(
        template=TEMPLATE,
        xaxis=dict(title=dict(text=xaxis), type="log" if log_x else "linear"),
        yaxis=dict(title=dict(text=yaxis), type="log" if log_y else "linear"),
    )
    if height is not None:
        fig.update_layout(height=height)
    return place_title(fig, title)


def note_if_empty(fig: go.Figure, text: str) -> go.Figure:
    """``fig`` with ``text`` written across its plot area when it has no data to draw (no trace
    and no shape), e.g. "No run trained": a reader sees why the figure is blank. In place;
    returns ``fig``."""
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    text = _checks.string("text", text, nonempty=True)
    if not fig.data and not fig.layout.shapes:
        fig.add_annotation(text=text, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                           font=dict(size=14, color="#555"))
    return fig


def title_of(fig: go.Figure) -> str:
    """The title :func:`style` gave ``fig``, wherever it placed it (plot title or legend title)."""
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    return fig.layout.title.text or fig.layout.legend.title.text or ""


def _shows_legend(fig: go.Figure) -> bool:
    """Whether plotly draws a legend for ``fig`` (plotly.js's rule: more than one trace, or a
    single trace that sets ``showlegend=True`` itself, as :func:`traces` does, unless
    ``layout.showlegend`` says otherwise; traces with ``showlegend=False`` have no entry)."""
    entries = [t for t in fig.data if t.showlegend is not False]
    default = len(fig.data) > 1 or any(t.showlegend is True for t in fig.data)
    shown = fig.layout.showlegend if fig.layout.showlegend is not None else default
    return bool(shown and entries)


def place_title(fig: go.Figure, title: str | None = None) -> go.Figure:
    """Title and legend that never overlap, at any width (a phone's 412 px included).

    :func:`style` calls it; call it again after adding traces to a styled figure (a legend may
    appear). ``title``: default the figure's current title (:func:`title_of`). Returns ``fig``.

    With a legend, the title is the legend's own title, on the line above its entries: the
    legend sits above the plot area and pushes the top margin as its entries wrap onto more
    lines, so title, entries and data never cover each other. Without one, the title sits at
    the top left and pushes the margin itself.
    """
    title = title_of(fig) if title is None else _checks.string("title", title)
    if _shows_legend(fig):
        fig.update_layout(title=dict(text=""),
                          legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left",
                                      x=0.0,
                                      title=dict(text=title, side="top", font=dict(size=16))),
                          margin=dict(t=30))
    else:
        fig.update_layout(legend=dict(title=dict(text="")))
        fig.update_layout(title=dict(text=title, x=0.0, xanchor="left", yref="container", y=1.0,
                                     yanchor="top", pad=dict(t=10), automargin=True),
                          margin=dict(t=40))
    return finish(fig)


_AXIS_RE = re.compile(r"([xy])axis(\d*)")


def _axis_data(fig: go.Figure, letter: str, suffix: str) -> list[np.ndarray]:
    """The values on axis ``<letter>axis<suffix>`` of every trace, in the data and the frames."""
    ref = letter + suffix
    traces_ = list(fig.data) + [tr for fr in (fig.frames or ()) for tr in (fr.data or ())]
    out = []
    for tr in traces_:
        if (getattr(tr, f"{letter}axis", None) or letter) == ref:
            out.append(_trace_arrays(tr, letter))
    return out


def finish(fig: go.Figure) -> go.Figure:
    """Tick labels of every axis of ``fig`` (in place; returns ``fig``).

    Every axis writes its numbers as powers of ten (``exponentformat="power"``: ``10⁻⁴``, never
    the SI ``100μ``). A log axis whose range (its fixed ``range``, else its data) spans a decade
    or more gets ``dtick=1``: a tick at each power of ten and no minor tick labels (2-9) between
    them. :func:`style` and :func:`place_title` call it: call it again after making an axis
    logarithmic by hand.
    """
    if not isinstance(fig, go.Figure):
        raise TypeError(f"fig must be a plotly.graph_objects.Figure, got {type(fig).__name__}")
    names = {"xaxis", "yaxis"} | {k for k in fig.layout.to_plotly_json() if _AXIS_RE.fullmatch(k)}
    for name in sorted(names):
        letter, suffix = _AXIS_RE.fullmatch(name).groups()
        axis = fig.layout[name]
        axis.exponentformat = "power"
        if axis.type != "log":
            continue
        if axis.range is not None and axis.autorange is False:
            span = float(axis.range[1]) - float(axis.range[0])
        else:
            rng = axis_range(_axis_data(fig, letter, suffix), log=True, pad=0.0)
            span = 0.0 if rng is None else rng[1] - rng[0]
        if span >= 1.0:
            axis.update(dtick=1, minorloglabels="none")
    return fig


def line(x: Any, ys: Mapping[str, Any], *, title: str = "", xaxis: str = "", yaxis: str = "",
         log_x: bool = False, log_y: bool = False, mode: str = "lines",
         dash: Mapping[str, str] | None = None, height: int | None = None) -> go.Figure:
    """A figure with one curve per entry of ``ys`` over the common ``x`` (shape ``(n,)``).

    See :func:`traces` for ``ys``, ``mode`` and ``dash``; :func:`style` for the rest.
    """
    fig = go.Figure(data=traces(x, ys, mode=mode, dash=dash))
    return style(fig, title=title, xaxis=xaxis, yaxis=yaxis, log_x=log_x, log_y=log_y,
                 height=height)


def _trace_arrays(trace: go.Scatter, axis: str) -> np.ndarray:
    data = trace[axis]
    if data is None:
        return np.zeros(0)
    try:
        return np.asarray(data, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return np.zeros(0)  # categorical data: no numeric range to fix


def _check_frames(frames: Mapping[Any, Sequence[go.Scatter]]) -> tuple[list, list]:
    """``(names, traces)`` of each frame of :func:`slider_figure`, checked: distinct labels, a
    non-empty list of ``go.Scatter`` each, the same number of traces in every frame."""
    names: list[str] = []
    frame_traces: list[list[go.Scatter]] = []
    signature: list[str] | None = None
    for label, trs in frames.items():
        name = frame_label(label)
        if name in names:
            raise ValueError(f"frames has two labels that both read {name!r}")
        if isinstance(trs, (str, bytes)) or not isinstance(trs, Sequence):
            raise TypeError(f"frames[{label!r}] must be a list of plotly traces")
        if len(trs) == 0:
            raise ValueError(f"frames[{label!r}] must contain at least one trace")
        for tr in trs:
            if not isinstance(tr, go.Scatter):
                raise TypeError(f"frames[{label!r}] must contain go.Scatter traces, got "
                                f"{type(tr).__name__}")
        sig = [tr.type for tr in trs]
        if signature is None:
            signature = sig
        elif len(sig) != len(signature):
            raise ValueError(f"frames[{label!r}] has {len(sig)} traces, the first frame has "
                             f"{len(signature)}: every frame needs the same traces")
        names.append(name)
        frame_traces.append(list(trs))
    return names, frame_traces


def _add_slider(fig: go.Figure, names: list, active: int, slider_label: str) -> go.Figure:
    """``fig`` with one slider whose step ``i`` animates (zero duration) to frame ``names[i]``."""
    steps = [
        dict(
            method="animate",
            label=name,
            args=[[name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                           "transition": {"duration": 0}}],
        )
        for name in names
    ]
    fig.update_layout(
        sliders=[dict(
            active=active,
            steps=steps,
            currentvalue=dict(prefix=f"{slider_label} = ", font=dict(size=14)),
            pad=dict(t=50, b=10),
            x=0.0, len=1.0,
        )],
    )
    return fig


def _fix_ranges(fig: go.Figure, frame_traces: list, active: int, x_range, y_range,
                log_x: bool, log_y: bool) -> None:
    """The axis ranges of :func:`slider_figure` (see there), in place."""
    def fixed(rng, axis, log):
        if rng is not None:
            return [math.log10(rng[0]), math.log10(rng[1])] if log else list(rng)
        return axis_range([_trace_arrays(tr, axis) for trs in frame_traces for tr in trs],
                          log=log)

    xr, yr = fixed(x_range, "x", log_x), fixed(y_range, "y", log_y)
    if x_range is None:
        # frames that cover different x (runs of different lengths): each frame fits its own
        per_frame = [axis_range([_trace_arrays(tr, "x") for tr in trs], log=log_x)
                     for trs in frame_traces]
        if None not in per_frame and len({tuple(r) for r in per_frame}) > 1:
            for frame, rng in zip(fig.frames, per_frame):
                frame.layout = go.Layout(xaxis=dict(range=rng, autorange=False))
            xr = per_frame[active]
    if xr is not None:
        fig.update_xaxes(range=xr, autorange=False)
    if yr is not None:
        fig.update_yaxes(range=yr, autorange=False)


def slider_figure(frames: Mapping[Any, Sequence[go.Scatter]], *, slider_label: str,
                  title: str = "", xaxis: str = "", yaxis: str = "", log_x: bool = False,
                  log_y: bool = False, active: int = 0,
                  x_range: tuple[float, float] | None = None,
                  y_range: tuple[float, float] | None = None,
                  height: int | None = None) -> go.Figure:
    """A figure whose slider steps through precomputed frames, in plain static HTML.

    Each entry of ``frames`` is one slider position: ``label -> traces``. The figure's initial
    data is the ``active`` frame; every frame is stored as a ``go.Frame`` named
    :func:`frame_label` ``(label)``, and slider step ``i`` animates (with zero duration) to frame
    ``i``. Plotly replaces traces by position, so every frame must hold the same number of traces
    of the same types, in the same order (build them with :func:`traces` from dicts with the
    same keys).

    The y axis does not rescale while the slider moves: unless ``y_range`` is given, it is fixed
    to cover every frame's finite data (positive data on a log axis). So is the x axis, unless
    the frames cover different x (e.g. runs of different lengths) and ``x_range`` is not given:
    then each frame carries the x range of its own data (no axis running to 20k steps for a
    frame whose data end at 1.3k).

    Args:
      frames: ordered mapping ``label -> list of go.Scatter`` (at least one frame, at least one
        trace each). Labels are strings or real numbers (e.g. the value of ``gamma / lam``, ``k``
        or ``lam``) and must be distinct once formatted.
      slider_label: what the slider moves, shown as ``"<slider_label> = <label>"``.
      title, xaxis, yaxis: figure and axis titles (plain text).
      log_x, log_y: log axes.
      active: index of the frame shown first.
      x_range, y_range: optional fixed ranges ``(lo, hi)`` in data units (also for log axes).
      height: optional figure height in pixels.

    Returns:
      A ``go.Figure`` with ``len(frames)`` frames and one slider with ``len(frames)`` steps.
    """
    if not isinstance(frames, Mapping):
        raise TypeError(f"frames must be a mapping label -> list of traces, got "
                        f"{type(frames).__name__}")
    if len(frames) == 0:
        raise ValueError("frames must contain at least one frame")
    slider_label = _checks.string("slider_label", slider_label)
    if not slider_label:
        raise ValueError("slider_label must be a non-empty string")
    log_x = _checks.boolean("log_x", log_x)
    log_y = _checks.boolean("log_y", log_y)
    x_range = _check_range(x_range, "x_range")
    y_range = _check_range(y_range, "y_range")
    if isinstance(active, bool) or not isinstance(active, (int, np.integer)):
        raise TypeError(f"active must be an int, got {type(active).__name__}")
    if not 0 <= active < len(frames):
        raise ValueError(f"active must be in [0, {len(frames)}), got {active}")
    for name, rng, log in (("x_range", x_range, log_x), ("y_range", y_range, log_y)):
        if rng is not None and log and rng[0] <= 0:
            raise ValueError(f"{name} must be positive on a log axis, got {rng}")

    names, frame_traces = _check_frames(frames)
    fig = go.Figure(
        data=frame_traces[active],
        frames=[go.Frame(data=trs, name=name) for name, trs in zip(names, frame_traces)],
    )
    style(fig, title=title, xaxis=xaxis, yaxis=yaxis, log_x=log_x, log_y=log_y, height=height)

    _fix_ranges(fig, frame_traces, active, x_range, y_range, log_x, log_y)

    return _add_slider(fig, names, active, slider_label)
