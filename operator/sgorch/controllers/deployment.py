"""The Deployment controller: one reconcile reads the Deployment, the job listing, the
probe results and its own bookkeeping, takes one bounded step towards ``replicas``
ready workers on the current job template, and writes status if it changed.

Order of a step: resolve submit attempts and adopt jobs → account for ended jobs →
probe running workers → register/deregister with the router → drain/cancel → submit →
status. Each action is persisted before it is taken, so a crash at any point repeats no
submission and loses no knowledge (see ``store.state``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import anyio
from loguru import logger
from pydantic import ValidationError

from sgorch.controllers.context import OperatorContext
from sgorch.controllers.planner import Plan, PlanInput, WorkerView, decide_plan
from sgorch.controllers.routing import RouterDirectory, RouterTarget
from sgorch.errors import RouterUnavailable, SgorchError, SlurmRejected, SlurmUnavailable
from sgorch.health import ProbePhase, WorkerHealth
from sgorch.metrics import CancelReason, RegistrationAction
from sgorch.resources import Deployment, LocatedError, UnsetVariable
from sgorch.resources.models import PolicySpec
from sgorch.resources.status import (
    Condition,
    DeploymentStatus,
    DeploymentStatusDocument,
    ResourceError,
    StatusMetadata,
    WorkerStatus,
)
from sgorch.router.client import RouterClient, RouterDialect
from sgorch.slurm import (
    UNSATISFIABLE_REASONS,
    JobId,
    OwnerTag,
    build_job_request,
    compute_template_hash,
    endpoint_path,
)
from sgorch.slurm.watcher import WatchedJob
from sgorch.status import set_condition
from sgorch.status.events import EventType
from sgorch.store import AttemptRecord, DeploymentState, KnownJob, ResourceKey, SlotRecord

__all__ = ["DeploymentController"]

_ENDPOINT_POLL_S = 0.2
"""How often a running worker's endpoint file is looked for until it appears."""
_CANCEL_LISTING_MAX_AGE_S = 60.0
"""A cancel needs a listing at most this old showing the job live: Slurm forgets a
finished job MinJobAge (300 s by default) after it ended, and its id may then be given
to anyone's job (ids restart after a clean slurmctld start)."""


@dataclass
class _Problems:
    """Why the Deployment cannot make progress, for the ReplicaFailure condition."""

    reason: str | None = None
    message: str = ""

    def set(self, reason: str, message: str) -> None:
        if self.reason is None:
            self.reason, self.message = reason, message


