"""Process identity, signal names and job environments of the local executor."""

from __future__ import annotations

import os
import signal

import pytest

from sgorch.slurm.local_processes import (
    Supervisor,
    build_job_environment,
    parse_proc_stat,
    parse_signal,
    read_boot_id,
    read_proc_stat,
    supervisor_alive,
)

# /proc/PID/stat of a process whose name holds spaces and parentheses (fields 1-22)
STAT = "4242 (my (odd) name) S 1 4240 4239 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0"


def test_proc_stat_is_parsed_after_the_last_parenthesis_of_the_command_name() -> None:
    stat = parse_proc_stat(STAT)
    assert (stat.state, stat.pgid, stat.session, stat.start_ticks) == ("S", 4240, 4239, 987654)


def test_proc_stat_of_this_process_matches_what_the_os_says() -> None:
    stat = read_proc_stat(os.getpid())
    assert stat is not None
    assert (stat.pgid, stat.session) == (os.getpgid(0), os.getsid(0))


def test_proc_stat_of_a_missing_process_is_none() -> None:
    assert read_proc_stat(0) is None


def test_a_live_process_is_its_recorded_self_only_with_the_same_start_time() -> None:
    stat = read_proc_stat(os.getpid())
    assert stat is not None
    boot = read_boot_id()
    assert supervisor_alive(Supervisor(os.getpid(), stat.start_ticks, boot), boot)
    assert not supervisor_alive(Supervisor(os.getpid(), stat.start_ticks + 1, boot), boot)


def test_a_process_recorded_before_a_reboot_is_not_alive() -> None:
    stat = read_proc_stat(os.getpid())
    assert stat is not None
    recorded = Supervisor(os.getpid(), stat.start_ticks, "another-boot")
    assert not supervisor_alive(recorded, read_boot_id())


@pytest.mark.parametrize("name", ["USR1", "SIGUSR1", "usr1", " sigusr1 ", str(int(signal.SIGUSR1))])
def test_signals_are_accepted_in_every_form_scancel_takes(name: str) -> None:
    assert parse_signal(name) is signal.SIGUSR1


@pytest.mark.parametrize("name", ["", "NOPE", "SIGNOPE", "0", "999"])
def test_unknown_signals_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a signal"):
        parse_signal(name)


def test_a_job_inherits_only_a_few_operator_variables() -> None:
    operator = {
        "PATH": "/usr/bin",
        "HOME": "/home/op",
        "LC_ALL": "C.UTF-8",
        "VIRTUAL_ENV": "/venv",
        "SGORCH_TEST_SECRET_NOT_FORWARDED": "hunter2",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    env = build_job_environment(operator, {}, {})
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/op",
        "LC_ALL": "C.UTF-8",
        "VIRTUAL_ENV": "/venv",
    }


def test_request_variables_override_the_operator_and_slurm_variables_override_both() -> None:
    env = build_job_environment(
        {"PATH": "/usr/bin", "HOME": "/home/op"},
        {"PATH": "/opt/bin", "SLURM_JOB_ID": "fake", "HF_TOKEN": "t"},
        {"SLURM_JOB_ID": "7"},
    )
    assert env == {"PATH": "/opt/bin", "HOME": "/home/op", "HF_TOKEN": "t", "SLURM_JOB_ID": "7"}
