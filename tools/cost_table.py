"""The README's cost table ("Running at scale"): what SM A's full grids cost on 1, 8 and 64 devices.

    .venv/bin/python tools/cost_table.py          # prints the table's markdown

Each time is ``l2lab.engine.estimate.plan_size(spec, D).device_steps`` (the updates one device
runs in a row when the sweep's plan is sharded over D devices) times the engine's step time of
that architecture on one NVIDIA H200, read from the log of ``python -m l2lab.bench arch`` in
``data/accelerator/h200-run1.log``. The FC grid's measured time on that H200 is the sum of its
groups' wall times in ``data/sweeps/h200/fc-sma``. ``tests/test_cost_table.py`` checks that the
README holds this table.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from l2lab import engine  # noqa: E402
from l2lab.engine.estimate import human_duration, plan_size  # noqa: E402

BENCH_LOG = ROOT / "data" / "accelerator" / "h200-run1.log"
FC_MEASURED = ROOT / "data" / "sweeps" / "h200" / "fc-sma"
DEVICES = (1, 8, 64)
# (row label, arch, bench label, changes to the paper preset)
GRIDS = (
    ("FC, Figure 2a-c (budgets up to 20,000 steps)", "fc", "FC 3x2048", {"max_steps": 20000}),
    ("CNN, Figure 3a-c", "cnn", "CNN-300", {}),
    ("CNN + BN, Figure 3d-f", "cnn_bn", "CNN-300 + BN", {}),
    ("WRN-28-10, Figure 2d-f (up to 4000 epochs)", "wrn", "WRN-28-10", {}),
)


def step_seconds(log: Path = BENCH_LOG) -> dict:
    """``{bench label: seconds per step}`` from the table ``python -m l2lab.bench arch`` printed."""
    text = log.read_text()
    table = text[text.index("Engine step time"):]
    out = {}
    for label in (g[2] for g in GRIDS):
        m = re.search(rf"^{re.escape(label)}\s+\d+\s+[\d.]+M\s+[\d.]+\s+([\d.]+)\s*$", table, re.M)
        out[label] = float(m.group(1))
    return out


def measured_fc_seconds(folder: Path = FC_MEASURED) -> float:
    """The H200 FC sweep's time: the sum of its groups' wall times (each record carries its group's)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    group_of = {c["id"]: c["group"] for c in manifest["configs"]}
    walls = {}
    for f in (folder / "records").glob("*.json"):
        rec = json.loads(f.read_text())
        walls[group_of[f.stem]] = rec["wall_time"]
    return sum(walls.values())


def rows() -> list:
    """The table's rows: label, configurations, steps in all, longest run, then one time per device count."""
    step = step_seconds()
    out = []
    for label, arch, bench, changes in GRIDS:
        spec = engine.preset(arch, "paper")._replace(**changes)
        sizes = [plan_size(spec, d) for d in DEVICES]
        times = [human_duration(s.device_steps * step[bench]) for s in sizes]
        if arch == "fc":
            times[0] += f" (measured: {measured_fc_seconds():.0f} s)"
        out.append([label, str(sizes[0].configurations), f"{sizes[0].steps:.1e}".replace("e+0", "e"),
                    f"{sizes[0].longest:.1e}".replace("e+0", "e"), *times])
    return out


def markdown() -> str:
    head = ["grid", "configurations", "steps in all", "longest run"] + [
        f"{d} device{'s' if d > 1 else ''}" for d in DEVICES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows()])


if __name__ == "__main__":
    print(markdown())
