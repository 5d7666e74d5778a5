"""The applications: lam_pred = c/T without a sweep, and tuning against sweeps.

* :mod:`~l2lab.applications.predict`: :func:`predict_lambda`, :func:`measure_c` (one cheap run
  gives c) and their preset forms; the CLI ``python -m l2lab.predict``
  (:mod:`~l2lab.applications.predict_cli`).
* :mod:`~l2lab.applications.tuning`: tuned lam per budget from a sweep, runs at lam_pred,
  AutoL2 against the best constant lam.
* :mod:`~l2lab.applications.committed`: the same, read back from the runs committed to ``data/``.

AutoL2 itself is part of the engine (:mod:`l2lab.engine.autol2`), which trains with it.
"""
from l2lab.applications import committed
from l2lab.applications.predict import (DEFAULT_LAM, CMeasurement, PresetSetup, first_decay_step, measure_c,
                                        measure_c_preset, measure_c_spec, peak_is_certain, predict_lambda,
                                        preset_setup, spec_setup)
from l2lab.applications.tuning import (BAND, AutoL2Comparison, Comparison, TunedLambda, autol2_runs, autol2_table,
                                       compare, compare_autol2, comparison_table, fixed_budget_runs,
                                       predicted_runs, summary, tuned_lambda, tuning_sweep)

__all__ = ["committed", "CMeasurement", "PresetSetup", "predict_lambda", "first_decay_step", "peak_is_certain",
           "measure_c",
           "measure_c_spec", "measure_c_preset", "spec_setup", "preset_setup", "DEFAULT_LAM",
           "TunedLambda", "tuned_lambda", "tuning_sweep", "predicted_runs", "fixed_budget_runs", "Comparison",
           "compare", "comparison_table", "summary", "autol2_runs", "AutoL2Comparison", "compare_autol2",
           "autol2_table", "BAND"]
