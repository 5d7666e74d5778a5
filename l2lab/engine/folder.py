"""A sweep folder that cannot be corrupted or confused: what belongs in it, and what does not.

A sweep folder (``manifest.json``, ``records/``, ``checkpoints/``) obeys these rules:

1. **The manifest names the sweep.** It holds the spec exactly (non-finite numbers as the strings
   ``"Infinity"``, ``"-Infinity"``, ``"NaN"``; ``-0.0`` as written), the data and the planned
   configurations. A folder with another manifest is refused with the fields that differ
   (:func:`differences`); the order of ``etas``/``lams``/``seeds`` does not matter (they are
   sets). A folder with records or checkpoints but no manifest is refused too: it is not a
   fresh start. An unreadable manifest is refused, naming the file.
2. **A record is used only if it belongs** (:func:`record_problem`): it parses, its id is its
   file name and a planned configuration, its configuration, architecture, model and dataset
   are the plan's, and (records written since) the spec id it carries is the manifest's. A
   checkpoint is used only if it names the sweep's spec id and its group's configuration ids.
   Anything else is moved into ``quarantine/`` with a one-line message saying why
   (:func:`quarantine`), and its configuration is trained again; loading a folder skips it.
3. **Only the engine's own temporary files are removed** (``.l2lab-*.tmp``, :data:`TMP_PREFIX`),
   and only in a folder that has a manifest.
4. **Reading needs no writes**: a finished sweep loads, and ``run_sweep`` returns it, from a
   read-only folder.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["MANIFEST", "RECORDS", "CHECKPOINTS", "QUARANTINE", "TMP_PREFIX", "TMP_SUFFIX",
           "encode_nonfinite", "decode_nonfinite", "canonical_manifest", "differences",
           "read_manifest", "record_problem", "content_hash", "quarantine", "remove_temporary_files",
           "is_temporary_file", "listdir"]

MANIFEST = "manifest.json"
RECORDS = "records"
CHECKPOINTS = "checkpoints"
QUARANTINE = "quarantine"
TMP_PREFIX = ".l2lab-"          # the engine's temporary files: .l2lab-<target name>.<random>.tmp
TMP_SUFFIX = ".tmp"
SET_FIELDS = ("etas", "lams", "seeds")
_NONFINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def encode_nonfinite(x: Any) -> Any:
    """``x`` with every non-finite float written as ``"Infinity"``, ``"-Infinity"`` or ``"NaN"``
    (plain JSON has none of them)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, (list, tuple)):
        return [encode_nonfinite(v) for v in x]
    if isinstance(x, dict):
        return {k: encode_nonfinite(v) for k, v in x.items()}
    return x


def decode_nonfinite(x: Any) -> Any:
    """The inverse of :func:`encode_nonfinite`."""
    if isinstance(x, str) and x in _NONFINITE:
        return _NONFINITE[x]
    if isinstance(x, list):
        return [decode_nonfinite(v) for v in x]
    if isinstance(x, dict):
        return {k: decode_nonfinite(v) for k, v in x.items()}
    return x


def _key(x: Any) -> str:
    """A comparable text of a JSON value that tells -0.0 from 0.0 and NaN from None."""
    return json.dumps(encode_nonfinite(x), sort_keys=True)


def canonical_manifest(manifest: Dict[str, Any], defaults: Dict[str, Any]) -> Dict[str, Any]:
    """The parts of a manifest that name a sweep, comparable: ``spec`` (fields missing from an
    older manifest at ``defaults``, the set fields sorted; a null ``bucket`` written before
    non-finite numbers were encoded is infinity), ``data``, and ``configs`` by id."""
    spec = {**defaults, **decode_nonfinite(manifest.get("spec", {}))}
    if "bucket" in spec and spec["bucket"] is None:
        spec["bucket"] = math.inf
    for name in SET_FIELDS:
        if isinstance(spec.get(name), list):
            spec[name] = sorted(spec[name])
    # a configuration is its id, eta, lam, seed and budget; its group follows from the spec (the
    # numbering, from the order of the lists, which do not matter)
    configs = {c.get("id"): {k: v for k, v in c.items() if k not in ("id", "group")}
               for c in manifest.get("configs", []) if isinstance(c, dict)}
    return {"spec": spec, "data": manifest.get("data"), "configs": configs}


