"""engine.interrupt: what a SIGINT does once nova's entry point has taken it (in-process, with
the signal raised for real and the previous handler put back after each test)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import pytest

from engine import interrupt


@pytest.fixture(autouse=True)
def _taken() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGINT)
    interrupt.reset()
    interrupt.install()
    yield
    signal.signal(signal.SIGINT, previous)
    interrupt.reset()


def test_a_sigint_raises_once_and_a_second_one_soon_after_is_only_recorded() -> None:
    """The second Ctrl-C must not break the exit the first one started with a traceback."""
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    signal.raise_signal(signal.SIGINT)
    assert interrupt.requested()


def test_a_sigint_raises_again_once_the_first_one_was_swallowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A KeyboardInterrupt that did not end nova in time was lost: `status --watch` must still
    stop on the next Ctrl-C."""
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    monkeypatch.setattr(interrupt, "SWALLOWED_AFTER", 0.0)
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


def test_a_deferred_sigint_is_only_recorded() -> None:
    assert not interrupt.requested()
    with interrupt.deferred():
        signal.raise_signal(signal.SIGINT)
    assert interrupt.requested()


def test_a_recorded_sigint_makes_the_exit_130_even_when_the_command_succeeded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever swallowed the KeyboardInterrupt, the exit code says the user stopped nova."""
    with interrupt.deferred():
        signal.raise_signal(signal.SIGINT)
    monkeypatch.setattr(sys, "argv", ["nova", "--version"])
    with pytest.raises(SystemExit) as info:
        interrupt.main()
    assert info.value.code == 130
    assert "nova" in capsys.readouterr().out


def test_the_entry_point_exits_130_quietly_on_a_keyboard_interrupt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C inside a command (click makes it Abort): 130, and no 'Aborted.'."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("engine.cli.commands._show_status", interrupted)
    monkeypatch.setattr(sys, "argv", ["nova", "status"])
    with pytest.raises(SystemExit) as info:
        interrupt.main()
    assert info.value.code == 130
    assert "Aborted" not in capsys.readouterr().err
