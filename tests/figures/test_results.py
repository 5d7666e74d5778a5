"""l2lab.figures.results: the intro's results at a glance, from this build's verdict files with
the committed snapshot standing in for a chapter that did not run."""
from __future__ import annotations

from l2lab import claims
from l2lab.figures import results
from l2lab.figures.tables import Link


def _write(folder, chapter, *verdicts):
    claims.record_verdicts(folder, chapter, [claims.Verdict(*v) for v in verdicts])


def test_rows_come_from_this_build_else_the_snapshot(tmp_path):
    build, old = tmp_path / "build", tmp_path / "old"
    _write(build, "theory/01_kernel_decay", ("Eq. 1", "reproduced", "rate within 1%", "exact NTK"))
    _write(old, "theory/01_kernel_decay", ("Eq. 1", "contradicted", "stale", "exact NTK"))
    _write(old, "experiments/01_fc_mnist", ("Fig. 2a", "partly", "spread x117", "paper FC"),
           ("Fig. 1a", "reproduced", "peak", "paper FC"))
    snap = results.snapshot(old, {"experiments/01_fc_mnist": 89.0},
                            {"date_utc": "2026-12-04T20:00:00+00:00", "device_kind": "cpu",
                             "num_devices": 1, "git_commit": "cb49a27abcdef"})
    got = results.results_table(
        ["theory/01_kernel_decay", "experiments/01_fc_mnist", "related/05_init_scale"],
        results.collect(build), snap, {"theory/01_kernel_decay": 25.8},
        {"theory/01_kernel_decay": "Kernel decay"})
    rows = got.table.rows
    heads = [r[0] for r in rows if len(r) == 1]
    assert heads == [Link("Kernel decay (26 s)", "theory/01_kernel_decay.html"),
                     Link("experiments/01_fc_mnist (1.5 min)", "experiments/01_fc_mnist.html")]
    assert [r[0] for r in rows if len(r) > 1] == ["reproduced", "partly *", "reproduced *"]  # build wins
    assert got.from_snapshot == ["experiments/01_fc_mnist"]
    assert got.missing == ["related/05_init_scale"]
    assert got.snapshot_made == "made on 2026-12-04 on cpu (1 device) at commit cb49a27"
    html = got.table._repr_html_()
    assert '<a href="theory/01_kernel_decay.html">Kernel decay (26 s)</a>' in html
    assert 'colspan="4"' in html and "white-space:normal" in html


def test_no_snapshot_and_no_build_gives_an_empty_table(tmp_path):
    got = results.results_table(["theory/02_modes"], results.collect(tmp_path / "none"), None, {}, {})
    assert got.table.rows == [] and got.missing == ["theory/02_modes"] and got.snapshot_made == ""


def test_provenance_reads_as_a_sentence():
    a = {"l2lab_version": "0.1.0", "git_commit": "e67e4f074e99", "git_dirty": True,
         "num_devices": 1, "device_kind": "cpu", "date_utc": "2026-12-01T08:05:11+00:00"}
    b = dict(a, git_commit="f3519365ff00", git_dirty=False, date_utc="2026-12-03T01:00:00+00:00")
    c = dict(b, num_devices=1, device_kind="NVIDIA H200")
    assert results.provenance_sentence([a, a]) == (
        "Made with l2lab 0.1.0 at commit e67e4f0 (some runs with uncommitted changes) on 1 cpu device, "
        "2026-12-01.")
    assert results.provenance_sentence([b, c]) == (
        "Made with l2lab 0.1.0 at commit f351936 on 1 cpu device and 1 NVIDIA H200 device, "
        "2026-12-03.")
    assert "commits e67e4f0 and f351936" in results.provenance_sentence([a, b])
    assert "2026-12-01 to 2026-12-03" in results.provenance_sentence([a, b])
    import pytest
    with pytest.raises(ValueError):
        results.provenance_sentence([])


def test_a_missing_number_is_a_dash_not_nan():
    from l2lab.figures import table
    t = table(["run", "slope"], [("a", float("nan")), ("b", -0.8312)], digits=2)
    assert t.rows == [["a", "–"], ["b", "-0.83"]]
    assert "nan" not in t._repr_html_()