def differences(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """The fields in which two :func:`canonical_manifest` forms differ, e.g.
    ``["spec.model_kwargs: {'widths': [64, 64, 64]} -> {'widths': [32, 32, 32]}", ...]``."""
    out = []
    for name in sorted(set(old["spec"]) | set(new["spec"])):
        a, b = old["spec"].get(name), new["spec"].get(name)
        if _key(a) != _key(b):
            out.append(f"spec.{name}: {a!r} -> {b!r}")
    if _key(old["data"]) != _key(new["data"]):
        out.append(f"data: {old['data']!r} -> {new['data']!r}")
    gone = sorted(set(old["configs"]) - set(new["configs"]))
    added = sorted(set(new["configs"]) - set(old["configs"]))
    changed = sorted(i for i in set(old["configs"]) & set(new["configs"])
                     if _key(old["configs"][i]) != _key(new["configs"][i]))
    for what, ids in (("configs not planned now", gone), ("configs new to it", added),
                      ("configs planned differently", changed)):
        if ids:
            out.append(f"{what}: {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}")
    return out


def read_manifest(out_dir: str) -> Optional[Dict[str, Any]]:
    """``out_dir``'s manifest (None if there is none); ValueError naming the file if it does not
    parse, or if records or checkpoints lie there without one."""
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.exists(path):
        leftovers = [d for d in (RECORDS, CHECKPOINTS)
                     if any(not n.startswith(".") for n in listdir(os.path.join(out_dir, d)))]
        if leftovers:
            raise _out_dir_error(f"{out_dir!r} holds {' and '.join(leftovers)} but no {MANIFEST}: their sweep "
                                 "is unknown, so they cannot be resumed or trusted; use another out_dir, or "
                                 "move them away")
        return None
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _out_dir_error(f"{path!r} is not a readable manifest ({type(e).__name__}: {e}); use another "
                             "out_dir, or move the folder away") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict):
        raise _out_dir_error(f"{path!r} is not a sweep manifest (no spec); use another out_dir")
    return manifest


def _out_dir_error(message: str) -> ValueError:
    from l2lab import _checks
    return _checks.bad_value("out_dir", message)


def listdir(path: str) -> List[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def record_problem(raw: Any, name: str, planned: Dict[str, Any], spec_json: Dict[str, Any],
                   spec_id: str, record_format: str) -> Optional[str]:
    """Why the record ``raw`` (parsed JSON) in file ``name`` does not belong to the sweep, or
    None. planned: ``{id: TrainConfig}`` of the manifest; spec_json: the spec's JSON form."""
    if not isinstance(raw, dict) or raw.get("format") != record_format:
        return f"not a record of format {record_format!r}"
    rid = raw.get("id")
    if not isinstance(rid, str) or rid + ".json" != name:
        return f"its id {rid!r} is not its file name"
    if rid not in planned:
        return "its configuration is not planned in this sweep"
    if raw.get("sweep", spec_id) != spec_id:
        return f"it was written by sweep {raw.get('sweep')!r}, this folder holds sweep {spec_id!r}"
    try:
        config = type(planned[rid])(**raw["config"])
    except (KeyError, TypeError) as e:
        return f"its config does not read ({e})"
    if "config_hash" in raw and raw["config_hash"] != content_hash(config._asdict()):
        return "its config_hash does not match its config (edited by hand?)"
    if _key(config._asdict()) != _key(planned[rid]._asdict()):
        diff = [f"{k}={getattr(config, k)!r} (planned {getattr(planned[rid], k)!r})"
                for k in config._fields if _key(getattr(config, k)) != _key(getattr(planned[rid], k))]
        return "its config differs: " + ", ".join(diff)
    for field in ("arch", "model_kwargs", "dataset"):
        if _key(raw.get(field)) != _key(spec_json[field]):
            return f"its {field} {raw.get(field)!r} is not this sweep's {spec_json[field]!r}"
    curves = raw.get("curves")
    if not isinstance(curves, dict) or not isinstance(curves.get("steps"), list):
        return "it has no curves"
    return None


def quarantine(out_dir: str, path: str, why: str, *, stream=None) -> str:
    """Move ``path`` (inside ``out_dir``) to ``out_dir/quarantine/`` (never overwriting) and print
    one line naming it and ``why``; returns the new path."""
    qdir = os.path.join(out_dir, QUARANTINE)
    os.makedirs(qdir, exist_ok=True)
    rel = os.path.relpath(path, out_dir)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = os.path.join(qdir, f"{rel.replace(os.sep, '_')}.{stamp}")
    n = 1
    while os.path.exists(dest):
        dest = os.path.join(qdir, f"{rel.replace(os.sep, '_')}.{stamp}.{n}")
        n += 1
    shutil.move(path, dest)
    print(f"run_sweep: moved {rel} to {os.path.relpath(dest, out_dir)}: {why}; its configuration will be "
          "trained again", file=stream or sys.stderr, flush=True)
    return dest


def content_hash(obj: Any) -> str:
    """12 hex digits of the SHA-256 of ``obj``'s canonical JSON (a configuration's identity)."""
    import hashlib
    return hashlib.sha256(_key(obj).encode()).hexdigest()[:12]


def is_temporary_file(name: str) -> bool:
    """Whether ``name`` is a temporary file of the engine's atomic writes."""
    return name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)


def remove_temporary_files(out_dir: str, dirs: Sequence[str] = ("", RECORDS, CHECKPOINTS)) -> int:
    """Delete the engine's own temporary files (:func:`is_temporary_file`) that a killed writer
    left in the sweep folder ``out_dir`` and its subfolders ``dirs``; nothing if ``out_dir`` has
    no manifest. Returns how many were removed."""
    if not os.path.exists(os.path.join(out_dir, MANIFEST)):
        return 0
    n = 0
    for d in dirs:
        for name in listdir(os.path.join(out_dir, d)):
            if is_temporary_file(name):
                os.unlink(os.path.join(out_dir, d, name))
                n += 1
    return n
