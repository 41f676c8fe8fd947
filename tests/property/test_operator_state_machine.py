"""A model-based test of the Deployment controller: hypothesis drives an operator through
random sequences of user edits, Slurm behaviour, worker health, faults, clock jumps and
crashes (between steps and in the middle of a reconcile), and checks the invariants of
DESIGN.md after every step. At the end the faults stop and the operator must converge.

The world (Slurm, the workers, the external router, the files on disk) is made of test
doubles that survive operator restarts; the operator (``fakes.harness.Harness``) is
rebuilt from disk on every restart, as a new process would be. Probe results are
injected (``fakes.fake_probes``), so the test needs no HTTP and no real time.

``SGORCH_LONG=1`` (``make chaos``) runs many more and longer examples.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from loguru import logger

from fakes.fake_probes import FakeProbes, Truth, WorkerWorld
from fakes.fake_router import FakeRouter, FakeRouterDirectory
from fakes.fake_slurm import CrashPoint, FakeSlurm, OperatorCrash
from fakes.harness import INSTANCE, FakeClock, Harness, deployment_yaml
from sgorch.resources import Deployment
from sgorch.resources.status import DeploymentStatusDocument, StatusIndex
from sgorch.slurm import JobId, JobInfo, JobState, compute_template_hash, parse_tag
from sgorch.store import ResourceKey

LONG = os.environ.get("SGORCH_LONG") == "1"
MAX_EXAMPLES = int(os.environ.get("SGORCH_SM_EXAMPLES", 1000 if LONG else 75))
STEPS = int(os.environ.get("SGORCH_SM_STEPS", 120 if LONG else 40))

NAMES = ("alpha", "beta", "gamma")
ROUTER_URLS = ("http://127.0.0.1:9", "http://127.0.0.1:10")
"""Two external routers (fakes, never contacted); a spec registers with one or none."""
GRACE_S = 5.0
"""drain_grace_s of ``deployment_yaml``."""
CONVERGENCE_ROUNDS = 60
MIN_JOB_AGE_S = 300.0
"""Slurm's default MinJobAge: squeue forgets a finished job this long after it ended."""
ROUND_S = 20.0
"""Clock advance per convergence round (backoff cap is 100 s, submit timeout 30 s)."""

FOREIGN_JOBS = {
    "1": ("cmd-alpha-0", "sgorch:v1;instance=other;deployment=alpha;slot=0;hash=abc"),
    "2": ("cmd-alpha-0", ""),
    "3": ("cmd-alpha-1", f"sgorch:v1;instance={INSTANCE};deployment=alpha;slot=one;hash=x"),
    "4": ("cmd-alpha-2", f"sgorch:v1;instance={INSTANCE}2;deployment=alpha;slot=2;hash=ab"),
}
"""Jobs of another instance, untagged (named like ours), with a malformed tag that starts
with our prefix, and of an instance whose name starts with ours: never ours to touch."""


# ----------------------------------------------------------------------- invariants


class InvariantViolation(AssertionError):
    """A DESIGN.md invariant does not hold."""


class LiveJobBoundExceeded(InvariantViolation):
    """Invariant 2: never more live jobs than replicas + maxSurge (of the spec in force)."""


class ForeignJobCancelled(InvariantViolation):
    """Invariant 3: jobs without our tag or of another instance are never touched."""


class CancelledWhileRegistered(InvariantViolation):
    """Invariant 4: a worker leaves its router before its job is cancelled."""


class DrainGraceCut(InvariantViolation):
    """Invariant 4: a healthy worker's in-flight requests get the drain grace period."""


class StatusInvalid(InvariantViolation):
    """Invariant 5: status files parse and carry the observed generation."""


class DuplicateSlot(InvariantViolation):
    """Exactly once: no two live jobs for one (deployment, slot, template hash)."""


class NotConverged(InvariantViolation):
    """Invariant 1: with the faults gone, the operator reaches the desired state."""


