"""l2lab.plots: frames sliders, traces, ranges and input validation."""
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from l2lab.figures import plots


def _decode(arr):
    """Plotly stores numpy arrays as typed arrays; give them back as float64."""
    return np.asarray(arr, dtype=np.float64)


def _frames(lams=(0.0, 1e-3, 1e-2), ks=(0.1, 1.0)):
    t = np.logspace(-2, 2, 50)
    return t, {lam: plots.traces(t, {f"k={k}": np.exp(-(k + lam) * t) for k in ks})
               for lam in lams}


# ------------------------------------------------------------------ slider_figure
def test_slider_figure_frames_steps_and_data():
    t, frames = _frames()
    fig = plots.slider_figure(frames, slider_label="λ", title="decay", xaxis="t",
                              yaxis="residual", log_x=True)
    names = ["0", "0.001", "0.01"]
    assert [f.name for f in fig.frames] == names
    (slider,) = fig.layout.sliders
    assert len(slider.steps) == 3
    assert slider.currentvalue.prefix == "λ = "
    for step, name in zip(slider.steps, names):
        assert step.method == "animate"
        assert step.label == name
        assert list(step.args[0]) == [name]          # step i animates to frame i
        assert step.args[1]["frame"]["redraw"] is True
    # every frame holds exactly the curves it was given
    for frame, lam in zip(fig.frames, (0.0, 1e-3, 1e-2)):
        assert len(frame.data) == 2
        for tr, k in zip(frame.data, (0.1, 1.0)):
            np.testing.assert_allclose(_decode(tr.x), t)
            np.testing.assert_allclose(_decode(tr.y), np.exp(-(k + lam) * t), rtol=1e-15)
            assert tr.name == f"k={k}"
    # the initial picture is frame 0
    for tr, ftr in zip(fig.data, fig.frames[0].data):
        np.testing.assert_array_equal(_decode(tr.y), _decode(ftr.y))
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"
    assert plots.title_of(fig) == "decay"
    assert fig.layout.xaxis.title.text == "t" and fig.layout.yaxis.title.text == "residual"


def test_slider_figure_active_frame_and_colours_stay_per_curve():
    t, frames = _frames()
    fig = plots.slider_figure(frames, slider_label="lam", active=2)
    assert fig.layout.sliders[0].active == 2
    np.testing.assert_array_equal(_decode(fig.data[1].y), _decode(fig.frames[2].data[1].y))
    for frame in fig.frames:
        assert [tr.line.color for tr in frame.data] == list(plots.COLORS[:2])


def test_slider_figure_axes_fixed_over_all_frames():
    t = np.array([1.0, 10.0, 100.0])
    frames = {1: plots.traces(t, {"a": [1.0, 2.0, 3.0]}),
              2: plots.traces(t, {"a": [-4.0, 0.5, 8.0]})}
    fig = plots.slider_figure(frames, slider_label="n", log_x=True)
    # y covers [-4, 8] padded by 4% of the span; x is in log10 units: [0, 2] padded
    span_y, span_x = 12.0, 2.0
    np.testing.assert_allclose(fig.layout.yaxis.range, [-4 - 0.04 * span_y, 8 + 0.04 * span_y])
    np.testing.assert_allclose(fig.layout.xaxis.range, [0 - 0.04 * span_x, 2 + 0.04 * span_x])
    assert fig.layout.xaxis.autorange is False and fig.layout.yaxis.autorange is False


def test_slider_figure_explicit_ranges_log_units():
    t, frames = _frames()
    fig = plots.slider_figure(frames, slider_label="λ", log_y=True, y_range=(1e-3, 10.0),
                              x_range=(0.0, 50.0))
    np.testing.assert_allclose(fig.layout.yaxis.range, [-3.0, 1.0])
    np.testing.assert_allclose(fig.layout.xaxis.range, [0.0, 50.0])


def test_slider_figure_serialises_and_uses_no_global_template():
    before = pio.templates.default
    t, frames = _frames()
    fig = plots.slider_figure(frames, slider_label="λ")
    again = pio.from_json(fig.to_json())
    assert [f.name for f in again.frames] == [f.name for f in fig.frames]
    assert len(json.loads(fig.to_json())["layout"]["sliders"][0]["steps"]) == 3
    assert pio.templates.default == before


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(frames=[]), TypeError, "frames"),
    (dict(frames={}), ValueError, "frames"),
    (dict(slider_label=""), ValueError, "slider_label"),
    (dict(slider_label=3), TypeError, "slider_label"),
    (dict(active=5), ValueError, "active"),
    (dict(active=1.0), TypeError, "active"),
    (dict(log_x="yes"), TypeError, "log_x"),
    (dict(x_range=(2.0, 1.0)), ValueError, "x_range"),
    (dict(x_range="ab"), TypeError, "x_range"),
    (dict(y_range=(0.0, 1.0), log_y=True), ValueError, "y_range"),
    (dict(height=50), ValueError, "height"),
    (dict(title=None), TypeError, "title"),
])
def test_slider_figure_rejects_bad_arguments(kwargs, exc, word):
    t, frames = _frames()
    args = dict(frames=frames, slider_label="λ")
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        plots.slider_figure(args.pop("frames"), **args)


