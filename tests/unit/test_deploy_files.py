"""deploy/: the systemd units run command lines sgorch accepts, keep secrets out of the
unit files, are accepted by systemd without a warning, and the Prometheus example
scrapes the ports the operator unit serves."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sgorch.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
UNITS = ("sgorch.service", "sgorch-router@.service")


def directives(unit: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, with continuation lines joined."""
    text = (SYSTEMD / unit).read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def exec_arguments(unit: str) -> list[str]:
    (command,) = directives(unit)["ExecStart"]
    program, *arguments = shlex.split(command.replace("%i", "main"))
    assert program == "/opt/sgorch/venv/bin/sgorch"
    return arguments


def test_the_units_run_command_lines_that_sgorch_accepts() -> None:
    parser = build_parser()
    operator = parser.parse_args(exec_arguments("sgorch.service"))
    assert operator.command == "run"
    assert (operator.metrics_host, operator.http_host) == ("127.0.0.1", "127.0.0.1")
    router = parser.parse_args(exec_arguments("sgorch-router@.service"))
    assert router.command == "router" and router.config == Path("/etc/sgorch/routers/main.json")


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_are_sandboxed_and_read_secrets_only_from_a_root_owned_file(unit: str) -> None:
    found = directives(unit)
    for key, value in {
        "User": "sgorch",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
    }.items():
        assert found[key] == [value], key
    (environment_file,) = found["EnvironmentFile"]
    assert re.fullmatch(r"/etc/sgorch/[%\w]+\.env", environment_file)
    assert "Environment" not in found, "no inline environment: secrets go to the file"


def test_the_operator_may_write_its_state_and_status_directories() -> None:
    found = directives("sgorch.service")
    writable = [Path(p) for value in found["ReadWritePaths"] for p in value.split()]
    operator = build_parser().parse_args(exec_arguments("sgorch.service"))
    for directory in (operator.state_dir, operator.status_dir):
        assert any(directory.is_relative_to(root) for root in writable), directory


def test_prometheus_scrapes_the_operator_on_the_port_its_unit_serves_metrics_on() -> None:
    config = YAML(typ="safe").load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (operator_target,) = jobs["sgorch-operator"]["static_configs"][0]["targets"]
    operator = build_parser().parse_args(exec_arguments("sgorch.service"))
    assert operator_target == f"{operator.metrics_host}:{operator.metrics_port}"
    assert jobs["sgorch-router"]["metrics_path"] == "/metrics"


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_accepts_the_units_without_a_warning(unit: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    sgorch = Path(sys.executable).parent / "sgorch"  # systemd checks that it exists
    text = (SYSTEMD / unit).read_text().replace("/opt/sgorch/venv/bin/sgorch", str(sgorch))
    copy = tmp_path / unit.replace("@.", "@main.")  # a template is verified as an instance
    copy.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
