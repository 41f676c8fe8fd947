"""The worker side of the pyslurm client, in-process on the contract fake: the request
functions, and the framed protocol of ``serve`` (every kind of reply)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fakes.pyslurm
from fakes.pyslurm._cluster import ENV_DIR, FakeCluster
from sgorch.slurm import pyslurm_worker

TAG = "sgorch:v1;instance=unit;"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    state = tmp_path / "fake-slurm"
    state.mkdir()
    monkeypatch.setenv(ENV_DIR, str(state))
    fake = FakeCluster(state)
    try:
        yield fake
    finally:
        fake.shutdown()


def description(workdir: Path, **fields: Any) -> dict[str, Any]:
    return {
        "name": "unit-job",
        "script": "#!/bin/bash\nsleep 30\n",
        "comment": f"{TAG}deployment=d;slot=0;hash=0",
        "working_directory": str(workdir),
        "standard_output": str(workdir / "%x-%j.out"),
        "environment": {"PATH": "/usr/bin:/bin", "SLURM_JOB_NAME": "unit-job"},
        **fields,
    }


def test_submits_and_lists_jobs_by_comment_prefix(cluster: FakeCluster, tmp_path: Path) -> None:
    ours = pyslurm_worker.submit(fakes.pyslurm, description(tmp_path))
    pyslurm_worker.submit(fakes.pyslurm, description(tmp_path, comment="someone else"))

    (listed,) = pyslurm_worker.list_jobs(fakes.pyslurm, TAG)

    assert listed["job_id"] == ours
    assert (listed["state"], listed["name"], listed["time_limit"]) == ("RUNNING", "unit-job", None)
    assert listed["nodes"] and listed["start_time"]


def test_cancels_a_job_and_is_silent_for_unknown_ones(cluster: FakeCluster, tmp_path: Path) -> None:
    job_id = pyslurm_worker.submit(fakes.pyslurm, description(tmp_path))

    pyslurm_worker.cancel(fakes.pyslurm, job_id, None)
    pyslurm_worker.cancel(fakes.pyslurm, job_id, None)
    pyslurm_worker.cancel(fakes.pyslurm, 99999, None)
    pyslurm_worker.cancel(fakes.pyslurm, 99999, 10)

    (listed,) = pyslurm_worker.list_jobs(fakes.pyslurm, TAG)
    assert listed["state"] == "CANCELLED"


def test_a_signal_reaches_the_batch_shell(cluster: FakeCluster, tmp_path: Path) -> None:
    got = tmp_path / "got"
    script = f"#!/bin/bash\ntrap 'touch {got}; exit 0' USR1\necho >{tmp_path / 'ready'}\n"
    script += "sleep 30 &\nwait\n"
    job_id = pyslurm_worker.submit(fakes.pyslurm, description(tmp_path, script=script))
    deadline = time.monotonic() + 10
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    pyslurm_worker.cancel(fakes.pyslurm, job_id, 10)

    while not got.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got.exists()


def test_ping_raises_the_rpc_error_of_a_controller_that_is_down(cluster: FakeCluster) -> None:
    pyslurm_worker.ping(fakes.pyslurm)
    cluster.set_controller("down")

    with pytest.raises(fakes.pyslurm.RPCError) as caught:
        pyslurm_worker.ping(fakes.pyslurm)
    assert caught.value.errno == 1800


def exchange(module: str, *requests: tuple[str, tuple[Any, ...]]) -> list[Any]:
    """Run ``serve`` over in-memory pipes; return every reply it wrote."""
    inbound, outbound = io.BytesIO(), io.BytesIO()
    for request in requests:
        pyslurm_worker.write_message(inbound, request)
    inbound.seek(0)
    pyslurm_worker.serve(inbound, outbound, module)
    outbound.seek(0)
    replies = []
    while (reply := pyslurm_worker.read_message(outbound)) is not None:
        replies.append(reply)
    return replies


def test_serve_answers_each_request_with_its_kind_of_reply(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    replies = exchange(
        "fakes.pyslurm",
        ("ping", ()),
        ("submit", (description(tmp_path, partitions="nosuch"),)),
        ("submit", (description(tmp_path, script="echo no shebang"),)),
        ("submit", (description(tmp_path, nmae="typo"),)),
    )

    assert replies[0] == ("ready", "25.11.0")
    assert replies[1] == ("ok", None)
    assert replies[2] == ("rpc_error", 2000, "Invalid partition name specified")
    assert replies[3][0] == "invalid" and "#!" in replies[3][1]
    assert replies[4][0] == "crash" and "AttributeError" in replies[4][1]
    assert len(replies) == 5


def test_serve_reports_a_binding_that_does_not_import() -> None:
    ((kind, details),) = exchange("no_such_pyslurm_module", ("ping", ()))

    assert kind == "crash" and "ModuleNotFoundError" in details