class DeploymentController:
    """Reconciles Deployments by name."""

    def __init__(self, ctx: OperatorContext, routers: RouterDirectory) -> None:
        self.ctx = ctx
        self.routers = routers
        self._states: dict[str, DeploymentState] = {}
        self._endpoints: dict[str, str] = {}
        self._last_spec: dict[str, Deployment] = {}
        self._conditions: dict[str, list[Condition]] = {}
        self._cancel_sent: set[str] = set()
        self._events: list[tuple[str, EventType, str, str]] = []
        self._ready_jobs: dict[str, set[str]] = {}
        self._last_problem: dict[str, str | None] = {}

    # ------------------------------------------------------------------ entry point

    async def reconcile(self, name: str) -> float | None:
        entry = self.ctx.resources.get(ResourceKey("Deployment", name))
        state = await self._state(name)
        if entry is None:
            return await self._collect_garbage(name, state)
        deployment = entry.resource
        if not isinstance(deployment, Deployment):
            deployment = _persisted_spec(name, state)
            if deployment is None:
                await self._write_invalid_only(name, entry.generation, entry.error)
                return None
            # broken since before a restart: the last valid spec stays in force
            entry = replace(entry, resource=deployment, spec_hash=state.spec_hash)
        self._last_spec[name] = deployment
        if state.spec_hash != entry.spec_hash:
            state.spec_hash = entry.spec_hash
            state.last_spec = deployment.model_dump(mode="json", by_alias=True)
        self.ctx.metrics.generation_seen(name, entry.generation, self.ctx.wall_clock())
        watcher = self.ctx.watcher
        if watcher.listings == 0:
            return 1.0  # nothing is known about jobs yet: acting now could duplicate them
        problems = _Problems()
        template = compute_template_hash(deployment)
        jobs = self._adopt_and_resolve(name, state, deployment)
        self._account_for_ended(name, state, deployment)
        live = [j for j in jobs if not j.info.state.is_terminal]
        awaiting_endpoints = await self._probe(name, deployment, state, live)
        tunneled = deployment.spec.connectivity.mode == "tunneled"
        slurm_ok = watcher.unavailable_since is None
        rejected = state.rejected.get(entry.spec_hash)
        if rejected:
            problems.set("SubmitRejected", rejected)
        views = [self._view(j, deployment, state, template) for j in live]
        self._note_probe_failures(name, state, deployment, live)
        for job in live:
            if job.info.state.is_pending and job.info.reason in UNSATISFIABLE_REASONS:
                problems.set("Unsatisfiable", f"job {job.info.job_id} pending: {job.info.reason}")
        plan = decide_plan(
            PlanInput(
                replicas=deployment.spec.replicas,
                template_hash=template,
                max_surge=deployment.spec.strategy.max_surge,
                max_unavailable=deployment.spec.strategy.max_unavailable,
                workers=tuple(views),
                attempts=tuple((a.slot, a.template_hash) for a in state.attempts.values())
                + tuple((k.slot, k.template_hash) for k in self._unlisted(state)),
                backoff_until={s: r.backoff_until for s, r in state.slots.items()},
                now=self.ctx.wall_clock(),
                can_submit=slurm_ok and not rejected and not tunneled,
            )
        )
        target = self.routers.target_for(deployment)
        if isinstance(target, str):
            problems.set("RouterMissing", target)
            target = None
            state.router = None  # its registrations went away with it
        else:
            await self._leave_previous_router(name, deployment, state, target)
        await self._sync_router(name, deployment, state, live, target)
        if slurm_ok and not tunneled:
            registered_at = _target_from_state(state.router) or target
            await self._drain_and_cancel(name, deployment, state, plan, registered_at)
        if plan.submit:
            await self._submit(name, deployment, entry.spec_hash, template, state, plan, problems)
        self._note_failures(state, live, problems)
        await self.ctx.state.save(name, state)
        await self._write_status(
            name, entry.generation, entry.error, deployment, template, state, problems, tunneled
        )
        await self._flush_events()
        return self._requeue_delay(plan, state, awaiting_endpoints)

    # --------------------------------------------------------------------- events

    def _note(self, name: str, type_: EventType, reason: str, message: str) -> None:
        """Queue an event (built from non-secret data only) for the end of the step."""
        self._events.append((name, type_, reason, message))

    def _warn(self, name: str, reason: str, message: str) -> None:
        """Log a warning and queue the same words as a Warning event."""
        logger.bind(resource=name).warning(message)
        self._note(name, "Warning", reason, message)

    async def _flush_events(self) -> None:
        events, self._events = self._events, []
        if self.ctx.events is None:
            return
        for name, type_, reason, message in events:
            await self.ctx.events.record("Deployment", name, type_, reason, message)

    def _note_changes(self, name: str, rows: list[WorkerStatus], problems: _Problems) -> None:
        """Events for readiness flips and for a new reason of ReplicaFailure."""
        ready = {r.job_id for r in rows if r.ready and r.job_id}
        before = self._ready_jobs.get(name, set())
        for job_id in sorted(ready - before):
            self._note(name, "Normal", "WorkerReady", f"job {job_id} is ready")
        for job_id in sorted(before - ready):
            self._note(name, "Warning", "WorkerNotReady", f"job {job_id} is no longer ready")
        self._ready_jobs[name] = ready
        if problems.reason != self._last_problem.get(name) and problems.reason:
            self._note(name, "Warning", problems.reason, problems.message)
        self._last_problem[name] = problems.reason

    # ------------------------------------------------------------- observed state

    async def _state(self, name: str) -> DeploymentState:
        if name not in self._states:
            self._states[name] = await self.ctx.state.load(name)
        return self._states[name]

    def _adopt_and_resolve(
        self, name: str, state: DeploymentState, deployment: Deployment | None
    ) -> list[WatchedJob]:
        """Resolve unconfirmed submissions against the listing and adopt owned jobs we
        did not know of (after a restart or a crash between sbatch and our bookkeeping)."""
        jobs = self.ctx.watcher.jobs_of(name)
        listing_at = self.ctx.watcher.listing_started_at
        for job in jobs:
            job_id = job.info.job_id
            if job.info.state.is_terminal or job_id in state.known_jobs:
                continue
            state.known_jobs[job_id] = KnownJob(
                slot=job.tag.slot, since=listing_at, template_hash=job.tag.template_hash
            )
            for key, attempt in list(state.attempts.items()):
                if attempt.slot == job.tag.slot and attempt.template_hash == job.tag.template_hash:
                    del state.attempts[key]
            logger.bind(resource=name, job_id=job_id).info(
                "adopted job {} (slot {}, {})", job_id, job.tag.slot, job.info.state.value
            )
            self._note(
                name,
                "Normal",
                "Adopted",
                f"adopted job {job_id} (slot {job.tag.slot}, {job.info.state.value})",
            )
        for key, attempt in list(state.attempts.items()):
            if listing_at > attempt.at + self.ctx.submit_timeout_s:
                logger.bind(resource=name).warning(
                    "submission for slot {} did not produce a job; the slot is free again",
                    attempt.slot,
                )
                del state.attempts[key]
        return jobs

    def _unlisted(self, state: DeploymentState) -> list[KnownJob]:
        """Jobs submitted after the last listing began: live, though no listing shows
        them yet (they count against the surge bound and hold their slot)."""
        watcher = self.ctx.watcher
        return [
            known
            for job_id, known in state.known_jobs.items()
            if watcher.get(job_id) is None and watcher.listing_started_at <= known.since
        ]

    def _account_for_ended(self, name: str, state: DeploymentState, deployment: Deployment) -> None:
        """Record every known job that ended (or vanished) as a restart of its slot."""
        watcher = self.ctx.watcher
        for job_id, known in list(state.known_jobs.items()):
            job = watcher.get(job_id)
            if job is not None and not job.info.state.is_terminal:
                continue
            if job is None and watcher.listing_started_at <= known.since:
                continue  # submitted after the last listing began: not visible yet
            del state.known_jobs[job_id]
            state.draining.pop(job_id, None)
            self._cancel_sent.discard(job_id)
            self.ctx.probes.forget(job_id)
            self._endpoints.pop(job_id, None)
            self.ctx.metrics.forget_job(job_id)
            if job_id in state.cancelled:
                state.cancelled.remove(job_id)
                continue
            what = "vanished from the job listing"
            node = None
            if job is not None:
                info = job.info
                what = f"ended {info.state.value}"
                if info.exit_code is not None:
                    what += f" (exit {info.exit_code})"
                node = info.nodes
            self.ctx.metrics.job_ended(name, job.info.state.value if job else "VANISHED")
            self._record_failure(state, known.slot, job_id, what, node, deployment.spec.policy)
            logger.bind(resource=name, job_id=job_id).warning(
                "worker job {} (slot {}) {}; replacing it", job_id, known.slot, what
            )
            self._note(
                name,
                "Warning",
                "WorkerFailed",
                f"job {job_id} (slot {known.slot}) {what}; replacing it",
            )

    def _note_probe_failures(
        self, name: str, state: DeploymentState, deployment: Deployment, live: list[WatchedJob]
    ) -> None:
        """A worker failing its startup or liveness probe is a restart of its slot, with
        backoff, recorded once, before the plan, so its replacement waits like a crash's."""
        for job in live:
            job_id = job.info.job_id
            health = self._health(job_id)
            if health is None or not health.failed or job_id in state.cancelled:
                continue
            state.cancelled.append(job_id)  # its end is accounted for here
            probe = "startup" if health.phase is ProbePhase.STARTUP_FAILED else "liveness"
            what = f"failed its {probe} probe ({health.message})"
            self._record_failure(
                state, job.tag.slot, job_id, what, job.info.nodes, deployment.spec.policy
            )
            logger.bind(resource=name, job_id=job_id).warning(
                "worker job {} (slot {}) {}; replacing it", job_id, job.tag.slot, what
            )
            self._note(name, "Warning", "WorkerFailed", f"job {job_id} {what}; replacing it")

    def _record_failure(
        self,
        state: DeploymentState,
        slot: int,
        job_id: str,
        what: str,
        node: str | None,
        policy: PolicySpec,
    ) -> None:
        record = state.slots.get(slot, SlotRecord())
        failures = record.consecutive_failures + 1
        delay = min(
            policy.restart_backoff_cap_s, policy.restart_backoff_base_s * 2 ** min(failures - 1, 30)
        )
        state.slots[slot] = SlotRecord(
            restarts=record.restarts + 1,
            consecutive_failures=failures,
            backoff_until=self.ctx.wall_clock() + delay,
            last_failure=f"job {job_id} {what}",
            last_job_id=job_id,
        )
        if node:
            count = state.node_failures.get(node, 0) + 1
            state.node_failures[node] = count
            if count >= policy.node_quarantine_threshold:
                state.quarantine[node] = self.ctx.wall_clock() + policy.node_quarantine_cooldown_s
                state.node_failures[node] = 0

    def _log_dir(self, deployment: Deployment) -> Path:
        configured = deployment.spec.slurm.log_dir
        if configured:
            return Path(configured).expanduser().resolve()
        return self.ctx.log_root / deployment.name

    async def _probe(
        self, name: str, deployment: Deployment, state: DeploymentState, live: list[WatchedJob]
    ) -> bool:
        """Start probing running workers whose endpoint file appeared; a worker still
        registered with the router (adopted after a restart) resumes as ready. True if
        a running worker has not written its endpoint file yet."""
        log_dir = self._log_dir(deployment)
        awaiting = False
        for job in live:
            job_id = job.info.job_id
            if not job.info.state.is_running:
                continue
            url = self._endpoints.get(job_id) or await _read_endpoint(
                endpoint_path(log_dir, job_id)
            )
            if url is None:
                awaiting = True
                continue
            self._endpoints[job_id] = url
            registered = state.registered.get(url) == job_id
            self.ctx.probes.ensure(job_id, name, url, deployment.spec.health, ready=registered)
        return awaiting

    def _health(self, job_id: str) -> WorkerHealth | None:
        return self.ctx.probes.health(job_id)

    def _view(
        self, job: WatchedJob, deployment: Deployment, state: DeploymentState, template: str
    ) -> WorkerView:
        info = job.info
        health = self._health(info.job_id)
        lead = deployment.spec.policy.walltime_renewal_lead_s
        expiring = (
            info.state.is_running
            and info.time_left_s is not None
            and info.time_left_s < lead
            and deployment.spec.replicas > 0
        )
        return WorkerView(
            job_id=info.job_id,
            slot=job.tag.slot,
            template_hash=job.tag.template_hash,
            pending=info.state.is_pending,
            ready=bool(health and health.ready),
            started=bool(health and health.phase.value == "Running"),
            failed=bool(health and health.failed),
            draining=info.job_id in state.draining,
            expiring=expiring,
        )

    # -------------------------------------------------------------------- routing

    async def _sync_router(
        self,
        name: str,
        deployment: Deployment,
        state: DeploymentState,
        live: list[WatchedJob],
        target: RouterTarget | None,
    ) -> None:
        """Make the router list exactly our ready, non-draining workers (ours only)."""
        if state.registered and _target_from_state(state.router) not in (None, target):
            return  # still leaving the previous router
        wanted: dict[str, JobId] = {}
        for job in live:
            job_id = job.info.job_id
            health = self._health(job_id)
            url = self._endpoints.get(job_id)
            if url and health and health.ready and job_id not in state.draining:
                wanted[url] = job_id
                now = self.ctx.wall_clock()
                self.ctx.metrics.worker_ready(name, job_id, job.info.start_time, now)
        stale = {
            url
            for url, job_id in state.registered.items()
            if url not in wanted and job_id not in state.draining
        }
        if target is None:
            state.registered = {u: j for u, j in state.registered.items() if u in wanted}
            return
        client = self.routers.client(target)
        model = _model_names(deployment)
        action: RegistrationAction = "add"
        try:
            present = set(await client.list_workers()) if wanted else set()
            # back to the router we were leaving: adding again ends the drain we began
            returning = state.leaving_since is not None
            for url, job_id in wanted.items():
                if url not in present or url not in state.registered or returning:
                    if url not in state.registered or state.router is None:
                        # "maybe registered" is persisted first: after a crash right
                        # after the add, the restarted operator still removes it
                        state.registered[url] = job_id
                        state.router = _target_to_state(target)
                        await self.ctx.state.save(name, state)
                    await client.add_worker(url, model=model, deployment=name)
                    self.ctx.metrics.worker_registration(name, "add", ok=True)
                    logger.bind(resource=name, job_id=job_id, worker=url).info(
                        "registered with router {}", target.describe()
                    )
                state.registered[url] = job_id
            state.leaving_since = None
            action = "remove"
            for url in stale:
                await client.remove_worker(url)
                self.ctx.metrics.worker_registration(name, "remove", ok=True)
                state.registered.pop(url, None)
                logger.bind(resource=name, worker=url).info("removed from router")
        except (RouterUnavailable, SgorchError) as exc:
            self.ctx.metrics.worker_registration(name, action, ok=False)
            logger.bind(resource=name).warning("router {}: {}", target.describe(), exc)

    async def _leave_previous_router(
        self,
        name: str,
        deployment: Deployment,
        state: DeploymentState,
        target: RouterTarget | None,
    ) -> None:
        """The Deployment now registers elsewhere (or nowhere): drain its workers from
        the previous router (in-flight requests get the grace period) and remove them,
        before they are registered with the new one."""
        previous = _target_from_state(state.router)
        if previous is None or previous == target:
            return
        if not state.registered:
            state.router, state.leaving_since = None, None
            return
        now = self.ctx.wall_clock()
        if state.leaving_since is None:
            state.leaving_since = now
            await self.ctx.state.save(name, state)  # before the first drain call
        grace = deployment.spec.policy.drain_grace_s
        client = self.routers.client(previous)
        try:
            for url in list(state.registered):
                inflight = await client.drain_worker(url)
                if inflight and now - state.leaving_since < grace:
                    continue
                await client.remove_worker(url)
                state.registered.pop(url)
                logger.bind(resource=name, worker=url).info(
                    "removed from router {} (the Deployment moved)", previous.describe()
                )
        except SgorchError as exc:
            logger.bind(resource=name).warning(
                "cannot leave router {} yet: {}", previous.describe(), exc
            )
        if not state.registered:
            state.router, state.leaving_since = None, None

    # ------------------------------------------------------------ drain & cancel

    async def _drain_and_cancel(
        self,
        name: str,
        deployment: Deployment,
        state: DeploymentState,
        plan: Plan,
        target: RouterTarget | None,
    ) -> None:
        now = self.ctx.wall_clock()
        if any(job_id not in state.draining for job_id in plan.drain):
            for job_id in plan.drain:
                state.draining.setdefault(job_id, now)
            # before the router hears of it: a drain once begun is always finished
            await self.ctx.state.save(name, state)
        client = self.routers.client(target) if target is not None else None
        grace = deployment.spec.policy.drain_grace_s
        to_cancel = list(plan.cancel)
        for job_id, since in list(state.draining.items()):
            url = self._endpoints.get(job_id) or _registered_url(state, job_id)
            inflight = 0
            if client is not None and url is not None and url in state.registered:
                try:
                    inflight = await client.drain_worker(url)
                except SgorchError as exc:
                    logger.bind(resource=name, job_id=job_id).warning("drain: {}", exc)
                    continue
            if inflight and now - since < grace:
                continue
            to_cancel.append(job_id)
        for job_id in dict.fromkeys(to_cancel):
            await self._cancel(name, state, job_id, client)

    async def _cancel(
        self, name: str, state: DeploymentState, job_id: str, client: RouterClient | None
    ) -> None:
        """Leave the router first (invariant: never cancel a registered worker)."""
        for url, registered_job in list(state.registered.items()):
            if registered_job != job_id:
                continue
            if client is None:
                state.registered.pop(url)
                continue
            try:
                await client.remove_worker(url)
            except SgorchError as exc:
                self.ctx.metrics.worker_registration(name, "remove", ok=False)
                logger.bind(resource=name, job_id=job_id).warning(
                    "not cancelling yet: cannot remove {} from the router: {}", url, exc
                )
                return
            self.ctx.metrics.worker_registration(name, "remove", ok=True)
            state.registered.pop(url)
            logger.bind(resource=name, job_id=job_id, worker=url).info("removed from router")
        if job_id in self._cancel_sent:
            return  # already asked; the next listing shows it ending
        watcher = self.ctx.watcher
        listed = watcher.get(job_id)
        age_s = self.ctx.wall_clock() - watcher.listing_started_at
        if (
            listed is None
            or listed.info.state.is_terminal
            or listed.tag.deployment != name
            or age_s > _CANCEL_LISTING_MAX_AGE_S
        ):
            # only a job a recent listing shows live and tagged ours is ours to cancel:
            # a remembered id may belong to anyone once Slurm forgot the job
            return
        if job_id not in state.cancelled:
            state.cancelled.append(job_id)
        await self.ctx.state.save(name, state)
        try:
            await self.ctx.slurm.cancel(JobId(job_id))
        except SlurmUnavailable as exc:
            logger.bind(resource=name, job_id=job_id).warning("cancel postponed: {}", exc)
            return
        self._cancel_sent.add(job_id)
        reason = self._cancel_reason(name, state, job_id)
        self.ctx.metrics.job_cancelled(name, reason)
        self.ctx.watcher.poke()
        logger.bind(resource=name, job_id=job_id).info("cancelled job {}", job_id)
        self._note(name, "Normal", "Cancelled", f"cancelled job {job_id}")

    def _cancel_reason(self, name: str, state: DeploymentState, job_id: str) -> CancelReason:
        health = self._health(job_id)
        if health is not None and health.phase is ProbePhase.STARTUP_FAILED:
            return "startup_failed"
        if health is not None and health.phase is ProbePhase.DEAD:
            return "liveness_failed"
        entry = self.ctx.resources.get(ResourceKey("Deployment", name))
        if entry is None:
            return "deleted"
        job = self.ctx.watcher.get(job_id)
        if job is not None and isinstance(entry.resource, Deployment):
            template = compute_template_hash(entry.resource)
            if job.tag.template_hash != template:
                return "rollout"
            if self._view(job, entry.resource, state, template).expiring:
                return "walltime"
        return "scale_down"

    # ----------------------------------------------------------------- submitting

    async def _submit(
        self,
        name: str,
        deployment: Deployment,
        spec_hash: str,
        template: str,
        state: DeploymentState,
        plan: Plan,
        problems: _Problems,
    ) -> None:
        log_dir = self._log_dir(deployment)
        now = self.ctx.wall_clock()
        exclude = tuple(sorted(n for n, until in state.quarantine.items() if until > now))
        if exclude and not await self.ctx.slurm.can_exclude_nodes():
            self._warn(
                name,
                "QuarantineNotEnforced",
                f"node(s) {', '.join(exclude)} quarantined after repeated failures, but "
                f"--slurm {self.ctx.slurm.name} cannot exclude nodes: new jobs may land "
                "there again (the Slurm CLI and slurmrestd of Slurm 23.02+ can)",
            )
            exclude = ()
        requests = {}
        for slot in plan.submit:
            tag = OwnerTag(self.ctx.instance, name, slot, template)
            try:
                request = build_job_request(deployment, slot, tag, log_dir, self.ctx.environ)
            except UnsetVariable as exc:
                problems.set("MissingEnvironment", str(exc))
                return
            if exclude:
                options = replace(
                    request.options,
                    exclude=tuple(dict.fromkeys([*request.options.exclude, *exclude])),
                )
                request = replace(request, options=options)
            requests[slot] = request
        await anyio.to_thread.run_sync(_make_dirs, log_dir)
        for slot in requests:
            state.attempts[slot] = AttemptRecord(slot=slot, at=now, template_hash=template)
        await self.ctx.state.save(name, state)  # before sbatch: a crash repeats nothing
        limiter = anyio.Semaphore(self.ctx.max_parallel_submits)

        async def submit_one(slot: int) -> None:
            async with limiter:
                try:
                    with anyio.fail_after(self.ctx.submit_timeout_s):
                        job_id = await self.ctx.slurm.submit(requests[slot])
                except SlurmRejected as exc:
                    state.attempts.pop(slot, None)
                    if exclude:  # perhaps refused for excluding every node it may use
                        if state.quarantine:
                            state.quarantine.clear()
                            self._warn(
                                name,
                                "QuarantineLifted",
                                f"Slurm refused a job excluding quarantined node(s) "
                                f"{', '.join(exclude)} ({exc}); the quarantine is lifted "
                                "and the job submitted again without it",
                            )
                        return
                    state.rejected = {spec_hash: f"Slurm rejected the job: {exc}"}
                    self.ctx.metrics.job_submitted(name, "rejected", self.ctx.wall_clock())
                    logger.bind(resource=name).error("Slurm rejected slot {}: {}", slot, exc)
                    self._note(name, "Warning", "SubmitRejected", f"Slurm rejected the job: {exc}")
                    return
                except (SlurmUnavailable, TimeoutError) as exc:
                    # outcome unknown: the attempt stays until a listing settles it
                    self.ctx.metrics.job_submitted(name, "uncertain", self.ctx.wall_clock())
                    logger.bind(resource=name).warning("submit of slot {} uncertain: {}", slot, exc)
                    return
                state.attempts.pop(slot, None)
                state.known_jobs[job_id] = KnownJob(
                    slot=slot, since=self.ctx.wall_clock(), template_hash=template
                )
                self.ctx.metrics.job_submitted(name, "ok", self.ctx.wall_clock())
                logger.bind(resource=name, job_id=job_id).info(
                    "submitted job {} for slot {}", job_id, slot
                )
                self._note(name, "Normal", "Submitted", f"submitted job {job_id} for slot {slot}")

        async with anyio.create_task_group() as tg:
            for slot in requests:
                tg.start_soon(submit_one, slot)
        self.ctx.watcher.submitted()

    # ---------------------------------------------------------------- bookkeeping

    def _note_failures(
        self, state: DeploymentState, live: list[WatchedJob], problems: _Problems
    ) -> None:
        ready_slots = set()
        for job in live:
            health = self._health(job.info.job_id)
            if health is not None and health.ready:
                ready_slots.add(job.tag.slot)
        for slot in ready_slots:
            record = state.slots.get(slot)
            if record is not None and record.consecutive_failures:
                state.slots[slot] = record.model_copy(
                    update={"consecutive_failures": 0, "backoff_until": 0.0}
                )
        failing = [
            r
            for s, r in sorted(state.slots.items())
            if r.consecutive_failures and s not in ready_slots
        ]
        if failing:
            record = failing[0]
            wait = max(0.0, record.backoff_until - self.ctx.wall_clock())
            problems.set(
                "WorkerFailed",
                f"{record.last_failure}; "
                f"{record.consecutive_failures} failure(s) in a row, "
                f"next attempt in {wait:.0f}s",
            )

    def _requeue_delay(
        self, plan: Plan, state: DeploymentState, awaiting_endpoints: bool = False
    ) -> float:
        delay = self.ctx.resync_s
        if awaiting_endpoints:  # no event announces an endpoint file: look again soon
            delay = min(delay, _ENDPOINT_POLL_S)
        if plan.waiting_for_backoff_until is not None:
            delay = min(delay, max(0.5, plan.waiting_for_backoff_until - self.ctx.wall_clock()))
        if state.draining or state.attempts or plan.cancel or plan.submit:
            delay = min(delay, 1.0)
        return delay

    # --------------------------------------------------------------------- status

    def _worker_rows(self, name: str, state: DeploymentState) -> list[WorkerStatus]:
        rows: list[WorkerStatus] = []
        for job in self.ctx.watcher.jobs_of(name):
            info = job.info
            if info.state.is_terminal:
                continue
            health = self._health(info.job_id)
            record = state.slots.get(job.tag.slot, SlotRecord())
            reason = (
                info.reason
                if info.state.is_pending
                else (health.message if health else "waiting for endpoint file")
            )
            if info.job_id in state.draining:
                reason = "draining"
            rows.append(
                WorkerStatus(
                    slot=job.tag.slot,
                    job_id=info.job_id,
                    state=info.state.value,
                    reason=reason,
                    node=info.nodes,
                    url=self._endpoints.get(info.job_id),
                    ready=bool(health and health.ready and info.job_id not in state.draining),
                    restarts=record.restarts,
                    started_at=info.start_time,
                    last_probe=health.last_probe if health else None,
                    template_hash=job.tag.template_hash,
                )
            )
        listed = {r.job_id for r in rows}
        for job_id, known in state.known_jobs.items():
            if job_id not in listed and self.ctx.watcher.get(job_id) is None:
                rows.append(
                    WorkerStatus(
                        slot=known.slot,
                        job_id=job_id,
                        state="PENDING",
                        reason="submitted; waiting for the next job listing",
                        restarts=state.slots.get(known.slot, SlotRecord()).restarts,
                    )
                )
        for attempt in state.attempts.values():
            rows.append(
                WorkerStatus(
                    slot=attempt.slot,
                    state="Submitting",
                    reason="waiting for Slurm to confirm the submission",
                    restarts=state.slots.get(attempt.slot, SlotRecord()).restarts,
                    template_hash=attempt.template_hash,
                )
            )
        return sorted(rows, key=lambda r: (r.slot, r.job_id or ""))

    async def _write_status(
        self,
        name: str,
        generation: int,
        error: LocatedError | None,
        deployment: Deployment,
        template: str,
        state: DeploymentState,
        problems: _Problems,
        tunneled: bool,
    ) -> None:
        now = datetime.now(UTC)
        rows = self._worker_rows(name, state)
        desired = deployment.spec.replicas
        ready = sum(1 for r in rows if r.ready)
        updated = sum(
            1 for r in rows if r.template_hash == template and r.job_id and r.reason != "draining"
        )
        live = sum(1 for r in rows if r.job_id)
        self.ctx.metrics.set_workers(name, desired=desired, ready=ready, updated=updated)
        conditions = self._conditions.get(name, [])
        floor = desired - deployment.spec.strategy.max_unavailable
        conditions = set_condition(
            conditions,
            "Available",
            "True" if ready >= max(floor, 0) else "False",
            "MinimumReplicasAvailable" if ready >= floor else "MinimumReplicasUnavailable",
            f"{ready} of {desired} workers ready",
            now,
        )
        converged = ready == desired and updated == desired and live == desired
        conditions = set_condition(
            conditions,
            "Progressing",
            "True",
            "Complete" if converged else "Updating",
            "all workers ready on the current template"
            if converged
            else f"{updated} of {desired} workers on template {template}, {ready} ready",
            now,
        )
        if self.ctx.watcher.unavailable_since is not None:
            problems.set(
                "SlurmUnavailable",
                f"Slurm unreachable: {self.ctx.watcher.last_error}; "
                "nothing is cancelled or submitted meanwhile",
            )
        self._note_changes(name, rows, problems)
        conditions = set_condition(
            conditions,
            "ReplicaFailure",
            "True" if problems.reason else "False",
            problems.reason or "None",
            problems.message,
            now,
        )
        invalid_reason, invalid_message = "Valid", ""
        if tunneled:
            invalid_reason = "TunneledNotImplemented"
            invalid_message = (
                "connectivity.mode 'tunneled' is not implemented yet; use "
                "'direct' (with advertise_host if needed). No jobs are submitted."
            )
        if error is not None:
            invalid_reason = "InvalidSpec"
            invalid_message = (
                "the file's current content is invalid; the last valid spec stays in force"
            )
        conditions = set_condition(
            conditions,
            "Invalid",
            "False" if invalid_reason == "Valid" else "True",
            invalid_reason,
            invalid_message,
            now,
        )
        self._conditions[name] = conditions
        router = deployment.spec.router
        document = DeploymentStatusDocument(
            api_version="sgorch.io/v1alpha1",
            kind="Deployment",
            metadata=StatusMetadata(name=name, generation=generation),
            status=DeploymentStatus(
                observed_generation=generation,
                desired_replicas=desired,
                replicas=live,
                ready_replicas=ready,
                updated_replicas=updated,
                unavailable_replicas=max(0, desired - ready),
                model=deployment.spec.model.name if deployment.spec.model else None,
                router=(router.name or (router.external.url if router.external else None))
                if router
                else None,
                conditions=conditions,
                workers=rows,
                error=ResourceError.located(error),
            ),
        )
        await self.ctx.status.write(document)

    async def _write_invalid_only(
        self, name: str, generation: int, error: LocatedError | None
    ) -> None:
        now = datetime.now(UTC)
        conditions = set_condition(
            self._conditions.get(name, []),
            "Invalid",
            "True",
            "InvalidSpec",
            "the resource has never been valid; fix the file (see error)",
            now,
        )
        self._conditions[name] = conditions
        await self.ctx.status.write(
            DeploymentStatusDocument(
                api_version="sgorch.io/v1alpha1",
                kind="Deployment",
                metadata=StatusMetadata(name=name, generation=generation),
                status=DeploymentStatus(
                    observed_generation=generation,
                    conditions=conditions,
                    error=ResourceError.located(error),
                ),
            )
        )

    # ------------------------------------------------------------ garbage collection

    async def _collect_garbage(self, name: str, state: DeploymentState) -> float | None:
        """The Deployment is gone: drain and cancel its jobs, then forget it."""
        watcher = self.ctx.watcher
        if watcher.listings == 0:
            return 1.0
        self._adopt_and_resolve(name, state, None)
        live = [j for j in watcher.jobs_of(name) if not j.info.state.is_terminal]
        spec = self._last_spec.get(name) or _persisted_spec(name, state)
        if live or state.attempts or self._unlisted(state):
            if watcher.unavailable_since is None:
                target = self._registered_at(state, spec)
                plan = Plan(
                    drain=tuple(
                        j.info.job_id for j in live if j.info.job_id in state.registered.values()
                    ),
                    cancel=tuple(
                        j.info.job_id
                        for j in live
                        if j.info.job_id not in state.registered.values()
                    ),
                )
                policy_spec = spec if spec is not None else _fallback_deployment(name)
                await self._drain_and_cancel(name, policy_spec, state, plan, target)
            await self.ctx.state.save(name, state)
            return 1.0
        target = self._registered_at(state, spec)
        if state.registered and target is not None:
            # workers that ended by themselves may still be registered
            client = self.routers.client(target)
            try:
                for url in list(state.registered):
                    await client.remove_worker(url)
                    state.registered.pop(url)
            except SgorchError as exc:
                logger.bind(resource=name).warning("router {}: {}", target.describe(), exc)
                await self.ctx.state.save(name, state)
                return 1.0
        for job_id in list(state.known_jobs):
            self.ctx.probes.forget(job_id)
        await self.ctx.state.delete(name)
        await self.ctx.status.remove("Deployment", name)
        self._states.pop(name, None)
        self._last_spec.pop(name, None)
        self._conditions.pop(name, None)
        self.ctx.metrics.forget_deployment(name)
        self._events = [e for e in self._events if e[0] != name]
        if self.ctx.events is not None:
            await self.ctx.events.remove("Deployment", name)
        self._ready_jobs.pop(name, None)
        self._last_problem.pop(name, None)
        logger.bind(resource=name).info("Deployment {} deleted: its jobs are gone", name)
        return None

    def _registered_at(
        self, state: DeploymentState, spec: Deployment | None
    ) -> RouterTarget | None:
        """Where a deleted Deployment's workers are registered (known from the state
        even after a restart), or None."""
        resolved = self.routers.target_for(spec) if spec is not None else None
        if isinstance(resolved, str):
            state.router = None  # its Router is gone, and its registrations with it
        target = _target_from_state(state.router)
        if target is None and isinstance(resolved, RouterTarget):
            target = resolved
        return target


