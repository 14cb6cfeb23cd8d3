"""The test tree's layout stays as documented: real exporters only under tests/e2e/, and no test
module leans on another's helpers (shared ones live in helper modules)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# What runs a whole exporter, in a thread or as a process.
EXPORTER_RUNNERS = {"ExporterThread", "start_exporter", "run_exporter"}


def module_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def imported_names(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]


def test_no_test_module_imports_from_another_test_module_or_a_conftest() -> None:
    leaning = [
        f"{path.relative_to(TESTS)}: from {module} import {name}"
        for path in module_files()
        for module, name in imported_names(path)
        if module.startswith("tests.")
        and module.rsplit(".", 1)[-1].startswith(("test_", "conftest"))
    ]
    assert leaning == []


def test_only_end_to_end_tests_run_a_whole_exporter() -> None:
    outside = [
        f"{path.relative_to(TESTS)}: {name}"
        for path in module_files()
        if "e2e" not in path.relative_to(TESTS).parts
        for module, name in imported_names(path)
        if module.startswith("tests.") and name in EXPORTER_RUNNERS
    ]
    assert outside == []


def test_the_daemon_imports_the_simulator_only_for_the_demo() -> None:
    code = (
        "import sys, exporter.cli, exporter.app; "
        "print(sorted(m for m in sys.modules if m.startswith('exporter.simulator')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
