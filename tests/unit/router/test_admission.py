"""The concurrency limit: FIFO queue, bounded, with a wait timeout."""

from __future__ import annotations

import anyio
import pytest

from sgorch.router._admission import AdmissionGate, QueueFull, QueueTimeout


async def test_requests_beyond_the_limit_are_served_in_arrival_order() -> None:
    gate = AdmissionGate(max_inflight=1, max_queue=10, queue_timeout_s=5)
    await gate.acquire()
    order: list[int] = []

    async def waiter(index: int) -> None:
        await gate.acquire()
        order.append(index)
        gate.release()

    async with anyio.create_task_group() as group:
        for index in range(5):
            group.start_soon(waiter, index)
            await anyio.sleep(0.01)
        assert gate.waiting == 5
        gate.release()
    assert order == [0, 1, 2, 3, 4]
    assert (gate.active, gate.waiting) == (0, 0)


async def test_a_full_queue_refuses_at_once() -> None:
    gate = AdmissionGate(max_inflight=1, max_queue=0, queue_timeout_s=5)
    await gate.acquire()
    with pytest.raises(QueueFull):
        await gate.acquire()


async def test_waiting_too_long_gives_up_and_leaves_the_queue() -> None:
    gate = AdmissionGate(max_inflight=1, max_queue=1, queue_timeout_s=0.05)
    await gate.acquire()
    with pytest.raises(QueueTimeout):
        await gate.acquire()
    assert gate.waiting == 0
    gate.release()
    await gate.acquire()
    assert gate.active == 1


async def test_a_waiter_cancelled_as_it_is_handed_the_slot_passes_it_on() -> None:
    gate = AdmissionGate(max_inflight=1, max_queue=5, queue_timeout_s=5)
    await gate.acquire()
    scopes: dict[str, anyio.CancelScope] = {}
    served: list[str] = []

    async def wait(name: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            await gate.acquire()
            served.append(name)
            await anyio.sleep(3600)

    async with anyio.create_task_group() as group:
        group.start_soon(wait, "first")
        await anyio.sleep(0.01)
        group.start_soon(wait, "second")
        await anyio.sleep(0.01)
        scopes["first"].cancel()  # "first" is cancelled while in line...
        gate.release()  # ...and handed the slot before it runs again
        await anyio.sleep(0.01)
        assert served == ["second"]
        assert (gate.active, gate.waiting) == (1, 0)
        group.cancel_scope.cancel()
