"""Benchmark of the experiment engine: ``python -m l2lab.bench sweep [--quick]``.

(a) Throughput (configuration-steps per second) of a 16-configuration eta x lam grid of the FC
    model (3 hidden layers of width 16 and 128, 512 MNIST samples, full batch) trained by
    :func:`l2lab.sweep.run_sweep` (one vmapped program, on-device loops) against the same 16 runs
    written the way a Flax user would: ``flax.training.train_state.TrainState`` with
    ``optax.chain(add_decayed_weights(lam), sgd(eta))``, one ``jax.jit`` step per Python
    iteration, configurations one after another, the same measurements on the same grid.
    Both timings include compilation. Target: ratio >= 5. On a 2-core CPU the width-128 step is
    compute-bound for both (the ratio is then ~1); the engine's gain is the removed per-step
    dispatch and host round-trips, which dominate for small models and on accelerators.
(b) Achieved FLOP/s of the width-2048 FC training step (batch 512, the paper's FC setup) run by
    the engine, against the FLOP/s of a plain large ``jnp.dot`` on the same device. FLOPs are
    counted analytically (2 per multiply-add: forward, weight gradients, input gradients of all
    but the first layer). Target: ratio >= 0.5 on CPU.
(c) Conv nets inside the engine's on-device loop (WRN-10-1, 16x16 inputs, batch 256): seconds per
    step with XLA's own convolution gradient and with l2lab's canonical-form VJP
    (``conv_gradient``, see ``l2lab._conv``), against one jitted step called from Python; and
    3 configurations per device ``vmap``-ed against ``lax.map``-ed (``config_batching``).
"""
from __future__ import annotations

import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from l2lab.engine import models as M
from l2lab import engine as S
from l2lab import engine as T
from l2lab.data import Dataset as DS


def _data():
    try:
        from l2lab import data as D

        return D.paper_split("mnist5k", n_train=512, n_test=1000, seed=0)
    except Exception as e:  # pragma: no cover - synthetic stand-in if the data module is missing
        print(f"(mnist5k unavailable: {e}; using random data)")
        r = np.random.RandomState(0)
        return (DS(r.rand(512, 28, 28, 1).astype(np.float32), r.randint(0, 10, 512).astype(np.int32), "rand", 10),
                DS(r.rand(1000, 28, 28, 1).astype(np.float32), r.randint(0, 10, 1000).astype(np.int32), "rand", 10))


def _flax_user_baseline(model, tr, te, etas, lams, steps, ppo):
    from flax.training import train_state

    x, y = jnp.asarray(tr.x), jax.nn.one_hot(tr.y, 10)
    xt, yt = jnp.asarray(te.x), jax.nn.one_hot(te.y, 10)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(p):
            return T.xent_loss(state.apply_fn({"params": p}, x), y)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    @jax.jit
    def evaluate(params, x, y):
        logits = model.apply({"params": params}, x)
        return T.xent_loss(logits, y), jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(y, -1))

    grid = set(T.measurement_grid(steps, ppo).tolist())
    params0 = M.init(model, T.seed_keys(0)[0], (1, 28, 28, 1))
    out = []
    for eta in etas:
        for lam in lams:
            tx = optax.chain(optax.add_decayed_weights(lam), optax.sgd(eta))
            state = train_state.TrainState.create(apply_fn=model.apply, params=params0, tx=tx)
            hist = [evaluate(state.params, x, y) + evaluate(state.params, xt, yt)]
            for t in range(1, steps + 1):
                state, loss = train_step(state, x, y)
                if t in grid:
                    hist.append(evaluate(state.params, x, y) + evaluate(state.params, xt, yt))
            out.append(jax.device_get(hist))
    return out


def bench_grid(width: int, steps: int) -> float:
    tr, te = _data()
    etas, lams = (0.5, 1.0, 2.0, 4.0), (1e-4, 1e-3, 1e-2, 3e-2)
    spec = S.SweepSpec(arch="fc", model_kwargs={"widths": (width,) * 3}, n_train=512, n_test=1000,
                       etas=etas, lams=lams, budget=f"steps:{steps}", batch_size=512, points_per_octave=8)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        S.run_sweep(spec, d, train_ds=tr, test_ds=te, progress=False)
        t_engine = time.perf_counter() - t0
    model = M.FC(widths=(width,) * 3)
    t0 = time.perf_counter()
    _flax_user_baseline(model, tr, te, etas, lams, steps, 8)
    t_user = time.perf_counter() - t0
    n = 16 * steps
    print(f"(a) 16-config FC grid, width {width}, 512 samples full batch, {steps} steps each (compile included)")
    print(f"    engine (vmap, one program):       {t_engine:7.2f} s  {n / t_engine:9.0f} config-steps/s")
    print(f"    Flax-user loop (jit step/config): {t_user:7.2f} s  {n / t_user:9.0f} config-steps/s")
    ratio = t_user / t_engine
    print(f"    speed-up engine / Flax loop: {ratio:.2f}x  (target >= 5x)")
    return ratio


def _fc_step_flops(widths, d_in, k, batch):
    dims = [d_in, *widths, k]
    mac = [a * b for a, b in zip(dims[:-1], dims[1:])]
    return 2 * batch * (sum(mac) + sum(mac) + sum(mac[1:]))


