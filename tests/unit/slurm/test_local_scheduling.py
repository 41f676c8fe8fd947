"""The local executor's pure decisions: which pending jobs start, why the others wait,
and where a job's output goes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sgorch.slurm.local import compute_pending_reason, decide_starts, render_output_path


def test_pending_jobs_start_in_submit_order_while_cpus_last() -> None:
    assert decide_starts([(1, 1), (2, 2), (3, 1)], free_cpus=3, budget=4) == [1, 2]


def test_a_job_that_does_not_fit_holds_back_every_later_job() -> None:
    assert decide_starts([(1, 3), (2, 1)], free_cpus=2, budget=4) == []


def test_a_job_above_the_whole_budget_holds_back_nothing() -> None:
    assert decide_starts([(1, 5), (2, 1), (3, 4)], free_cpus=4, budget=4) == [2]


@given(
    st.lists(st.integers(min_value=1, max_value=8), max_size=12),
    st.integers(min_value=1, max_value=8),
    st.data(),
)
def test_started_jobs_fit_the_free_cpus_and_are_a_fifo_prefix_of_the_startable_ones(
    sizes: list[int], budget: int, data: st.DataObject
) -> None:
    free = data.draw(st.integers(min_value=0, max_value=budget))
    pending = list(enumerate(sizes, start=1))
    starts = decide_starts(pending, free, budget)
    startable = [job_id for job_id, cpus in pending if cpus <= budget]
    assert sum(sizes[job_id - 1] for job_id in starts) <= free
    assert starts == startable[: len(starts)]
    if len(starts) < len(startable):
        blocked = startable[len(starts)]
        assert sizes[blocked - 1] > free - sum(sizes[job_id - 1] for job_id in starts)


def test_pending_reason_is_partition_config_only_for_an_impossible_request() -> None:
    assert compute_pending_reason(cpus=5, budget=4) == "PartitionConfig"
    assert compute_pending_reason(cpus=4, budget=4) == "Resources"


def test_output_path_substitutes_job_id_name_and_percent() -> None:
    assert render_output_path("/logs/%x-%j.out", 42, "cmd-a-0", "/work") == "/logs/cmd-a-0-42.out"
    assert render_output_path("/logs/100%%-%%j.out", 7, "n", "/work") == "/logs/100%-%j.out"


def test_output_path_keeps_patterns_it_does_not_know() -> None:
    assert render_output_path("/logs/%A_%a.out", 7, "n", "/work") == "/logs/%A_%a.out"


def test_a_relative_output_path_is_relative_to_the_working_directory() -> None:
    assert render_output_path("out/%j.log", 3, "n", "/work/dir") == "/work/dir/out/3.log"
