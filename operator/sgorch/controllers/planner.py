"""What a Deployment reconcile should do, as a pure function of what it observed.

Kubernetes' Deployment controller in miniature: keep ``replicas`` workers on the current
job template; roll out a new template by surging new workers (bounded by
``max_surge``) and draining old ones only while at least ``replicas - max_unavailable``
stay ready; scale down by removing the least valuable workers first; replace failed
workers; renew workers before their walltime ends; and never have more live jobs (plus
unresolved submissions) than ``replicas + max_surge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

__all__ = ["Plan", "PlanInput", "WorkerView", "decide_plan"]


class Value(IntEnum):
    """How much a worker is worth keeping; removals start from the lowest."""

    PENDING = 0
    STARTING = 1
    NOT_READY = 2
    READY = 3


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One live job of the Deployment, as the planner needs it."""

    job_id: str
    slot: int
    template_hash: str
    pending: bool
    ready: bool
    started: bool
    """The startup probe passed at least once."""
    failed: bool
    """Startup or liveness probe failed for good: the job must be replaced."""
    draining: bool
    expiring: bool = False
    """Running close to its time limit: renew it like an outdated worker."""

    @property
    def value(self) -> Value:
        if self.pending:
            return Value.PENDING
        if self.ready:
            return Value.READY
        return Value.NOT_READY if self.started else Value.STARTING


@dataclass(frozen=True, slots=True)
class PlanInput:
    replicas: int
    template_hash: str
    max_surge: int
    max_unavailable: int
    workers: tuple[WorkerView, ...]
    attempts: tuple[tuple[int, str], ...] = ()
    """Unresolved submissions: (slot, template hash)."""
    backoff_until: dict[int, float] = field(default_factory=dict)
    now: float = 0.0
    can_submit: bool = True
    """False while Slurm is unreachable or the spec was rejected."""


@dataclass(frozen=True, slots=True)
class Plan:
    submit: tuple[int, ...] = ()
    """Slots to submit a job for, on the current template."""
    cancel: tuple[str, ...] = ()
    """Jobs to cancel now (after leaving the router if registered)."""
    drain: tuple[str, ...] = ()
    """Ready jobs to drain (leave the router, let in-flight requests finish, cancel)."""
    waiting_for_backoff_until: float | None = None
    """Earliest time a slot in backoff may be submitted again."""


def decide_plan(data: PlanInput) -> Plan:
    """The next bounded set of actions; calling it again after they took effect makes
    progress towards ``replicas`` ready workers on ``template_hash``."""
    cancel: list[str] = [w.job_id for w in data.workers if w.failed and not w.draining]
    active = [w for w in data.workers if not w.failed and not w.draining]
    updated = [w for w in active if w.template_hash == data.template_hash and not w.expiring]
    outdated = [w for w in active if w not in updated]
    live_total = len(data.workers) + len(data.attempts)
    drain: list[str] = []

    # scale down: too many workers on the current template, least valuable first
    excess = len(updated) - data.replicas
    if excess > 0:
        for worker in sorted(updated, key=lambda w: (w.value, -w.slot))[:excess]:
            (drain if worker.ready else cancel).append(worker.job_id)

    # old template: pending ones serve nothing; not-ready ones go when not needed
    ready_total = sum(1 for w in active if w.ready) - len(drain)
    floor = data.replicas - data.max_unavailable
    remaining_active = len(active) - excess if excess > 0 else len(active)
    for worker in sorted(outdated, key=lambda w: (w.value, -w.slot)):
        if worker.pending:
            cancel.append(worker.job_id)
            remaining_active -= 1
        elif not worker.ready and remaining_active - 1 >= data.replicas:
            cancel.append(worker.job_id)
            remaining_active -= 1
    outdated_ready = [w for w in outdated if w.ready]
    allowed = max(0, ready_total - floor)
    for worker in sorted(outdated_ready, key=lambda w: -w.slot)[:allowed]:
        drain.append(worker.job_id)

    # scale up / roll out: new workers on the current template, within the surge bound
    submit: list[int] = []
    waiting: float | None = None
    current_attempts = [slot for slot, h in data.attempts if h == data.template_hash]
    # a failed worker is replaced once its job is gone, in its own slot and after that
    # slot's backoff: replacing it now, in another slot, would dodge the backoff
    failed_current = [w for w in data.workers if w.failed and w.template_hash == data.template_hash]
    holding = min(len(updated) + len(failed_current), data.replicas)
    missing = data.replicas - holding - len(current_attempts)
    room = data.replicas + data.max_surge - live_total
    if data.can_submit and missing > 0 and room > 0:
        # a slot is free only when no live job on this template holds it (an expiring,
        # draining or failed one included): one live job per (slot, template) keeps the
        # tag an unambiguous identity for resolving uncertain submissions
        taken = {w.slot for w in data.workers if w.template_hash == data.template_hash}
        taken |= set(current_attempts)
        slot = 0
        while len(submit) < min(missing, room):
            if slot not in taken:
                until = data.backoff_until.get(slot, 0.0)
                if until > data.now:
                    waiting = until
                    break
                submit.append(slot)
            slot += 1
    return Plan(tuple(submit), tuple(dict.fromkeys(cancel)), tuple(drain), waiting)
