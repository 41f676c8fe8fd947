"""The source layout guards: ``operator/`` is a source root, never a package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_operator_folder_is_not_a_package_so_stdlib_operator_stays_importable() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()
    result = subprocess.run(
        [sys.executable, "-c", "import operator, sgorch; print(operator.add(2, 3))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert result.stdout.strip() == "5"


def test_python_dash_m_sgorch_prints_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sgorch", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0
    assert "usage: sgorch" in result.stdout
