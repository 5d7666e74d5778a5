"""The theory wing's layout: what ``l2lab.theory`` exports, lazy submodules, old module names."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The public names of the old single-module ``l2lab.theory``.
OLD_NAMES = ["kernel_decay", "mse_mode", "TrainSetEvolution", "train_set_evolution",
             "linear_model_limit", "predict_test", "CrossEntropyEvolution",
             "cross_entropy_evolution", "time_of_min", "time_of_max"]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300, env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_theory_exports_every_old_name_from_its_module():
    from l2lab import theory
    from l2lab.theory import cross_entropy, modes, train_set
    assert sorted(theory.__all__) == sorted(OLD_NAMES)
    for name in OLD_NAMES:
        assert getattr(theory, name) is getattr(
            next(m for m in (modes, train_set, cross_entropy, __import__("l2lab.measure").measure)
                 if name in m.__all__), name)


def test_import_theory_is_cheap_and_kernels_wide_are_lazy():
    out = _run("import sys, l2lab.theory as th\n"
               "print(sorted(m for m in ('jax', 'neural_tangents', 'l2lab.theory.kernels',"
               " 'l2lab.theory.wide') if m in sys.modules))\n"
               "print(th.wide.__name__)\n")
    assert out.splitlines() == ["[]", "l2lab.theory.wide"]


@pytest.mark.parametrize("old, new", [("kernels", "l2lab.theory.kernels"),
                                      ("wide", "l2lab.theory.wide")])
def test_old_module_names_import_the_moved_modules(old, new):
    if old == "kernels":
        pytest.importorskip("l2lab.theory.kernels")   # neural-tangents is optional
    out = _run(f"import importlib, l2lab.{old} as a, {new} as b\n"
               f"from l2lab import {old} as c\n"
               f"from l2lab.theory import {old} as d\n"
               "print(a is b is c is d)\n")
    assert out.strip() == "True"