@dataclass(frozen=True)
class Spec:
    replicas: int
    version: int
    max_surge: int
    max_unavailable: int
    router: int | None = 0
    """Index into ROUTER_URLS, or None: registered nowhere."""


def spec_yaml(name: str, spec: Spec) -> str:
    strategy = f"max_surge: {spec.max_surge}, max_unavailable: {spec.max_unavailable}"
    extra = f"  strategy: {{{strategy}}}\n"
    if spec.router is not None:
        extra += f"  router: {{external: {{url: '{ROUTER_URLS[spec.router]}'}}}}\n"
    return deployment_yaml(name, spec.replicas, [f"--v{spec.version}"], extra)


def invalid_yaml(name: str) -> str:
    return deployment_yaml(name, 1).replace("replicas: 1", "replicas: two")


def _is_crash(exc: BaseException) -> bool:
    if isinstance(exc, OperatorCrash):
        return True
    if isinstance(exc, BaseExceptionGroup):
        match, rest = exc.split(OperatorCrash)
        return match is not None and rest is None
    return False


names = st.sampled_from(NAMES)
picks = st.integers(min_value=0, max_value=9)
specs = st.builds(
    lambda replicas, version, strategy, router: Spec(
        replicas, version, strategy[0], strategy[1], router
    ),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=2),
    st.sampled_from([(1, 0), (0, 1), (2, 1)]),
    st.sampled_from([0, 0, 1, None]),
)
CRASH_POINTS = [
    CrashPoint("submit", "before"),
    CrashPoint("submit", "after"),
    CrashPoint("cancel", "before"),
    CrashPoint("cancel", "after"),
    CrashPoint("add", "after"),
    CrashPoint("remove", "after"),
    CrashPoint("drain", "after"),
]


