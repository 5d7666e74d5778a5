"""``l2lab.predict`` as it was: :mod:`l2lab.applications.predict` and its CLI
(:mod:`l2lab.applications.predict_cli`). Kept so that old code, saved notebooks and
``python -m l2lab.predict`` keep working."""
from l2lab.applications.predict import (DEFAULT_LAM, CMeasurement, PresetSetup, first_decay_step, measure_c,
                                        measure_c_preset, measure_c_spec, peak_is_certain, predict_lambda,
                                        preset_setup, spec_setup)
from l2lab.applications.predict_cli import main
from l2lab.engine.models import ARCHS
from l2lab.scales import SCALES

__all__ = ["CMeasurement", "predict_lambda", "first_decay_step", "peak_is_certain", "measure_c",
           "measure_c_spec", "measure_c_preset", "PresetSetup", "spec_setup", "preset_setup", "main",
           "DEFAULT_LAM", "ARCHS", "SCALES"]

if __name__ == "__main__":
    main()
