"""The intro's *results at a glance*: every chapter's verdicts on the paper's results, as the
build computed them (:func:`l2lab.claims.record_verdicts` writes one file per chapter), with a
committed snapshot standing in for a chapter that did not run in this build (Colab, a partial
build)."""
from __future__ import annotations

import json
import os
from typing import Dict, List, NamedTuple, Optional, Sequence

from l2lab import claims
from l2lab.figures.tables import Link, Table

__all__ = ["ResultsAtAGlance", "collect", "made_sentence", "provenance_sentence", "results_table",
           "snapshot"]


class ResultsAtAGlance(NamedTuple):
    """``table``: one row per verdict, in the book's order; ``from_snapshot``: the chapters whose
    rows come from the snapshot; ``snapshot_made``: its provenance sentence (or ``""``);
    ``missing``: chapters with neither."""
    table: Table
    from_snapshot: List[str]
    snapshot_made: str
    missing: List[str]


def collect(folder) -> Dict[str, dict]:
    """``{chapter: record}`` of the verdict files in ``folder`` (none if it does not exist)."""
    out = {}
    if not os.path.isdir(folder):
        return out
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name), encoding="utf8") as f:
                rec = json.load(f)
            out[rec["chapter"]] = rec
    return out


def snapshot(folder, times: Dict[str, float], provenance: dict) -> dict:
    """The committed snapshot's content: this build's verdict records, the chapters' execution
    times (seconds, keyed by chapter) and where and when it was made."""
    return {"chapters": collect(folder), "seconds": dict(times), "provenance": provenance}


def made_sentence(prov: dict) -> str:
    """Provenance as a sentence: "made on 2026-12-04 on cpu (1 device) at commit 0123abc"."""
    commit = (prov.get("git_commit") or "unknown")[:7]
    n = prov.get("num_devices", 1)
    return (f"made on {str(prov.get('date_utc', '?'))[:10]} on {prov.get('device_kind', '?')} "
            f"({n} device{'s' if n != 1 else ''}) at commit {commit}")


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def provenance_sentence(provenances: Sequence[dict]) -> str:
    """Where and when records were made, as a sentence ("Made with l2lab 0.1.0 at commits
    e67e4f0 and f351936 (one with uncommitted changes) on 1 cpu device, 2026-12-01.") from their
    provenance dicts (:func:`l2lab.engine.records.provenance`)."""
    if not provenances:
        raise ValueError("provenances must be a non-empty list")
    pick = lambda key: list(dict.fromkeys(str(p.get(key, "?")) for p in provenances))
    commits = list(dict.fromkeys(str(p.get("git_commit") or "unknown")[:7] for p in provenances))
    dirty = sum(bool(p.get("git_dirty")) for p in provenances if p.get("git_commit"))
    devices = list(dict.fromkeys(f"{p.get('num_devices', '?')} {p.get('device_kind', '?')} device"
                                 + ("s" if p.get("num_devices", 1) != 1 else "") for p in provenances))
    dates = sorted({str(p.get("date_utc", "?"))[:10] for p in provenances})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    return (f"Made with l2lab {_and(pick('l2lab_version'))} at commit{'s' if len(commits) > 1 else ''} "
            f"{_and(commits)}{' (some runs with uncommitted changes)' if dirty else ''} "
            f"on {_and(devices)}, {when}.")


def _minutes(seconds: Optional[float]) -> str:
    if seconds is None:
        return "time unknown"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def results_table(chapters: Sequence[str], built: Dict[str, dict], snap: Optional[dict],
                  times: Dict[str, float], titles: Dict[str, str]) -> ResultsAtAGlance:
    """The table for ``chapters`` (``part/name``, in the book's order): for each chapter a heading
    row (its title, linked relative to the intro, and its execution time from ``times``, this
    build's, else the snapshot's), then one row per verdict, from ``built`` (this build) else
    from ``snap`` (:func:`snapshot`'s content, or None)."""
    snap = snap or {"chapters": {}, "seconds": {}, "provenance": {}}
    rows, from_snap, missing = [], [], []
    for ch in chapters:
        rec, secs = built.get(ch), times.get(ch)
        if rec is None:
            rec = snap["chapters"].get(ch)
            secs = snap["seconds"].get(ch) if secs is None else secs
            (from_snap if rec is not None else missing).append(ch)
        if rec is None:
            continue
        mark = " *" if ch in from_snap else ""
        rows.append([Link(f"{titles.get(ch, ch)} ({_minutes(secs)})", ch + ".html")])
        for v in rec["verdicts"]:
            v = claims.Verdict(**v)
            rows.append([v.verdict + mark, v.result, v.deciding, v.scale])
    header = ["Verdict", "Paper's result", "Deciding numbers", "Scale"]
    made = made_sentence(snap["provenance"]) if from_snap else ""
    return ResultsAtAGlance(Table(header, rows, wrap=True), from_snap, made, missing)
