"""The cli client against stand-in Slurm commands (small bash scripts passed as the
binary names): what reaches sbatch's argv, stdin and environment, timeouts, and
failures no real cluster produces on demand."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobId, JobRequest, SbatchOptions
from sgorch.slurm.cli import CliSlurmClient

DATA = Path(__file__).resolve().parents[2] / "data" / "slurm" / "22.05"
SECRET = "s3cr3t-value-that-must-stay-out-of-argv"
TAG = "sgorch:v1;instance=unit;"


def fake(tmp_path: Path, name: str, body: str) -> str:
    """An executable ``name`` in ``tmp_path/bin`` running ``body`` with bash."""
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)
    return str(path)


def recording_sbatch(tmp_path: Path, stdout: str = "4242") -> str:
    """A sbatch that writes its argv, environment and stdin next to itself."""
    out = tmp_path / "seen"
    return fake(
        tmp_path,
        "sbatch",
        f"printf '%s\\n' \"$@\" > {out}.argv\n/usr/bin/env -0 > {out}.env\n"
        f"/bin/cat > {out}.stdin\necho '{stdout}'",
    )


def seen_environment(tmp_path: Path) -> dict[str, str]:
    raw = (tmp_path / "seen.env").read_bytes().decode()
    return dict(item.split("=", 1) for item in raw.split("\0") if item)


def request(**changes: object) -> JobRequest:
    fields: dict[str, object] = {
        "name": "cmd-demo-0",
        "script": "#!/bin/bash\n#SBATCH --time=5\necho serving\n",
        "comment": f"{TAG}deployment=demo;slot=0;hash=abc",
        "options": SbatchOptions(time_limit_min=5),
        "working_dir": "/tmp",
        "stdout_path": "/tmp/%x-%j.out",
        "environment": {"HF_TOKEN": SECRET},
    }
    fields.update(changes)
    return JobRequest(**fields)  # type: ignore[arg-type]


# ----------------------------------------------------------------- submit


async def test_submit_sends_the_script_on_stdin_and_secrets_only_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPERATOR_ONLY_SECRET", "do-not-leak")
    client = CliSlurmClient(sbatch=recording_sbatch(tmp_path))
    job_id = await client.submit(request())
    assert job_id == "4242"
    assert (tmp_path / "seen.stdin").read_text() == request().script
    argv = (tmp_path / "seen.argv").read_text()
    assert SECRET not in argv and "echo serving" not in argv
    env = seen_environment(tmp_path)
    assert env["HF_TOKEN"] == SECRET
    assert env["PATH"] == os.environ["PATH"]
    assert "OPERATOR_ONLY_SECRET" not in env


async def test_a_request_path_does_not_decide_which_sbatch_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording_sbatch(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    client = CliSlurmClient()
    assert await client.submit(request(environment={"PATH": "/nonexistent"})) == "4242"
    assert seen_environment(tmp_path)["PATH"] == "/nonexistent"


async def test_client_environment_overrides_reach_sbatch(tmp_path: Path) -> None:
    client = CliSlurmClient(sbatch=recording_sbatch(tmp_path), env={"SLURM_CONF": "/x.conf"})
    await client.submit(request())
    assert seen_environment(tmp_path)["SLURM_CONF"] == "/x.conf"


async def test_a_missing_sbatch_is_unavailable_because_slurm_is_not_installed() -> None:
    client = CliSlurmClient(sbatch="sbatch-that-is-not-installed")
    with pytest.raises(SlurmUnavailable, match="Slurm is not installed"):
        await client.submit(request())


async def test_sbatch_output_without_a_job_id_is_unavailable(tmp_path: Path) -> None:
    client = CliSlurmClient(sbatch=recording_sbatch(tmp_path, stdout="Submitted, maybe"))
    with pytest.raises(SlurmUnavailable, match="garbage"):
        await client.submit(request())


async def test_an_environment_variable_a_process_cannot_hold_is_rejected(tmp_path: Path) -> None:
    client = CliSlurmClient(sbatch=recording_sbatch(tmp_path))
    with pytest.raises(SlurmRejected, match="BAD"):
        await client.submit(request(environment={"BAD": "a\0b"}))
    assert not (tmp_path / "seen.argv").exists()


async def test_a_refusal_before_sbatch_reads_a_big_script_is_still_a_rejection(
    tmp_path: Path,
) -> None:
    stderr = (DATA / "sbatch_bad_partition.err").read_text()
    sbatch = fake(tmp_path, "sbatch", f"printf '%s' '{stderr}' >&2\nexit 1")
    client = CliSlurmClient(sbatch=sbatch)
    big = "#!/bin/bash\n" + "# padding\n" * 200_000
    with pytest.raises(SlurmRejected, match="Invalid partition name specified"):
        await client.submit(request(script=big))


# ----------------------------------------------------------------- timeouts


async def test_a_hanging_command_is_killed_at_the_timeout_and_its_stderr_is_kept(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pid"
    squeue = fake(
        tmp_path,
        "squeue",
        f"echo 'squeue: error: s_p_parse_file: cannot stat file' >&2\necho $$ > {pid_file}\n"
        "exec sleep 60",
    )
    client = CliSlurmClient(squeue=squeue, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(SlurmUnavailable) as caught:
        await client.list_jobs(TAG)
    assert time.monotonic() - started < 5
    assert "did not answer within 1 s" in str(caught.value)
    assert "s_p_parse_file" in str(caught.value)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


# ----------------------------------------------------------------- list_jobs


async def test_squeue_runs_in_utc_with_the_standard_time_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    monkeypatch.setenv("SLURM_TIME_FORMAT", "relative")
    squeue = fake(tmp_path, "squeue", f"/usr/bin/env -0 > {tmp_path}/seen.env")
    assert await CliSlurmClient(squeue=squeue).list_jobs(TAG) == []
    env = seen_environment(tmp_path)
    assert (env["TZ"], env["SLURM_TIME_FORMAT"]) == ("UTC", "standard")


async def test_a_garbled_line_of_our_jobs_makes_the_listing_unavailable(tmp_path: Path) -> None:
    squeue = fake(tmp_path, "squeue", f"echo 'garbled {TAG}deployment=demo;slot=0;hash=abc'")
    with pytest.raises(SlurmUnavailable, match="cannot be parsed"):
        await CliSlurmClient(squeue=squeue).list_jobs(TAG)


async def test_recorded_squeue_output_lists_our_jobs(tmp_path: Path) -> None:
    squeue = fake(tmp_path, "squeue", f"/bin/cat {DATA / 'cli-squeue-jobs.txt'}")
    jobs = await CliSlurmClient(squeue=squeue).list_jobs("sgorch:v1;instance=rec;")
    assert len(jobs) == 11


async def test_a_failing_squeue_is_unavailable_with_its_message(tmp_path: Path) -> None:
    stderr = (DATA / "unreachable_squeue.err").read_text()
    squeue = fake(tmp_path, "squeue", f"printf '%s' '{stderr}' >&2\nexit 1")
    with pytest.raises(SlurmUnavailable, match="Unable to contact slurm controller"):
        await CliSlurmClient(squeue=squeue).list_jobs(TAG)


# ----------------------------------------------------------------- cancel


async def test_signalling_a_job_that_is_gone_is_silent(tmp_path: Path) -> None:
    stderr = (DATA / "cli-scancel-signal-unknown.txt").read_text()
    scancel = fake(tmp_path, "scancel", f"printf '%s' '{stderr}' >&2\nexit 1")
    await CliSlurmClient(scancel=scancel).cancel(JobId("99999999"), signal="USR1")


async def test_a_signal_scancel_does_not_know_is_rejected(tmp_path: Path) -> None:
    scancel = fake(tmp_path, "scancel", "echo 'Unknown job signal: BOGUS' >&2\nexit 1")
    with pytest.raises(SlurmRejected, match="Unknown job signal"):
        await CliSlurmClient(scancel=scancel).cancel(JobId("12"), signal="BOGUS")


@pytest.mark.parametrize(
    ("job_id", "signal"), [("--me", None), ("12 13", None), ("12", "-9 --user=root")]
)
async def test_ids_and_signals_that_could_be_options_never_reach_scancel(
    tmp_path: Path, job_id: str, signal: str | None
) -> None:
    scancel = fake(tmp_path, "scancel", f"touch {tmp_path}/ran")
    with pytest.raises(SlurmRejected):
        await CliSlurmClient(scancel=scancel).cancel(JobId(job_id), signal=signal)
    assert not (tmp_path / "ran").exists()


async def test_cancel_of_an_unreachable_controller_is_unavailable(tmp_path: Path) -> None:
    stderr = (DATA / "unreachable_scancel.err").read_text()
    scancel = fake(tmp_path, "scancel", f"printf '%s' '{stderr}' >&2\nexit 8")
    with pytest.raises(SlurmUnavailable, match="exit 8"):
        await CliSlurmClient(scancel=scancel).cancel(JobId("12345"))


# ----------------------------------------------------------------- ping


async def test_ping_of_a_down_controller_is_unavailable_and_names_it(tmp_path: Path) -> None:
    out = DATA / "unreachable_scontrol_ping.out"
    scontrol = fake(tmp_path, "scontrol", f"/bin/cat {out}\nexit 1")
    with pytest.raises(SlurmUnavailable, match=r"primary at vm DOWN"):
        await CliSlurmClient(scontrol=scontrol).ping()


async def test_ping_is_up_when_a_backup_controller_answers(tmp_path: Path) -> None:
    scontrol = fake(
        tmp_path,
        "scontrol",
        "echo 'Slurmctld(primary) at a is DOWN'\necho 'Slurmctld(backup) at b is UP'\nexit 1",
    )
    await CliSlurmClient(scontrol=scontrol).ping()


async def test_ping_without_an_answer_is_unavailable_with_stderr(tmp_path: Path) -> None:
    scontrol = fake(
        tmp_path,
        "scontrol",
        "echo 'scontrol: fatal: Unable to process configuration file' >&2\nexit 1",
    )
    with pytest.raises(SlurmUnavailable, match="Unable to process configuration file"):
        await CliSlurmClient(scontrol=scontrol).ping()
