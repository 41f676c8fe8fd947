"""The Deployment planner: scale up and down, rolling updates within the surge and
unavailability bounds, replacement of failed workers, and restart backoff."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sgorch.controllers.planner import PlanInput, WorkerView, decide_plan

H, OLD = "new", "old"


def worker(
    job: str,
    slot: int,
    *,
    h: str = H,
    ready: bool = True,
    pending: bool = False,
    failed: bool = False,
    draining: bool = False,
    expiring: bool = False,
) -> WorkerView:
    return WorkerView(
        job_id=job,
        slot=slot,
        template_hash=h,
        pending=pending,
        ready=ready and not pending,
        started=ready and not pending,
        failed=failed,
        draining=draining,
        expiring=expiring,
    )


def plan_for(replicas: int, *workers: WorkerView, surge: int = 1, unavailable: int = 0, **kw):  # type: ignore[no-untyped-def]
    return decide_plan(
        PlanInput(
            replicas=replicas,
            template_hash=H,
            max_surge=surge,
            max_unavailable=unavailable,
            workers=workers,
            **kw,
        )
    )


def test_empty_deployment_submits_all_replicas_up_to_the_surge_bound() -> None:
    assert plan_for(3).submit == (0, 1, 2)


def test_converged_deployment_does_nothing() -> None:
    plan = plan_for(2, worker("1", 0), worker("2", 1))
    assert (plan.submit, plan.cancel, plan.drain) == ((), (), ())


def test_missing_worker_gets_the_lowest_free_slot() -> None:
    assert plan_for(3, worker("1", 0), worker("3", 2)).submit == (1,)


def test_unresolved_attempts_count_as_live_and_block_their_slot() -> None:
    plan = plan_for(2, worker("1", 0), attempts=((1, H),))
    assert plan.submit == ()


def test_slot_in_backoff_is_not_submitted_and_reports_when_it_may_be() -> None:
    plan = plan_for(1, backoff_until={0: 100.0}, now=50.0)
    assert plan.submit == () and plan.waiting_for_backoff_until == 100.0
    assert plan_for(1, backoff_until={0: 100.0}, now=150.0).submit == (0,)


def test_nothing_is_submitted_while_submitting_is_not_allowed() -> None:
    assert plan_for(3, can_submit=False).submit == ()


def test_scale_down_removes_pending_before_not_ready_before_ready() -> None:
    workers = (
        worker("ready", 0),
        worker("pend", 1, pending=True),
        worker("slow", 2, ready=False),
        worker("ready2", 3),
    )
    plan = plan_for(2, *workers)
    assert set(plan.cancel) == {"pend", "slow"} and plan.drain == ()
    plan = plan_for(1, *workers)
    assert set(plan.cancel) == {"pend", "slow"} and len(plan.drain) == 1


def test_ready_workers_are_drained_not_cancelled_on_scale_down() -> None:
    plan = plan_for(0, worker("1", 0), worker("2", 1))
    assert set(plan.drain) == {"1", "2"} and plan.cancel == ()


def test_failed_workers_are_cancelled_and_replaced_in_their_slot_once_gone() -> None:
    plan = plan_for(2, worker("1", 0), worker("dead", 1, failed=True))
    assert plan.cancel == ("dead",)
    assert plan.submit == (), "another slot would dodge the failed slot's backoff"
    assert plan_for(2, worker("1", 0)).submit == (1,)
    assert plan_for(2, worker("1", 0), backoff_until={1: 9.0}, now=5.0).submit == ()


def test_rolling_update_surges_one_then_drains_one_old_when_the_new_is_ready() -> None:
    olds = (worker("o0", 0, h=OLD), worker("o1", 1, h=OLD), worker("o2", 2, h=OLD))
    first = plan_for(3, *olds)
    assert first.submit == (0,) and first.drain == () and first.cancel == ()
    starting = plan_for(3, *olds, worker("n0", 0, ready=False))
    assert starting.submit == () and starting.drain == ()
    ready = plan_for(3, *olds, worker("n0", 0))
    assert len(ready.drain) == 1 and ready.submit == ()


def test_rolling_update_with_max_unavailable_drains_before_surging() -> None:
    olds = (worker("o0", 0, h=OLD), worker("o1", 1, h=OLD))
    plan = plan_for(2, *olds, surge=0, unavailable=1)
    assert len(plan.drain) == 1 and plan.submit == ()


def test_pending_workers_of_an_old_template_are_cancelled_at_once() -> None:
    plan = plan_for(1, worker("o0", 0, h=OLD, pending=True))
    assert plan.cancel == ("o0",) and plan.submit == (0,)  # the surge slot is free


def test_expiring_workers_are_renewed_like_outdated_ones() -> None:
    plan = plan_for(1, worker("old", 0, expiring=True))
    assert plan.submit == (1,) and plan.drain == ()  # slot 0 is held until "old" ends
    plan = plan_for(1, worker("old", 0, expiring=True), worker("new", 1))
    assert plan.drain == ("old",)


def test_draining_workers_are_left_to_the_drain_and_still_count_as_live() -> None:
    plan = plan_for(1, worker("d", 0, draining=True))
    assert plan.cancel == () and plan.drain == ()
    assert plan.submit == (1,)  # 1 live + 1 = replicas + surge; slot 0 is held


@st.composite
def scenarios(draw: st.DrawFn) -> PlanInput:
    replicas = draw(st.integers(0, 6))
    surge = draw(st.integers(0, 3))
    unavailable = draw(st.integers(0 if surge else 1, 3))
    count = draw(st.integers(0, replicas + surge))
    workers = tuple(
        worker(
            str(i),
            draw(st.integers(0, 8)),
            h=draw(st.sampled_from([H, OLD])),
            ready=draw(st.booleans()),
            pending=draw(st.booleans()),
            failed=draw(st.booleans()),
            draining=draw(st.booleans()),
            expiring=draw(st.booleans()),
        )
        for i in range(count)
    )
    attempts = tuple(
        (draw(st.integers(0, 8)), H) for _ in range(draw(st.integers(0, replicas + surge - count)))
    )
    return PlanInput(
        replicas=replicas,
        template_hash=H,
        max_surge=surge,
        max_unavailable=unavailable,
        workers=workers,
        attempts=attempts,
    )


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_never_more_live_jobs_than_replicas_plus_surge(data: PlanInput) -> None:
    plan = decide_plan(data)
    live_after = len(data.workers) + len(data.attempts) + len(plan.submit)
    assert live_after <= max(data.replicas + data.max_surge, len(data.workers) + len(data.attempts))
    assert not set(plan.cancel) & set(plan.drain)
    assert len(set(plan.submit)) == len(plan.submit)


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_ready_workers_are_never_cancelled_without_a_drain_unless_failed(data: PlanInput) -> None:
    plan = decide_plan(data)
    by_id = {w.job_id: w for w in data.workers}
    for job_id in plan.cancel:
        w = by_id[job_id]
        assert not w.ready or w.failed


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_drains_keep_at_least_replicas_minus_max_unavailable_ready(data: PlanInput) -> None:
    plan = decide_plan(data)
    active_ready = [w for w in data.workers if w.ready and not w.failed and not w.draining]
    removed = set(plan.drain) | set(plan.cancel)
    remaining = [w for w in active_ready if w.job_id not in removed]
    updated = [
        w
        for w in data.workers
        if w.template_hash == H and not w.expiring and not w.failed and not w.draining
    ]
    if len(updated) <= data.replicas:  # (scale-down may go lower on purpose)
        floor = data.replicas - data.max_unavailable
        assert len(remaining) >= min(floor, len(active_ready))


def test_converges_from_nothing_when_workers_become_ready() -> None:
    workers: list[WorkerView] = []
    for step in range(10):
        plan = plan_for(3, *workers)
        workers = [w for w in workers if w.job_id not in plan.cancel]
        workers += [worker(f"s{step}-{slot}", slot) for slot in plan.submit]
    assert len(workers) == 3 and {w.slot for w in workers} == {0, 1, 2}
    assert decide_plan(PlanInput(3, H, 1, 0, tuple(workers))) == decide_plan(
        PlanInput(3, H, 1, 0, tuple(replace(w) for w in workers))
    )
