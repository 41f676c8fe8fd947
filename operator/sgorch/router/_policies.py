"""Balancing policies: pure functions that pick one worker among eligible candidates.

They know nothing of HTTP; the proxy filters out workers that cannot serve or were
already tried for this request, then asks a ``Balancer`` to pick among the rest.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import Protocol, TypeVar

from .config import BalancingPolicy

__all__ = [
    "Balancer",
    "pick_least_inflight",
    "pick_power_of_two",
    "pick_random",
    "pick_round_robin",
]


class Candidate(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def inflight(self) -> int: ...


C = TypeVar("C", bound=Candidate)


def pick_round_robin(candidates: Sequence[C], turn: int) -> C:
    return candidates[turn % len(candidates)]


def pick_random(candidates: Sequence[C], rng: random.Random) -> C:
    return rng.choice(candidates)


def pick_least_inflight(candidates: Sequence[C], turn: int) -> C:
    """The candidate with the fewest requests in flight; ties rotate with ``turn``.

    Rotating among ties spreads a light load instead of always hitting the first worker.
    """
    fewest = min(candidate.inflight for candidate in candidates)
    tied = [candidate for candidate in candidates if candidate.inflight == fewest]
    return tied[turn % len(tied)]


def pick_power_of_two(candidates: Sequence[C], rng: random.Random) -> C:
    """The less loaded of two distinct candidates drawn at random."""
    if len(candidates) == 1:
        return candidates[0]
    first, second = rng.sample(candidates, 2)
    return second if second.inflight < first.inflight else first


class Balancer:
    """Applies one policy, holding the turn counter and random source it needs."""

    def __init__(self, policy: BalancingPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng
        self._turn = 0

    def choose(self, candidates: Sequence[C], tried: Collection[str] = ()) -> C | None:
        """Pick one candidate whose URL is not in ``tried``; None when none is left."""
        eligible = [candidate for candidate in candidates if candidate.url not in tried]
        if not eligible:
            return None
        self._turn += 1
        match self._policy:
            case BalancingPolicy.ROUND_ROBIN:
                return pick_round_robin(eligible, self._turn)
            case BalancingPolicy.RANDOM:
                return pick_random(eligible, self._rng)
            case BalancingPolicy.LEAST_INFLIGHT:
                return pick_least_inflight(eligible, self._turn)
            case BalancingPolicy.POWER_OF_TWO:
                return pick_power_of_two(eligible, self._rng)
