"""The failure policy's pure decisions (engine.run.policy), as tables: no clock, no runner."""

from __future__ import annotations

import pytest

from engine.run.policy import LIMIT_UNKNOWN_WAIT, limit_wait

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("resets_at", "repeats", "until", "says"),
    [
        # A reset well ahead: the reset plus the margin, nothing to explain.
        (NOW + 600, 0, NOW + 610, ""),
        # A reset already past (stale, or another clock): the minimum from now.
        (NOW - 3600, 0, NOW + 60, "its reset time is past or near"),
        # A reset a moment ahead, closer than the minimum: still the minimum.
        (NOW + 5, 0, NOW + 60, "its reset time is past or near"),
        # No reset known: the unknown wait.
        (None, 0, NOW + LIMIT_UNKNOWN_WAIT, ""),
        # Came back once, twice, three times right after its wait: 2x, 4x, 8x the minimum.
        (NOW - 10, 1, NOW + 120, "came back right after its wait (once)"),
        (NOW - 10, 2, NOW + 240, "(2 times in a row)"),
        (NOW - 10, 3, NOW + 480, "(3 times in a row)"),
        # However often it comes back, never more than the ceiling...
        (NOW - 10, 30, NOW + 3600, "up to 60 min"),
        # ...unless the reset itself is later still.
        (NOW + 7200, 30, NOW + 7210, "came back"),
    ],
)
def test_a_usage_limit_waits_at_least_the_minimum_and_doubles_when_it_comes_back(
    resets_at: float | None, repeats: int, until: float, says: str
) -> None:
    wait = limit_wait(resets_at, NOW, repeats, margin=10.0, minimum=60.0, ceiling=3600.0)
    assert wait.until == pytest.approx(until)
    assert wait.repeats == repeats
    assert says in wait.why
    if not says:
        assert wait.why == ""


def test_a_zero_minimum_still_never_waits_for_a_time_already_past() -> None:
    """With the minimum set to 0 (tests), a past reset waits until now, not before it."""
    wait = limit_wait(NOW - 100, NOW, 0, margin=0.0, minimum=0.0)
    assert wait.until == NOW
