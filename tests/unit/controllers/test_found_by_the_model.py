"""Regressions found by the model-based test (tests/property/test_operator_state_machine.py),
each reduced to its minimal example: the Deployment controller against the in-memory
Slurm, injected probe results and an in-memory external router."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from loguru import logger

from fakes.fake_probes import FakeProbes, Truth, WorkerWorld
from fakes.fake_router import FakeRouter, FakeRouterDirectory
from fakes.fake_slurm import CrashPoint, FakeSlurm, OperatorCrash
from fakes.harness import FakeClock, Harness, deployment_yaml
from sgorch.slurm import JobState, parse_tag

ROUTER_A = "http://127.0.0.1:9"
ROUTER_B = "http://127.0.0.1:10"


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logger.disable("sgorch")
    yield
    logger.enable("sgorch")


class World:
    """Slurm, the workers and two external routers: what survives operator restarts."""

    def __init__(self, root: Path) -> None:
        self.clock = FakeClock()
        self.slurm = FakeSlurm()
        self.workers = WorkerWorld()
        self.routers = {url: FakeRouter(self.clock) for url in (ROUTER_A, ROUTER_B)}
        self.urls: dict[str, str] = {}
        self.root = root
        self.cancelled_while_registered: list[str] = []
        self.slurm.on_cancel = self._on_cancel
        self.h = Harness(
            root,
            None,
            slurm=self.slurm,
            clock=self.clock,
            make_probes=lambda: FakeProbes(self.workers),
            make_routers=lambda store: FakeRouterDirectory(store, self.routers),
        )

    def _on_cancel(self, job_id: str) -> None:
        url = self.urls.get(job_id)
        if any(url in router.workers for router in self.routers.values()):
            self.cancelled_while_registered.append(job_id)

    @property
    def probes(self) -> FakeProbes:
        assert isinstance(self.h.probes, FakeProbes)
        return self.h.probes

    def write(self, name: str, replicas: int, router: str | None = ROUTER_A, v: int = 0) -> None:
        extra = f"  router: {{external: {{url: '{router}'}}}}\n" if router else ""
        self.h.write(name, deployment_yaml(name, replicas, [f"--v{v}"], extra))

    def start_ready(self) -> None:
        """Every pending job starts, writes its endpoint file and answers its probes."""
        for job in self.slurm.live():
            if not job.state.is_pending:
                continue
            self.slurm.start(job.job_id)
            self.endpoint_appears(job.job_id)

    def endpoint_appears(self, job_id: str) -> None:
        """The worker of a running job writes its endpoint file and answers probes."""
        port = 20_000 + int(job_id)
        endpoints = Path(self.slurm.requests[job_id].working_dir) / "endpoints"
        endpoints.mkdir(parents=True, exist_ok=True)
        (endpoints / f"{job_id}.json").write_text(
            json.dumps({"host": "127.0.0.1", "port": port, "job_id": job_id})
        )
        self.urls[job_id] = f"http://127.0.0.1:{port}"
        self.workers.truth[self.urls[job_id]] = Truth.READY

    async def round(self, name: str = "web") -> None:
        self.probes.probe_round()
        await self.h.step(name)
        self.probes.probe_round()
        await self.h.controller.reconcile(name)

    async def converge(self, name: str = "web", rounds: int = 4) -> None:
        for _ in range(rounds):
            self.start_ready()
            await self.round(name)

    def registered(self, router: str = ROUTER_A) -> set[str]:
        return set(self.routers[router].workers)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def test_a_reconcile_before_the_next_listing_does_not_submit_the_same_slot_again(
    world: World,
) -> None:
    """Was: a job submitted by the previous reconcile is in no listing yet, so the
    planner counted neither a worker nor an attempt for it and submitted its slot again
    (model: write replicas=1, reconcile, reconcile → two live jobs for slot 0)."""
    world.write("web", 1)
    await world.h.step()
    await world.h.controller.reconcile("web")  # no listing in between
    await world.h.controller.reconcile("web")
    assert len(world.slurm.submits) == 1


async def test_a_deployment_deleted_across_a_restart_leaves_its_router_before_cancel(
    world: World,
) -> None:
    """Was: after a restart the controller no longer knew the deleted Deployment's
    router, dropped its registrations unannounced and cancelled registered workers."""
    world.write("web", 2)
    await world.converge()
    assert len(world.registered()) == 2
    await world.h.restart()
    world.h.delete("web")
    for _ in range(3):
        await world.round()
    assert world.slurm.live() == []
    assert world.cancelled_while_registered == []
    assert world.registered() == set()


async def test_a_crash_right_after_registering_leaves_no_stale_router_entry(
    world: World,
) -> None:
    """Was: the registration was recorded only after the router accepted it; a crash in
    between left a URL in the router that no operator would ever remove."""
    world.write("web", 1)
    world.start_ready()
    await world.round()
    world.start_ready()
    world.routers[ROUTER_A].crash = CrashPoint("add", "after")
    with pytest.raises(OperatorCrash):
        await world.round()
    await world.h.restart()
    (job,) = world.slurm.live()
    world.slurm.finish(job.job_id, JobState.FAILED)
    world.workers.gone(world.urls[job.job_id])
    for _ in range(2):
        await world.round()
    assert world.urls[job.job_id] not in world.registered()


async def test_a_renewed_worker_does_not_share_slot_and_template_with_its_successor(
    world: World,
) -> None:
    """Was: walltime renewal (and draining, and failed workers) reused the live job's
    slot, so two live jobs carried the same tag (deployment, slot, template)."""
    world.write("web", 1)
    await world.converge()
    (old,) = world.slurm.live()
    world.slurm.jobs[old.job_id] = dataclasses.replace(old, time_left_s=60)  # renew it
    await world.round()
    tags = [parse_tag(j.comment) for j in world.slurm.live()]
    assert len(tags) == 2
    assert len({(t.slot, t.template_hash) for t in tags if t}) == 2


async def test_moving_to_another_router_deregisters_from_the_old_one(world: World) -> None:
    """Was: changing spec.router registered the workers with the new router and left
    them in the old one for good (later cancelled while still registered there)."""
    world.write("web", 1, router=ROUTER_A)
    await world.converge()
    assert len(world.registered(ROUTER_A)) == 1
    world.write("web", 1, router=ROUTER_B)
    await world.converge()
    assert world.registered(ROUTER_A) == set()
    assert len(world.registered(ROUTER_B)) == 1
    world.write("web", 1, router=None)
    await world.converge()
    assert world.registered(ROUTER_B) == set()
    world.write("web", 0, router=None)
    await world.converge()
    assert world.cancelled_while_registered == []


async def test_a_restart_does_not_drop_ready_workers_from_the_router_before_probing(
    world: World,
) -> None:
    """After a restart, no probe has run yet: registered workers must stay registered
    (and count as ready) until a probe says otherwise."""
    world.write("web", 2)
    await world.converge()
    before = world.registered()
    await world.h.restart()
    await world.h.step()  # reconcile before any probe of the new process
    assert world.registered() == before
    world.write("web", 1)
    world.routers[ROUTER_A].inflight = dict.fromkeys(before, 2)
    await world.h.step()
    assert world.slurm.cancels == [], "a ready worker was cancelled without a drain"


async def test_a_file_broken_across_a_restart_keeps_the_last_valid_spec_in_force(
    world: World,
) -> None:
    """Was: a restarted operator had never seen the broken file's valid version, so the
    Deployment's jobs were left unmanaged (a failed worker was never replaced)."""
    world.write("web", 2)
    await world.converge()
    world.h.write("web", deployment_yaml("web", 2).replace("replicas: 2", "replicas: two"))
    await world.h.restart()
    first, _ = world.slurm.live()
    world.slurm.finish(first.job_id, JobState.FAILED)
    world.workers.gone(world.urls[first.job_id])
    await world.round()  # the failure is noticed: restart backoff
    world.clock.advance(11)
    await world.converge()
    status = world.h.status()
    assert status["status"]["readyReplicas"] == 2
    assert status["status"]["error"]["field"] == "spec.replicas"
    assert world.h.condition("Invalid")["reason"] == "InvalidSpec"


