"""Fixtures of the end-to-end tests: the real Claude Code CLI, the Messages API double, and
cleaning up after a test whose nova left processes behind."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.agents.harness import end_tagged  # noqa: E402
from tests.support.claude_cli import INSTALL_HINT, find_claude  # noqa: E402
from tests.support.messages_double import MessagesDouble, Scenario  # noqa: E402
from tests.support.nova_run import NovaProject  # noqa: E402


@pytest.fixture(autouse=True)
def _end_leftovers(tmp_path: Path) -> Iterator[None]:
    """After each test, end anything its nova left running (only matters when a test fails)."""
    yield
    end_tagged(tmp_path)


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """Path of the real claude binary; skips the test when it is not installed.

    With NOVA_REQUIRE_CLAUDE=1 (as CI sets it) a missing binary fails the test instead, so
    the tests that need it can never pass by being skipped.
    """
    path = find_claude()
    if path is None:
        message = f"Claude Code CLI not found: {INSTALL_HINT}"
        if os.environ.get("NOVA_REQUIRE_CLAUDE") == "1":
            pytest.fail(f"{message} (NOVA_REQUIRE_CLAUDE=1 requires it)", pytrace=False)
        pytest.skip(message)
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


@pytest.fixture
def nova_project(tmp_path: Path, claude_bin: str) -> NovaProject:
    """A temporary project to run `nova` in with the real CLI; point it at a double with .use()."""
    return NovaProject(tmp_path, claude_bin)
