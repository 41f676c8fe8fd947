"""The Deployment controller against the in-memory Slurm and real HTTP workers: the
invariants of DESIGN.md, each as a test that fails when the invariant is broken."""

from __future__ import annotations

from fakes.harness import Harness, deployment_yaml, harnessed
from sgorch.slurm import JobState


async def converge(h: Harness, replicas: int, name: str = "web") -> None:
    """Serve every pending job and reconcile until ``replicas`` are ready."""

    async def ready() -> bool:
        for job in h.slurm.live():
            if job.state is JobState.PENDING:
                await h.serve(job.job_id)
        return h.status(name)["status"]["readyReplicas"] == replicas

    await h.until(ready, name)


@harnessed
async def test_submits_replicas_and_reports_them_ready_and_available(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=3))
    await h.step()
    assert len(h.slurm.submits) == 3
    status = h.status()["status"]
    assert [w["state"] for w in status["workers"]] == ["PENDING"] * 3
    assert h.condition("Available")["status"] == "False"
    await converge(h, 3)
    assert h.condition("Available")["status"] == "True"
    assert h.condition("Progressing")["reason"] == "Complete"
    assert all(w["url"] and w["ready"] for w in h.status()["status"]["workers"])
    assert len(h.slurm.submits) == 3


@harnessed
async def test_restart_over_a_converged_cluster_submits_and_cancels_nothing(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=2))
    await converge(h, 2)
    calls = (len(h.slurm.submits), len(h.slurm.cancels))
    for _ in range(3):
        await h.restart()
        await converge(h, 2)
    assert (len(h.slurm.submits), len(h.slurm.cancels)) == calls


@harnessed
async def test_adopts_jobs_whose_submission_was_never_recorded(h: Harness) -> None:
    """Crash between sbatch and the bookkeeping: the job carries its tag, so the next
    operator adopts it instead of submitting a duplicate."""
    h.write("web", deployment_yaml(replicas=1))
    h.slurm.lose_reply_after_submit = True
    await h.step()
    h.slurm.lose_reply_after_submit = False
    assert len(h.slurm.submits) == 1
    (h.state_dir / "deployments" / "web.json").unlink()  # the bookkeeping is lost too
    await h.restart()
    for _ in range(3):
        await h.step()
    assert len(h.slurm.submits) == 1


@harnessed
async def test_an_uncertain_submit_blocks_the_slot_until_a_newer_listing_settles_it(
    h: Harness,
) -> None:
    h.write("web", deployment_yaml(replicas=1))
    h.slurm.lose_reply_after_submit = True
    await h.step()  # sbatch "times out" after creating the job
    h.slurm.lose_reply_after_submit = False
    await h.controller.reconcile("web")  # no listing since: must not submit again
    assert len(h.slurm.submits) == 1
    await h.step()  # the listing shows the job: adopted
    assert len(h.slurm.submits) == 1
    assert h.status()["status"]["workers"][0]["jobId"] == h.slurm.submits[0]


@harnessed
async def test_a_lost_submission_frees_its_slot_only_after_the_submit_timeout(
    h: Harness,
) -> None:
    h.write("web", deployment_yaml(replicas=1))
    h.slurm.drop_submission = True
    await h.step()
    h.slurm.drop_submission = False
    for _ in range(3):
        await h.step()
    assert h.slurm.calls.count("submit") == 1, "resubmitted before a listing could settle it"
    assert h.status()["status"]["workers"][0]["state"] == "Submitting"
    await h.restart()  # the attempt survives a restart
    await h.step()
    assert h.slurm.calls.count("submit") == 1
    h.clock.advance(31)
    await h.step()
    assert h.slurm.calls.count("submit") == 2 and len(h.slurm.submits) == 1