async def test_real_probes_resume_registered_workers_as_ready_after_a_restart(
    tmp_path: Path,
) -> None:
    """The real ProbeManager: a restart must not take ready workers out of the router
    while their first probes run (it did: every restart emptied the router)."""
    clock = FakeClock()
    router = FakeRouter(clock)
    async with anyio.create_task_group() as tg:
        h = Harness(
            tmp_path,
            tg,
            clock=clock,
            make_routers=lambda store: FakeRouterDirectory(store, {ROUTER_A: router}),
        )
        try:
            router_ref = f"  router: {{external: {{url: '{ROUTER_A}'}}}}\n"
            h.write("web", deployment_yaml("web", 1, extra=router_ref))
            await h.step()
            await h.serve(h.slurm.submits[0])
            await h.until(lambda: len(router.workers) == 1)
            await h.restart()
            await h.step()
            assert len(router.workers) == 1
            assert h.status()["status"]["readyReplicas"] == 1
        finally:
            await h.close()
            tg.cancel_scope.cancel()


async def test_returning_to_the_router_being_left_ends_the_drain(world: World) -> None:
    """Found in the fix above: moving back to a router while still draining from it
    left the worker registered but draining there for good (no traffic, no repair)."""
    world.write("web", 1, router=ROUTER_A)
    await world.converge()
    (url,) = world.registered(ROUTER_A)
    world.routers[ROUTER_A].inflight[url] = 3
    world.write("web", 1, router=ROUTER_B)
    await world.round()
    assert world.routers[ROUTER_A].workers[url].draining  # waiting for in-flight requests
    world.write("web", 1, router=ROUTER_A)
    await world.round()
    assert world.routers[ROUTER_A].routing(url)
    assert world.registered(ROUTER_B) == set()


