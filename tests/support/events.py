"""Reading a parser's events as the runner does, for tests of what a line says."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from engine.agents.base import Ignored, Notice, SessionStarted, Text

P = TypeVar("P")


class Reading(Generic[P]):
    """A parser whose `feed` gives the log lines of a line (its `Text` events, prefixed), while
    its notices, what it ignored and the sessions it named pile up for the test to look at."""

    def __init__(self, parser: P) -> None:
        self.parser = parser
        self.notices: list[str] = []
        self.warnings: list[str] = []
        self.sessions: list[str] = []

    def feed(self, line: bytes) -> list[str]:
        out: list[str] = []
        for event in self.parser.feed(line):  # type: ignore[attr-defined]
            if isinstance(event, Text):
                out.extend(event.prefix + line for line in event.lines)
            elif isinstance(event, Notice):
                self.notices.append(event.text)
            elif isinstance(event, Ignored):
                self.warnings.append(event.text)
            elif isinstance(event, SessionStarted):
                self.sessions.append(event.session_id)
            else:  # an event no test knows: fail, not pass it over
                raise AssertionError(f"unknown event {event!r}")
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)