@harnessed
async def test_scale_up_then_down_removes_least_valuable_first_and_drains_ready_ones(
    h: Harness,
) -> None:
    h.write("web", deployment_yaml(replicas=2))
    await converge(h, 2)
    h.write("web", deployment_yaml(replicas=4))
    await h.step()
    assert len(h.slurm.live()) == 4
    pending = [j.job_id for j in h.slurm.live() if j.state is JobState.PENDING]
    h.write("web", deployment_yaml(replicas=2))
    await h.step()
    assert set(h.slurm.cancels) == set(pending), "pending workers go first"
    h.write("web", deployment_yaml(replicas=1))
    await h.until(lambda: len(h.slurm.live()) == 1)
    assert h.status()["status"]["readyReplicas"] == 1


@harnessed
async def test_rolling_update_never_exceeds_replicas_plus_surge(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=3))
    await converge(h, 3)
    old = {j.job_id for j in h.slurm.live()}
    h.write("web", deployment_yaml(replicas=3, args=["--v2"]))
    peak = 0

    async def rolled() -> bool:
        nonlocal peak
        peak = max(peak, len(h.slurm.live()))
        for job in h.slurm.live():
            if job.state is JobState.PENDING:
                await h.serve(job.job_id)
        live = {j.job_id for j in h.slurm.live()}
        return not (live & old) and h.status()["status"]["readyReplicas"] == 3

    await h.until(rolled, timeout_s=30)
    assert peak <= 4
    assert h.status()["status"]["updatedReplicas"] == 3
    assert h.status()["metadata"]["generation"] == 2
    assert h.status()["status"]["observedGeneration"] == 2


@harnessed
async def test_a_failed_job_is_replaced_after_its_backoff(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=1))
    await converge(h, 1)
    (job,) = [j.job_id for j in h.slurm.live()]
    await h.kill_worker(job)
    h.slurm.finish(job, JobState.FAILED, 1)
    await h.step()
    assert len(h.slurm.submits) == 1, "resubmitted without backoff"
    failure = h.condition("ReplicaFailure")
    assert failure["status"] == "True" and "FAILED" in failure["message"]
    h.clock.advance(11)
    await h.step()
    assert len(h.slurm.submits) == 2
    await converge(h, 1)
    assert h.status()["status"]["workers"][0]["restarts"] == 1
    assert h.condition("ReplicaFailure")["status"] == "False"


@harnessed
async def test_crash_looping_slot_backs_off_exponentially(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=1))
    waits = []
    for _ in range(4):
        await h.step()
        job = h.slurm.submits[-1]
        h.slurm.finish(job, JobState.FAILED, 1)
        await h.step()
        submitted = len(h.slurm.submits)
        waited = 0
        while len(h.slurm.submits) == submitted:
            h.clock.advance(1)
            waited += 1
            await h.step()
        waits.append(waited)
    assert waits == [10, 20, 40, 80]


@harnessed
async def test_a_worker_failing_liveness_is_replaced(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=1))
    await converge(h, 1)
    (job,) = [j.job_id for j in h.slurm.live()]
    await h.kill_worker(job)  # stops answering; the job still runs
    await h.until(lambda: job in h.slurm.cancels)
    await h.step()
    failure = h.condition("ReplicaFailure")
    assert failure["status"] == "True" and "liveness probe" in failure["message"]
    assert len(h.slurm.submits) == 1, "a probe failure backs off like a crash"


@harnessed
async def test_nothing_is_cancelled_or_submitted_while_slurm_is_unreachable(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=2))
    await converge(h, 2)
    h.slurm.unavailable = True
    h.write("web", deployment_yaml(replicas=1, args=["--changed"]))
    for _ in range(5):
        await h.step()
    assert h.slurm.calls.count("cancel") == 0 and h.slurm.calls.count("submit") == 2
    assert h.condition("ReplicaFailure")["reason"] == "SlurmUnavailable"
    assert h.status()["status"]["readyReplicas"] == 2, "keeps serving"
    h.slurm.unavailable = False

    async def recovered() -> bool:
        for job in h.slurm.live():
            if job.state is JobState.PENDING:
                await h.serve(job.job_id)
        status = h.status()["status"]
        return (
            len(h.slurm.live()) == 1 and status["readyReplicas"] == status["updatedReplicas"] == 1
        )

    await h.until(recovered, timeout_s=20)


