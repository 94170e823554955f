"""Fixtures for tests that run the real Claude Code CLI against the Messages API double."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.claude_cli import INSTALL_HINT, find_claude  # noqa: E402
from tests.support.messages_double import MessagesDouble, Scenario  # noqa: E402


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """Path of the real claude binary; skips the test when it is not installed."""
    path = find_claude()
    if path is None:
        pytest.skip(f"Claude Code CLI not found: {INSTALL_HINT}")
    return path


@pytest.fixture
def messages_double() -> Iterator[Callable[..., MessagesDouble]]:
    """Factory: messages_double(script) -> a started MessagesDouble, closed after the test."""
    started: list[MessagesDouble] = []

    def start(script: Mapping[str, Scenario] | None = None) -> MessagesDouble:
        double = MessagesDouble(script).start()
        started.append(double)
        return double

    yield start
    for double in started:
        double.close()