def _persisted_spec(name: str, state: DeploymentState) -> Deployment | None:
    """The spec last in force before a restart (the file is gone, the state is not)."""
    if state.last_spec is None:
        return None
    try:
        return Deployment.model_validate(state.last_spec)
    except ValidationError as exc:
        logger.bind(resource=name).warning("ignoring the persisted spec: {}", exc)
        return None


def _fallback_deployment(name: str) -> Deployment:
    return Deployment.model_validate(
        {
            "apiVersion": "sgorch.io/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"replicas": 0, "backend": {"type": "command", "command": ["{PORT}"]}},
        }
    )


def _target_to_state(target: RouterTarget) -> dict[str, str | None]:
    return {
        "url": target.url,
        "dialect": target.dialect.value,
        "auth_header": target.auth_header,
        "auth_env": target.auth_env,
        "auth_scheme": target.auth_scheme,
    }


def _target_from_state(data: dict[str, str | None] | None) -> RouterTarget | None:
    if not data or not data.get("url"):
        return None
    try:
        dialect = RouterDialect(data.get("dialect") or RouterDialect.SGORCH.value)
    except ValueError:
        return None
    return RouterTarget(
        str(data["url"]),
        dialect,
        data.get("auth_header"),
        data.get("auth_env"),
        data.get("auth_scheme") or "",
    )


def _registered_url(state: DeploymentState, job_id: str) -> str | None:
    """The URL ``job_id`` is registered under (known before its endpoint file is read
    again after a restart)."""
    return next((url for url, job in state.registered.items() if job == job_id), None)


def _model_names(deployment: Deployment) -> str | None:
    model = deployment.spec.model
    if model is None:
        return None
    return ",".join([model.name, *model.aliases])


def _make_dirs(path: Path) -> None:
    (path / "endpoints").mkdir(parents=True, exist_ok=True)


async def _read_endpoint(path: Path) -> str | None:
    """The worker URL from its endpoint file, or None while it is not there (yet)."""
    try:
        text = await anyio.Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
        host, port = str(data["host"]), int(data["port"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("unreadable endpoint file {}: {}", path, exc)
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
