"""The test suite's own rules: shared helpers come from tests/helpers.py, never from another test module or conftest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import SMALL, STEP_KEY, STRATEGIES

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> list[str]:
    """The top-level names of the modules ``path`` imports (``from a.b import c`` and ``import a.b``: ``a``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.extend(alias.name.split(".")[0] for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda p: p.name)
def test_no_test_module_imports_another_or_conftest(path: Path) -> None:
    wrong = [name for name in imported_modules(path) if name.startswith("test_") or name == "conftest"]
    assert not wrong, f"{path.name} imports {wrong}: shared code belongs in tests/helpers.py"


def test_the_scan_sees_both_import_forms(tmp_path: Path) -> None:
    path = tmp_path / "sample.py"
    path.write_text(
        "import os.path\nimport test_x as x\nfrom conftest import ROOT\nfrom . import y\nfrom test_y.z import w\n"
    )
    assert imported_modules(path) == ["os", "test_x", "conftest", "test_y"]


def test_small_settings_name_sampling_strategies() -> None:
    """The per-strategy overrides of helpers.make_loop name existing sampling strategies (none left stale)."""
    assert set(SMALL) <= set(STRATEGIES) and set(STEP_KEY) <= set(STRATEGIES)
