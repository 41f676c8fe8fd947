"""What the rest client sends: job descriptions per slurmrestd API version (v0.0.38 pinned
to a body slurmrestd 22.05 accepted; later versions per their published schemas), the
job environment, and what it refuses to send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sgorch.errors import SlurmRejected
from sgorch.slurm import JobRequest, SbatchOptions
from sgorch.slurm.rest import ApiVersion, render_job_environment, render_submit_body

DATA = Path(__file__).resolve().parents[2] / "data" / "slurm" / "22.05"
V38, V39, V40, V41, V44 = (ApiVersion(minor) for minor in (38, 39, 40, 41, 44))
OPERATOR_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/op",
    "LC_ALL": "C.UTF-8",
    "SLURM_JWT": "operator-secret",
    "AWS_SECRET_ACCESS_KEY": "operator-secret",
}


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())  # type: ignore[no-any-return]


def make_request(**options: Any) -> JobRequest:
    return JobRequest(
        name="sgl-demo-0",
        script="#!/bin/bash\nexec sleep 30\n",
        comment="sgorch:v1;instance=op;deployment=demo;slot=0;hash=0123abcd",
        options=SbatchOptions(**options),
        working_dir="/var/log/sgorch",
        stdout_path="/var/log/sgorch/%x-%j.out",
        environment={"HF_TOKEN": "hf_secret", "PATH": "/opt/venv/bin:/usr/bin"},
    )


def test_job_environment_is_a_curated_base_plus_the_request_and_the_job_name() -> None:
    environment = render_job_environment(make_request(), OPERATOR_ENV)

    assert environment == {
        "PATH": "/opt/venv/bin:/usr/bin",
        "HOME": "/home/op",
        "LC_ALL": "C.UTF-8",
        "HF_TOKEN": "hf_secret",
        "SLURM_JOB_NAME": "sgl-demo-0",
    }


def test_v0_0_38_body_is_the_shape_slurmrestd_22_05_accepted() -> None:
    accepted = recorded("rest-submit-client-shape.json")
    assert accepted["status"] == 200
    job = accepted["request"]["body"]["job"]
    request = JobRequest(
        name=job["name"],
        script=accepted["request"]["body"]["script"],
        comment=job["comment"],
        options=SbatchOptions(partition="debug", cpus_per_task=2, mem_mb=100, time_limit_min=7),
        working_dir=job["current_working_directory"],
        stdout_path=job["standard_output"],
    )

    body = render_submit_body(request, V38, {"PATH": "/usr/bin:/bin"})

    assert body == accepted["request"]["body"]


def test_v0_0_38_takes_gres_and_an_infinite_time_limit_as_plain_values() -> None:
    body = render_submit_body(make_request(gres="gpu:2", time_limit_min=-1), V38, OPERATOR_ENV)

    assert body["job"]["gres"] == "gpu:2"
    assert body["job"]["time_limit"] == 0xFFFFFFFF


def test_v0_0_38_refuses_excluded_nodes_instead_of_sending_a_disabled_key() -> None:
    refused = recorded("rest-submit-excluded-nodes.json")
    assert refused["status"] == 400  # what slurmrestd 22.05 answers to the key

    with pytest.raises(SlurmRejected, match=r"cannot exclude nodes \(gpu7, gpu8.*--slurm cli"):
        render_submit_body(make_request(exclude=("gpu7", "gpu8")), V38, OPERATOR_ENV)


@pytest.mark.parametrize("version", [V38, V44], ids=["v0.0.38", "v0.0.44"])
def test_free_form_sbatch_options_are_refused_with_a_way_out(version: ApiVersion) -> None:
    with pytest.raises(SlurmRejected, match=r"--signal=B:USR1@60.*--slurm cli"):
        render_submit_body(make_request(extra=("--signal=B:USR1@60",)), version, OPERATOR_ENV)


@pytest.mark.parametrize("version", [V39, V40, V41, V44], ids=lambda v: v.name)
def test_structured_versions_send_lists_and_no_val_numbers(version: ApiVersion) -> None:
    body = render_submit_body(
        make_request(
            partition="gpu",
            account="proj",
            qos="high",
            reservation="maint",
            constraint="a100",
            gres="gpu:a100:2,nic:1",
            exclude=("gpu7",),
            cpus_per_task=8,
            mem_mb=64000,
            time_limit_min=90,
        ),
        version,
        OPERATOR_ENV,
    )
    job = body["job"]

    assert job["environment"] == [
        "PATH=/opt/venv/bin:/usr/bin",
        "HOME=/home/op",
        "LC_ALL=C.UTF-8",
        "HF_TOKEN=hf_secret",
        "SLURM_JOB_NAME=sgl-demo-0",
    ]
    assert job["time_limit"] == {"set": True, "infinite": False, "number": 90}
    assert job["memory_per_node"] == {"set": True, "infinite": False, "number": 64000}
    assert job["tres_per_node"] == "gres/gpu:a100:2,gres/nic:1"
    assert job["excluded_nodes"] == ["gpu7"]
    assert (job["minimum_nodes"], job["maximum_nodes"], job["tasks"]) == (1, 1, 1)
    assert job["open_mode"] == ["APPEND"]
    assert (job["partition"], job["account"], job["qos"]) == ("gpu", "proj", "high")
    assert (job["reservation"], job["constraints"], job["cpus_per_task"]) == ("maint", "a100", 8)
    assert "gres" not in job and "nodes" not in job


def test_structured_versions_send_an_unlimited_time_limit_as_infinite() -> None:
    body = render_submit_body(make_request(time_limit_min=-1), V40, OPERATOR_ENV)

    assert body["job"]["time_limit"] == {"set": True, "infinite": True, "number": 0}


@pytest.mark.parametrize(
    ("version", "top_level"),
    [(V38, True), (V40, True), (V41, False), (V44, False)],
    ids=lambda v: v.name if isinstance(v, ApiVersion) else str(v),
)
def test_script_moves_into_the_job_from_v0_0_41(version: ApiVersion, top_level: bool) -> None:
    body = render_submit_body(make_request(), version, OPERATOR_ENV)

    assert ("script" in body) is top_level
    assert ("script" in body["job"]) is not top_level


def test_unset_options_are_left_to_slurm_defaults() -> None:
    job = render_submit_body(make_request(), V41, OPERATOR_ENV)["job"]

    absent = {
        "partition",
        "account",
        "qos",
        "reservation",
        "constraints",
        "tres_per_node",
        "excluded_nodes",
        "memory_per_node",
        "time_limit",
        "standard_error",
    }
    assert absent.isdisjoint(job)


def test_secrets_of_the_operator_never_reach_the_job_description() -> None:
    for version in (V38, V44):
        body = json.dumps(render_submit_body(make_request(), version, OPERATOR_ENV))
        assert "operator-secret" not in body
        assert "hf_secret" in body  # the request's own secret goes to the job's environment
