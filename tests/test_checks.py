"""l2lab._checks: the shared argument checks (what they accept, return and raise)."""
import ast
import pathlib

import numpy as np
import pytest

from l2lab import _checks as C


def test_integer_helpers_accept_ints_and_return_python_int():
    assert C.integer("n", 3) == 3 and type(C.integer("n", np.int64(3))) is int
    assert C.integer("n", 5, minimum=5, maximum=5) == 5
    assert C.positive_int("n", 1) == 1
    assert C.nonneg_int("seed", 0) == 0


@pytest.mark.parametrize("call,exc,text", [
    (lambda: C.positive_int("width", 0), ValueError, "`width` must be >= 1, got 0"),
    (lambda: C.nonneg_int("seed", -1), ValueError, "`seed` must be >= 0, got -1"),
    (lambda: C.integer("num", 7, maximum=6), ValueError, "`num` must be <= 6, got 7"),
    (lambda: C.positive_int("steps", 2.0), TypeError, "`steps` must be an int, got float: 2.0"),
    (lambda: C.positive_int("steps", True), TypeError, "`steps` must be an int, got bool"),
    (lambda: C.positive_int("steps", "3"), TypeError, "`steps` must be an int, got str"),
    (lambda: C.nonneg_int("seed", np.bool_(True)), TypeError, "`seed` must be an int"),
])
def test_integer_helpers_reject(call, exc, text):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value).startswith(text)


def test_real_helpers_accept_numbers_and_0d_arrays():
    assert C.positive_float("eta", 2) == 2.0 and type(C.positive_float("eta", 2)) is float
    assert C.nonneg_float("lam", 0) == 0.0
    assert C.finite("x", -3.5) == -3.5
    assert C.positive_float("eta", np.float32(0.5)) == 0.5
    assert C.positive_float("eta", np.array(0.25)) == 0.25
    assert C.real("m", 0.0, minimum=0.0, maximum=1.0, open_maximum=True) == 0.0
    assert C.real("b", float("inf"), minimum=1.0, allow_inf=True) == float("inf")


@pytest.mark.parametrize("call,exc,text", [
    (lambda: C.positive_float("eta", 0.0), ValueError, "`eta` must be > 0.0"),
    (lambda: C.positive_float("eta", -1), ValueError, "`eta` must be > 0.0, got -1"),
    (lambda: C.nonneg_float("lam", -1e-3), ValueError, "`lam` must be >= 0.0"),
    (lambda: C.finite("x", float("nan")), ValueError, "`x` must be finite, got nan"),
    (lambda: C.finite("x", float("inf")), ValueError, "`x` must be finite, got inf"),
    (lambda: C.real("b", float("nan"), allow_inf=True), ValueError, "`b` must be a number, got nan"),
    (lambda: C.real("m", 1.0, maximum=1.0, open_maximum=True), ValueError, "`m` must be < 1.0, got 1"),
    (lambda: C.real("p", 1.5, maximum=1.0), ValueError, "`p` must be <= 1.0, got 1.5"),
    (lambda: C.positive_float("eta", "0.1"), TypeError, "`eta` must be a real number, got str"),
    (lambda: C.positive_float("eta", True), TypeError, "`eta` must be a real number, got bool"),
    (lambda: C.positive_float("eta", None), TypeError, "`eta` must be a real number, got NoneType"),
    (lambda: C.positive_float("eta", np.ones(2)), TypeError, "`eta` must be a real number, got ndarray"),
    (lambda: C.finite("x", 1 + 2j), TypeError, "`x` must be a real number, got complex"),
])
def test_real_helpers_reject(call, exc, text):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value).startswith(text)


