"""The library's shape (issue 16): no module over 600 lines, no function over 80, no module
using another module's private name, and the layering (figures may use studies, never the
reverse; nothing imports the book or upwards into figures from the engine)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "l2lab"
MODULES = sorted(ROOT.rglob("*.py"))
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def _aliases(tree: ast.AST) -> dict:
    """Local name -> imported l2lab module path."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("l2lab"):
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            out.update({(a.asname or a.name): a.name for a in node.names if a.name.startswith("l2lab")})
    return out


def test_no_module_over_600_lines():
    big = {str(p.relative_to(ROOT)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 600}
    assert not big, big


def test_no_function_over_80_lines():
    long = []
    for p in MODULES:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{p.relative_to(ROOT)}:{node.name} ({n})")
    assert not long, long


def test_no_module_uses_another_modules_private_names():
    found = []
    for p in MODULES:
        tree = ast.parse(p.read_text())
        aliases = _aliases(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__") and node.attr not in NAMEDTUPLE_API):
                found.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("l2lab"):
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "_checks"
                           and a.name != "_nt_compat" and not node.module.endswith(a.name)]
                if private and Path(p).parent.name not in node.module.split("."):
                    found.append(f"{p.relative_to(ROOT)}:{node.lineno} from {node.module} import {private}")
    assert not found, found


def test_layering():
    """The engine and the theory never import the studies, applications or figures; the studies
    never import the figures."""
    below = {"engine": ("studies", "applications", "figures"), "theory": ("studies", "applications", "figures"),
             "data": ("engine", "studies", "applications", "figures"), "studies": ("figures",)}
    bad = []
    for wing, forbidden in below.items():
        for p in (ROOT / wing).rglob("*.py"):
            for target in _aliases(ast.parse(p.read_text())).values():
                parts = target.split(".")
                if len(parts) > 1 and parts[1] in forbidden:
                    bad.append(f"{p.relative_to(ROOT)} imports {target}")
    assert not bad, bad
