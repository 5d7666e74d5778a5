"""The experiment engine: models, optimizers and lam schedules, AutoL2, training, sweeps."""
