"""Pure pieces of the proxy: retry backoff and the SSE error event."""

from __future__ import annotations

import json
import random

from hypothesis import given
from hypothesis import strategies as st

from sgorch.router._proxy import compute_backoff_s, render_sse_error


@given(
    retry=st.integers(min_value=1, max_value=30),
    base_s=st.floats(min_value=0, max_value=2),
    extra_s=st.floats(min_value=0, max_value=5),
    seed=st.integers(),
)
def test_backoff_is_jittered_below_the_exponential_bound_and_the_cap(
    retry: int, base_s: float, extra_s: float, seed: int
) -> None:
    cap_s = base_s + extra_s
    delay = compute_backoff_s(retry, base_s=base_s, cap_s=cap_s, rng=random.Random(seed))
    assert 0 <= delay <= min(cap_s, base_s * 2 ** (retry - 1))


def test_backoff_grows_with_each_retry_on_average() -> None:
    rng = random.Random(0)

    def mean(retry: int) -> float:
        return (
            sum(compute_backoff_s(retry, base_s=0.1, cap_s=10, rng=rng) for _ in range(2000)) / 2000
        )

    assert mean(1) < mean(2) < mean(3)


def test_sse_error_event_is_a_complete_event_with_an_openai_style_error() -> None:
    event = render_sse_error("worker died", "worker_failed", "req-1")
    assert event.startswith(b"event: error\ndata: ")
    assert event.endswith(b"\n\n")
    assert event.count(b"\n\n") == 1
    payload = json.loads(event.split(b"data: ", 1)[1])
    assert payload == {
        "error": {
            "message": "worker died",
            "type": "worker_failed",
            "code": 502,
            "request_id": "req-1",
        }
    }
