"""Per-kernel weight norms ||w||_2 (``Measurement.kernel_norms``, ``TrainResult.kernel_norms``):
equal to the norms of independently trained parameters, biases make up the rest of ||theta||,
written to and restored from sweep records, cut by ``truncate``, None for older records, NaN
after divergence."""
import glob
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2lab.engine import models as M
from l2lab import sweep as S
from l2lab import train as T
from toy_data import toy as _toy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATHS = ["Dense_0/kernel", "Dense_1/kernel", "Dense_2/kernel"]


def _flat(params):
    return {"/".join(str(k.key) for k in p): np.asarray(v, np.float64)
            for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}


def test_kernel_norms_match_independently_trained_params():
    tr, te = _toy()
    model = M.FC(widths=(8, 8), num_classes=3, sigma_b=0.5)       # nonzero biases: they must be left out
    cfg = T.TrainConfig(eta=0.5, lam=0.01, steps=10, batch_size=64)   # full batch: plain GD
    res = T.train(model, tr, te, cfg, progress=False)
    assert sorted(res.kernel_norms) == PATHS
    for v in res.kernel_norms.values():
        assert v.dtype == np.float64 and v.shape == res.steps.shape and np.all(np.isfinite(v))

    # the same run by hand: GD on L_data + lam/2 ||theta||^2 from the same initial weights
    params = M.init(model, T.seed_keys(cfg.seed)[0], (1, 10))
    assert T.kernel_paths(params) == PATHS
    apply_fn = lambda p, x: model.apply({"params": p}, x)
    y1 = jax.nn.one_hot(tr.y, 3)
    grad = jax.jit(jax.grad(lambda p: T.total_loss(apply_fn, p, jnp.asarray(tr.x), y1, cfg.lam)))
    first = _flat(params)
    for _ in range(cfg.steps):
        params = jax.tree.map(lambda p, g: p - cfg.eta * g, params, grad(params))
    flat = _flat(params)
    for p in PATHS:
        np.testing.assert_allclose(res.kernel_norms[p][0], np.linalg.norm(first[p]), rtol=1e-6)
        np.testing.assert_allclose(res.kernel_norms[p][-1], np.linalg.norm(flat[p]), rtol=1e-4)
    bias_sq = sum(np.sum(v ** 2) for k, v in flat.items() if k.endswith("/bias"))
    assert bias_sq > 0
    kern_sq = sum(res.kernel_norms[p][-1] ** 2 for p in PATHS)
    assert kern_sq < res.param_norm[-1] ** 2
    np.testing.assert_allclose(res.param_norm[-1] ** 2, kern_sq + bias_sq, rtol=1e-5)
    # at every measurement the kernels' share is below the total
    total_sq = sum(v ** 2 for v in res.kernel_norms.values())
    assert np.all(total_sq <= res.param_norm ** 2 * (1 + 1e-6))


def test_sweep_records_restore_and_truncate_kernel_norms(tmp_path):
    tr, te = _toy()
    spec = S.SweepSpec(arch="fc", model_kwargs={"widths": (8, 8)}, etas=(1.0,), lams=(0.02, 0.1),
                       budget="steps:40", batch_size=64, points_per_octave=4)
    out = str(tmp_path / "sw")
    recs = S.run_sweep(spec, out, train_ds=tr, test_ds=te, progress=False)
    assert len(recs) == 2
    for r in recs:
        raw = json.load(open(os.path.join(out, "records", r.id + ".json")))
        assert sorted(raw["curves"]["kernel_norms"]) == PATHS
        assert sorted(r.result.kernel_norms) == PATHS
        # in memory equals a single run of the same configuration
        single = T.train(M.make_model("fc", num_classes=3, widths=(8, 8)), tr, te, r.config, progress=False)
        for p in PATHS:
            assert r.result.kernel_norms[p].shape == r.result.steps.shape
            np.testing.assert_allclose(r.result.kernel_norms[p], single.kernel_norms[p], rtol=1e-5)
            assert raw["curves"]["kernel_norms"][p] == r.result.kernel_norms[p].tolist()
        cut = S.truncate(r, 16)
        assert sorted(cut.result.kernel_norms) == PATHS
        for p in PATHS:
            assert cut.result.kernel_norms[p].shape == cut.result.steps.shape
            np.testing.assert_array_equal(cut.result.kernel_norms[p],
                                          r.result.kernel_norms[p][: len(cut.result.steps)])
    again = S.load_sweep(out)
    for a, b in zip(again, recs):
        for p in PATHS:
            np.testing.assert_array_equal(a.result.kernel_norms[p], b.result.kernel_norms[p])


def test_records_without_kernel_norms_load_with_none(tmp_path):
    src = sorted(glob.glob(os.path.join(ROOT, "data", "sweeps", "fc-mnist5k-paper", "records", "*.json")))
    if not src:
        pytest.skip("no committed fc-mnist5k-paper records")
    os.makedirs(tmp_path / "old" / "records")
    shutil.copy(src[0], tmp_path / "old" / "records")
    shutil.copy(os.path.join(os.path.dirname(os.path.dirname(src[0])), "manifest.json"), tmp_path / "old")
    assert "kernel_norms" not in json.load(open(src[0]))["curves"]
    rec, = S.load_sweep(str(tmp_path / "old"))
    assert rec.result.kernel_norms is None
    if rec.config.schedule == "constant":
        cut = S.truncate(rec, min(4, rec.config.steps))
        assert cut.result.kernel_norms is None


def test_diverged_run_has_nan_kernel_norms():
    tr, te = _toy()
    model = M.FC(widths=(8,), num_classes=3)
    res = T.train(model, tr, te, T.TrainConfig(eta=1e6, lam=0.0, steps=50, batch_size=64), progress=False)
    assert res.diverged and 0 <= res.diverged_at < 50
    after = res.steps > res.diverged_at
    assert after.any()
    for v in res.kernel_norms.values():
        assert np.isfinite(v[0])
        assert np.all(np.isnan(v[after]))