class OperatorMachine(RuleBasedStateMachine):
    """One operator instance over a world of fakes; see the module docstring."""

    BUSY = False
    """Every worker always has requests in flight (the routers' ``busy``)."""

    def __init__(self) -> None:
        super().__init__()
        logger.disable("sgorch")
        self.tmp = Path(tempfile.mkdtemp(prefix="sgorch-model-"))
        self.runner = asyncio.Runner()
        self.clock = FakeClock()
        self.slurm = FakeSlurm()
        for job_id, (job_name, comment) in FOREIGN_JOBS.items():
            self.slurm.jobs[job_id] = JobInfo(
                JobId(job_id), job_name, JobState.RUNNING, nodes="node9", comment=comment
            )
        self.routers = {url: FakeRouter(self.clock, busy=self.BUSY) for url in ROUTER_URLS}
        self.world = WorkerWorld()
        self.urls: dict[str, str] = {}
        """Job id → the URL its current run serves (from its endpoint file)."""
        self.ports = itertools.count(20_000)
        self.hung: set[str] = set()
        """URLs that never finish starting (their startup probe gives up eventually)."""
        self.files: dict[str, Spec | None] = {}
        """What each resource file holds (None: an invalid document)."""
        self.history: dict[str, list[Spec]] = {}
        """Every valid spec ever written for each name."""
        self.violations: list[InvariantViolation] = []
        self.ended_at: dict[str, float] = {}
        """Job id → when the model first saw it finished (for squeue's MinJobAge)."""
        self.failed = False
        self.crashes = 0
        self.slurm.on_submit = self._on_submit
        self.slurm.on_cancel = self._on_cancel
        self.h: Harness = self._run(self._build)

    # ------------------------------------------------------------------ plumbing

    async def _build(self) -> Harness:
        return Harness(
            self.tmp,
            None,
            slurm=self.slurm,
            clock=self.clock,
            make_probes=lambda: FakeProbes(self.world),
            make_routers=lambda store: FakeRouterDirectory(store, self.routers),
        )

    def _run(self, action: Callable[[], Awaitable[T]]) -> T:
        try:
            return self.runner.run(_call(action))
        except BaseException:
            self.failed = True
            raise

    def _operate(self, action: Callable[[], Awaitable[object]]) -> bool:
        """Run an operator action; a crash injected in it restarts the operator from disk
        (as systemd restarting a killed process). True if it crashed."""

        async def guarded() -> bool:
            try:
                await action()
            except BaseException as exc:
                if not _is_crash(exc):
                    raise
                for router in self.routers.values():
                    router.crash = None  # one-shot: it hit one of them
                self.crashes += 1
                await self.h.restart()
                return True
            return False

        return self._run(guarded)

    @property
    def probes(self) -> FakeProbes:
        probes = self.h.probes
        assert isinstance(probes, FakeProbes)
        return probes

    def ours(self, deployment: str | None = None) -> list[JobInfo]:
        jobs = []
        for job in self.slurm.jobs.values():
            tag = parse_tag(job.comment)
            if tag is None or tag.instance != INSTANCE:
                continue
            if deployment is None or tag.deployment == deployment:
                jobs.append(job)
        return sorted(jobs, key=lambda j: int(j.job_id))

    def live(self, deployment: str | None = None) -> list[JobInfo]:
        return [j for j in self.ours(deployment) if not j.state.is_terminal]

    @staticmethod
    def pick(jobs: list[JobInfo], index: int) -> JobInfo | None:
        return jobs[index % len(jobs)] if jobs else None

    def violate(self, violation: InvariantViolation) -> None:
        self.violations.append(violation)

    # ------------------------------------------------------------ world hooks

    def _on_submit(self, job_id: str) -> None:
        tag = parse_tag(self.slurm.jobs[job_id].comment)
        assert tag is not None
        deployment = self._in_force(tag.deployment)
        if deployment is None or _spec_of(deployment) not in self.history.get(tag.deployment, []):
            self.violate(
                LiveJobBoundExceeded(f"job {job_id} submitted for {tag.deployment!r}, not in force")
            )
            return
        spec = deployment.spec
        bound = spec.replicas + spec.strategy.max_surge
        live = len(self.live(tag.deployment))
        if live > bound:
            self.violate(
                LiveJobBoundExceeded(
                    f"submitting job {job_id} made {live} live jobs of {tag.deployment!r}, "
                    f"more than replicas {spec.replicas} + maxSurge {spec.strategy.max_surge}"
                )
            )

    def _on_cancel(self, job_id: str) -> None:
        job = self.slurm.jobs.get(job_id)
        tag = parse_tag(job.comment) if job is not None else None
        if job is None:
            self.violate(
                ForeignJobCancelled(f"cancelled job {job_id}, which Slurm no longer knows")
            )
            return
        if tag is None or tag.instance != INSTANCE:
            self.violate(ForeignJobCancelled(f"cancelled job {job_id}, not ours: {job}"))
            return
        url = self.urls.get(job_id)
        if url is None:
            return
        health = self.probes.health(job_id)
        ready = health is not None and health.ready
        for router_url, router in self.routers.items():
            if url in router.workers:
                self.violate(
                    CancelledWhileRegistered(
                        f"job {job_id} cancelled while {url} is registered with {router_url}"
                    )
                )
            inflight = router.requests_in_flight(url)
            left_at = router.left_at.get(url)
            if (
                inflight
                and left_at is not None
                and ready  # to the operator: a healthy worker it retires, not a dead one
                and self.clock() - left_at < GRACE_S
            ):
                self.violate(
                    DrainGraceCut(
                        f"healthy job {job_id} cancelled {self.clock() - left_at:.0f}s after "
                        f"it left {router_url} with {inflight} requests in flight "
                        f"(grace {GRACE_S:g}s)"
                    )
                )

    def _gone(self, job_id: str) -> None:
        url = self.urls.pop(job_id, None)
        if url is not None:
            self.world.gone(url)
            for router in self.routers.values():
                router.inflight.pop(url, None)

    # ------------------------------------------------------------ user actions

    @initialize(
        first=st.lists(st.tuples(names, specs), min_size=1, max_size=3), settled=st.booleans()
    )
    def deployments_exist(self, first: list[tuple[str, Spec]], settled: bool) -> None:
        """Some Deployments, freshly written or already running and ready."""
        for name, spec in first:
            self._write(name, spec)
        self._operate(self._round)
        if settled:
            for _ in range(3):
                self.world_settles()
                self._operate(self._round)

    def _write(self, name: str, spec: Spec) -> None:
        self.h.write(name, spec_yaml(name, spec))
        self.files[name] = spec
        self.history.setdefault(name, []).append(spec)

    @rule(name=names, spec=specs)
    def user_writes(self, name: str, spec: Spec) -> None:
        self._write(name, spec)

    @rule(name=names, action=st.sampled_from(["invalid", "delete"]))
    def user_breaks_or_deletes(self, name: str, action: str) -> None:
        if action == "invalid":
            self.h.write(name, invalid_yaml(name))
            self.files[name] = None
        elif name in self.files:
            self.h.delete(name)
            del self.files[name]

    # --------------------------------------------------------- operator actions

    @rule(seconds=st.sampled_from([0, 0, 0.5, 3, 6, 11, 31, 120]))
    def operator_round(self, seconds: float) -> None:
        """Time passes; then what the app does on a resync: probes ran, rescan, list
        jobs, reconcile every Deployment."""
        self.clock.advance(seconds)
        self._operate(self._round)

    @rule(seconds=st.sampled_from([0, 3, 11]))
    def operator_resync(self, seconds: float) -> None:
        """The same as ``operator_round``: the operator acts more often than the world
        changes."""
        self.operator_round(seconds)

    async def _round(self) -> None:
        self.probes.probe_round()
        await self.h.store.scan()
        await self.h.watcher.poll_once()
        for name in NAMES:
            await self.h.controller.reconcile(name)
        # probe loops start right after a reconcile found new endpoints; a change of
        # health triggers a reconcile of its Deployment
        for name in sorted(self.probes.probe_round()):
            await self.h.controller.reconcile(name)

    @rule(
        action=st.sampled_from(["scan", "poll", "reconcile", "probe", "restart"]),
        name=names,
    )
    def operator_step(self, action: str, name: str) -> None:
        """One piece of a round on its own, so that events interleave with them (a
        reconcile on a stale listing, a listing between two reconciles, ...)."""
        match action:
            case "scan":
                self._operate(self.h.store.scan)
            case "poll":
                self._operate(self.h.watcher.poll_once)
            case "reconcile":
                if not self._operate(lambda: self.h.controller.reconcile(name)):
                    self.check_observed_generation(name)
            case "probe":
                self.probes.probe_round()
            case "restart":
                self._run(self.h.restart)

    @rule(point=st.sampled_from(CRASH_POINTS))
    def operator_will_crash(self, point: CrashPoint) -> None:
        """The operator is killed at this point of its next such call (kill -9 between
        sbatch and the bookkeeping, between the router and Slurm, ...)."""
        if point.call in ("submit", "cancel"):
            self.slurm.crash = CrashPoint(point.call, point.when)
        else:
            for router in self.routers.values():
                router.crash = CrashPoint(point.call, point.when)

    # ------------------------------------------------------------------ Slurm

    @rule(
        event=st.sampled_from(
            [
                "start",
                "start-ready",
                "start-ready",
                "FAILED",
                "TIMEOUT",
                "NODE_FAIL",
                "PREEMPTED",
                "OUT_OF_MEMORY",
                "COMPLETED",
                "requeue",
                "near-time-limit",
                "cancels-complete",
                "squeue-forgets",
            ]
        ),
        index=picks,
    )
    def slurm_event(self, event: str, index: int) -> None:
        match event:
            case "start" | "start-ready":
                url = self.start_job(index)
                if url is not None and event == "start-ready":
                    self.world.set(url, Truth.READY)
            case "requeue":
                job = self.pick([j for j in self.live() if j.state.is_running], index)
                if job is not None:  # same job id, pending again, a new endpoint later
                    self.slurm.requeue(job.job_id)
                    request = self.slurm.requests[job.job_id]
                    endpoint = Path(request.working_dir) / "endpoints" / f"{job.job_id}.json"
                    endpoint.unlink(missing_ok=True)
                    self._gone(job.job_id)
            case "near-time-limit":
                job = self.pick([j for j in self.live() if j.state is JobState.RUNNING], index)
                if job is not None:  # below walltime_renewal_lead_s: to be renewed
                    self.slurm.jobs[job.job_id] = replace(job, time_left_s=60)
            case "cancels-complete":
                self.cancels_complete()
            case "squeue-forgets":  # what squeue does MinJobAge after a job ended
                self.slurm.jobs = {
                    job_id: job
                    for job_id, job in self.slurm.jobs.items()
                    if not job.state.is_terminal
                    or self.clock() - self.ended_at.get(job_id, self.clock()) < MIN_JOB_AGE_S
                }
            case _:
                state = JobState(event)
                job = self.pick(self.live(), index)
                if job is not None:
                    self.slurm.finish(job.job_id, state, 0 if state is JobState.COMPLETED else 1)
                    self._gone(job.job_id)

    def start_job(self, index: int) -> str | None:
        job = self.pick([j for j in self.live() if j.state.is_pending], index)
        if job is None:
            return None
        self.slurm.start(job.job_id, node=f"node{index % 3}")
        port = next(self.ports)
        url = f"http://127.0.0.1:{port}"
        request = self.slurm.requests[job.job_id]
        endpoints = Path(request.working_dir) / "endpoints"
        endpoints.mkdir(parents=True, exist_ok=True)
        (endpoints / f"{job.job_id}.json").write_text(
            json.dumps({"host": "127.0.0.1", "port": port, "job_id": job.job_id})
        )
        self.urls[job.job_id] = url
        self.world.truth[url] = Truth.STARTING
        return url

    def cancels_complete(self) -> None:
        for job in self.live():
            if job.state is JobState.COMPLETING:
                self.slurm.complete(job.job_id)
                self._gone(job.job_id)

    @rule(
        fault=st.sampled_from(
            [
                "slurm-down",
                "slurm-up",
                "slurm-up",
                "submit-ok",
                "lose-reply",
                "drop-submission",
                "slow-cancels",
                "fast-cancels",
                "router-down",
                "router-up",
                "router-up",
            ]
        )
    )
    def fault(self, fault: str) -> None:
        match fault:
            case "slurm-down" | "slurm-up":
                self.slurm.unavailable = fault == "slurm-down"
            case "submit-ok" | "lose-reply" | "drop-submission":
                self.slurm.lose_reply_after_submit = fault == "lose-reply"
                self.slurm.drop_submission = fault == "drop-submission"
            case "slow-cancels" | "fast-cancels":
                self.slurm.sticky_cancel = fault == "slow-cancels"
            case "router-down" | "router-up":
                for router in self.routers.values():
                    router.unavailable = fault == "router-down"

    # --------------------------------------------------------- workers, router

    @rule(
        event=st.sampled_from(
            ["ready", "ready", "not-ready", "dead", "startup-failed", "hangs", "requests"]
        ),
        index=picks,
        count=st.integers(min_value=1, max_value=3),
    )
    def worker_event(self, event: str, index: int, count: int) -> None:
        if event == "requests":  # requests in flight on a worker the router routes to
            routed = sorted(
                (url, router_url)
                for router_url, router in self.routers.items()
                for url in router.workers
                if router.routing(url)
            )
            if routed:
                url, router_url = routed[index % len(routed)]
                self.routers[router_url].inflight[url] = count
            return
        job = self.pick([j for j in self.live() if j.job_id in self.urls], index)
        if job is None:
            return
        url = self.urls[job.job_id]
        if event == "hangs":
            self.hung.add(url)
        else:
            self.world.set(url, Truth(event))

    @rule()
    def world_settles(self) -> None:
        """Good weather for a moment: pending jobs start, starting workers get ready,
        cancelled jobs end, in-flight requests finish."""
        self.cancels_complete()
        while self.start_job(0) is not None:
            pass
        for url, truth in list(self.world.truth.items()):
            if truth is Truth.STARTING and url not in self.hung:
                self.world.set(url, Truth.READY)
        for router in self.routers.values():
            router.inflight.clear()

    # ---------------------------------------------------------------- checks

    @invariant()
    def invariants_hold(self) -> None:
        for job_id, job in self.slurm.jobs.items():
            if job.state.is_terminal:
                self.ended_at.setdefault(job_id, self.clock())
        try:
            if self.violations:  # recorded by the Slurm hooks, as they happened
                raise self.violations[0]
            self.check_no_duplicate_slots()
            self.check_status_files()
        except InvariantViolation:
            self.failed = True
            raise

    def check_status_files(self) -> None:
        folder = self.h.status_dir / "deployments"
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                DeploymentStatusDocument.model_validate_json(path.read_bytes())
            except ValueError as exc:
                raise StatusInvalid(f"{path.name} does not parse: {exc}") from exc
        index = self.h.status_dir / "index.json"
        if index.exists():
            try:
                StatusIndex.model_validate_json(index.read_bytes())
            except ValueError as exc:
                raise StatusInvalid(f"index.json does not parse: {exc}") from exc

    def check_no_duplicate_slots(self) -> None:
        keys: Counter[tuple[str, int, str]] = Counter()
        for job in self.live():
            tag = parse_tag(job.comment)
            assert tag is not None
            keys[(tag.deployment, tag.slot, tag.template_hash)] += 1
        duplicated = [key for key, count in keys.items() if count > 1]
        if duplicated:
            raise DuplicateSlot(f"two live jobs for (deployment, slot, hash) {duplicated}")

    def check_observed_generation(self, name: str) -> None:
        entry = self.h.store.get(ResourceKey("Deployment", name))
        if entry is None or self.h.watcher.listings == 0:
            return
        path = self.h.status_dir / "deployments" / f"{name}.json"
        try:
            document = DeploymentStatusDocument.model_validate_json(path.read_bytes())
        except (OSError, ValueError) as exc:
            self.failed = True
            raise StatusInvalid(f"no valid status for {name} after a reconcile: {exc}") from exc
        observed = document.status.observed_generation
        if observed != entry.generation or document.metadata.generation != entry.generation:
            self.failed = True
            raise StatusInvalid(
                f"{name}: observedGeneration {observed}, metadata.generation "
                f"{document.metadata.generation}, store generation {entry.generation}"
            )

    # ------------------------------------------------------------ convergence

    def teardown(self) -> None:
        try:
            if not self.failed:
                self._run(self._converge)
        finally:
            self.runner.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
            logger.enable("sgorch")

    async def _converge(self) -> None:
        """Faults stop, the user fixes broken files, pending jobs start and healthy
        workers pass their probes: the operator must reach the desired state."""
        self.slurm.unavailable = False
        self.slurm.lose_reply_after_submit = self.slurm.drop_submission = False
        self.slurm.crash = None
        self.slurm.sticky_cancel = False
        for router in self.routers.values():
            router.crash = None
            router.unavailable = False
            router.inflight.clear()
        settled = 0
        problems: list[str] = []
        for _ in range(CONVERGENCE_ROUNDS):
            self.clock.advance(ROUND_S)
            self.cancels_complete()
            while self.start_job(0) is not None:
                pass
            for url, truth in list(self.world.truth.items()):
                if url in self.hung and truth is Truth.STARTING:
                    self.world.set(url, Truth.STARTUP_FAILED)
                elif truth in (Truth.STARTING, Truth.NOT_READY):
                    self.world.set(url, Truth.READY)
            await self._round()
            for name in NAMES:
                self.check_observed_generation(name)
            self.invariants_hold()
            problems = self._convergence_problems()
            settled = settled + 1 if not problems else 0
            if settled >= 2:
                return
        self.failed = True
        raise NotConverged(
            f"not converged after {CONVERGENCE_ROUNDS} rounds of {ROUND_S:g}s: "
            + "; ".join(problems)
        )

    def _convergence_problems(self) -> list[str]:
        problems = []
        for name in NAMES:
            live = self.live(name)
            status_path = self.h.status_dir / "deployments" / f"{name}.json"
            state_path = self.h.state_dir / "deployments" / f"{name}.json"
            if name not in self.files:
                if live:
                    problems.append(f"{name} deleted but jobs {[j.job_id for j in live]} live")
                if status_path.exists():
                    problems.append(f"{name} deleted but its status file remains")
                if state_path.exists():
                    problems.append(f"{name} deleted but its state file remains")
                continue
            deployment = self._in_force(name)
            if deployment is None:  # never valid: nothing may run
                if live:
                    problems.append(f"{name} never valid but jobs {[j.job_id for j in live]}")
                continue
            if _spec_of(deployment) not in self.history.get(name, []):
                problems.append(f"{name}: the spec in force was never written: {deployment}")
            replicas = deployment.spec.replicas
            template = compute_template_hash(deployment)
            outdated = [j.job_id for j in live if template not in j.comment]
            not_ready = [
                j.job_id
                for j in live
                if j.job_id not in self.urls
                or self.world.truth[self.urls[j.job_id]] is not Truth.READY
            ]
            if len(live) != replicas or outdated or not_ready:
                problems.append(
                    f"{name}: {len(live)} live jobs for {replicas} replicas, "
                    f"outdated {outdated}, not ready {not_ready}"
                )
            status = json.loads(status_path.read_text())["status"] if status_path.exists() else {}
            counts = [status.get(k) for k in ("replicas", "readyReplicas", "updatedReplicas")]
            if counts != [replicas] * 3:
                problems.append(f"{name}: status replicas/ready/updated {counts}, want {replicas}")
            urls = {self.urls[j.job_id] for j in live if j.job_id in self.urls}
            ref = deployment.spec.router
            target = ref.external.url if ref is not None and ref.external is not None else None
            for router_url, router in self.routers.items():
                registered = {u for u, r in router.workers.items() if r.deployment == name}
                wanted = urls if router_url == target else set()
                if registered != wanted or any(router.workers[u].draining for u in registered):
                    problems.append(
                        f"{name}: {router_url} has {sorted(registered)}, want {sorted(wanted)}"
                    )
        return problems

    def _in_force(self, name: str) -> Deployment | None:
        """The spec in force: the file's, or, while the file is broken, the last valid
        one — which a restarted operator only knows from its state directory."""
        entry = self.h.store.get(ResourceKey("Deployment", name))
        if entry is None:
            return None  # deleted (or not scanned yet): nothing is in force
        if isinstance(entry.resource, Deployment):
            return entry.resource
        path = self.h.state_dir / "deployments" / f"{name}.json"
        if not path.exists():
            return None
        last = json.loads(path.read_text()).get("last_spec")
        return Deployment.model_validate(last) if last else None


def _spec_of(deployment: Deployment) -> Spec:
    spec = deployment.spec
    ref = spec.router
    router = None
    if ref is not None and ref.external is not None:
        router = ROUTER_URLS.index(ref.external.url)
    assert spec.backend.type == "command"
    return Spec(
        spec.replicas,
        int(spec.backend.args[0].removeprefix("--v")),
        spec.strategy.max_surge,
        spec.strategy.max_unavailable,
        router,
    )


T = TypeVar("T")


async def _call(action: Callable[[], Awaitable[T]]) -> T:
    return await action()


OperatorMachine.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestOperatorStateMachine = OperatorMachine.TestCase
pytestmark = pytest.mark.timeout(4 * 3600 if LONG else 900)
