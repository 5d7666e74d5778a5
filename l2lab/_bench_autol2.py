"""Benchmark of AutoL2 inside the engine: ``python -m l2lab.bench autol2 [--quick]``.

The same run twice, side by side in one process: ``lam_schedule="constant"`` and
``lam_schedule="autol2"`` (SM E: a measurement every 5 steps), each as one
:meth:`l2lab.train.Engine.run` chunk of ``N`` steps (the engine's on-device ``fori_loop``),
compiled first, then timed in ``R`` rounds of (constant, autol2, constant again). The
AutoL2 measurement is taken on the training batch the step already computes (the full training
set for these full-batch presets: the paper's training loss and error), so its cost is an argmax
over the batch's logits and the controller's scalar update (a fixed few tens of microseconds per
step on CPU, whatever the model). Printed: the best time per step of each, the ratio
``autol2 / constant`` (target < 1.05) as the median over rounds of ``autol2`` against the mean of
the two constant timings around it (robust to load that comes and goes), and the noise floor,
the median ratio of the two constant timings of a round. Cases:

(a) the FC tiny preset (3 hidden layers of width 256, 512 MNIST samples, full batch), one run;
(b) the same, 4 configurations vmapped in one program (as :func:`l2lab.sweep.run_sweep` trains a
    group);
(c) a deliberately small FC (width 16), where the step is cheapest and a fixed overhead shows most;
(d) the CNN tiny preset (8 channels, 256 16x16 images, full batch), one run.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from l2lab.engine import models as M
from l2lab import engine as S
from l2lab import engine as T


def _engines(arch: str, model_kwargs: dict, n_train: int, image_size: int = 32):
    """(constant engine, autol2 engine, initial params) for a full-batch preset-like setup."""
    spec = S.preset(arch, "tiny")._replace(model_kwargs=model_kwargs, n_train=n_train, n_test=256,
                                          image_size=image_size)
    tr, te = S.load_data(spec)
    model = M.make_model(arch, num_classes=int(tr.num_classes), **model_kwargs)
    apply_fn = lambda p, x: model.apply({"params": p}, x)
    kw = dict(batch_size=n_train, momentum=0.0)
    const = T.Engine(apply_fn, tr, te, T.EngineSettings(**kw))
    auto = T.Engine(apply_fn, tr, te, T.EngineSettings(lam_schedule="autol2", autol2_every=5, **kw))
    params = M.init(model, T.seed_keys(0)[0], (1,) + tuple(np.shape(tr.x)[1:]))
    return const, auto, params


def _chunk(engine: T.Engine, params, n_steps: int, n_configs: int):
    """A compiled ``n_steps``-update chunk (no measurement) and its initial state(s)."""
    key = T.seed_keys(0)[1]
    if n_configs == 1:
        st = engine.init_state(params, 1.0, 0.01, 10 ** 9, key)
        loop = lambda s, d: jax.lax.fori_loop(0, n_steps, lambda _, q: engine.step(q, d), s)
    else:
        lams = jnp.logspace(-3, -1, n_configs)
        st = jax.vmap(lambda l: engine.init_state(params, 1.0, l, 10 ** 9, key))(lams)
        loop = jax.vmap(lambda s, d: jax.lax.fori_loop(0, n_steps, lambda _, q: engine.step(q, d), s),
                        in_axes=(0, None))
    fn = jax.jit(loop)
    jax.block_until_ready(fn(st, engine.data))       # compile
    return fn, st


def _timed_rounds(fns, repeats: int) -> np.ndarray:
    """Seconds (repeats, F) of each ``() -> pytree`` function, all called in turn each round."""
    out = np.zeros((repeats, len(fns)))
    for r in range(repeats):
        for j, f in enumerate(fns):
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            out[r, j] = time.perf_counter() - t0
    return out


def bench_case(label: str, arch: str, model_kwargs: dict, n_train: int, n_steps: int, repeats: int,
               n_configs: int = 1, image_size: int = 32) -> float:
    """Print and return the ratio autol2 / constant of the time per step of one case."""
    const, auto, params = _engines(arch, model_kwargs, n_train, image_size)
    (f_c, s_c), (f_a, s_a) = (_chunk(e, params, n_steps, n_configs) for e in (const, auto))
    c = lambda: f_c(s_c, const.data)
    t = _timed_rounds([c, lambda: f_a(s_a, auto.data), c], repeats)
    ratio = float(np.median(t[:, 1] / (0.5 * (t[:, 0] + t[:, 2]))))
    noise = float(np.median(np.maximum(t[:, 0], t[:, 2]) / np.minimum(t[:, 0], t[:, 2])))
    best_c, best_a = t[:, [0, 2]].min() / n_steps, t[:, 1].min() / n_steps
    print(f"{label}: {n_steps} steps x {n_configs} config(s), {repeats} rounds")
    print(f"    best: constant lam {best_c * 1e3:8.3f} ms/step, autol2 {best_a * 1e3:8.3f} ms/step "
          f"({(best_a - best_c) * 1e6:+.0f} us/step); median ratio autol2/constant {ratio:.3f} "
          f"(target < 1.05); noise floor {noise:.3f}")
    return ratio


def main(quick: bool = False) -> None:
    n, r = (100, 3) if quick else (400, 9)
    dev = jax.devices()[0]
    print(f"AutoL2 inside the engine's loop against constant lam, on {dev.platform} ({dev.device_kind})")
    fc256, cnn = {"widths": (256,) * 3}, {"channels": 8, "dense": 32, "pool_strides": (2, 2)}
    ratios = {
        "fc-256": bench_case("(a) FC 3x256, 512 MNIST, full batch", "fc", fc256, 512, n, r),
        "fc-256 x4": bench_case("(b) FC 3x256, 4 configs vmapped", "fc", fc256, 512, n // 4, r, n_configs=4),
        "fc-16": bench_case("(c) FC 3x16, 512 MNIST, full batch", "fc", {"widths": (16,) * 3}, 512, 5 * n, r),
        "cnn": bench_case("(d) CNN tiny (8 channels, 256 16x16 images)", "cnn", cnn, 256, max(20, n // 8), r,
                          image_size=16),
    }
    shown = ", ".join(f"{k}: {v:.3f}" for k, v in ratios.items())
    print(f"ratios autol2/constant step time: {shown} (target < 1.05)")


if __name__ == "__main__":
    main()
