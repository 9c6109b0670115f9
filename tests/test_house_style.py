"""The house style, checked: ruff (incl. the ban on wall-clock reads outside azvm.clock), mypy
--strict, and the import contracts that keep the layers pointing inward."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def test_ruff() -> None:
    r = run(tool("ruff"), "check", "src", "tests", "benchmarks", "examples")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict() -> None:
    r = run(tool("mypy"), "src")
    assert r.returncode == 0, r.stdout + r.stderr


def test_examples_are_strictly_typed() -> None:
    r = run(tool("mypy"), "--strict", "examples")
    assert r.returncode == 0, r.stdout + r.stderr


def test_layers_point_inward() -> None:
    r = run(tool("lint-imports"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_patterns_match_whole_strings() -> None:
    """A `$` at the end of a pattern also matches before a trailing newline ("vm1\\n" passed a name
    check once): patterns that validate a whole string use `fullmatch`, never `^...$` with `match`."""
    import re

    anchored = re.compile(r"""re\.compile\(r?["'][^"']*\$["']""")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "src").rglob("*.py"))
                 for n, line in enumerate(p.read_text("utf-8").splitlines(), 1) if anchored.search(line)]
    assert offenders == []
