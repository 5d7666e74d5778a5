"""One sweep over several processes on JAX's multi-process runtime (issue 19, part 2): two
processes with two CPU devices each on 127.0.0.1 write, bit for bit, the records of one process
with four devices; a kill -9 of one process stops the other, and restarting both finishes the
sweep with the same records and no checkpoint left."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from l2lab.engine import cli, distributed, lock, runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_SCRIPT = textwrap.dedent("""
    import sys
    n_proc, pid, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    import jax
    jax.config.update("jax_num_cpu_devices", 4 // n_proc)
    from l2lab.engine import distributed
    if n_proc > 1:
        distributed.initialize(f"127.0.0.1:{port}", n_proc, pid, bind=True, initialization_timeout=60,
                               heartbeat_timeout_seconds=5)
    import numpy as np
    from l2lab import sweep as S
    from l2lab.data import Dataset as DS
    assert jax.device_count() == 4 and jax.process_count() == n_proc
    r = np.random.RandomState(0)
    x = r.randn(96, 10).astype(np.float32); y = np.argmax(x @ r.randn(10, 3), 1).astype(np.int32)
    tr, te = DS(x[:64], y[:64], "toy-train", 3), DS(x[64:], y[64:], "toy-test", 3)
    spec = S.SweepSpec(arch="fc", model_kwargs={"widths": (32, 32)}, etas=(1.0, 2.0, 4.0),
                       lams=(0.001, 0.002), budget="etalam:4", batch_size=16, points_per_octave=4,
                       max_group_size=1)
    recs = S.run_sweep(spec, out, train_ds=tr, test_ds=te, progress=False, checkpoint_seconds=0)
    # every process returns the leader's records; the leader's exact bytes reach every process
    sent = distributed.broadcast_arrays({"x": np.asarray([-0.0, np.nan, 1e-45], np.float32)}
                                        if pid == 0 else None)["x"]
    got = distributed.broadcast_json([r.raw for r in recs] if pid == 0 else None)
    assert sent.tobytes() == np.asarray([-0.0, np.nan, 1e-45], np.float32).tobytes()
    assert got == [r.raw for r in recs] and len(recs) == 6
""")


_LEADER_ERRORS = textwrap.dedent("""
    import sys
    pid, port = int(sys.argv[2]), sys.argv[3]
    import jax
    jax.config.update("jax_num_cpu_devices", 1)
    from l2lab import _checks
    from l2lab.engine import distributed
    distributed.initialize(f"127.0.0.1:{port}", 2, pid, bind=True, initialization_timeout=60,
                           heartbeat_timeout_seconds=5)
    def fails(error):
        def fn():
            if distributed.is_leader():
                raise error
            raise AssertionError("fn ran on process 1")
        return fn
    caught = []
    for error in (OSError(28, "No space left on device"), _checks.bad_value("lams", "must be > 0"),
                  KeyError("records")):
        try:
            distributed.on_leader(fails(error))
        except Exception as e:
            caught.append((type(e).__name__, str(e), getattr(e, "argument", None)))
    assert distributed.on_leader(lambda: "after") == "after"     # the collectives still line up
    print("CAUGHT", caught, flush=True)
""")


def test_leader_errors_reach_every_process(tmp_path):
    """Whatever fn raises on the leader, the other process raises too instead of waiting in the
    next collective: ValueError/TypeError as themselves (with the argument), others as LeaderFailed."""
    script, logs = tmp_path / "errors.py", tmp_path / "logs"
    script.write_text(_LEADER_ERRORS)
    logs.mkdir()
    _finish(_start(script, tmp_path / "e", 2, logs), logs, timeout=120)
    caught = {}
    for i in range(2):
        line = next(l for l in (logs / f"e-{i}.log").read_text().splitlines() if l.startswith("CAUGHT"))
        caught[i] = eval(line[len("CAUGHT "):])
    assert [c[0] for c in caught[0]] == ["OSError", "ValueError", "KeyError"]      # the leader's own
    assert caught[1][0] == ("LeaderFailed", "process 0 failed: OSError: [Errno 28] No space left on device", None)
    assert caught[1][1] == caught[0][1] and caught[1][1][2] == "lams"
    assert caught[1][2] == ("LeaderFailed", "process 0 failed: KeyError: 'records'", None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(script, out, n_proc, logs):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    env.pop("XLA_FLAGS", None)
    port = str(_free_port())
    return [subprocess.Popen([sys.executable, str(script), str(n_proc), str(i), port, str(out)], env=env,
                             stdout=open(logs / f"{out.name}-{i}.log", "a"), stderr=subprocess.STDOUT)
            for i in range(n_proc)]


def _finish(procs, logs, timeout=240):
    deadline = time.time() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    text = "".join(f.read_text() for f in sorted(logs.glob("*.log")))
    assert [p.returncode for p in procs] == [0] * len(procs), text[-3000:]


def _records(out):
    """{id: record without its wall time and provenance} (those differ between any two runs)."""
    recs = {}
    for name in sorted(os.listdir(out / "records")):
        raw = json.loads((out / "records" / name).read_text())
        recs[name] = {k: v for k, v in raw.items() if k not in ("wall_time", "provenance")}
    return recs


def test_two_processes_equal_one_and_survive_a_kill(tmp_path):
    script, logs = tmp_path / "run.py", tmp_path / "logs"
    script.write_text(_SCRIPT)
    logs.mkdir()
    one, two, killed = tmp_path / "one", tmp_path / "two", tmp_path / "killed"
    _finish(_start(script, one, 1, logs), logs)
    _finish(_start(script, two, 2, logs), logs)
    ref = _records(one)
    assert len(ref) == 6 and _records(two) == ref               # bit for bit: curves, t*, groups
    prov = json.loads((two / "records" / sorted(ref)[0]).read_text())["provenance"]
    assert prov["num_processes"] == 2 and prov["num_devices"] == 4
    assert json.loads((one / "records" / sorted(ref)[0]).read_text())["provenance"]["num_processes"] == 1
    assert not os.listdir(two / "checkpoints")

    procs = _start(script, killed, 2, logs)
    deadline = time.time() + 180
    rec_dir, ck = killed / "records", killed / "checkpoints" / "g1.npz"
    while not (rec_dir.is_dir() and len(os.listdir(rec_dir)) >= 2 and ck.exists()):
        assert time.time() < deadline and all(p.poll() is None for p in procs), "no checkpoint of group 1"
        time.sleep(0.02)
    procs[1].send_signal(signal.SIGKILL)                # the second host dies in the middle of group 1
    procs[1].wait()
    procs[0].wait(timeout=60)                           # the first one stops too (heartbeat, 5 s)
    assert procs[0].returncode != 0
    assert len(os.listdir(rec_dir)) < 6
    with np.load(ck) as z:
        assert int(z["start"]) >= 1                      # restarting resumes an in-flight group
    _finish(_start(script, killed, 2, logs), logs)
    assert _records(killed) == ref
    assert not os.listdir(killed / "checkpoints")
    assert not [f for f in os.listdir(rec_dir) if not f.endswith(".json")]


# ----------------------------------------------------------------------------- one process

def test_fill_groups_moves_a_group_into_the_next_ones_padding():
    assert runner.fill_groups([[0], [1, 2], [3, 4, 5, 6, 7]], 1) == [[0], [1, 2], [3, 4, 5, 6, 7]]
    # 5 configurations pad to 8 on 4 devices: [2, 3] fits the 3 spare slots, then [0, 1] does not
    assert runner.fill_groups([[0, 1], [2, 3], [4, 5, 6, 7, 8]], 4) == [[0, 1], [2, 3, 4, 5, 6, 7, 8]]
    assert runner.fill_groups([[0], [1, 2], [3, 4, 5, 6, 7]], 4) == [[0, 1, 2, 3, 4, 5, 6, 7]]
    assert runner.fill_groups([[0], [1], [2], [3]], 4) == [[0, 1, 2, 3]]
    assert runner.fill_groups([[0, 1], [2, 3]], 2) == [[0, 1], [2, 3]]   # no padding: nothing moves
    assert runner.fill_groups([], 8) == []
    with pytest.raises(ValueError, match="n_devices"):
        runner.fill_groups([[0]], 0)


def _configs(steps):
    from l2lab.engine import TrainConfig
    return [TrainConfig(eta=0.1, lam=0.01 * (i + 1), steps=t) for i, t in enumerate(steps)]


def test_plan_groups_sizes_groups_for_the_devices():
    from l2lab.engine import plan_groups
    equal = _configs([100] * 12)
    # one device: group_configs as it was
    assert plan_groups(equal, 2.0, 4, 1) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    # 8 devices, at most 4 together: 8 + 4 (3 groups of 4 would leave half the devices idle 3 times)
    g8 = plan_groups(equal, 2.0, 4, 8)
    assert g8 == [list(range(8)), list(range(8, 12))]
    # 48 devices, at most 64: one group of 12, not padded beyond the 48 it needs
    assert plan_groups(equal, 2.0, 64, 48) == [list(range(12))]
    # 3 devices, at most 4 (-> 6 = 2 per device): 6 + 6, no padding at all
    assert plan_groups(equal, 2.0, 4, 3) == [list(range(6)), list(range(6, 12))]
    with pytest.raises(ValueError, match="n_devices"):
        plan_groups(equal, 2.0, 4, 0)
    with pytest.raises(ValueError, match="max_group_size"):
        plan_groups(equal, 2.0, 0, 2)


@pytest.mark.parametrize("n_devices", [1, 2, 3, 8, 64])
@pytest.mark.parametrize("max_group_size", [1, 5, 16])
def test_plan_groups_keeps_every_configuration_once_and_wastes_no_more(n_devices, max_group_size):
    from l2lab.engine import group_configs, plan_groups
    rng = np.random.RandomState(n_devices * 100 + max_group_size)
    configs = _configs(rng.randint(1, 5000, size=37).tolist())
    groups = plan_groups(configs, 2.0, max_group_size, n_devices)
    assert sorted(i for g in groups for i in g) == list(range(37))
    per_device = -(-max_group_size // n_devices)
    assert all(-(-len(g) // n_devices) <= per_device for g in groups)   # no device holds more
    longest = [max(configs[i].steps for i in g) for g in groups]
    assert longest == sorted(longest)                                    # shortest budgets first
    old = group_configs(configs, 2.0, max_group_size)                    # the plan without devices
    assert len(groups) <= len(old)
    rounds = lambda gs: sum(-(-len(g) // n_devices) * max(configs[i].steps for i in g) for g in gs)
    assert rounds(groups) <= rounds(old)                                 # wall time: device-steps in a row
    if n_devices == 1:
        assert groups == old


def test_one_process_functions_are_the_plain_local_ones():
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    assert distributed.is_leader() and not distributed.is_multiprocess()
    assert distributed.on_leader(lambda: [1, "a"]) == [1, "a"]
    with pytest.raises(ValueError, match="boom"):
        distributed.on_leader(lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert distributed.broadcast_json({"a": [1.5]}) == {"a": [1.5]}
    assert distributed.broadcast_arrays(None) is None
    np.testing.assert_array_equal(distributed.gather_ints([3, 0]), [[3, 0]])
    shard = NamedSharding(Mesh(np.asarray(jax.devices()), ("c",)), P("c"))
    x = np.arange(len(jax.devices()) * 3, dtype=np.float32)
    arr = distributed.global_array({"x": x}, shard)["x"]
    assert arr.sharding == shard
    back = distributed.allgather({"x": arr * 2})["x"]
    assert isinstance(back, np.ndarray) and back.tolist() == (x * 2).tolist()


def test_initialize_checks_its_arguments():
    with pytest.raises(ValueError, match="together"):
        distributed.initialize("127.0.0.1:1234", None, 0)
    with pytest.raises(ValueError, match="coordinator"):
        distributed.initialize("localhost", 2, 0)
    with pytest.raises(ValueError, match="process_id"):
        distributed.initialize("127.0.0.1:1234", 2, 2)
    assert distributed.parse_coordinator("10.0.0.1:08476") == "10.0.0.1:8476"


def test_busy_folder_is_refused_without_waiting(tmp_path):
    with lock.folder_lock(str(tmp_path)):
        with pytest.raises(lock.FolderBusy, match="another process"):
            with lock.folder_lock(str(tmp_path), wait=False):
                pass
    with lock.folder_lock(str(tmp_path), wait=False):      # free again
        pass


@pytest.mark.parametrize("argv,message", [
    (["--coordinator", "nohost"], "argument --coordinator: `coordinator` must be HOST:PORT"),
    (["--coordinator", "h:1", "--num-processes", "2"], "argument --coordinator: needs --process-id"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"], "argument --process-id: must be below"),
    (["--process-id", "-1"], "argument --process-id: "),
    (["--distributed", "--num-processes", "2"], "argument --distributed: finds the processes itself"),
])
def test_cli_process_options_are_argparse_errors(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(distributed, "initialize", lambda *a, **k: pytest.fail("initialized"))
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and message in err[-1], err


@pytest.mark.parametrize("argv,expected", [
    (["--coordinator", "10.0.0.1:8476", "--num-processes", "4", "--process-id", "3"], ("10.0.0.1:8476", 4, 3)),
    (["--distributed"], (None, None, None)),
])
def test_cli_joins_the_processes_before_anything_else(argv, expected, monkeypatch):
    calls = []

    def fake(*args, **kw):
        calls.append(args)
        raise RuntimeError("no coordinator\nat all")

    monkeypatch.setattr(distributed, "initialize", fake)
    with pytest.raises(SystemExit, match=r"could not start the processes \(RuntimeError: no coordinator\)"):
        cli.main(argv + ["--out", "/nonexistent/never-written"])
    assert calls == [expected]


def test_cli_follower_says_why_it_stops_when_the_leader_failed(tmp_path, monkeypatch, capsys):
    """A follower whose leader failed on the folder (LeaderFailed) exits 1 with one line naming
    the leader's error, not a traceback."""
    def leader_failed(*args, **kw):
        raise distributed.LeaderFailed("process 0 failed: OSError: [Errno 28] No space left on device")

    monkeypatch.setattr(cli, "run_sweep", leader_failed)
    with pytest.raises(SystemExit) as e:
        cli.main(["--arch", "fc", "--scale", "tiny", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 1 and err[-1] == "error: process 0 failed: OSError: [Errno 28] No space left on device"
