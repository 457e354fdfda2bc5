"""The stage folders keep their order (pyproject's import-linter contract), and the contract bites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    # A copy of the package on PYTHONPATH first, so the installed (editable) one is not analysed.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_project(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "stockrnn", tree / "stockrnn", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.fixture
def tree(tmp_path):
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: `make install` installs import-linter with the dev extra")
    return _copy_project(tmp_path)


def test_the_package_keeps_its_stage_layers(tree):
    result = _lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Stages import only the stages below them KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted"),
    [
        ("data/store.py", "stockrnn.dataset.windows"),  # a lower stage reaching up one stage
        ("forecasters/training.py", "stockrnn.cli.app"),  # the library importing the CLI
        ("runs/folder.py", "stockrnn.studies.train"),  # a run folder reaching into a study
    ],
)
def test_a_planted_upward_import_breaks_the_contract_and_is_named(tree, module, planted):
    path = tree / "stockrnn" / module
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    import {planted}  # noqa\n")
    result = _lint_imports(tree)
    importer = "stockrnn." + module.removesuffix(".py").replace("/", ".")
    assert result.returncode == 1
    assert "Stages import only the stages below them BROKEN" in result.stdout
    assert f"{importer} -> {planted}" in result.stdout
