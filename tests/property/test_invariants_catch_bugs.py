"""The model-based test's invariant checks are not vacuous: for each invariant, a
deliberately broken variant of the operator (monkeypatched here, nowhere else) makes the
state machine of ``test_operator_state_machine`` find a counterexample of exactly that
invariant.

Each run is derandomized (the same examples every time) and bounded; shrinking is off,
since only the fact that a counterexample exists matters here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from property.test_operator_state_machine import (
    CancelledWhileRegistered,
    DrainGraceCut,
    DuplicateSlot,
    ForeignJobCancelled,
    InvariantViolation,
    LiveJobBoundExceeded,
    NotConverged,
    OperatorMachine,
    StatusInvalid,
)
from sgorch.controllers import deployment as deployment_module
from sgorch.controllers.deployment import DeploymentController
from sgorch.controllers.planner import Plan, PlanInput, decide_plan
from sgorch.slurm import JobId

pytestmark = pytest.mark.slow

BUDGET = settings(
    max_examples=400,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


def counterexample(expected: type[InvariantViolation]) -> InvariantViolation:
    """Run the state machine until it fails; the failure must be ``expected``."""
    with pytest.raises(InvariantViolation) as caught:
        run_state_machine_as_test(OperatorMachine, settings=BUDGET)
    assert isinstance(caught.value, expected), f"found {caught.value!r} instead"
    return caught.value


def broken_planner(
    monkeypatch: pytest.MonkeyPatch,
    before: Callable[[PlanInput], PlanInput] = lambda data: data,
    after: Callable[[Plan], Plan] = lambda plan: plan,
) -> None:
    monkeypatch.setattr(
        deployment_module, "decide_plan", lambda data: after(decide_plan(before(data)))
    )


def test_surging_past_the_bound_breaks_the_live_job_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A planner that ignores maxSurge (as if it were 10 more) in a rolling update."""
    broken_planner(monkeypatch, before=lambda d: dataclasses.replace(d, max_surge=d.max_surge + 10))
    counterexample(LiveJobBoundExceeded)


def test_forgetting_unresolved_submissions_duplicates_a_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A planner that counts unresolved submissions as live but no longer as holding
    their slot (resubmits the slot of a lost sbatch reply)."""
    broken_planner(
        monkeypatch,
        before=lambda d: dataclasses.replace(d, attempts=tuple((s, "?") for s, _ in d.attempts)),
    )
    counterexample(DuplicateSlot)


def test_owning_jobs_by_deployment_name_cancels_foreign_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ownership by name instead of by instance tag: the watcher lists every SGOrch
    instance's jobs, and the jobs of another instance's 'alpha' become ours."""
    import fakes.harness

    monkeypatch.setattr(fakes.harness, "instance_prefix", lambda instance: "sgorch:v1;")
    counterexample(ForeignJobCancelled)


def test_cancelling_before_leaving_the_router_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = DeploymentController._cancel

    async def cancel_first(
        self: DeploymentController, name: str, state: Any, job_id: str, client: Any
    ) -> None:
        if job_id in state.registered.values():
            await self.ctx.slurm.cancel(JobId(job_id))
        await original(self, name, state, job_id, client)

    monkeypatch.setattr(DeploymentController, "_cancel", cancel_first)
    counterexample(CancelledWhileRegistered)


def test_cancelling_ready_workers_without_a_drain_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A planner that cancels ready workers outright (they leave the router, but their
    in-flight requests are cut)."""
    broken_planner(
        monkeypatch, after=lambda p: dataclasses.replace(p, cancel=p.cancel + p.drain, drain=())
    )
    monkeypatch.setattr(OperatorMachine, "BUSY", True)  # requests always in flight
    counterexample(DrainGraceCut)


def test_a_lagging_observed_generation_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = DeploymentController._write_status

    async def lagging(self: DeploymentController, name: str, generation: int, *rest: Any) -> None:
        await original(self, name, max(1, generation - 1), *rest)

    monkeypatch.setattr(DeploymentController, "_write_status", lagging)
    counterexample(StatusInvalid)


def test_a_torn_status_write_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that is not atomic: a reader may see half a document."""
    import sgorch.status.writer

    def torn(path: Any, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[: len(data) // 2] if b'"replicas": 1' in data else data)

    monkeypatch.setattr(sgorch.status.writer, "write_atomic", torn)
    counterexample(StatusInvalid)


def test_a_planner_that_never_drains_does_not_converge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rolling updates and scale-downs stall; every safety invariant still holds."""
    broken_planner(monkeypatch, after=lambda p: dataclasses.replace(p, drain=()))
    counterexample(NotConverged)
