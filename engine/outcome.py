"""What happened to an agent attempt, as data: done, or failed for a classified reason.

The shared vocabulary of every agent kind and of the runner: the classes decide the policy
(`engine.run.policy`): transient failures are retried with backoff, permanent ones are not, an
authentication failure also stops new launches, a usage limit pauses the whole run without
spending an attempt. Each agent adapter (`engine.agents`) turns its own output into a
`Verdict`; what is here is the part every kind shares (how nova's own stops read, a check).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.formats import clip, format_seconds


class TaskStatus(StrEnum):
    """A task's status as `nova status` shows it and state.json records it."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class Failure(StrEnum):
    """Why an attempt failed: the class that decides whether, and when, it is tried again."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    AUTH = "auth"
    INCOMPLETE = "incomplete"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    STALLED = "stalled"
    CANCELLED = "cancelled"
    SESSION_LOST = "session_lost"  # the session to continue is gone: start afresh, no retry
    SETUP = "setup"  # how nova runs the agent cannot work: every task would fail alike
    RESOURCES = "resources"  # no process, descriptor or disk space to start it: wait
    CHECK = "check"  # the agent said done, the task's check command disagreed: retried

    @property
    def retryable(self) -> bool:
        return self in (Failure.TRANSIENT, Failure.STALLED, Failure.CHECK)

    @property
    def halts(self) -> bool:
        """No further task should start: it would fail the same way."""
        return self in (Failure.AUTH, Failure.SETUP)


class StopCause(StrEnum):
    """Why nova itself ended an agent, if it did."""

    CANCEL = "cancel"
    TIMEOUT = "timeout"
    STALL = "stall"


@dataclass(frozen=True)
class Exit:
    """How an agent process ended."""

    returncode: int | None
    stopped_by: StopCause | None = None
    duration: float = 0.0

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


@dataclass(frozen=True)
class RateLimit:
    """A usage-limit event or message: whether launches must stop, and until when."""

    status: str  # allowed | allowed_warning | rejected
    resets_at: float | None
    limit_type: str | None
    utilization: float | None = None


@dataclass(frozen=True)
class Verdict:
    """How an attempt ended: no failure (done) or its failure class, with the reason in words."""

    failure: Failure | None
    reason: str
    rate_limit: RateLimit | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


DONE = Verdict(None, "")


def stop_verdict(exit: Exit, limits: dict[str, float]) -> Verdict | None:
    """The verdict of an agent nova itself ended (the user's stop, a time limit), else None."""
    if exit.stopped_by is StopCause.CANCEL:
        return Verdict(Failure.CANCELLED, "stopped by the user")
    if exit.stopped_by is StopCause.TIMEOUT:
        return Verdict(Failure.TIMEOUT, f"timed out after {_seconds(limits.get('timeout'))}")
    if exit.stopped_by is StopCause.STALL:
        return Verdict(
            Failure.STALLED, f"no output for {_seconds(limits.get('stall_timeout'))}; ended it"
        )
    return None


def _seconds(value: float | None) -> str:
    return format_seconds(value) if value is not None else "its time limit"


def first_line(text: str) -> str:
    """The first line of `text` that is not blank, flattened and cut to 300 characters."""
    for line in text.splitlines():
        if line.strip():
            flat = " ".join(line.split())
            return clip(flat, 300)
    return ""


def check_verdict(exit: Exit, output_tail: str, timeout: float | None) -> Verdict:
    """A task's check command: exit 0 means the task is done; anything else is a `check`
    failure (retried, with the check's output for the agent), or the user's stop."""
    if exit.stopped_by is StopCause.CANCEL:
        return Verdict(Failure.CANCELLED, "stopped by the user during the check")
    if exit.returncode == 0 and exit.stopped_by is None:
        return DONE
    how = check_outcome(exit, timeout)
    last = _last_line(output_tail) if exit.stopped_by is None else ""
    return Verdict(Failure.CHECK, f"the check {how}" + (f": {last}" if last else ""))


def check_outcome(exit: Exit, timeout: float | None) -> str:
    """How a check that did not pass ended: `failed with exit code 1`, `timed out after 5m`."""
    if exit.stopped_by is StopCause.TIMEOUT:
        return f"timed out after {_seconds(timeout)}"
    if exit.signal:
        return f"was killed by signal {exit.signal}"
    return f"failed with exit code {exit.returncode}"


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            flat = " ".join(line.split())
            return clip(flat, 300)
    return ""
