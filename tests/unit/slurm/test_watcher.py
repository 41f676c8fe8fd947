"""The JobWatcher: one listing for the whole operator, change notifications per
Deployment, terminal states remembered after squeue forgets them, and backoff while the
controller is unreachable."""

from __future__ import annotations

from dataclasses import replace

import anyio

from fakes.fake_slurm import FakeSlurm
from sgorch.slurm import JobId, JobInfo, JobState, OwnerTag, instance_prefix
from sgorch.slurm.watcher import JobWatcher

PREFIX = instance_prefix("w")


def add_job(
    slurm: FakeSlurm,
    job_id: str,
    deployment: str,
    state: JobState = JobState.PENDING,
    instance: str = "w",
) -> None:
    tag = OwnerTag(instance, deployment, 0, "abc").render()
    slurm.jobs[job_id] = JobInfo(JobId(job_id), f"cmd-{deployment}-0", state, comment=tag)


async def test_one_listing_covers_every_deployment() -> None:
    slurm = FakeSlurm()
    for i in range(300):
        add_job(slurm, str(i), f"d{i}")
    watcher = JobWatcher(slurm, PREFIX)
    assert await watcher.poll_once()
    assert slurm.calls == ["list"]
    assert len(watcher.deployments()) == 300


async def test_listeners_hear_only_the_deployments_whose_jobs_changed() -> None:
    slurm = FakeSlurm()
    add_job(slurm, "1", "a")
    add_job(slurm, "2", "b")
    watcher = JobWatcher(slurm, PREFIX)
    heard: list[set[str]] = []
    watcher.subscribe(heard.append)
    await watcher.poll_once()
    slurm.start("1")
    await watcher.poll_once()
    await watcher.poll_once()
    assert heard == [{"a", "b"}, {"a"}, set()]


async def test_time_left_ticking_down_is_not_a_change() -> None:
    slurm = FakeSlurm()
    add_job(slurm, "1", "a")
    slurm.start("1", time_left_s=100)
    watcher = JobWatcher(slurm, PREFIX)
    heard: list[set[str]] = []
    watcher.subscribe(heard.append)
    await watcher.poll_once()
    slurm.jobs["1"] = replace(slurm.jobs["1"], time_left_s=95)
    await watcher.poll_once()
    assert heard[-1] == set()


async def test_jobs_of_other_instances_and_untagged_jobs_are_ignored() -> None:
    slurm = FakeSlurm()
    add_job(slurm, "1", "a", instance="other")
    slurm.jobs["2"] = JobInfo(JobId("2"), "x", JobState.RUNNING, comment=PREFIX + "garbage")
    watcher = JobWatcher(slurm, PREFIX)
    await watcher.poll_once()
    assert watcher.deployments() == set()


async def test_terminal_states_are_remembered_after_squeue_forgets_them() -> None:
    slurm = FakeSlurm()
    add_job(slurm, "1", "a")
    clock = [1000.0]
    watcher = JobWatcher(slurm, PREFIX, remember_terminal_s=60, wall_clock=lambda: clock[0])
    await watcher.poll_once()
    slurm.finish("1", JobState.FAILED, 2)
    await watcher.poll_once()
    slurm.forget_finished()
    clock[0] += 30
    await watcher.poll_once()
    job = watcher.get("1")
    assert job is not None and job.info.state is JobState.FAILED and job.info.exit_code == 2
    clock[0] += 31
    await watcher.poll_once()
    assert watcher.get("1") is None


async def test_an_unreachable_controller_keeps_the_last_picture_and_says_so() -> None:
    slurm = FakeSlurm()
    add_job(slurm, "1", "a", JobState.RUNNING)
    watcher = JobWatcher(slurm, PREFIX)
    await watcher.poll_once()
    started = watcher.listing_started_at
    slurm.unavailable = True
    assert not await watcher.poll_once()
    assert watcher.unavailable_since is not None and watcher.last_error
    assert watcher.get("1") is not None and watcher.listing_started_at == started
    slurm.unavailable = False
    assert await watcher.poll_once()
    assert watcher.unavailable_since is None


def test_polls_fast_after_a_submit_and_back_off_while_failing() -> None:
    watcher = JobWatcher(FakeSlurm(), PREFIX, interval_s=5, fast_interval_s=1, max_backoff_s=40)
    assert watcher._next_delay_s(0) == 5
    watcher.submitted()
    assert watcher._next_delay_s(0) == 0.25, "the first polls after a submit are quickest"
    watcher._fast_since -= 0.6
    assert 0.6 <= watcher._next_delay_s(0) < 1
    watcher.submitted()  # a burst of submits does not restart the ramp
    assert 0.6 <= watcher._next_delay_s(0) < 1
    watcher._fast_since -= 10
    assert watcher._next_delay_s(0) == 1
    assert [watcher._next_delay_s(n) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 40]
    watcher._fast_until -= 60  # the fast window is over
    assert watcher._next_delay_s(0) == 5
    watcher.submitted()  # a later submit ramps again
    assert watcher._next_delay_s(0) == 0.25


async def test_run_polls_again_as_soon_as_it_is_poked() -> None:
    slurm = FakeSlurm()
    watcher = JobWatcher(slurm, PREFIX, interval_s=60)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        with anyio.fail_after(5):
            while watcher.listings < 1:
                await anyio.sleep(0.01)
            watcher.poke()
            while watcher.listings < 2:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
