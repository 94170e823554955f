"""engine.formats: durations as a person writes and reads them, and text cut to a limit."""

from __future__ import annotations

import pytest

from engine.formats import clip, format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.25, "0.2s"),
        (59.9, "59.9s"),
        (60, "1m00s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (90061, "25h01m"),
    ],
)
def test_durations_read_like_a_person_writes_them(seconds: float | None, text: str) -> None:
    """format_duration picks seconds, minutes or hours."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven char", 10, "eleven ch…"),
        ("cut at a space here", 8, "cut at…"),  # no space before the ellipsis
        ("abc", 1, "…"),
        ("abc", 0, ""),
    ],
)
def test_clip_keeps_short_text_and_marks_a_cut(text: str, limit: int, shown: str) -> None:
    """A text within the limit is itself; a longer one is cut to fit, the cut marked."""
    assert clip(text, limit) == shown
    assert len(clip(text, limit)) <= limit