def bench_flops(repeats: int) -> float:
    widths, batch = (2048, 2048, 2048), 512
    r = np.random.RandomState(0)
    ds = DS(r.rand(batch, 28, 28, 1).astype(np.float32), r.randint(0, 10, batch).astype(np.int32), "rand", 10)
    model = M.FC(widths=widths)
    eng = T.Engine(lambda p, x: model.apply({"params": p}, x), ds, ds, T.EngineSettings(batch_size=batch))
    params = M.init(model, jax.random.PRNGKey(0), (1, 28, 28, 1))
    st = eng.init_state(params, 0.01, 1e-4, 10 ** 9, jax.random.PRNGKey(1))
    n_steps = 10
    advance = jax.jit(lambda s, d: jax.lax.fori_loop(0, n_steps, lambda _, s: eng.step(s, d), s))
    st = advance(st, eng.data)
    jax.block_until_ready(st)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        st = advance(st, eng.data)
        jax.block_until_ready(st)
        best = min(best, (time.perf_counter() - t0) / n_steps)
    flops = _fc_step_flops(widths, 784, 10, batch)
    step_rate = flops / best

    n = 4096
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n))
    dot = jax.jit(jnp.dot)
    dot(a, b).block_until_ready()
    best_dot = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        dot(a, b).block_until_ready()
        best_dot = min(best_dot, time.perf_counter() - t0)
    dot_rate = 2 * n ** 3 / best_dot
    ratio = step_rate / dot_rate
    dev = jax.devices()[0]
    print(f"(b) FC 3x2048 training step, batch 512, on {dev.platform} ({dev.device_kind})")
    print(f"    engine step: {best * 1e3:7.2f} ms, {flops / 1e9:.2f} GFLOP -> {step_rate / 1e9:8.1f} GFLOP/s")
    print(f"    jnp.dot {n}x{n}: {best_dot * 1e3:7.2f} ms -> {dot_rate / 1e9:8.1f} GFLOP/s")
    print(f"    ratio step / dot: {ratio:.2f}  (target >= 0.5)")
    return ratio


def bench_conv(quick: bool = False) -> None:
    r = np.random.RandomState(0)
    ds = DS(r.rand(256, 16, 16, 1).astype(np.float32), r.randint(0, 10, 256).astype(np.int32), "rand", 10)
    n = 2 if quick else 4

    def timed(f, *args):
        jax.block_until_ready(f(*args))           # compile
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        return time.perf_counter() - t0

    dev = jax.devices()[0]
    print(f"(c) WRN-10-1 training step, 16x16x1 inputs, batch 256, on {dev.platform} ({dev.device_kind})")
    per = {}
    for mode in ("xla", "canonical"):
        model = M.WideResNet(depth=10, width=1, conv_gradient=mode)
        eng = T.Engine(lambda p, x: model.apply({"params": p}, x), ds, ds, T.EngineSettings(batch_size=256))
        st = eng.init_state(M.init(model, jax.random.PRNGKey(0), (1, 16, 16, 1)), 0.5, 1e-3, 10 ** 9,
                            jax.random.PRNGKey(1))
        loop = jax.jit(lambda s, d: jax.lax.fori_loop(0, n, lambda _, q: eng.step(q, d), s))
        one = jax.jit(eng.step)
        t_loop = timed(loop, st, eng.data) / n
        t_one = timed(one, st, eng.data)
        per[mode] = (t_loop, t_one)
        print(f"    conv_gradient={mode:9s}: in fori_loop {t_loop * 1e3:8.1f} ms/step, "
              f"one jitted step {t_one * 1e3:7.1f} ms")
        if mode == "canonical":
            c = 3
            sts = jax.tree.map(lambda a: jnp.stack([a] * c), st)
            vm = jax.jit(jax.vmap(lambda s, d: jax.lax.fori_loop(0, n, lambda _, q: eng.step(q, d), s),
                                  in_axes=(0, None)))
            mp = jax.jit(lambda ss, d: jax.lax.map(
                lambda s: jax.lax.fori_loop(0, n, lambda _, q: eng.step(q, d), s), ss))
            t_vm, t_mp = timed(vm, sts, eng.data) / n, timed(mp, sts, eng.data) / n
            print(f"    {c} configs per device: vmap {t_vm * 1e3:8.1f} ms/step, lax.map {t_mp * 1e3:8.1f} ms/step "
                  f"-> map/vmap speed-up {t_vm / t_mp:.1f}x")
    print(f"    canonical VJP speed-up inside the loop: {per['xla'][0] / per['canonical'][0]:.1f}x; "
          f"loop / single-step time: {per['canonical'][0] / per['canonical'][1]:.2f}")


def main(quick: bool = False) -> None:
    # A tiny width (dispatch-bound per step) and a moderate one (compute-bound on CPU).
    widths = (16,) if quick else (16, 128)
    ratios = [bench_grid(width=w, steps=50 if quick else 400) for w in widths]
    r_b = bench_flops(repeats=2 if quick else 5)
    bench_conv(quick)
    shown = ", ".join(f"width {w}: {r:.2f}x" for w, r in zip(widths, ratios))
    print(f"ratios: grid speed-up {shown} (target >= 5x); FLOP/s fraction {r_b:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
