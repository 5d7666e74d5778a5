"""The book's figure builders and the live widget: their data are the library's numbers."""
import numpy as np
import pytest

from l2lab import figures, theory, train
from l2lab.figures import widgets


def test_mode_figure_frames_hold_eq3():
    fig = figures.mode_figure(lam=0.01, ratios=(0.3, 100.0), ks=(1, 2, 3), active_k=2)
    assert [f.name for f in fig.frames] == ["1", "2", "3"]
    frame = fig.frames[1]                      # k = 2
    t = np.asarray(frame.data[1].x)
    np.testing.assert_allclose(frame.data[1].y, theory.mse_mode(t, 1.0, 0.01, 2, 1.0, 0.0))
    np.testing.assert_allclose(frame.data[3].y, theory.mse_mode(t, 1.0, 0.01, 1, 1.0, 0.0))
    # at k = 1 the network curves are the linear-model curves
    f1 = fig.frames[0]
    np.testing.assert_allclose(f1.data[0].y, f1.data[2].y)
    with pytest.raises(ValueError, match="active_k"):
        figures.mode_figure(ks=(1, 2), active_k=3)
    with pytest.raises(ValueError, match="lam"):
        figures.mode_figure(lam=-1)


def test_ratio_and_lambda_sliders():
    fig = figures.mode_ratio_figure(lam=0.01, k=2, ratios=(0.1, 10.0, 1000.0))
    assert len(fig.frames) == 3 and len(fig.layout.sliders[0].steps) == 3
    fig = figures.mode_lambda_figure(gamma=1.0, lams=(1e-3, 1e-2))
    t = np.asarray(fig.frames[0].data[0].x)
    np.testing.assert_allclose(fig.frames[0].data[0].y, theory.mse_mode(t, 1.0, 1e-3, 2, 1.0, 0.0))


class _Rec:
    def __init__(self, eta, lam, t_star, acc, diverged=False):
        self.config = train.TrainConfig(eta=eta, lam=lam, steps=100)
        self.t_star, self.peak_accuracy = t_star, acc
        steps = np.array([0, 1, 10, 100])
        self.result = train.TrainResult(steps, np.ones(4), np.zeros(4), np.full(4, acc), np.ones(4),
                                        np.ones(4), diverged, -1, 0.0)
        self.provenance = {"l2lab_version": "0.1.0", "git_commit": "abc", "device_kind": "cpu"}


def test_sweep_figures_from_records():
    recs = [_Rec(0.1, 0.01, 500.0, 0.9), _Rec(0.1, 0.1, 50.0, 0.8), _Rec(0.2, 0.01, 250.0, 0.91),
            _Rec(0.2, 0.1, np.nan, np.nan, diverged=True)]
    fig = figures.steps_to_peak_figure(recs, collapse=True, c_prime=0.5)
    assert [tr.name for tr in fig.data][:2] == ["η = 0.1", "η = 0.2"]
    np.testing.assert_allclose(fig.data[0].x, [0.001, 0.01])
    np.testing.assert_allclose(fig.data[1].y, [250.0])           # the diverged run is left out
    np.testing.assert_allclose(fig.data[2].y * fig.data[2].x, 0.5)
    acc = figures.peak_accuracy_figure({"a": recs})
    np.testing.assert_allclose(acc.data[0].y, [0.91, 0.8])        # best eta at each lam
    late = _Rec(0.1, 0.03, 10.0, 0.9)
    late.result = late.result._replace(test_accuracy=np.array([0.1, 0.9, 0.7, 0.6]))
    fin = figures.peak_accuracy_figure({"a": [late]}, statistic="final")
    np.testing.assert_allclose(fin.data[0].y, [0.6])              # the last value, not the peak
    with pytest.raises(ValueError, match="statistic"):
        figures.peak_accuracy_figure({"a": recs}, statistic="mean")
    ref = figures.peak_accuracy_figure({"a": recs + [_Rec(0.1, 0.0, 900.0, 0.85)]})
    np.testing.assert_allclose(ref.data[0].x, [0.01, 0.1])        # lam = 0 is not on the log axis
    assert [sh.y0 for sh in ref.layout.shapes] == [0.85]           # but a reference line
    only0 = figures.peak_accuracy_figure({"a": [_Rec(0.1, 0.0, 900.0, 0.85)]})
    assert len(only0.data) == 0 and only0.layout.shapes[0].y0 == 0.85
    curves = figures.training_curves_figure(recs, eta=0.1)
    assert len(curves.frames) == 2
    assert "abc" in figures.provenance_text(recs)
    # no run to draw (the trained runs, when none trained): an empty figure that says so
    empty = figures.steps_to_peak_figure([])
    assert not empty.data and "No run to draw" in empty.layout.annotations[0].text
    only_div = figures.steps_to_peak_figure([_Rec(0.1, 0.0, 900.0, 0.85)])     # lam = 0 only
    assert not only_div.data and len(only_div.layout.annotations) == 1
    assert not figures.steps_to_peak_figure(recs).layout.annotations
    with pytest.raises(TypeError):
        figures.steps_to_peak_figure("records")