def test_slider_figure_rejects_inconsistent_frames():
    t = np.arange(3.0)
    one = plots.traces(t, {"a": t})
    two = plots.traces(t, {"a": t, "b": t})
    with pytest.raises(ValueError, match="same traces"):
        plots.slider_figure({1: one, 2: two}, slider_label="n")
    with pytest.raises(ValueError, match="at least one trace"):
        plots.slider_figure({1: []}, slider_label="n")
    with pytest.raises(TypeError, match="go.Scatter"):
        plots.slider_figure({1: [go.Bar(x=[1], y=[1])]}, slider_label="n")
    with pytest.raises(ValueError, match="both read '1'"):
        plots.slider_figure({1: one, "1": one}, slider_label="n")
    with pytest.raises(TypeError, match="frame labels"):
        plots.slider_figure({(1, 2): one}, slider_label="n")


# ------------------------------------------------------------------ helpers
@pytest.mark.parametrize("value, text", [
    (0.001, "0.001"), (1e-5, "1e-05"), (3, "3"), (np.float32(0.5), "0.5"),
    (np.int64(7), "7"), ("k = 2", "k = 2"), (2.0, "2"),
])
def test_frame_label(value, text):
    assert plots.frame_label(value) == text


def test_frame_label_rejects():
    with pytest.raises(TypeError, match="frame labels"):
        plots.frame_label(True)
    with pytest.raises(ValueError, match="non-empty"):
        plots.frame_label("")


def test_axis_range_closed_forms():
    assert plots.axis_range([np.array([1.0, 100.0])], log=True, pad=0.0) == [0.0, 2.0]
    np.testing.assert_allclose(plots.axis_range(np.array([2.0, 4.0]), pad=0.5), [1.0, 5.0])
    # NaN/inf ignored; non-positive ignored on a log axis
    np.testing.assert_allclose(
        plots.axis_range([np.array([np.nan, -1.0, 0.0, 10.0, 1000.0, np.inf])], log=True,
                         pad=0.0), [1.0, 3.0])
    assert plots.axis_range([np.array([3.0, 3.0])]) == [2.5, 3.5]     # constant: unit span
    assert plots.axis_range([np.array([-1.0, 0.0])], log=True) is None
    assert plots.axis_range([]) is None
    with pytest.raises(ValueError, match="pad"):
        plots.axis_range([np.ones(2)], pad=-1)
    with pytest.raises(TypeError, match="log"):
        plots.axis_range([np.ones(2)], log=1)


def test_traces_data_names_and_styles():
    x = np.linspace(0, 1, 5)
    trs = plots.traces(x, {"sin": np.sin(x), "cos": np.cos(x)}, dash={"cos": "dash"},
                       mode="lines+markers")
    assert [t.name for t in trs] == ["sin", "cos"]
    np.testing.assert_array_equal(_decode(trs[1].y), np.cos(x))
    assert trs[0].line.color == plots.COLORS[0] and trs[1].line.color == plots.COLORS[1]
    assert trs[1].line.dash == "dash" and trs[0].line.dash is None
    assert trs[0].marker.color == plots.COLORS[0]
    assert _decode(trs[0].x).dtype == np.float64


@pytest.mark.parametrize("call, exc, word", [
    (lambda: plots.traces(np.ones((2, 2)), {"a": np.ones(2)}), ValueError, "x must be 1-D"),
    (lambda: plots.traces([], {"a": []}), ValueError, "x must not be empty"),
    (lambda: plots.traces(["a", "b"], {"a": [1, 2]}), TypeError, "x must be"),
    (lambda: plots.traces([1, 2], {}), ValueError, "ys"),
    (lambda: plots.traces([1, 2], [[1, 2]]), TypeError, "ys"),
    (lambda: plots.traces([1, 2], {"a": [1, 2, 3]}), ValueError, r"ys\['a'\]"),
    (lambda: plots.traces([1, 2], {1: [1, 2]}), TypeError, "ys key"),
    (lambda: plots.traces([1, 2], {"a": [1, 2]}, dash={"b": "dot"}), ValueError, "dash"),
    (lambda: plots.traces([1, 2], {"a": [1, 2]}, mode=""), ValueError, "mode"),
    (lambda: plots.style("fig"), TypeError, "fig"),
])
def test_helpers_reject_bad_arguments(call, exc, word):
    with pytest.raises(exc, match=word):
        call()