@harnessed
async def test_deleting_the_file_cancels_every_job_and_removes_the_status(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=2))
    await converge(h, 2)
    h.delete("web")
    await h.until(lambda: not (h.status_dir / "deployments" / "web.json").exists())
    assert h.slurm.live() == []
    assert not (h.state_dir / "deployments" / "web.json").exists()


@harnessed
async def test_jobs_of_other_instances_are_never_touched(h: Harness) -> None:
    from sgorch.slurm import JobId, JobInfo

    foreign = "sgorch:v1;instance=other;deployment=web;slot=0;hash=abc"
    h.slurm.jobs["1"] = JobInfo(JobId("1"), "cmd-web-0", JobState.RUNNING, comment=foreign)
    h.slurm.jobs["2"] = JobInfo(JobId("2"), "x", JobState.RUNNING, comment="")
    h.write("web", deployment_yaml(replicas=1))
    await converge(h, 1)
    h.delete("web")
    await h.until(lambda: not (h.status_dir / "deployments" / "web.json").exists())
    assert "1" not in h.slurm.cancels and "2" not in h.slurm.cancels


@harnessed
async def test_invalid_edit_keeps_the_last_valid_spec_and_reports_the_location(
    h: Harness,
) -> None:
    h.write("web", deployment_yaml(replicas=2))
    await converge(h, 2)
    h.write("web", deployment_yaml(replicas=2).replace("replicas: 2", "replicas: two"))
    await h.step()
    status = h.status()["status"]
    assert status["error"]["line"] == 5 and status["error"]["field"] == "spec.replicas"
    assert h.condition("Invalid")["status"] == "True"
    assert status["readyReplicas"] == 2 and h.slurm.cancels == []


@harnessed
async def test_unsatisfiable_pending_reason_is_a_replica_failure(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=1))
    await h.step()
    h.slurm.pend(h.slurm.submits[0], "PartitionConfig")
    await h.step()
    failure = h.condition("ReplicaFailure")
    assert failure["reason"] == "Unsatisfiable" and "PartitionConfig" in failure["message"]


@harnessed
async def test_rejected_spec_is_not_resubmitted_until_it_changes(h: Harness) -> None:
    h.slurm.reject_with = "Invalid partition name specified"
    h.write("web", deployment_yaml(replicas=1))
    for _ in range(3):
        await h.step()
    assert h.slurm.calls.count("submit") == 1
    assert h.condition("ReplicaFailure")["reason"] == "SubmitRejected"
    h.slurm.reject_with = None
    h.write("web", deployment_yaml(replicas=1, args=["--fixed"]))
    await h.step()
    assert len(h.slurm.submits) == 1


@harnessed
async def test_missing_secret_is_reported_and_nothing_is_submitted(h: Harness) -> None:
    h.write("web", deployment_yaml(replicas=1, extra="  slurm: {env: {TOKEN: '${NOPE_X}'}}\n"))
    await h.step()
    assert h.slurm.submits == []
    assert h.condition("ReplicaFailure")["reason"] == "MissingEnvironment"
    h.environ["NOPE_X"] = "s3cr3t-value"
    await h.step()
    (job,) = h.slurm.submits
    assert h.slurm.requests[job].environment == {"TOKEN": "s3cr3t-value"}
    assert "s3cr3t-value" not in (h.status_dir / "deployments" / "web.json").read_text()


@harnessed
async def test_tunneled_deployments_are_refused_with_a_condition(h: Harness) -> None:
    h.write(
        "web",
        deployment_yaml(replicas=1, extra="  connectivity: {mode: tunneled}\n").replace(
            "  connectivity: {bind_host: 127.0.0.1}\n", ""
        ),
    )
    await h.step()
    assert h.slurm.submits == []
    invalid = h.condition("Invalid")
    assert invalid["status"] == "True" and invalid["reason"] == "TunneledNotImplemented"


