"""Imports between yoso's packages run one way only, downward; the search space and hardware model load without torch.

Layers, low to high (a module may import its own layer and those below it):

0. ``yoso`` (the package root), ``yoso.config``, ``yoso.stats``, ``yoso.reference``: config checking,
   statistics and the published reference data (package data);
1. ``yoso.space``: the joint search space and the op vocabulary (no torch); ``yoso.bench``: the stand-alone
   accuracy tables of architectures of a space (package data, no torch);
2. ``yoso.hw``: deployment layers, simulator and technology constants (no torch);
3. ``yoso.nn`` (the networks) and ``yoso.data`` (the data sets), side by side;
4. ``yoso.predictor``: hardware predictors; it may use ``nn``'s modules (``relaxed.py`` is torch), but
   ``nn`` never imports a predictor;
5. ``yoso.search``: the strategies and the search loop;
6. ``yoso.app`` (and the command line ``python -m yoso.hw``): entry-point helpers and the flows that compose
   configs and tie the layers together.

The scan reads every ``import`` in ``src/yoso`` with :mod:`ast`, function-local and
``TYPE_CHECKING`` ones included.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

import yoso

SRC = Path(yoso.__file__).resolve().parents[1]

BASE, SPACE, HW, NN_DATA, PREDICTOR, SEARCH, APPLICATION = range(7)
#: Layer of each module, by longest dotted prefix. A module outside every prefix fails the test.
LAYERS: dict[str, int] = {
    "yoso": BASE,
    "yoso.config": BASE,
    "yoso.stats": BASE,
    "yoso.reference": BASE,
    "yoso.cache": BASE,
    "yoso.tables": BASE,
    "yoso.space": SPACE,
    "yoso.bench": SPACE,
    "yoso.hw": HW,
    "yoso.nn": NN_DATA,
    "yoso.data": NN_DATA,
    "yoso.predictor": PREDICTOR,
    "yoso.search": SEARCH,
    "yoso.app": APPLICATION,
    "yoso.hw.__main__": APPLICATION,
}
LAYER_NAMES = ("base", "space", "hw", "nn/data", "predictor", "search", "application")


class Import(NamedTuple):
    """One import of a yoso module by a yoso module."""

    path: Path
    line: int
    importer: str
    imported: str


def module_name(path: Path, src: Path) -> str:
    """The dotted name of the module at ``path`` under the source root ``src``."""
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_MODULES = {module_name(p, SRC) for p in (SRC / "yoso").rglob("*.py")}


def layer_of(module: str) -> int:
    """The layer of ``module``: that of its longest prefix in :data:`LAYERS`."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise KeyError(module)


def yoso_imports(src: Path) -> list[Import]:
    """Every import of a ``yoso`` module in the package under ``src`` (module level and function-local)."""
    modules = {module_name(p, src) for p in (src / "yoso").rglob("*.py")}
    out = []
    for path in sorted((src / "yoso").rglob("*.py")):
        importer = module_name(path, src)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against the importing package
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # ``from yoso.space import ops`` imports the module yoso.space.ops
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            rel = path.relative_to(src.parent)
            out += [Import(rel, node.lineno, importer, n) for n in names if n == "yoso" or n.startswith("yoso.")]
    return out


def upward(imports: list[Import]) -> list[Import]:
    """The imports that run from a lower layer to a higher one."""
    return [i for i in imports if layer_of(i.imported) > layer_of(i.importer)]


def describe(i: Import) -> str:
    lo, hi = LAYER_NAMES[layer_of(i.importer)], LAYER_NAMES[layer_of(i.imported)]
    return f"{i.path}:{i.line}: {i.importer} ({lo} layer) imports {i.imported} ({hi} layer, above it)"


def test_every_module_has_a_layer() -> None:
    unassigned = []
    for module in sorted(_MODULES):
        try:
            layer_of(module)
        except KeyError:
            unassigned.append(module)
    assert not unassigned, f"modules outside every layer of tests/test_layering.py LAYERS: {unassigned}"


def test_no_upward_imports() -> None:
    found = upward(yoso_imports(SRC))
    assert not found, "imports that run upward:\n" + "\n".join(map(describe, found))


def test_scan_sees_function_local_and_relative_imports(tmp_path: Path) -> None:
    """The scanner itself: a function-local absolute import and a relative one, both upward, are reported."""
    pkg = tmp_path / "yoso" / "space"
    pkg.mkdir(parents=True)
    (tmp_path / "yoso" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    source = "import numpy\n\n\ndef f():\n    from yoso.search import loop\n    from ..nn import ops\n"
    (pkg / "bad.py").write_text(source)
    found = upward(yoso_imports(tmp_path))
    assert [(i.line, i.imported) for i in found] == [(5, "yoso.search"), (6, "yoso.nn")]
    message = "bad.py:5: yoso.space.bad (space layer) imports yoso.search (search layer, above it)"
    assert describe(found[0]).endswith(message)


@pytest.mark.parametrize(
    "packages", [("yoso.config", "yoso.stats", "yoso.reference"), ("yoso.space", "yoso.hw", "yoso.bench")]
)
def test_lower_layers_load_without_torch(packages: tuple[str, ...]) -> None:
    """``import yoso.space, yoso.hw`` (and each of their modules) leaves torch unloaded."""
    modules = sorted(m for m in _MODULES if any(m == p or m.startswith(p + ".") for p in packages))
    code = (
        f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
        "assert 'torch' not in sys.modules, 'torch loaded'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
