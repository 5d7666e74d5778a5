"""The sweeps of the book and of SM A, as data: one :class:`SweepSpec` per architecture and scale.

``tiny``: CPU-sized stand-ins that the default build runs (FC on MNIST-5k, CNNs on 16x16 digits,
WRN-10-1 on 8x8 digits). ``paper``: the SM A setups (FC width 2048 and the Fig. 2a grid, WRN-28-10
and the Fig. 2d grid, the CNN of Fig. 3). Change a preset with ``preset(...)._replace(...)``.

With ``L2LAB_SMOKE=1`` (:func:`l2lab.scales.smoke`) the paper presets come shrunk by
:func:`smoke_spec`: the same architecture, data set, image size, augmentation, optimizer and
sharding (``max_group_size``), but a few steps on a few small batches (:data:`SMOKE`).
"""
from __future__ import annotations

import copy

from l2lab import _checks
from l2lab.engine.models import ARCHS
from l2lab.engine.spec import SweepSpec, parse_budget
from l2lab import scales
from l2lab.scales import SCALES

__all__ = ["PRESETS", "SMOKE", "SMOKE_FIELDS", "preset", "smoke_spec", "smoke_if_asked"]

# What a smoke run keeps of a paper spec (everything else is kept as it is): n_train/n_test
# training/test images at most, minibatches of batch_size (a full-batch spec stays full batch),
# evaluation in chunks of eval_batch_size, "steps:<steps>" per configuration, points_per_octave
# measurements per doubling, the first and last of the etas and of the lams (an analysis across
# learning rates still has two), the first seed: at most four configurations a sweep; max_steps
# caps what stops by itself (the c measurement's search for a certain peak,
# l2lab.applications.predict). On 2 CPU cores a smoke sweep of the paper's CNN (300 channels)
# takes about a minute, most of it compiling and measuring.
SMOKE = {"n_train": 16, "n_test": 16, "batch_size": 4, "eval_batch_size": 8, "steps": 2,
         "points_per_octave": 1, "etas": 2, "lams": 2, "seeds": 1, "max_steps": 16}
# The SweepSpec fields that smoke_spec may change: what costs time, nothing else.
SMOKE_FIELDS = ("n_train", "n_test", "batch_size", "eval_batch_size", "budget",
                "points_per_octave", "etas", "lams", "seeds", "max_steps")

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


def _ends(values: tuple, n: int) -> tuple:
    """At most ``n`` of ``values``: the first and the last (then the first ``n - 2`` between)."""
    if len(values) <= n:
        return tuple(values)
    return (values[0], *values[1:n - 1], values[-1]) if n > 1 else (values[0],)


def smoke_spec(spec: SweepSpec) -> SweepSpec:
    """``spec`` shrunk for a smoke run of its code path (what ``L2LAB_SMOKE=1`` does to the
    paper presets): the fields in :data:`SMOKE_FIELDS` cut down to :data:`SMOKE`, every other
    field (architecture, model sizes, data set, image size, augmentation, momentum, schedules,
    loss, optimizer, sharding) unchanged. A full-batch spec (``batch_size >= n_train``) stays
    full batch. Idempotent: a smoke spec comes back as it is.
    """
    if not isinstance(spec, SweepSpec):
        raise _checks.bad_type("spec", f"must be a l2lab.engine.SweepSpec, got {type(spec).__name__}")
    n_train = min(spec.n_train, SMOKE["n_train"])
    full_batch = spec.batch_size >= spec.n_train
    batch = n_train if full_batch else min(spec.batch_size, SMOKE["batch_size"], n_train)
    n_test = SMOKE["n_test"] if spec.n_test is None else min(spec.n_test, SMOKE["n_test"])
    eval_batch = None if spec.eval_batch_size is None else min(spec.eval_batch_size,
                                                                SMOKE["eval_batch_size"])
    kind, value = parse_budget(spec.budget)
    steps = SMOKE["steps"] if kind != "steps" else min(int(value), SMOKE["steps"])
    return spec._replace(
        n_train=n_train, n_test=n_test, batch_size=batch, eval_batch_size=eval_batch,
        budget=f"steps:{steps}", points_per_octave=min(spec.points_per_octave,
                                                       SMOKE["points_per_octave"]),
        etas=_ends(tuple(spec.etas), SMOKE["etas"]), lams=_ends(tuple(spec.lams), SMOKE["lams"]),
        seeds=tuple(spec.seeds)[:SMOKE["seeds"]], max_steps=min(spec.max_steps, SMOKE["max_steps"]),
        model_kwargs=copy.deepcopy(spec.model_kwargs))


def smoke_if_asked(spec: SweepSpec) -> SweepSpec:
    """:func:`smoke_spec` of ``spec`` at ``L2LAB_SCALE=paper`` with ``L2LAB_SMOKE=1``, else
    ``spec``: what every entry point that trains from a spec (:func:`l2lab.engine.run_sweep`,
    :func:`l2lab.applications.predict.measure_c_spec`) does first, so that a chapter which
    overrides a smoke preset's budget or grid still runs a smoke run."""
    if scales.current() == "paper" and scales.smoke():
        return smoke_spec(spec)
    return spec


def preset(arch: str, scale: str) -> SweepSpec:
    """The spec of ``arch`` (``"fc"``, ``"cnn"``, ``"cnn_bn"``, ``"wrn"``) at ``scale``
    (``"tiny"`` or ``"paper"``): :data:`PRESETS` (see the comments there). At ``"paper"`` with
    ``L2LAB_SMOKE=1`` (:func:`l2lab.scales.smoke`): :func:`smoke_spec` of it."""
    _checks.one_of("scale", scale, SCALES)
    _checks.one_of("arch", arch, ARCHS)
    spec = PRESETS[arch, scale]
    spec = spec._replace(model_kwargs=copy.deepcopy(spec.model_kwargs))   # the table stays as it is
    return smoke_spec(spec) if scale == "paper" and scales.smoke() else spec
