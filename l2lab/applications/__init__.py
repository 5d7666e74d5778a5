"""The applications: lam_pred = c/T (predict) and tuning against sweeps."""