def test_line_figure():
    x = np.array([1.0, 10.0, 100.0])
    fig = plots.line(x, {"a": x, "b": x ** 2}, title="T", xaxis="x", yaxis="y", log_x=True,
                     log_y=True, height=400)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 2 and not fig.frames
    np.testing.assert_array_equal(_decode(fig.data[1].y), x ** 2)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.layout.height == 400 and plots.title_of(fig) == "T"
    assert fig.layout.template.layout.colorway == plots.COLORS


def test_title_and_legend_never_share_the_top_of_the_figure():
    x = np.linspace(0.0, 1.0, 5)
    # several curves: the title is the legend's own title, above its entries (no plot title
    # that a wrapping legend could run into)
    fig = plots.line(x, {f"curve {i}": x * i for i in range(6)}, title="Many curves")
    assert fig.layout.title.text in ("", None)
    assert fig.layout.legend.title.text == "Many curves" and fig.layout.legend.title.side == "top"
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yanchor == "bottom"
    assert fig.layout.legend.y > 1.0            # above the plot area, never over the data
    # one trace without an explicit showlegend: plotly.js draws no legend, so the title is the
    # plot's, and pushes the margin
    one = plots.style(go.Figure(go.Scatter(x=x, y=x, name="only")), title="One curve")
    assert one.layout.title.text == "One curve" and one.layout.title.automargin is True
    assert one.layout.legend.title.text in (None, "")
    # a trace added later makes a legend: place_title moves the title into it
    one.add_scatter(x=x, y=2 * x, name="second")
    assert plots.place_title(one) is one
    assert one.layout.title.text == "" and one.layout.legend.title.text == "One curve"
    # a single trace that sets showlegend=True itself (plots.traces does) gets a legend from
    # plotly.js (it counts such a trace twice), so the title goes into the legend
    for fig1 in (plots.style(go.Figure(go.Scatter(x=x, y=x, name="a", showlegend=True)), title="T"),
                 plots.line(x, {"only": x}, title="T")):
        assert plots.title_of(fig1) == "T" and fig1.layout.legend.title.text == "T"
    nolegend = plots.style(go.Figure([go.Scatter(x=x, y=x), go.Scatter(x=x, y=x)])
                           .update_layout(showlegend=False), title="T")
    assert nolegend.layout.title.text == "T"
    with pytest.raises(TypeError, match="fig"):
        plots.title_of("not a figure")


def test_log_axis_ticks_powers_of_ten_only():
    x = np.logspace(-4, 0, 20)
    fig = plots.line(x, {"a": x}, log_x=True, log_y=True)
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.dtick == 1 and axis.exponentformat == "power"
    narrow = plots.line([1.0, 2.0, 3.0], {"a": [1.0, 2.0, 3.0]}, log_y=True)
    assert narrow.layout.yaxis.dtick is None          # under a decade: plotly's own ticks
    assert narrow.layout.xaxis.exponentformat == "power"   # linear axes: no SI prefixes either
    # an axis made logarithmic after style(): finish() gives it the same ticks
    fig = plots.style(go.Figure(go.Scatter(x=[1, 2], y=[1e-3, 1.0], yaxis="y2")))
    fig.update_layout(yaxis2=dict(type="log", overlaying="y", side="right"))
    assert plots.finish(fig).layout.yaxis2.dtick == 1


def test_slider_frames_of_different_lengths_fit_their_own_x():
    short, long = np.arange(1.0, 1301.0), np.arange(1.0, 20001.0)
    frames = {"a": plots.traces(short, {"y": np.ones_like(short)}),
              "b": plots.traces(long, {"y": np.ones_like(long)})}
    fig = plots.slider_figure(frames, slider_label="run", active=0)
    assert fig.layout.xaxis.range[1] < 1400                     # the shown frame's data
    assert fig.frames[0].layout.xaxis.range[1] < 1400
    assert fig.frames[1].layout.xaxis.range[1] > 20000
    # frames over the same x keep one fixed range and no per-frame layout
    same = plots.slider_figure({"a": frames["a"], "c": plots.traces(short, {"y": short})},
                               slider_label="run")
    assert same.frames[0].layout.xaxis.range is None
