"""What the cli client runs (argv and environment, built by pure functions) and how it
reads a failed command (``translate_failure``, from recorded real stderr)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobId, JobRequest, SbatchOptions
from sgorch.slurm.cli import (
    render_base_environment,
    render_cancel_argv,
    render_sbatch_argv,
    render_squeue_argv,
    translate_failure,
)
from sgorch.slurm.parsing import SQUEUE_FIELDS, SQUEUE_SEPARATOR

DATA = Path(__file__).resolve().parents[2] / "data" / "slurm" / "22.05"
SECRET = "s3cr3t-value-that-must-stay-out-of-argv"


def recorded(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def request() -> JobRequest:
    return JobRequest(
        name="cmd-demo-0",
        script="#!/bin/bash\n#SBATCH --time=5\nexec server\n",
        comment="sgorch:v1;instance=a;deployment=demo;slot=0;hash=abc",
        options=SbatchOptions(partition="gpu", time_limit_min=5),
        working_dir="/srv/logs/demo",
        stdout_path="/srv/logs/demo/%x-%j.out",
        environment={"HF_TOKEN": SECRET},
    )


# ----------------------------------------------------------------- environment


def test_commands_get_only_the_curated_part_of_the_operator_environment() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/op",
        "USER": "op",
        "LOGNAME": "op",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "LC_TIME": "C",
        "TZ": "Europe/Paris",
        "SHELL": "/bin/bash",
        "TMPDIR": "/scratch",
        "SLURM_CONF": "/etc/slurm/other.conf",
        "ROUTER_TOKEN": "operator-secret",
        "SBATCH_PARTITION": "debug",
        "SQUEUE_FORMAT": "%i",
        "SLURM_JOB_ID": "12",
        "PYTHONPATH": "/opt",
    }
    assert render_base_environment(environ, {}) == {
        key: environ[key]
        for key in (
            "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_TIME", "TZ", "SHELL",
            "TMPDIR", "SLURM_CONF", "PYTHONPATH",
        )
    }  # fmt: skip


def test_client_overrides_replace_operator_variables() -> None:
    env = render_base_environment({"SLURM_CONF": "/a", "PATH": "/bin"}, {"SLURM_CONF": "/b"})
    assert env == {"SLURM_CONF": "/b", "PATH": "/bin"}


# ----------------------------------------------------------------- argv


def test_sbatch_reads_the_script_from_stdin_and_exports_its_environment() -> None:
    argv = render_sbatch_argv("/usr/bin/sbatch", request())
    assert argv == [
        "/usr/bin/sbatch",
        "--parsable",
        "--export=ALL",
        "--job-name=cmd-demo-0",
        "--comment=sgorch:v1;instance=a;deployment=demo;slot=0;hash=abc",
        "--output=/srv/logs/demo/%x-%j.out",
        "--chdir=/srv/logs/demo",
    ]


def test_sbatch_argv_holds_neither_the_script_nor_any_secret() -> None:
    argv = " ".join(render_sbatch_argv("sbatch", request()))
    assert SECRET not in argv
    assert "exec server" not in argv


def test_squeue_lists_all_states_of_our_user_with_every_field_once() -> None:
    argv = render_squeue_argv("/usr/bin/squeue")
    assert argv[:4] == ["/usr/bin/squeue", "--noheader", "--me", "--states=all"]
    fields = argv[4].removeprefix("--Format=").split(",")
    assert [field.split(":")[0] for field in fields] == list(SQUEUE_FIELDS)
    assert all(field.endswith(f":{SQUEUE_SEPARATOR}") for field in fields[:-1])
    assert fields[-1] == "Comment:"


def test_cancel_without_signal_is_plain_scancel() -> None:
    assert render_cancel_argv("scancel", JobId("12"), None) == ["scancel", "12"]


def test_a_signal_is_sent_to_the_batch_script_too() -> None:
    assert render_cancel_argv("scancel", JobId("12"), "USR1") == [
        "scancel",
        "--signal=USR1",
        "--full",
        "12",
    ]


# ----------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("program", "case"),
    [
        ("sbatch", "unreachable_sbatch"),
        ("squeue", "unreachable_squeue"),
        ("scancel", "unreachable_scancel"),
    ],
)
def test_an_unreachable_controller_is_unavailable(program: str, case: str) -> None:
    error = translate_failure(program, int(recorded(f"{case}.rc")), recorded(f"{case}.err"))
    assert isinstance(error, SlurmUnavailable)
    assert "Unable to contact slurm controller" in str(error)


def test_a_missing_slurm_conf_is_unavailable_not_a_rejection() -> None:
    error = translate_failure("sbatch", 1, recorded("cli-sbatch-no-config.txt"))
    assert isinstance(error, SlurmUnavailable)
    assert "Unable to process configuration file" in str(error)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("sbatch_bad_partition", "Invalid partition name specified"),
        ("sbatch_bad_time", "Invalid --time specification"),
    ],
)
def test_sbatch_refusals_are_rejections_carrying_slurms_message(case: str, message: str) -> None:
    error = translate_failure("sbatch", int(recorded(f"{case}.rc")), recorded(f"{case}.err"))
    assert isinstance(error, SlurmRejected)
    assert message in str(error)
    assert f"exit {recorded(f'{case}.rc').strip()}" in str(error)


@pytest.mark.parametrize(
    "stderr",
    [
        "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation",
        "sbatch: error: Batch job submission failed: Zero Bytes were transmitted or received",
        "sbatch: error: Munge encode failed: Failed to access munge.socket.2",
        "sbatch: error: slurm_persist_conn_open_without_init: Connection refused",
        "sbatch: error: Batch job submission failed: Slurm temporarily unable to accept job",
    ],
)
def test_transient_sbatch_failures_are_unavailable(stderr: str) -> None:
    assert isinstance(translate_failure("sbatch", 1, stderr), SlurmUnavailable)


@pytest.mark.parametrize("returncode", [2, 8, 127, -9])
def test_unknown_exit_statuses_are_unavailable(returncode: int) -> None:
    error = translate_failure("sbatch", returncode, "sbatch: error: something new\n")
    assert isinstance(error, SlurmUnavailable)
    assert "something new" in str(error)


def test_squeue_errors_are_never_rejections() -> None:
    assert isinstance(
        translate_failure("squeue", 1, recorded("squeue_unknown_id.err")), SlurmUnavailable
    )


def test_a_scancel_refusal_is_a_rejection() -> None:
    error = translate_failure("scancel", 1, "Unknown job signal: BOGUS\n")
    assert isinstance(error, SlurmRejected)


def test_a_failure_without_stderr_says_so() -> None:
    assert str(translate_failure("sbatch", 1, "")) == "sbatch failed (exit 1): no message"
