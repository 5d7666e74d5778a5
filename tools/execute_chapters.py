"""Execute the book's chapters in parallel processes and store them in Jupyter Book's cache.

``tools/build_book.py`` calls :func:`execute_into_cache` before ``jupyter-book build``; the book
is configured with ``execute_notebooks: cache``, so Jupyter Book then takes each chapter's
outputs from the cache instead of executing the chapters one after another.

Why: a chapter's JAX programs (small convolutions and matmuls inside ``lax.fori_loop``) use a
second core poorly. Measured on the project's 2-core machine (session 6): pinned to one core a
chapter takes about 1.5x as long as on both, so two chapters at once, one per core, get through
the book in 1343 s where one after the other took 1750 s.

Each worker process is pinned to one CPU (``os.sched_setaffinity``); the Jupyter kernel it
starts inherits the pin, and XLA sizes its thread pool from it. Chapters are handed out longest
first: by the durations of the previous build (``_build/chapter_times.json``), else by the
committed ones of a measured build (``tools/chapter_times.json``), new chapters first. A chapter
that fails here is not cached: Jupyter Book executes it again itself and
reports its error as it always does (which is also the retry that a stalled widget cell gets).

Chapters that share a sweep folder are safe to run at once: :func:`l2lab.sweep.run_sweep`
holds a lock on its folder, so the second one waits and then loads the finished records.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "_build" / "chapter_times.json"          # written by every build
KNOWN_TIMES = ROOT / "tools" / "chapter_times.json"     # committed: a fresh clone's first order
READ_FMT = {"type": "plugin", "name": "myst_nb_md"}     # what myst-nb records for a MyST .md


class Executed(NamedTuple):
    """One chapter's execution: ``notebook`` (nbformat JSON, None on failure), ``seconds``,
    ``cpu`` (the core it ran on) and ``error`` (the traceback text, None on success)."""

    source: str
    notebook: Optional[str]
    seconds: float
    cpu: int
    error: Optional[str]


def read_chapter(path: Path):
    """The notebook that myst-nb makes of a MyST chapter (the same reader: same cache hash)."""
    from myst_nb.core.read import myst_nb_reader_plugin
    return myst_nb_reader_plugin(str(path))


def _pin_worker(cpus) -> None:
    """Pool initializer: pin this worker to the next free CPU of the shared queue ``cpus``."""
    cpu = cpus.get()
    os.sched_setaffinity(0, {cpu})


def _run_one(source: str, timeout: int, allow_errors: bool) -> Executed:
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import l2lab_book                      # the book's kernel-channel fix (nbclient #312)
    l2lab_book.patch_channel_polling()
    path = ROOT / source
    nb = read_chapter(path)
    cpu = min(os.sched_getaffinity(0))
    res = single_nb_execution(nb, cwd=str(path.parent), timeout=timeout,
                              allow_errors=allow_errors, meta_override=True)
    if res.err is not None:
        return Executed(source, None, res.time, cpu, res.exc_string or repr(res.err))
    return Executed(source, nbformat.writes(nb), res.time, cpu, None)


def order_longest_first(sources: Sequence[str], times: Dict[str, float]) -> List[str]:
    """``sources`` sorted by their previous duration, longest first (unknown ones first, in the
    order given: a new chapter may be long)."""
    rank = {s: i for i, s in enumerate(sources)}
    return sorted(sources, key=lambda s: (-times.get(s, float("inf")), rank[s]))


def previous_times() -> Dict[str, float]:
    """Seconds per chapter source: the last build's, else the committed ones, else none."""
    for path in (TIMES, KNOWN_TIMES):
        if path.is_file():
            return json.loads(path.read_text(encoding="utf8"))
    return {}


def workers_for(requested: Optional[int]) -> List[int]:
    """The CPUs to pin workers to: this process's CPUs, at most ``requested`` of them."""
    cpus = sorted(os.sched_getaffinity(0))
    if requested is not None:
        if requested < 1:
            raise ValueError(f"workers must be >= 1, got {requested}")
        cpus = cpus[:requested]
    return cpus


def execute_into_cache(sources: Sequence[str], cache_dir: Path, *, timeout: int = 600,
                       allow_errors: bool = False, workers: Optional[int] = None,
                       times_file: Path = TIMES, log=print) -> Dict[str, Executed]:
    """Execute the chapters ``sources`` (paths relative to the repository root, or absolute) in
    parallel and cache every one that succeeds in the jupyter-cache at ``cache_dir`` (emptied
    first). Returns ``{source: Executed}``; adds the durations to ``times_file``."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    import nbformat

    cache = get_cache(str(cache_dir))
    cache.clear_cache()
    times = previous_times()
    order = order_longest_first(list(sources), times)
    cpus = workers_for(workers)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    for c in cpus:
        queue.put(c)
    log(f"executing {len(order)} chapters on {len(cpus)} pinned worker(s) (CPUs {cpus})")
    done: Dict[str, Executed] = {}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(len(cpus), mp_context=ctx, initializer=_pin_worker,
                             initargs=(queue,)) as pool:
        futures = {pool.submit(_run_one, s, timeout, allow_errors): s for s in order}
        for fut in as_completed(futures):
            try:
                r = fut.result()
            except Exception as e:      # a worker that died (killed, out of memory): not cached
                r = Executed(futures[fut], None, 0.0, -1, f"{type(e).__name__}: {e}")
            done[r.source] = r
            why = (r.error or "").strip().splitlines()[-1:] or [""]
            status = "ok" if r.error is None else f"FAILED (Jupyter Book will run it again): {why[0][:300]}"
            log(f"  {r.source}: {r.seconds:.1f} s on CPU {r.cpu}, {status} "
                f"[{time.perf_counter() - t0:.0f} s]")
            if r.error is None:
                nb = nbformat.reads(r.notebook, as_version=4)
                uri = cache.add_nb_to_project(str(ROOT / r.source),
                                              read_data=READ_FMT).uri
                cache.cache_notebook_bundle(CacheBundleIn(nb, uri, data={"execution_seconds": r.seconds}),
                                            check_validity=False, overwrite=True)
    times_file.parent.mkdir(parents=True, exist_ok=True)
    times_file.write_text(json.dumps({**times, **{s: r.seconds for s, r in done.items()}}, indent=1))
    return done
