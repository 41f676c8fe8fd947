"""The command line's contract: exit codes, messages and files written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sgorch.cli import main

ROOT = Path(__file__).resolve().parents[2]
V2 = ROOT / "tests" / "data" / "v2"

GOOD = """\
apiVersion: sgorch.io/v1alpha1
kind: Deployment
metadata: {name: demo}
spec:
  backend: {type: command, command: [srv, "{PORT}"]}
"""


def test_validate_accepts_valid_files_with_one_line_per_resource(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "demo.yaml").write_text(GOOD)
    assert main(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out == f"ok  Deployment/demo  ({tmp_path / 'demo.yaml'}:1)\n"


def test_validate_reports_every_located_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("demo", "Demo"))
    (tmp_path / "b.yaml").write_text("kind: [\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'a.yaml'}:3:18: metadata.name: 'Demo' is not a valid name" in err
    assert f"{tmp_path / 'b.yaml'}:2:1: YAML syntax error" in err
    assert "2 error(s)" in err


def test_validate_reports_duplicates_across_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    assert main(["validate", str(tmp_path)]) == 1
    assert "already defined at" in capsys.readouterr().err


def test_validate_a_missing_path_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "/nonexistent/dir"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_validate_accepts_a_v2_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(V2 / "legacy-sglang.yaml")]) == 0
    captured = capsys.readouterr()
    assert "ok  Deployment/gpt-oss-20b" in captured.out
    assert "warning: " in captured.err


def test_validate_refuses_a_v2_config_with_both_blocks() -> None:
    assert main(["validate", "--config", str(V2 / "both-blocks.yaml")]) == 1


def test_convert_writes_one_valid_file_per_deployment_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "resources"
    assert main(["convert", str(V2 / "backend-tei-and-sglang.yaml"), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["llama.yaml", "tei-bge.yaml"]
    assert (out / "llama.yaml").read_text().startswith("# yaml-language-server: $schema=")
    assert main(["validate", str(out)]) == 0
    capsys.readouterr()
    assert main(["convert", str(V2 / "backend-tei-and-sglang.yaml"), "-o", str(out)]) == 1
    assert "use --force" in capsys.readouterr().err
    assert (
        main(["convert", str(V2 / "backend-tei-and-sglang.yaml"), "-o", str(out), "--force"]) == 0
    )


def test_schema_check_detects_drift(tmp_path: Path) -> None:
    assert main(["schema", "-o", str(tmp_path)]) == 0
    assert main(["schema", "-o", str(tmp_path), "--check"]) == 0
    (tmp_path / "router.schema.json").write_text("{}")
    assert main(["schema", "-o", str(tmp_path), "--check"]) == 1


@pytest.mark.parametrize("argv", [["bogus"], ["validate", "--nope"], ["convert"]])
def test_usage_errors_exit_2_with_usage(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sgorch", *argv], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 2
    assert "usage: sgorch" in result.stderr


@pytest.mark.parametrize("command", ["validate", "convert", "schema"])
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: sgorch " + command in capsys.readouterr().out
