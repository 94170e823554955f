"""Decisions of the failure policy that are pure functions of a verdict, the history and the time.

No clock is read here and nothing is scheduled: the runner passes `now` in and acts on the
answer, so every case is tested as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

# A usage limit always waits at least this long from now: a `resetsAt` already past (a stale
# value, a clock that differs from the API's, a limit that holds a moment after its reset)
# must not relaunch at once, again and again, against a rejecting account.
LIMIT_MIN_WAIT = 60.0
# Without a reset time the limit's window is unknown; five-hour windows are common.
LIMIT_UNKNOWN_WAIT = 15 * 60.0
# A limit that comes back right after its wait waits twice as long each time, up to this.
LIMIT_MAX_WAIT = 60 * 60.0


@dataclass(frozen=True, slots=True)
class LimitWait:
    """How long a usage limit holds launches: until `until`; `repeats` is how many times in a
    row it came back right after its wait (0 the first time); `why` says so, or is empty."""

    until: float
    repeats: int
    why: str = ""


def limit_wait(
    resets_at: float | None,
    now: float,
    repeats: int,
    margin: float,
    minimum: float = LIMIT_MIN_WAIT,
    ceiling: float = LIMIT_MAX_WAIT,
) -> LimitWait:
    """When to launch again after a usage limit rejected an attempt.

    `repeats` counts the limits in a row that rejected an attempt started after the last wait
    ended (the limit came straight back). The wait is the reset plus `margin`, never less than
    `minimum` from now, and from the first repeat on at least `minimum` * 2**repeats from now,
    capped at `ceiling` (or the reset plus margin, if that is later still).
    """
    minimum = max(0.0, minimum)
    floor = minimum
    if repeats > 0:
        floor = min(max(ceiling, minimum), minimum * 2.0**repeats)
    planned = resets_at + margin if resets_at is not None else now + LIMIT_UNKNOWN_WAIT
    until = max(planned, now + floor)
    why = ""
    if repeats > 0:
        times = "once" if repeats == 1 else f"{repeats} times in a row"
        why = (
            f"the usage limit came back right after its wait ({times}): waiting "
            f"{_span(until - now)} this time, twice as long each time it comes back, up to "
            f"{_span(max(ceiling, minimum))}"
        )
    elif resets_at is not None and resets_at + margin < now + minimum:
        why = (
            f"its reset time is past or near; waiting at least {_span(minimum)} before trying again"
        )
    return LimitWait(until, repeats, why)


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"
