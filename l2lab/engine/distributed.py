"""One sweep over several hosts on JAX's own multi-process runtime (``jax.distributed``).

Every host runs the same program (as TPU pod slices require); the configurations of a group are
sharded over the *global* mesh of all hosts' devices. Process 0, the *leader*, alone touches the
sweep folder; everything that steers the program is decided there and sent to every process:

* :func:`initialize` starts the runtime from the command line's ``--coordinator HOST:PORT
  --num-processes N --process-id I`` (or, with none of them, lets ``jax.distributed.initialize()``
  find them itself on TPU pods and SLURM).
* :func:`on_leader` runs a function on the leader only and gives every process its (JSON) result,
  or raises its error on every process (a ``ValueError``/``TypeError`` as itself, any other as
  :class:`LeaderFailed`), so that no process waits in a collective the leader never reaches.
* :func:`broadcast_json`, :func:`broadcast_arrays`: the leader's value on every process, as exact
  bytes (a float ``-0.0`` stays ``-0.0``).
* :func:`gather_ints`: a small int vector from every process (signals, the leader's clock).
* :func:`allgather`: a sharded result as numpy on every process (``jax.device_get`` fails on an
  array that spans other hosts' devices).
* :func:`global_array`: host data onto a global sharding, without the cross-host equality check of
  ``jax.device_put`` (:func:`jax.make_array_from_callback`).

In a single process every function is the plain local operation (``on_leader(f)`` is ``f()``),
so a one-process sweep runs exactly as before.
"""
from __future__ import annotations

import io
import json
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from l2lab import _checks

__all__ = ["LeaderFailed", "initialize", "parse_coordinator", "is_multiprocess", "is_leader", "process_count",
           "on_leader", "broadcast_bytes", "broadcast_json", "broadcast_arrays", "gather_ints",
           "allgather", "global_array"]

_ERRORS = {"ValueError": ValueError, "TypeError": TypeError}


class LeaderFailed(RuntimeError):
    """Raised on the other processes when a function run by :func:`on_leader` failed on the
    leader with an error other than ValueError/TypeError (the leader raises its own): e.g. an
    ``OSError`` writing the sweep folder. The message names the leader's error."""


def parse_coordinator(text: str) -> str:
    """``"HOST:PORT"`` checked (a host, a port in 1..65535); ValueError naming ``coordinator``."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _checks.bad_value("coordinator", f"must be HOST:PORT with a port in 1..65535, got {text!r}")
    return f"{host}:{int(port)}"


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None, *, initialization_timeout: int = 300,
               heartbeat_timeout_seconds: Optional[int] = None, bind: bool = False) -> None:
    """Start JAX's multi-process runtime (before any other JAX call of the process).

    coordinator ``"HOST:PORT"``, num_processes and process_id: all three, or none (then
    ``jax.distributed.initialize()`` finds them on TPU pods and SLURM). bind: the coordinator
    (process 0) listens on ``coordinator`` only, not on every interface (tests on 127.0.0.1).
    heartbeat_timeout_seconds: how soon the others stop when one process dies (JAX: 100).
    """
    import jax

    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError("coordinator, num_processes and process_id must be given together (or none)")
    kw: Dict[str, Any] = {"initialization_timeout": _checks.positive_int("initialization_timeout",
                                                                         initialization_timeout)}
    if heartbeat_timeout_seconds is not None:
        kw["heartbeat_timeout_seconds"] = _checks.positive_int("heartbeat_timeout_seconds",
                                                               heartbeat_timeout_seconds)
    if all(given):
        coordinator = parse_coordinator(coordinator)
        n = _checks.positive_int("num_processes", num_processes)
        i = _checks.integer("process_id", process_id, minimum=0)
        if i >= n:
            raise _checks.bad_value("process_id", f"must be below num_processes={n}, got {i}")
        kw.update(coordinator_address=coordinator, num_processes=n, process_id=i)
        if bind:
            kw["coordinator_bind_address"] = coordinator
    jax.distributed.initialize(**kw)


def process_count() -> int:
    import jax

    return jax.process_count()


def is_multiprocess() -> bool:
    """Whether this program runs in more than one process."""
    return process_count() > 1


def is_leader() -> bool:
    """Whether this process is process 0 (the one that reads and writes the sweep folder)."""
    import jax

    return jax.process_index() == 0


def on_leader(fn: Callable[[], Any]) -> Any:
    """``fn()`` run on the leader only; its result (JSON-able) on every process. If ``fn``
    raises, the leader re-raises its own error and every other process raises it too: a
    ``ValueError`` or ``TypeError`` as the same type, message and ``argument``, anything else
    (an ``OSError`` on the folder, say) as :class:`LeaderFailed` naming it."""
    if not is_multiprocess():
        return fn()
    payload, error = None, None
    if is_leader():
        try:
            payload = {"ok": fn()}
        except Exception as e:                  # every process must leave this collective
            error = e
            payload = {"error": [type(e).__name__, str(e), _checks.argument_of(e)]}
    payload = broadcast_json(payload)
    if error is not None:
        raise error
    if "error" in payload:
        raise _error_of(*payload["error"])
    return payload["ok"]


def _error_of(kind: str, message: str, argument: Optional[str]) -> Exception:
    """The exception another process raises for the leader's error ``kind: message``."""
    if kind not in _ERRORS:
        return LeaderFailed(f"process 0 failed: {kind}: {message}")
    err = _ERRORS[kind](message)
    if argument is not None:
        err.argument = argument
    return err


