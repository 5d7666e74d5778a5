"""The studies wing: every old name keeps importing (l2lab.MOVED), the studies never import
figures, and the wing's size rules hold (modules under 600 lines, functions under 80)."""
import ast
import importlib
import pathlib

import pytest

import l2lab

STUDIES = pathlib.Path(l2lab.__file__).parent / "studies"

#: The public names of the flat modules before the move.
OLD_NAMES = {
    "catapult": ["ntk_critical_learning_rate", "critical_learning_rate", "ntk_top_eigenvalue",
                 "FitPoint", "accuracy_at_fit", "LossMinimum", "loss_minimum", "early_loss_peak",
                 "CatapultRow", "summarize", "spread"],
    "narrow": ["MNIST5K_SIZE", "split_sizes", "narrow_spec", "optimal_lam", "loglog_slope",
               "Regimes", "scaling_regimes", "accuracy_standard_error"],
    "init_scale": ["FORMAT", "CURVES", "InitScaleRuns", "scale_kernels", "check_sigmas", "runs_id",
                   "run_init_scales", "curves", "spread", "window", "grid_index", "spread_rows"],
    "weight_decay": ["STATISTICS", "CNN_BN_SCALE_INVARIANT", "AccuracyGrid", "accuracy_grid",
                     "BestLam", "best_lam_per_eta", "eta_exponent", "common_lams", "phase_means",
                     "cumulative_angle", "accuracy_heatmap", "best_lam_figure"],
    "scale_invariance": ["Params", "equilibrium_angular_step", "exponential_lr", "kernel_leaves",
                         "scale_kernels", "angle", "loss_under_kernel_scaling", "Trace", "track",
                         "ScaleInvariantNet", "EquivalentRuns", "equivalent_runs", "late_values",
                         "describe_late"],
}


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_old_module_names_keep_importing(old):
    module = importlib.import_module(f"l2lab.{old}")
    assert module is importlib.import_module(l2lab.MOVED[old])
    missing = [n for n in OLD_NAMES[old] if not hasattr(module, n)]
    assert not missing
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), name


def test_weight_decay_names_come_from_their_new_homes():
    from l2lab.figures import weight_decay as figs
    from l2lab.studies import weight_decay as wd
    old = importlib.import_module("l2lab.weight_decay")
    assert old.accuracy_heatmap is figs.accuracy_heatmap
    assert old.accuracy_grid is wd.accuracy_grid and old.BestLam is wd.BestLam


def test_scale_invariance_reexports_the_tracker():
    from l2lab.studies import scale_invariance as si
    from l2lab.studies import tracker
    for name in tracker.__all__:
        assert getattr(si, name) is getattr(tracker, name)
        assert name in si.__all__ and name in dir(si)


def test_wing_exports_its_modules():
    import l2lab.studies as studies
    for name in studies.__all__:
        assert getattr(studies, name) is importlib.import_module(f"l2lab.studies.{name}")
    with pytest.raises(AttributeError):
        studies.nope


def _sources():
    return sorted(STUDIES.glob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_studies_never_import_figures(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for n in names:
            assert not n.startswith("l2lab.figures"), f"{path.name} imports {n}"
            for old in ("plots", "widgets", "application_figures", "related_figures",
                        "scale_invariance_figures"):
                assert not (n == f"l2lab.{old}"), f"{path.name} imports {n}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_size_rules(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 600
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno - node.lineno + 1 <= 80, f"{node.name} is too long"
