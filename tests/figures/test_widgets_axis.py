"""The mode explorer's x-axis covers its curves, not 1e90 (issue 17)."""
import numpy as np
import pytest

from l2lab.figures import widgets


@pytest.mark.parametrize("k", [0.0, 2.0])
def test_explorer_axis_is_fitted_to_the_curves_and_labels_sit_at_their_lines(monkeypatch, k):
    monkeypatch.delenv("L2LAB_STATIC_BUILD", raising=False)
    ex = widgets.mode_explorer(gamma_over_lam=100.0, k=k, lam=0.01, num_times=50)
    fig = ex.figure()
    c = ex.curves()
    lo, hi = fig.layout.xaxis.range
    assert (lo, hi) == pytest.approx((np.log10(c["t"][0]), np.log10(c["t"][-1])))
    assert fig.layout.xaxis.autorange is False
    # on a log axis an annotation's x is log10 of the data value; a shape's is the value itself
    lines = sorted(s.x0 for s in fig.layout.shapes)
    labels = sorted(a.x for a in fig.layout.annotations)
    assert lines == pytest.approx([1 / c["gamma"], 1 / c["lam"]])
    assert labels == pytest.approx(np.log10(lines))
    assert all(lo <= x <= hi for x in labels)