def broadcast_bytes(data: Optional[bytes]) -> bytes:
    """The leader's ``data`` on every process (the others' argument is ignored)."""
    if not is_multiprocess():
        return bytes(data)
    from jax.experimental import multihost_utils as mh

    lead = is_leader()
    n = int(mh.broadcast_one_to_all(np.asarray(len(data) if lead else 0, np.int64)))
    size = 1 << max(n - 1, 0).bit_length()          # a few shapes: a few compiled programs
    buf = np.zeros(size, np.uint8)
    if lead:
        buf[:n] = np.frombuffer(data, np.uint8)
    return np.asarray(mh.broadcast_one_to_all(buf))[:n].tobytes()   # integer psum: exact


def broadcast_json(obj: Any) -> Any:
    """The leader's JSON-able ``obj`` on every process (NaN and infinities survive)."""
    if not is_multiprocess():
        return obj
    data = json.dumps(obj).encode() if is_leader() else None
    return json.loads(broadcast_bytes(data).decode())


def broadcast_arrays(arrays: Optional[Dict[str, np.ndarray]]) -> Optional[Dict[str, np.ndarray]]:
    """The leader's dict of numpy arrays (or None) on every process, bit for bit."""
    if not is_multiprocess():
        return arrays
    data = None
    if is_leader():
        buf = io.BytesIO()
        if arrays is not None:
            np.savez(buf, **arrays)
        data = buf.getvalue()
    data = broadcast_bytes(data)
    if not data:
        return None
    with np.load(io.BytesIO(data)) as z:
        return {k: z[k] for k in z.files}


def gather_ints(values: Sequence[int]) -> np.ndarray:
    """int64 (processes, len(values)): every process's ``values``, row ``i`` from process ``i``."""
    row = np.asarray(values, np.int64).reshape(1, -1)
    if not is_multiprocess():
        return row
    from jax.experimental import multihost_utils as mh

    return np.asarray(mh.process_allgather(row[0], tiled=False)).reshape(process_count(), -1)


def allgather(tree: Any) -> Any:
    """A pytree of (sharded) jax arrays as numpy arrays, whole, on every process (every process
    must call it). One process: ``jax.device_get``."""
    import jax

    if not is_multiprocess():
        return jax.device_get(tree)
    from jax.sharding import NamedSharding, PartitionSpec as P

    leaves, treedef = jax.tree.flatten(tree)
    if not leaves:
        return tree
    mesh = leaves[0].sharding.mesh
    whole = jax.jit(_identity, out_shardings=NamedSharding(mesh, P()))(*leaves)
    return jax.tree.unflatten(treedef, [np.asarray(a.addressable_data(0)) for a in whole])


def _identity(*a):        # at the top level: compiled once per shape, not once per call
    return a


def global_array(tree: Any, sharding: Any) -> Any:
    """A pytree of host arrays (the same on every process) as jax arrays with ``sharding``; each
    process supplies its own shards (no cross-host check). One process: ``jax.device_put``."""
    import jax

    if not is_multiprocess():
        return jax.device_put(tree, sharding)

    def one(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return jax.tree.map(one, tree)