@harnessed
async def test_events_tell_the_story_of_a_replacement(h: Harness) -> None:
    from sgorch.status.events import read_events

    h.write("web", deployment_yaml(replicas=1))
    await converge(h, 1)
    (job,) = [j.job_id for j in h.slurm.live()]
    await h.kill_worker(job)
    h.slurm.finish(job, JobState.FAILED, 1)
    await h.step()
    reasons = [e.reason for e in read_events(h.status_dir, "Deployment", "web")]
    assert reasons[:2] == ["Submitted", "WorkerReady"]
    assert "WorkerFailed" in reasons
    h.delete("web")
    await h.until(lambda: not (h.status_dir / "deployments" / "web.json").exists())
    assert read_events(h.status_dir, "Deployment", "web") == []


async def fail_on(h: Harness, node: str, times: int) -> None:
    """The slot's job starts on ``node`` and fails there, ``times`` times in a row; each
    time the controller waits out its backoff and submits a replacement."""
    for _ in range(times):
        await h.step()
        job = h.slurm.submits[-1]
        h.slurm.start(job, node=node)
        await h.step()
        h.slurm.finish(job, JobState.FAILED, 1)
        submitted = len(h.slurm.submits)
        for _ in range(100):  # the backoff cap is 100 s
            h.clock.advance(5)
            await h.step()
            if len(h.slurm.submits) > submitted:
                break
        else:
            raise AssertionError(f"no replacement after 500 s: {h.status()['status']}")


@harnessed
async def test_a_node_that_keeps_failing_jobs_is_excluded_until_its_cooldown_ends(
    h: Harness,
) -> None:
    h.write("web", deployment_yaml(replicas=1))  # threshold 3, cooldown 600 s
    await fail_on(h, "bad1", 2)
    assert h.slurm.requests[h.slurm.submits[-1]].options.exclude == ()
    await fail_on(h, "bad1", 1)
    assert h.slurm.requests[h.slurm.submits[-1]].options.exclude == ("bad1",)
    await fail_on(h, "good2", 1)  # another node's failure keeps the quarantine
    assert h.slurm.requests[h.slurm.submits[-1]].options.exclude == ("bad1",)
    h.clock.advance(600)
    await fail_on(h, "good2", 1)
    assert h.slurm.requests[h.slurm.submits[-1]].options.exclude == ()


@harnessed
async def test_a_quarantine_slurm_cannot_enforce_is_reported_and_submitting_goes_on(
    h: Harness,
) -> None:
    """slurmrestd v0.0.38 (Slurm 22.05) cannot exclude nodes: the replacement is
    submitted without the exclusion, and an event says so (it was a rejection that
    stopped the Deployment)."""
    from sgorch.status.events import read_events

    h.slurm.excludes_nodes = False
    h.write("web", deployment_yaml(replicas=1))
    await fail_on(h, "bad1", 3)
    assert h.slurm.requests[h.slurm.submits[-1]].options.exclude == ()
    (event,) = [
        e
        for e in read_events(h.status_dir, "Deployment", "web")
        if e.reason == "QuarantineNotEnforced"
    ]
    assert event.type == "Warning" and "bad1" in event.message and "fake" in event.message
    assert h.condition("Invalid")["status"] == "False"
    await converge(h, 1)


@harnessed
async def test_a_quarantine_of_every_node_is_lifted_instead_of_stopping_the_deployment(
    h: Harness,
) -> None:
    """Was: on a one-node partition, sbatch refuses a job excluding that node ("Requested
    node configuration is not available"), and the rejection marked the spec as refused:
    no job was submitted again until the spec changed, long after the cooldown."""
    from sgorch.status.events import read_events

    h.slurm.partition_nodes = frozenset({"only1"})
    h.write("web", deployment_yaml(replicas=1))
    await fail_on(h, "only1", 3)
    assert h.slurm.requests[h.slurm.submits[-1]].options.exclude == ()
    reasons = [e.reason for e in read_events(h.status_dir, "Deployment", "web")]
    assert "QuarantineLifted" in reasons and "SubmitRejected" not in reasons
    assert h.condition("Invalid")["status"] == "False"
    await converge(h, 1)
