"""Step time of each paper-scale architecture: ``python -m l2lab.bench arch [--quick]``.

One training step of the engine (:class:`l2lab.train.Engine`, SGD with coupled L2, the SM A
loss) for the paper's FC (3 x 2048, batch 512), CNN with 300 channels with and without batch
norm (batch 128) and WRN-28-10 (batch 1024), on random data of the paper's input shapes (MNIST
28x28x1 for FC, CIFAR-10 32x32x3 for the rest), timed over 10 steps inside one compiled loop
after a compiled warm-up. Prints seconds per step, parameters and the time one configuration of
each grid of SM A would take at that step time (the README's cost table). ``--quick``: batches of
2 and 2 timed steps (a smoke test of the code path; the times mean nothing).
"""
from __future__ import annotations

import time

import jax
import numpy as np

from l2lab.engine import models as M
from l2lab import engine as T
from l2lab.data import Dataset as DS

# (label, arch, model kwargs, input shape (H, W, C), batch size of SM A)
CASES = (
    ("FC 3x2048", "fc", {"widths": (2048, 2048, 2048)}, (28, 28, 1), 512),
    ("CNN-300", "cnn", {"channels": 300, "dense": 500}, (32, 32, 3), 128),
    ("CNN-300 + BN", "cnn_bn", {"channels": 300, "dense": 500}, (32, 32, 3), 128),
    ("WRN-28-10", "wrn", {"depth": 28, "width": 10}, (32, 32, 3), 1024),
)


def step_time(arch: str, model_kwargs: dict, shape, batch: int, n_steps: int) -> tuple:
    """(seconds per engine step, number of parameters, compile + first-call seconds)."""
    r = np.random.RandomState(0)
    ds = DS(r.rand(batch, *shape).astype(np.float32), r.randint(0, 10, batch).astype(np.int32),
            "rand", 10)
    model = M.make_model(arch, **model_kwargs)
    eng = T.Engine(lambda p, x: model.apply({"params": p}, x), ds, ds, T.EngineSettings(batch_size=batch))
    params = M.init(model, jax.random.PRNGKey(0), (2, *shape))
    st = eng.init_state(params, 0.01, 1e-4, 10 ** 9, jax.random.PRNGKey(1))
    advance = jax.jit(lambda s, d: jax.lax.fori_loop(0, n_steps, lambda _, s: eng.step(s, d), s))
    t0 = time.perf_counter()
    st = jax.block_until_ready(advance(st, eng.data))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(advance(st, eng.data))
    return (time.perf_counter() - t0) / n_steps, M.num_params(params), first


def main(quick: bool = False) -> None:
    dev = jax.devices()[0]
    print(f"Engine step time of the paper-scale architectures on {dev.platform} ({dev.device_kind}), "
          f"jax {jax.__version__}" + ("  [--quick: batch 2, the times mean nothing]" if quick else ""))
    print(f"{'model':<14} {'batch':>5} {'params':>8} {'compile s':>9} {'s/step':>9}")
    for label, arch, kw, shape, batch in CASES:
        b = 2 if quick else batch
        sec, n, first = step_time(arch, kw, shape, b, 2 if quick else 10)
        print(f"{label:<14} {b:>5} {n / 1e6:7.1f}M {first:9.1f} {sec:9.4f}", flush=True)


if __name__ == "__main__":
    main()
