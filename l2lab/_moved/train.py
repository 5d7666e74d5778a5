"""``l2lab.train`` as it was: its names now live in :mod:`l2lab.engine` (settings, objective,
optimizers, tree, core, train). Kept so that old code and saved notebooks keep working."""
from l2lab.engine.core import (Engine, Measurement, TrainResult, TrainState, augmentation, measurement_grid,
                               seed_keys, set_hyperparams)
from l2lab.engine.objective import l2_penalty, mse_loss, total_loss, xent_loss
from l2lab.engine.optimizers import lr_factor, make_autol2_optimizer, make_optimizer
from l2lab.engine.settings import LAM_SCHEDULES, LOSSES, OPTIMIZERS, SCHEDULES, parse_lam_schedule
from l2lab.engine.train import TrainConfig, train
from l2lab.engine.tree import kernel_leaves, kernel_norms, kernel_paths, path_str

__all__ = [
    "TrainConfig", "TrainResult", "TrainState", "Measurement", "Engine", "kernel_paths", "kernel_norms",
    "kernel_leaves", "path_str", "xent_loss", "mse_loss", "l2_penalty", "total_loss", "make_optimizer",
    "lr_factor", "measurement_grid", "seed_keys", "set_hyperparams", "train", "LAM_SCHEDULES",
    "parse_lam_schedule", "make_autol2_optimizer", "OPTIMIZERS", "LOSSES", "SCHEDULES", "augmentation",
]
