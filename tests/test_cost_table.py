"""The README's cost table is the one tools/cost_table.py computes (plan_size over the paper
presets x the H200 step times in data/accelerator), so no number in it is typed."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("cost_table", ROOT / "tools" / "cost_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_holds_the_computed_cost_table(monkeypatch):
    monkeypatch.delenv("L2LAB_SMOKE", raising=False)
    tool = _tool()
    table = tool.markdown()
    assert table in (ROOT / "README.md").read_text(), "README's cost table is stale: run tools/cost_table.py"


def test_cost_table_reads_the_bench_log_and_counts_the_plan(monkeypatch):
    monkeypatch.delenv("L2LAB_SMOKE", raising=False)
    tool = _tool()
    steps = tool.step_seconds()
    assert set(steps) == {"FC 3x2048", "CNN-300", "CNN-300 + BN", "WRN-28-10"}
    assert 0 < steps["FC 3x2048"] < steps["CNN-300"] < steps["WRN-28-10"] < 1
    from l2lab import engine
    from l2lab.engine.estimate import plan_size
    wrn = engine.preset("wrn", "paper")
    one, many = plan_size(wrn, 1), plan_size(wrn, 1024)
    # one device runs everything in a row; with a device per configuration each group costs
    # its longest budget, so the wall time is at least the longest run
    assert one.device_steps == one.steps and many.device_steps >= many.longest
    assert many.device_steps < one.device_steps
