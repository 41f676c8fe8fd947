"""Balancing policies are pure functions over eligible workers."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgorch.router import BalancingPolicy
from sgorch.router._policies import (
    Balancer,
    pick_least_inflight,
    pick_power_of_two,
    pick_random,
    pick_round_robin,
)


@dataclass(frozen=True)
class FakeWorker:
    url: str
    inflight: int = 0


def workers(*inflight: int) -> list[FakeWorker]:
    return [FakeWorker(f"http://w{index}:1", load) for index, load in enumerate(inflight)]


def test_round_robin_visits_every_worker_evenly() -> None:
    pool = workers(0, 0, 0)
    picks = Counter(pick_round_robin(pool, turn).url for turn in range(30))
    assert set(picks.values()) == {10}


def test_least_inflight_picks_the_least_loaded_worker() -> None:
    assert pick_least_inflight(workers(3, 1, 2), turn=0).url == "http://w1:1"


def test_least_inflight_rotates_among_equally_loaded_workers() -> None:
    pool = workers(1, 0, 0, 5)
    assert {pick_least_inflight(pool, turn).url for turn in range(4)} == {
        "http://w1:1",
        "http://w2:1",
    }


def test_power_of_two_never_picks_the_busier_of_two_workers() -> None:
    rng = random.Random(7)
    assert {pick_power_of_two(workers(9, 1), rng).url for _ in range(50)} == {"http://w1:1"}


def test_power_of_two_never_picks_the_busiest_of_several() -> None:
    rng = random.Random(7)
    picks = {pick_power_of_two(workers(0, 0, 0, 9), rng).url for _ in range(200)}
    assert "http://w3:1" not in picks
    assert len(picks) == 3


def test_random_eventually_picks_every_worker() -> None:
    rng = random.Random(1)
    assert len({pick_random(workers(0, 0, 0), rng).url for _ in range(100)}) == 3


@pytest.mark.parametrize("policy", list(BalancingPolicy))
def test_balancer_never_returns_a_worker_already_tried(policy: BalancingPolicy) -> None:
    balancer = Balancer(policy, random.Random(3))
    pool = workers(0, 0, 0)
    tried = {"http://w0:1", "http://w2:1"}
    assert {balancer.choose(pool, tried).url for _ in range(20)} == {"http://w1:1"}  # type: ignore[union-attr]


@pytest.mark.parametrize("policy", list(BalancingPolicy))
def test_balancer_returns_none_when_every_worker_was_tried(policy: BalancingPolicy) -> None:
    balancer = Balancer(policy, random.Random(3))
    pool = workers(0, 0)
    assert balancer.choose(pool, {worker.url for worker in pool}) is None
    assert balancer.choose([]) is None


@given(
    policy=st.sampled_from(list(BalancingPolicy)),
    loads=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8),
    tried_mask=st.lists(st.booleans(), min_size=8, max_size=8),
    seed=st.integers(),
)
def test_balancer_picks_an_untried_candidate_whenever_one_exists(
    policy: BalancingPolicy, loads: list[int], tried_mask: list[bool], seed: int
) -> None:
    pool = workers(*loads)
    tried = {worker.url for worker, skip in zip(pool, tried_mask, strict=False) if skip}
    chosen = Balancer(policy, random.Random(seed)).choose(pool, tried)
    untried = [worker for worker in pool if worker.url not in tried]
    if not untried:
        assert chosen is None
    else:
        assert chosen in untried
        if policy is BalancingPolicy.LEAST_INFLIGHT:
            assert chosen.inflight == min(worker.inflight for worker in untried)