async def test_a_crash_right_after_a_drain_began_still_finishes_that_drain(
    world: World,
) -> None:
    """Was: the drain was recorded only after the router began it; killed in between,
    the next operator (whose spec wants the worker again) left it registered but
    draining — out of service for good while the status said ready."""
    world.write("web", 2)
    await world.converge()
    world.write("web", 1)
    world.routers[ROUTER_A].crash = CrashPoint("drain", "after")
    with pytest.raises(OperatorCrash):
        await world.round()
    await world.h.restart()
    world.write("web", 2)
    world.clock.advance(10)  # past the drain grace
    await world.converge(rounds=6)
    router = world.routers[ROUTER_A]
    assert len(router.workers) == 2
    assert all(router.routing(url) for url in router.workers)
    assert world.h.status()["status"]["readyReplicas"] == 2


async def test_a_deleted_deployment_whose_worker_ended_leaves_no_router_entry(
    world: World,
) -> None:
    """Was: garbage collection deregistered only workers it cancelled; one that ended
    by itself stayed in the router after the Deployment was gone."""
    world.write("web", 1)
    await world.converge()
    world.h.delete("web")
    (job,) = world.slurm.live()
    world.slurm.finish(job.job_id, JobState.FAILED)
    for _ in range(2):
        await world.round()
    assert world.registered() == set()
    assert not (world.h.status_dir / "deployments" / "web.json").exists()


async def test_a_running_worker_without_its_endpoint_file_is_looked_at_again_soon(
    world: World,
) -> None:
    """Found by the first-job benchmark: the endpoint file appears a moment after the
    job starts, and no event announces it, so Available waited for the next resync."""
    world.write("web", 1)
    await world.h.step()
    world.slurm.start(world.slurm.submits[0])  # running, endpoint file not written yet
    assert (await world.h.step() or 99) <= 0.5
    world.endpoint_appears(world.slurm.submits[0])
    await world.converge()
    assert (await world.h.step() or 0) > 0.5, "settled: back to the resync interval"


async def test_a_job_slurm_has_forgotten_is_never_cancelled_by_its_old_id(
    world: World,
) -> None:
    """Was: a draining job that ended by itself, and that squeue then forgot, was still
    scancelled by its remembered id — an id Slurm may have given to anyone since (job
    ids restart after a clean slurmctld start)."""
    world.write("web", 2)
    await world.converge()
    gone, other = world.slurm.live()
    for job in (gone, other):
        world.routers[ROUTER_A].inflight[world.urls[job.job_id]] = 2
    world.h.delete("web")
    await world.round()  # both draining: requests in flight, within the grace period
    assert world.slurm.cancels == []
    world.slurm.finish(gone.job_id, JobState.FAILED)
    world.slurm.forget_finished()
    await world.h.restart()  # the new watcher never saw it end
    world.clock.advance(10)
    for _ in range(2):
        await world.round()
    assert world.slurm.cancels == [other.job_id]
    assert world.registered() == set()
    assert not (world.h.status_dir / "deployments" / "web.json").exists()


async def test_a_cancel_waits_for_a_listing_younger_than_slurms_min_job_age(
    world: World,
) -> None:
    """Was: a reconcile on a listing many minutes old (the watcher was backing off after
    an outage) cancelled a job that had ended and been purged meanwhile, by its id."""
    world.write("web", 1)
    await world.h.step()
    await world.h.step()  # listed: PENDING
    (job,) = world.slurm.live()
    world.clock.advance(400)  # no listing for longer than MinJobAge
    world.slurm.finish(job.job_id, JobState.FAILED)
    world.slurm.forget_finished()
    world.write("web", 0)
    await world.h.store.scan()
    await world.h.controller.reconcile("web")  # on the old listing
    assert world.slurm.cancels == []
    await world.h.step()  # a fresh listing: the job is gone, nothing to cancel
    assert world.slurm.cancels == [] and world.slurm.live() == []
