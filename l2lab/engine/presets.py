"""The sweeps of the book and of SM A, as data: one :class:`SweepSpec` per architecture and scale.

``tiny``: CPU-sized stand-ins that the default build runs (FC on MNIST-5k, CNNs on 16x16 digits,
WRN-10-1 on 8x8 digits). ``paper``: the SM A setups (FC width 2048 and the Fig. 2a grid, WRN-28-10
and the Fig. 2d grid, the CNN of Fig. 3). Change a preset with ``preset(...)._replace(...)``.
"""
from __future__ import annotations

import copy

from l2lab import _checks
from l2lab.engine.models import ARCHS
from l2lab.engine.spec import SweepSpec
from l2lab.scales import SCALES

__all__ = ["PRESETS", "preset"]

_CNN_TINY = dict(model_kwargs={"channels": 8, "dense": 32, "pool_strides": (2, 2)}, dataset="mnist5k",
                 n_train=256, n_test=512, batch_size=256, points_per_octave=8, image_size=16)
_CNN_PAPER = dict(model_kwargs={"channels": 300, "dense": 500}, dataset="cifar10", n_train=50000,
                  etas=(0.01,), lams=(5e-5, 1e-4, 5e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
                  budget="etalam-epochs:0.01", batch_size=128, eval_batch_size=1000, max_steps=2 ** 24,
                  max_group_size=4)

PRESETS = {
    # Width-256 3-hidden-layer ReLU net on 512 MNIST samples (full batch, the other 4488 of
    # MNIST-5k as test set); ~2 min on 2 CPU cores. At width 256 the L2-driven gain in test
    # accuracy after the training set is fitted is only ~0.5%, the size of the paper's t*
    # tolerance, so t* is recorded within 0.1% of the peak. max_steps 4000 leaves out eta 1,
    # lam 3e-4 (46% of the sweep's steps); eta lam spans 6e-4 .. 6e-2.
    ("fc", "tiny"): SweepSpec(
        arch="fc", model_kwargs={"widths": (256, 256, 256)}, dataset="mnist5k", n_train=512,
        n_test=None, etas=(1.0, 2.0), lams=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2), seeds=(0,),
        budget="etalam:2", batch_size=512, points_per_octave=16, bucket=2.0, t_star_tol=0.001,
        max_steps=4000),
    ("fc", "paper"): SweepSpec(
        arch="fc", model_kwargs={"widths": (2048, 2048, 2048)}, dataset="mnist5k", n_train=512,
        etas=(0.0025, 0.01, 0.02, 0.025, 0.03, 0.05, 0.08, 0.15, 0.3, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0,
              25.0, 50.0),
        lams=(1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0),
        budget="etalam:2", batch_size=512, points_per_octave=8, max_steps=2 ** 20),
    # CPU-sized: 8 channels on 256 MNIST digits average-pooled to 16x16, full batch; the loss of
    # SM A is 1/(2K) of the usual cross-entropy, hence the larger eta than the paper's. Without
    # BN, lam >= 0.01 does not train and eta = 2, t eta lam = 1 is kept.
    ("cnn", "tiny"): SweepSpec(arch="cnn", etas=(2.0,), lams=(0.001, 0.003, 0.01, 0.03),
                               budget="etalam:1", **_CNN_TINY),
    # With BN, eta = 1 and t eta lam = 2 put every t* inside its budget (t* eta lam 1.41-1.44).
    ("cnn_bn", "tiny"): SweepSpec(arch="cnn_bn", etas=(1.0,), lams=(0.001, 0.003, 0.01),
                                  budget="etalam:2", **_CNN_TINY),
    ("cnn", "paper"): SweepSpec(arch="cnn", **_CNN_PAPER),
    ("cnn_bn", "paper"): SweepSpec(arch="cnn_bn", **_CNN_PAPER),
    # CPU-sized: WRN-10-1 on 256 MNIST digits average-pooled to 8x8, full batch, plain SGD;
    # t eta lam = 4 (t* eta lam is 1-3 here). max_steps drops (eta 2, lam 1e-3), a 2000-step run
    # (55% of the sweep's steps): five runs, eta lam 6e-3 .. 8e-2, two etas at lam 3e-3 and 1e-2.
    ("wrn", "tiny"): SweepSpec(
        arch="wrn", model_kwargs={"depth": 10, "width": 1}, dataset="mnist5k", n_train=256, n_test=512,
        etas=(2.0, 8.0), lams=(1e-3, 3e-3, 1e-2), budget="etalam:4", batch_size=256,
        points_per_octave=8, image_size=8, max_steps=1000),
    ("wrn", "paper"): SweepSpec(
        arch="wrn", model_kwargs={"depth": 28, "width": 10}, dataset="cifar10", n_train=50000,
        etas=(0.0125, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
        lams=(1.5625e-5, 6.25e-5, 1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 0.016),
        budget="etalam-epochs:0.1", batch_size=1024, eval_batch_size=1000, max_steps=4000 * 49,
        max_group_size=8),
}


def preset(arch: str, scale: str) -> SweepSpec:
    """The spec of ``arch`` (``"fc"``, ``"cnn"``, ``"cnn_bn"``, ``"wrn"``) at ``scale``
    (``"tiny"`` or ``"paper"``): :data:`PRESETS` (see the comments there)."""
    _checks.one_of("scale", scale, SCALES)
    _checks.one_of("arch", arch, ARCHS)
    spec = PRESETS[arch, scale]
    return spec._replace(model_kwargs=copy.deepcopy(spec.model_kwargs))   # the table stays as it is