def test_mode_explorer_recomputes(monkeypatch):
    monkeypatch.delenv("L2LAB_STATIC_BUILD", raising=False)
    ex = widgets.mode_explorer(gamma_over_lam=100.0, k=2.0, lam=0.01, num_times=50)
    c = ex.curves()
    np.testing.assert_allclose(c["f"], theory.mse_mode(c["t"], 1.0, 0.01, 2.0, 1.0, 0.0))
    ex.k.value = 3.0                                             # a slider move recomputes
    np.testing.assert_allclose(ex.curves()["f"], theory.mse_mode(c["t"], 1.0, 0.01, 3.0, 1.0, 0.0))
    assert np.isfinite(ex.last_update_seconds)


def test_mode_explorer_static_page_is_inert(monkeypatch):
    monkeypatch.setenv("L2LAB_STATIC_BUILD", "1")
    ex = widgets.mode_explorer()
    assert ex.k.disabled and np.isnan(ex.last_update_seconds)


def _axes(fig):
    """The layout's axis objects (xaxis, yaxis, yaxis2, ...)."""
    return [fig.layout[k] for k in fig.layout.to_plotly_json() if k[1:5] == "axis"]


def _book_figures(monkeypatch):
    """The figures built in this file's tests."""
    monkeypatch.delenv("L2LAB_STATIC_BUILD", raising=False)
    recs = [_Rec(0.1, 0.01, 500.0, 0.9), _Rec(0.1, 0.1, 50.0, 0.8), _Rec(0.2, 0.01, 250.0, 0.91)]
    return {
        "mode": figures.mode_figure(lam=0.01, ratios=(0.3, 100.0), ks=(1, 2)),
        "ratio": figures.mode_ratio_figure(lam=0.01, k=2, ratios=(0.1, 10.0)),
        "lambda": figures.mode_lambda_figure(gamma=1.0, lams=(1e-3, 1e-2)),
        "steps": figures.steps_to_peak_figure(recs, collapse=True, c_prime=0.5),
        "accuracy": figures.peak_accuracy_figure({"a": recs}),
        "curves": figures.training_curves_figure(recs, eta=0.1),
        "explorer": widgets.mode_explorer(num_times=20).figure(),
    }


def test_log_axes_show_powers_of_ten_without_si_prefixes(monkeypatch):
    """A log axis spanning decades ticks at powers of ten only (dtick 1, no 2-9 labels); no axis
    writes SI prefixes (plotly's default "B" turns 1e-4 into "100μ")."""
    logs = 0
    for name, fig in _book_figures(monkeypatch).items():
        for axis in _axes(fig):
            assert axis.exponentformat not in (None, "B", "SI"), (name, axis.exponentformat)
            if axis.type == "log":
                logs += 1
                assert axis.dtick == 1, (name, axis.dtick)
                assert axis.minorloglabels == "none", name
    assert logs >= 7


def test_labels_have_no_raw_underscores(monkeypatch):
    """Axis titles and trace names use <sub>...</sub>, never a raw ``_`` (or ``^``)."""
    for name, fig in _book_figures(monkeypatch).items():
        texts = [a.title.text or "" for a in _axes(fig)]
        texts += [tr.name or "" for tr in fig.data]
        texts += [tr.name or "" for fr in fig.frames for tr in fr.data]
        bad = [t for t in texts if "_" in t or "^" in t]
        assert not bad, (name, bad)


def test_result_tables_render_html_with_every_row():
    from l2lab.figures import Table, applications, table
    t = table(["λ", "acc."], [(1e-4, 0.8815), ("all", 0.5)], caption="x < y")
    html = t._repr_html_()
    assert html.count("<tr>") == 3 and "0.0001" in html and "0.881" in html and "x &lt; y" in html
    assert 'overflow-x:auto' in html and isinstance(t, Table)
    with pytest.raises(ValueError, match="rows"):
        table(["a", "b"], [(1,)])
    with pytest.raises(ValueError, match="comparisons"):
        applications.autol2_comparison_table({})
