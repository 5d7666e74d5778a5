"""The experiment engine: models, optimizers and lam schedules, AutoL2, training, sweeps.

* :mod:`~l2lab.engine.settings`: :class:`EngineSettings`, the static settings of a training
  program and the only home of their rules.
* :mod:`~l2lab.engine.autol2`: AutoL2 (SM E) as an optax transformation, its controller and replay.
* :mod:`~l2lab.engine.models` (SM A's FC, CNN, WRN), :mod:`~l2lab.engine.objective` (losses,
  L2), :mod:`~l2lab.engine.optimizers` (SGD/Adam/AdamW with L2, the learning-rate schedule),
  :mod:`~l2lab.engine.tree` (parameter paths, kernels).
* :mod:`~l2lab.engine.core` (:class:`Engine`: pure, jittable steps and measurements) and
  :mod:`~l2lab.engine.train` (:class:`TrainConfig`, :func:`train`: one configuration).
* :mod:`~l2lab.engine.spec` (:class:`SweepSpec`, budgets, configurations, groups),
  :mod:`~l2lab.engine.presets` (the book's and SM A's sweeps, as data),
  :mod:`~l2lab.engine.records` (records on disk), :mod:`~l2lab.engine.runner`
  (:func:`run_sweep`), :mod:`~l2lab.engine.cli` (``python -m l2lab.sweep``),
  :mod:`~l2lab.engine.lock` (the folder lock).
"""
from l2lab.engine import autol2
from l2lab.engine.core import (Engine, Measurement, TrainResult, TrainState, augmentation, check_dataset,
                               lam_change_steps, measurement_grid, seed_keys, set_hyperparams)
from l2lab.engine.models import ARCHS, make_model
from l2lab.engine.objective import l2_penalty, mse_loss, total_loss, xent_loss
from l2lab.engine.optimizers import lr_factor, make_autol2_optimizer, make_optimizer
from l2lab.engine.presets import PRESETS, preset
from l2lab.engine.loading import load_sweep
from l2lab.engine.records import Record, truncate
from l2lab.engine.runner import CONFIG_BATCHINGS, SweepInterrupted, load_data, resolve_config_batching, run_sweep
from l2lab.engine.settings import (LAM_SCHEDULES, LOSSES, OPTIMIZERS, SCHEDULES, EngineSettings,
                                   parse_lam_schedule)
from l2lab.engine.spec import SweepSpec, config_id, expand, group_configs, parse_budget, plan_groups, spec_id
from l2lab.engine.train import TrainConfig, train
from l2lab.engine.tree import kernel_leaves, kernel_norms, kernel_paths, path_str

__all__ = [
    "autol2", "EngineSettings", "Engine", "TrainState", "Measurement", "TrainResult", "TrainConfig", "train",
    "SweepSpec", "Record", "run_sweep", "load_sweep", "load_data", "truncate", "preset", "PRESETS",
    "spec_id", "config_id", "expand", "group_configs", "plan_groups", "parse_budget", "make_model", "ARCHS",
    "make_optimizer", "make_autol2_optimizer", "lr_factor", "xent_loss", "mse_loss", "l2_penalty",
    "total_loss", "measurement_grid", "seed_keys", "set_hyperparams", "augmentation", "check_dataset",
    "lam_change_steps", "kernel_leaves", "kernel_norms", "kernel_paths", "path_str",
    "parse_lam_schedule", "LOSSES", "SCHEDULES", "LAM_SCHEDULES", "OPTIMIZERS", "CONFIG_BATCHINGS",
    "resolve_config_batching", "SweepInterrupted",
]
