"""``l2lab.sweep`` as it was: its names now live in :mod:`l2lab.engine` (spec, presets, records,
runner, cli). Kept so that old code, saved notebooks and ``python -m l2lab.sweep`` (the command
``data/README.md`` cites) keep working."""
from l2lab.engine.cli import main
from l2lab.engine.models import ARCHS
from l2lab.engine.presets import preset
from l2lab.engine.loading import load_sweep
from l2lab.engine.records import MANIFEST_FORMAT, RECORD_FORMAT, Record, truncate
from l2lab.engine.runner import CONFIG_BATCHINGS, SweepInterrupted, load_data, resolve_config_batching, run_sweep
from l2lab.engine.spec import (BUDGET_KINDS, IMAGE_SIZES, SweepSpec, config_id, expand, group_configs,
                               parse_budget, spec_id)
from l2lab.scales import SCALES

__all__ = ["SweepSpec", "Record", "SCALES", "CONFIG_BATCHINGS", "resolve_config_batching", "expand",
           "parse_budget", "group_configs", "config_id", "spec_id", "truncate", "run_sweep", "load_sweep",
           "load_data", "preset", "main", "ARCHS", "BUDGET_KINDS", "IMAGE_SIZES", "RECORD_FORMAT",
           "MANIFEST_FORMAT"]

if __name__ == "__main__":
    main()
