"""Ages print like kubectl's; timeouts parse the way people type them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgorch.views.durations import format_age, parse_duration_s


@pytest.mark.parametrize(
    ("seconds", "age"),
    [
        (-5, "<invalid>"),
        (-0.5, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (180, "3m"),
        (200, "3m20s"),
        (15 * 60, "15m"),
        (179 * 60, "179m"),
        (2 * 3600, "120m"),
        (4 * 3600, "4h"),
        (4 * 3600 + 5 * 60, "4h5m"),
        (30 * 3600, "30h"),
        (5 * 86400, "5d"),
        (5 * 86400 + 3 * 3600, "5d3h"),
        (40 * 86400, "40d"),
        (3 * 365 * 86400 + 2 * 86400, "3y2d"),
        (10 * 365 * 86400, "10y"),
    ],
)
def test_ages_are_formatted_like_kubectl(seconds: float, age: str) -> None:
    assert format_age(seconds) == age


@given(st.floats(min_value=0, max_value=50 * 365 * 86400))
def test_an_age_is_short_and_made_of_numbers_and_units(seconds: float) -> None:
    age = format_age(seconds)
    assert 2 <= len(age) <= 7
    assert age[0].isdigit() and age[-1] in "smhdy"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("500ms", 0.5),
        ("90", 90),
        ("0.25", 0.25),
        ("0", 0),
        (" 5M ", 300),
    ],
)
def test_timeouts_accept_units_and_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "10x", "-5", "5s-", "1h 30m", "inf", "nan", "m"])
def test_a_bad_timeout_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s(text)
