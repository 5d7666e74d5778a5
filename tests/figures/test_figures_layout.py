"""The figures wing: l2lab.figures re-exports every figure; each old module name
(l2lab.MOVED) holds all its old names (size rules: tests/test_layout.py)."""
import importlib
import pathlib

import pytest

import l2lab
import l2lab.figures as figures

FIGURES = pathlib.Path(figures.__file__).parent

OLD_NAMES = {
    "plots": ["COLORS", "TEMPLATE", "frame_label", "axis_range", "traces", "style", "title_of",
              "place_title", "line", "slider_figure"],
    "widgets": ["static_page", "ModeExplorer", "mode_explorer"],
    "application_figures": ["measurement_figure", "accuracy_vs_lambda_figure",
                            "tuned_vs_predicted_figure", "accuracy_vs_budget_figure", "autol2_figure"],
    "related_figures": ["catapult_accuracy_figure", "mse_loss_figure", "t_star_regimes_figure"],
    "scale_invariance_figures": ["QUANTITIES", "trace_figure", "kernel_slider_figure"],
}

#: The public functions of the old flat l2lab/figures.py.
OLD_FIGURES = ["mode_figure", "mode_ratio_figure", "mode_lambda_figure", "kernel_decay_figure",
               "steps_to_peak_figure", "peak_accuracy_figure", "training_curves_figure",
               "provenance_text"]


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_old_module_names_keep_importing(old):
    module = importlib.import_module(f"l2lab.{old}")
    assert module is importlib.import_module(l2lab.MOVED[old])
    assert module.__name__.startswith("l2lab.figures.")
    assert not [n for n in OLD_NAMES[old] if not hasattr(module, n)]


def test_old_figures_names_import_from_the_package():
    ns = {}
    exec("from l2lab.figures import " + ", ".join(OLD_FIGURES), ns)
    assert all(callable(ns[n]) for n in OLD_FIGURES)
    assert set(OLD_FIGURES) <= set(figures.__all__)


def test_every_figure_is_reexported():
    for sub in ("theory", "experiments", "applications", "related", "scale_invariance",
                "weight_decay"):
        module = importlib.import_module(f"l2lab.figures.{sub}")
        for name in module.__all__:
            assert figures.FIGURES[name] == sub
            assert getattr(figures, name) is getattr(module, name)
    assert sorted(figures.SUBMODULES) == sorted(p.stem for p in FIGURES.glob("*.py")
                                               if p.stem != "__init__")
    with pytest.raises(AttributeError):
        figures.nope
