"""Splitting an agent's output into lines (engine.attempt.LineSplitter): lines across chunks,
a last line without a newline, and lines too long to hold."""

from __future__ import annotations

from engine.attempt import LineSplitter


def split(chunks: list[bytes], limit: int = 1 << 20) -> tuple[list[bytes], int]:
    splitter = LineSplitter(limit)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.finish(), splitter.dropped


def test_lines_are_whole_whatever_the_chunks() -> None:
    """A line split over several reads comes out once, whole, without its newline."""
    assert split([b"ab", b"c\nde", b"f\n\ng", b"h\n"]) == ([b"abc", b"def", b"", b"gh"], 0)


def test_a_last_line_without_newline_is_kept() -> None:
    """Output that does not end with a newline still yields its last line at the end."""
    assert split([b"one\ntw", b"o"]) == ([b"one", b"two"], 0)


def test_a_line_longer_than_the_limit_is_dropped_and_the_next_ones_are_kept() -> None:
    """A line past the limit is not held in memory; the lines around it come out intact."""
    chunks = [b"before\n", b"x" * 40, b"x" * 40, b"x" * 40 + b"\nafter\n", b"y" * 200]
    assert split(chunks, limit=100) == ([b"before", b"after"], 2)


def test_a_too_long_line_ending_in_the_same_chunk_as_its_start_of_holding() -> None:
    """The end of a dropped line never shows up as a line of its own."""
    assert split([b"a" * 150, b"tail\nnext\n"], limit=100) == ([b"next"], 1)


def test_a_log_footer_names_the_signal_that_ended_the_agent() -> None:
    from engine.logs import format_footer

    stopped = format_footer("cancelled", "stopped by the user", -2, 1.5, {}, None, 0.0)
    assert "\nkilled by SIGINT · 1.5s · ended " in stopped
    assert "\nexit 3 · " in format_footer("failed", "", 3, 0.1, {}, None, 0.0)
    assert "\nkilled by signal 99 · " in format_footer("failed", "", -99, 0.1, {}, None, 0.0)