def test_one_of_boolean_string_path():
    assert C.one_of("loss", "mse", ("xent", "mse")) == "mse"
    assert C.one_of("image_size", np.int64(16), (8, 16, 32)) == 16
    with pytest.raises(ValueError, match=r"`loss` must be one of \('xent', 'mse'\), got 'hinge'"):
        C.one_of("loss", "hinge", ("xent", "mse"))
    with pytest.raises(ValueError, match="`k` must be one of"):
        C.one_of("k", True, (1, 2))                 # True is not the choice 1
    with pytest.raises(ValueError, match="`loss` must be one of"):
        C.one_of("loss", ["xent"], ("xent", "mse"))
    with pytest.raises(ValueError, match="`mode`"):
        C.one_of("mode", np.array(["a", "b"]), ("a",))   # arrays compare elementwise: not a choice
    assert C.boolean("flip", np.bool_(False)) is False
    with pytest.raises(TypeError, match="`flip` must be a bool, got int"):
        C.boolean("flip", 1)
    assert C.string("title", "") == ""
    with pytest.raises(ValueError, match="`title` must be a non-empty str"):
        C.string("title", "", nonempty=True)
    with pytest.raises(TypeError, match="`title` must be a str, got NoneType"):
        C.string("title", None)
    assert C.path("d", "~/x") == pathlib.Path("~/x").expanduser()
    assert C.path("d", pathlib.Path("a")) == pathlib.Path("a")
    with pytest.raises(TypeError, match="`d` must be a str or os.PathLike"):
        C.path("d", 3)
    with pytest.raises(ValueError, match="`d` must be a non-empty path"):
        C.path("d", "")


def test_curve_and_same_length():
    c = C.curve("acc", [1, 2, np.nan])
    assert c.dtype == np.float64 and c.shape == (3,) and np.isnan(c[2])
    assert C.curve("acc", [], allow_empty=True).shape == (0,)
    with pytest.raises(ValueError, match="`acc` must not be empty"):
        C.curve("acc", [])
    with pytest.raises(ValueError, match=r"`acc` must be 1-D, got shape \(2, 2\)"):
        C.curve("acc", np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"`acc` must be 1-D, got shape \(\)"):
        C.curve("acc", 0.5)
    with pytest.raises(TypeError, match="`acc` must be an array of real numbers, got dtype"):
        C.curve("acc", ["a", "b"])
    with pytest.raises(TypeError, match="`acc`"):
        C.curve("acc", [True, False])
    with pytest.raises(TypeError, match="`acc`"):
        C.curve("acc", [[1.0], [1.0, 2.0]])         # ragged
    C.same_length("steps", np.zeros(2), "acc", np.zeros(2))
    with pytest.raises(ValueError, match=r"`steps` and `acc` must have the same shape, got \(2,\) and \(3,\)"):
        C.same_length("steps", np.zeros(2), "acc", np.zeros(3))


def test_errors_carry_the_argument_name():
    with pytest.raises(ValueError) as info:
        C.positive_int("max_steps", 0)
    assert C.argument_of(info.value) == "max_steps"
    with pytest.raises(TypeError) as info:
        C.boolean("augment", "yes")
    assert C.argument_of(info.value) == "augment"
    assert C.argument_of(ValueError("plain")) is None
    err = C.bad_value("out_dir", "holds a different sweep")
    assert isinstance(err, ValueError) and str(err) == "`out_dir` holds a different sweep"
    assert isinstance(C.bad_type("x", "must be y"), TypeError)


def test_checks_module_depends_on_nothing_in_l2lab():
    src = pathlib.Path(C.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    # jax only inside the functions that check jax values (imported when called)
    assert imported <= {"__future__", "argparse", "math", "numbers", "os", "pathlib", "typing",
                        "numpy", "jax"}, imported
    assert "import jax" not in src.split("\ndef ")[0]


def test_no_module_reaches_into_another_modules_private_checks():
    root = pathlib.Path(C.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        for mod in ("_train", "_data", "_measure", "train", "data", "sweep"):
            assert f"{mod}._check" not in text, f"{path.name} uses {mod}._check*"


def test_cli_type_turns_bad_text_and_bad_values_into_argparse_errors():
    import argparse

    conv = C.cli_type("an integer", int, lambda v: C.positive_int("budget", v))
    assert conv("12") == 12
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer, got 'x'"):
        conv("x")
    with pytest.raises(argparse.ArgumentTypeError, match="budget"):
        conv("0")
    p = argparse.ArgumentParser(prog="prog")
    p.add_argument("--budget", type=conv)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--budget", "-3"])
    assert e.value.code == 2
