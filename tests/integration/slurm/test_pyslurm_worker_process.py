"""The pyslurm client's worker process, with the contract fake as the binding: a hung
controller costs one call its deadline (never the event loop), the hung worker is
replaced, failures of the worker itself become SlurmUnavailable, and nothing outlives
``aclose``."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from fakes.pyslurm._cluster import ENV_DIR
from integration.slurm.factories.pyslurm_fake import FakePySlurmClient
from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobRequest, JobState, OwnerTag, SbatchOptions
from sgorch.slurm.pyslurm_client import PySlurmClient
from sgorch.slurm.tags import instance_prefix


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[FakePySlurmClient]:
    fake = FakePySlurmClient(tmp_path / "fake-slurm", timeout_s=2.0)
    fake.cluster.directory.mkdir()
    try:
        yield fake
    finally:
        await fake.aclose()


def worker_pid(client: PySlurmClient) -> int:
    assert client._worker is not None
    return client._worker.process.pid


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def make_request(workdir: Path, script: str, **options: object) -> JobRequest:
    return JobRequest(
        name="pyslurm-job",
        script=f"#!/bin/bash\n{script}\n",
        comment=OwnerTag("pyworker", "d", 0, "0123abcd").render(),
        options=SbatchOptions(**options),  # type: ignore[arg-type]
        working_dir=str(workdir),
        stdout_path=str(workdir / "%x-%j.out"),
    )


async def test_a_hung_controller_costs_one_deadline_and_never_the_event_loop(
    client: FakePySlurmClient,
) -> None:
    await client.ping()
    hung_worker = worker_pid(client)
    client.cluster.set_controller("hang")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    started = time.monotonic()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(tick)
        with pytest.raises(SlurmUnavailable, match="within 2 s; its worker was killed"):
            await client.ping()
        tasks.cancel_scope.cancel()

    assert 2 <= time.monotonic() - started < 4
    assert ticks >= 20, "the event loop stalled while pyslurm hung"
    assert not alive(hung_worker)


async def test_the_next_call_after_a_timeout_gets_a_new_worker(client: FakePySlurmClient) -> None:
    client.cluster.set_controller("hang")
    with pytest.raises(SlurmUnavailable):
        await client.ping()
    client.cluster.set_controller("up")

    await client.ping()
    await client.ping()

    assert alive(worker_pid(client))


async def test_a_call_cancelled_midway_leaves_no_answer_for_the_next_one(
    client: FakePySlurmClient,
) -> None:
    client.cluster.set_controller("hang")
    with anyio.move_on_after(0.5):
        await client.list_jobs(instance_prefix("pyworker"))
    client.cluster.set_controller("up")

    await client.ping()  # would read the stale list_jobs reply if the worker were kept
    assert await client.list_jobs(instance_prefix("pyworker")) == []


async def test_a_worker_that_dies_is_reported_then_replaced(client: FakePySlurmClient) -> None:
    await client.ping()
    os.kill(worker_pid(client), signal.SIGKILL)

    with pytest.raises(SlurmUnavailable, match=r"worker died during ping \(exit code -9\)"):
        await client.ping()
    await client.ping()


async def test_a_binding_that_does_not_import_is_unavailable(tmp_path: Path) -> None:
    client = PySlurmClient(module="no_such_pyslurm", timeout_s=10)
    not_found = r"cannot import no_such_pyslurm: ModuleNotFoundError"
    with pytest.raises(SlurmUnavailable, match=not_found):
        await client.ping()
    await client.aclose()


async def test_an_unexpected_error_in_the_binding_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_DIR, raising=False)
    client = PySlurmClient(module="fakes.pyslurm", timeout_s=10)  # the fake has no state dir
    with pytest.raises(SlurmUnavailable, match=rf"failed during ping: RuntimeError: .*{ENV_DIR}"):
        await client.ping()
    await client.aclose()


async def test_refusals_of_the_binding_and_of_slurm_are_rejections(
    client: FakePySlurmClient, tmp_path: Path
) -> None:
    bad_partition = r"Invalid partition name specified \(Slurm error 2000\)"
    with pytest.raises(SlurmRejected, match=bad_partition):
        await client.submit(make_request(tmp_path, "true", partition="gpu"))
    no_shebang = replace(make_request(tmp_path, "true"), script="true\n")
    with pytest.raises(SlurmRejected, match=r"pyslurm refused.*ValueError.*'#!'"):
        await client.submit(no_shebang)


async def test_a_job_output_is_named_by_job_name_and_id(
    client: FakePySlurmClient, tmp_path: Path
) -> None:
    job_id = await client.submit(make_request(tmp_path, "echo hello", time_limit_min=5))
    with anyio.fail_after(10):
        while True:
            (job,) = await client.list_jobs(instance_prefix("pyworker"))
            if job.state.is_terminal:
                break
            await anyio.sleep(0.1)

    assert (job.state, job.exit_code, job.time_limit_min) == (JobState.COMPLETED, 0, 5)
    assert (tmp_path / f"pyslurm-job-{job_id}.out").read_text() == "hello\n"


async def test_closing_the_client_ends_its_worker(tmp_path: Path) -> None:
    client = FakePySlurmClient(tmp_path / "fake-slurm")
    await client.ping()
    pid = worker_pid(client)

    await client.aclose()

    assert not alive(pid)
