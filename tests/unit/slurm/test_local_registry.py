"""The local executor's on-disk registry: ids are never reused, records round-trip,
secrets are private, interrupted submits are cleaned up, one executor per directory."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sgorch.slurm import JobState, SbatchOptions
from sgorch.slurm.local_processes import Supervisor
from sgorch.slurm.local_registry import JobRecord, JobRegistry, RegistryLocked


def record(job_id: int, **changes: object) -> JobRecord:
    base = JobRecord(
        job_id=job_id,
        name="cmd-demo-0",
        comment="sgorch:v1;instance=t;deployment=demo;slot=0;hash=abc",
        options=SbatchOptions(cpus_per_task=2, time_limit_min=30, exclude=("n1",)),
        working_dir="/work",
        output_path="/work/cmd-demo-0-1.out",
        submitted_at=1000.5,
    )
    return base.model_copy(update=changes)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[JobRegistry]:
    reg = JobRegistry(tmp_path / "state")
    reg.open()
    yield reg
    reg.close()


def test_job_ids_increase_and_are_never_reused_across_reopens(tmp_path: Path) -> None:
    first = JobRegistry(tmp_path / "state")
    first.open()
    ids = [first.allocate_id(), first.allocate_id()]
    first.create(record(ids[1]), "#!/bin/bash\n", {})
    first.remove(ids[1])
    first.close()
    second = JobRegistry(tmp_path / "state")
    second.open()
    assert ids == [1, 2]
    assert second.allocate_id() == 3
    second.close()


def test_a_record_reads_back_equal_after_a_reopen(tmp_path: Path) -> None:
    running = record(
        1,
        state=JobState.COMPLETING,
        supervisor=Supervisor(4242, 987654, "boot"),
        pgid=4243,
        ending=JobState.TIMEOUT,
        started_at=1001.0,
        node="box",
        term_sent_at=1002.0,
    )
    first = JobRegistry(tmp_path / "state")
    first.open()
    first.create(running, "#!/bin/bash\n", {})
    first.close()
    second = JobRegistry(tmp_path / "state")
    assert second.open() == {1: running}
    second.close()


def test_script_environment_and_state_dir_are_private(
    registry: JobRegistry, tmp_path: Path
) -> None:
    registry.create(record(1), "#!/bin/bash\n", {"HF_TOKEN": "secret"})
    job_dir = registry.job_dir(1)
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    for name in ("script", "environment.json", "job.json"):
        assert stat.S_IMODE((job_dir / name).stat().st_mode) == 0o600
    assert registry.read_environment(1) == {"HF_TOKEN": "secret"}
    registry.drop_environment(1)
    assert not (job_dir / "environment.json").exists()


def test_a_submit_interrupted_before_its_record_is_removed_on_open(tmp_path: Path) -> None:
    first = JobRegistry(tmp_path / "state")
    first.open()
    job_id = first.allocate_id()
    first.job_dir(job_id).mkdir()
    (first.job_dir(job_id) / "script").write_text("#!/bin/bash\n")
    first.close()
    second = JobRegistry(tmp_path / "state")
    assert second.open() == {}
    assert not second.job_dir(job_id).exists()
    assert second.allocate_id() == job_id + 1
    second.close()


def test_an_unreadable_record_is_skipped_and_left_for_a_human(registry: JobRegistry) -> None:
    registry.create(record(1), "#!/bin/bash\n", {})
    registry.create(record(2), "#!/bin/bash\n", {})
    (registry.job_dir(1) / "job.json").write_text("{not json")
    registry.close()
    assert list(registry.open()) == [2]
    assert (registry.job_dir(1) / "job.json").exists()


def test_a_second_registry_on_the_same_directory_is_refused_until_the_first_closes(
    registry: JobRegistry, tmp_path: Path
) -> None:
    other = JobRegistry(tmp_path / "state")
    with pytest.raises(RegistryLocked, match="another local executor"):
        other.open()
    registry.close()
    other.open()
    other.close()


def test_exit_code_and_process_group_are_read_from_the_supervisors_files(
    registry: JobRegistry,
) -> None:
    registry.create(record(1), "#!/bin/bash\n", {})
    assert registry.read_pgid(1) is None
    assert registry.read_exit_code(1) is None
    (registry.job_dir(1) / "started").write_text("4243\n")
    (registry.job_dir(1) / "exit").write_text("137\n")
    assert registry.read_pgid(1) == 4243
    assert registry.read_exit_code(1) == 137
