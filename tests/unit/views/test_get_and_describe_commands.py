"""``sgorch get`` and ``sgorch describe`` as commands: output formats, exit codes and the
messages people see when something is missing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sgorch.cli import main

Run = Callable[..., int]


def test_get_one_deployment_prints_one_row(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "deploy", "llama", "--status-dir", status_dir) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:4] == ["llama", "1/3", "2", "1"]
    assert len(lines) == 2


def test_get_a_missing_deployment_exits_1_with_a_not_found_message(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "deployment", "nope", "--status-dir", status_dir) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f'Error (NotFound): deployment "nope" not found in {status_dir}\n'


def test_get_a_missing_router_exits_1_and_says_when_the_status_dir_is_wrong(
    tmp_path: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert run_view("get", "router", "main", "--status-dir", missing) == 1
    err = capsys.readouterr().err
    assert f'Error (NotFound): router "main" not found in {missing}' in err
    assert "does not exist; pass the operator's --status-dir" in err


def test_get_json_of_one_resource_is_its_document_as_written(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "deploy", "llama", "-o", "json", "--status-dir", status_dir) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((status_dir / "deployments" / "llama.json").read_text())


def test_get_json_of_a_listing_is_a_list_even_with_one_item(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "routers", "-o", "json", "--status-dir", status_dir) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [d["metadata"]["name"] for d in printed] == ["main"]


def test_get_all_yaml_lists_every_document(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "all", "-o", "yaml", "--status-dir", status_dir) == 0
    documents = YAML(typ="safe", pure=True).load(capsys.readouterr().out)
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("Deployment", "embed"),
        ("Deployment", "llama"),
        ("Deployment", "qwen-coder"),
        ("Router", "main"),
    ]
    assert documents[1] == json.loads((status_dir / "deployments" / "llama.json").read_text())


def test_get_name_output_prints_kind_slash_name_lines(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "-o", "name", "--status-dir", status_dir) == 0
    assert capsys.readouterr().out.splitlines() == [
        "deployment/embed",
        "deployment/llama",
        "deployment/qwen-coder",
        "router/main",
    ]


def test_get_in_an_empty_status_dir_says_no_resources_and_exits_0(
    tmp_path: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "--status-dir", tmp_path) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"No resources found in {tmp_path}.\n"


def test_get_skips_an_unreadable_status_file_with_a_warning(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    (status_dir / "deployments" / "torn.json").write_text('{"apiVersion": ')
    (status_dir / "deployments" / "alien.json").write_text('{"kind": "Deployment"}')
    assert run_view("get", "deploy", "--status-dir", status_dir) == 0
    captured = capsys.readouterr()
    assert "torn" not in captured.out and "alien" not in captured.out
    assert "llama" in captured.out
    assert f"warning: skipped {status_dir / 'deployments' / 'torn.json'}: not JSON" in captured.err
    assert "was it written by a different version of sgorch?" in captured.err


def test_get_a_named_unreadable_status_file_exits_1(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    (status_dir / "deployments" / "torn.json").write_text("[]")
    assert run_view("get", "deploy", "torn", "--status-dir", status_dir) == 1
    assert "not a JSON object" in capsys.readouterr().err


def test_get_an_unknown_kind_is_a_usage_error_exiting_2(
    status_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["get", "llama", "--status-dir", str(status_dir)])
    assert exit_.value.code == 2
    assert "use deployments (deploy), routers or all" in capsys.readouterr().err


def test_get_all_with_a_name_is_a_usage_error_exiting_2(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "all", "llama", "--status-dir", status_dir) == 2
    assert "sgorch get deployment llama" in capsys.readouterr().err


def test_the_sgorch_command_line_dispatches_to_the_view_commands(
    status_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", "deploy", "-o", "name", "--status-dir", str(status_dir)]) == 0
    assert "deployment/llama" in capsys.readouterr().out
    assert main(["describe", "router", "nope", "--status-dir", str(status_dir)]) == 1


def test_describe_shows_workers_with_pending_reasons_and_repeated_events(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("describe", "deployment", "llama", "--status-dir", status_dir) == 0
    out = capsys.readouterr().out
    assert out.startswith("Name:                llama\n")
    assert "2     10413  PENDING  <none>   <none>                false  3         Resources" in out
    assert "2m30s (x3 over 20m)" in out


def test_describe_without_a_name_describes_every_resource_of_the_kind(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("describe", "deploy", "--status-dir", status_dir) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Name:")] == [
        "Name:                embed",
        "Name:                llama",
        "Name:                qwen-coder",
    ]


def test_describe_a_missing_deployment_exits_1_with_a_not_found_message(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("describe", "deployment", "x", "--status-dir", status_dir) == 1
    assert f'deployment "x" not found in {status_dir}' in capsys.readouterr().err


def test_describe_shows_the_error_of_an_invalid_file_with_its_location(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("describe", "deploy", "qwen-coder", "--status-dir", status_dir) == 0
    assert (
        "Error:               resources/qwen-coder.yaml:9:14: spec.replicas: Input should be"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize("command", ["get", "describe", "logs", "wait"])
def test_every_view_command_has_help_with_examples_and_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "exit status: 0 ok" in out
    assert ("1 not found" in out) != ("1 timed out" in out)
    assert "2 usage error" in out
    assert "--status-dir DIR" in out
