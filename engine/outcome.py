"""What happened to an agent attempt, as data: done, or failed for a classified reason.

The classes decide the policy (`engine.run.runner` applies it): transient failures are retried with
backoff, permanent ones are not, an authentication failure also stops new launches, a usage
limit pauses the whole run without spending an attempt. Pure: the inputs are the exit status,
the parsed stream and the tail of stderr; the clock is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from engine.agents.claude_stream import ClaudeStream, RateLimit
from engine.plan.settings import format_seconds


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
class Verdict:
    """How an attempt ended: no failure (done) or its failure class, with the reason in words."""

    failure: Failure | None
    reason: str
    rate_limit: RateLimit | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


DONE = Verdict(None, "")

_PERMANENT_STATUS = {400, 403, 404, 413}
_AUTH_TEXT = re.compile(
    r"invalid api key|authentication|not logged in|please run /login|oauth token|"
    r"x-api-key|unauthori[sz]ed|credit balance is too low",
    re.IGNORECASE,
)
_PERMANENT_TEXT = re.compile(
    r"prompt is too long|model.{0,40}(not found|does not exist|not available)|"
    r"invalid model|invalid_request_error|permission_error|not_found_error",
    re.IGNORECASE,
)
_LIMIT_EPOCH = re.compile(r"usage limit reached\|(\d{9,11})", re.IGNORECASE)
_LIMIT_CLOCK = re.compile(
    r"(?:limit reached|hit your [\w -]*limit)[^\n]{0,20}?resets\s+(?:at\s+)?"
    r"(?:(?P<month>[A-Z][a-z]{2})[a-z]*\.?\s+(?P<day>\d{1,2}),?\s+(?:at\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm)?(?:\s*\((?P<zone>[^)]+)\))?",
    re.IGNORECASE,
)
_SESSION_LOST = re.compile(r"no conversation found with session id", re.IGNORECASE)
_ROOT_REFUSED = re.compile(r"cannot be used with root/sudo privileges", re.IGNORECASE)
ROOT_BYPASS_HINT = (
    "Claude Code refuses permission mode bypassPermissions when run as root unless the "
    "environment holds IS_SANDBOX=1 exactly. Set IS_SANDBOX=1 (in a sandbox), run nova as "
    "another user, or use permission-mode acceptEdits with allowed-tools."
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_LIMIT_ANY = re.compile(r"usage limit reached|hit your [\w -]*limit|\d-hour limit reached", re.I)


_CLOCK_SLACK = timedelta(minutes=10)


def parse_limit_text(text: str, now: float) -> RateLimit | None:
    """A usage limit from the CLI's message text, for when no `rate_limit_event` came."""
    match = _LIMIT_EPOCH.search(text)
    if match:
        return RateLimit("rejected", float(match.group(1)), None)
    match = _LIMIT_CLOCK.search(text)
    if match:
        ampm = (match["ampm"] or "").lower()
        hour = int(match["hour"]) % 12 + (12 if ampm == "pm" else 0) if ampm else int(match["hour"])
        minute = int(match["minute"] or 0)
        current = datetime.fromtimestamp(now, _zone(match["zone"]))
        reset = current.replace(hour=hour % 24, minute=minute, second=0, microsecond=0)
        month = (match["month"] or "").lower()
        if month in _MONTHS and match["day"]:
            # "resets Nov 25, 5:28am": this year's date, unless that is months ago (seen on
            # Dec 30, "Jan 2" is next year's); a date just past means the limit is over.
            try:
                reset = reset.replace(month=_MONTHS.index(month) + 1, day=int(match["day"]))
                if current - reset > timedelta(days=180):
                    reset = reset.replace(year=reset.year + 1)
            except ValueError:  # "Feb 30", or Feb 29 of a year without one: no date then
                reset = current
        elif current - reset > _CLOCK_SLACK:
            # A clock time well past today is tomorrow's; one printed to the minute that
            # is this very minute (or a little behind a clock) is now, not in 24 hours.
            reset += timedelta(days=1)
        reset = max(reset, current)
        kind = None
        if re.search(r"5-hour|session", text, re.I):
            kind = "five_hour"
        elif re.search(r"weekly|7-day", text, re.I):
            kind = "seven_day"
        return RateLimit("rejected", reset.timestamp(), kind)
    if _LIMIT_ANY.search(text):
        return RateLimit("rejected", None, None)
    return None


def _zone(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # unknown zone names fall back to UTC rather than failing the run
        return UTC


def _stop_verdict(exit: Exit, limits: dict[str, float]) -> Verdict | None:
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


def classify_claude(
    exit: Exit,
    stream: ClaudeStream,
    stderr_tail: str,
    now: float,
    limits: dict[str, float] | None = None,
) -> Verdict:
    """Success means a final `result` with is_error false, a stop reason, and exit 0."""
    stopped = _stop_verdict(exit, limits or {})
    if stopped:
        return stopped
    result = stream.result
    errors = result.get("errors") if result else None
    error_texts = [str(e) for e in errors if e] if isinstance(errors, list) else []
    text = " ".join(
        t for t in (stream.result_text(), stream.api_error or "", stderr_tail, *error_texts) if t
    )
    if result is not None and not result.get("is_error") and exit.returncode == 0:
        # Checked before a `rejected` event: a reply can be served past the limit (overage).
        if result.get("stop_reason") is None:
            return Verdict(
                Failure.TRANSIENT, "the API stream was cut: the result has no stop reason"
            )
        return DONE
    event = stream.rate_limit
    # Under OAuth every 429 yields `rejected`; with neither reset nor window it is the server
    # throttling ("not your usage limit"), which a retry handles, not an hours-long pause.
    if event and event.status == "rejected" and (event.resets_at or event.limit_type):
        return Verdict(Failure.RATE_LIMIT, "usage limit reached", event)
    limit = parse_limit_text(text, now)
    if limit is not None:
        return Verdict(Failure.RATE_LIMIT, "usage limit reached", limit)
    if result is not None:
        subtype = str(result.get("subtype"))
        if subtype == "error_max_turns":
            return Verdict(Failure.INCOMPLETE, f"reached max turns ({result.get('num_turns')})")
        if subtype == "error_max_budget_usd":
            return Verdict(Failure.INCOMPLETE, "reached the task's max budget")
    if _SESSION_LOST.search(text):
        return Verdict(Failure.SESSION_LOST, "the session to continue was not found")
    if _ROOT_REFUSED.search(text):
        return Verdict(Failure.SETUP, ROOT_BYPASS_HINT)
    status = stream.api_error_status
    detail = _first_line(text) or f"exit code {exit.returncode}"
    if status == 401 or _AUTH_TEXT.search(text):
        return Verdict(Failure.AUTH, f"authentication failed: {detail}")
    prefix = f"API error {status}: " if status and str(status) not in detail else ""
    if status in _PERMANENT_STATUS or _PERMANENT_TEXT.search(text):
        return Verdict(Failure.PERMANENT, prefix + detail)
    if result is not None:
        return Verdict(Failure.TRANSIENT, prefix + detail)
    if exit.signal:
        return Verdict(Failure.TRANSIENT, f"the agent was killed by signal {exit.signal}")
    return Verdict(
        Failure.TRANSIENT,
        f"the agent exited with code {exit.returncode} without a final result"
        + (f": {detail}" if text else ""),
    )


def classify_command(
    exit: Exit, stream: ClaudeStream | None, stderr_tail: str, limits: dict[str, float] | None
) -> Verdict:
    """A command agent succeeds with exit 0 (and, if it spoke stream-json, a good result)."""
    stopped = _stop_verdict(exit, limits or {})
    if stopped:
        return stopped
    if stream is not None and stream.result is not None and stream.result.get("is_error"):
        event = stream.rate_limit
        if event and event.status == "rejected" and (event.resets_at or event.limit_type):
            return Verdict(Failure.RATE_LIMIT, "usage limit reached", event)
        return Verdict(Failure.TRANSIENT, _first_line(stream.result_text()) or "result is_error")
    if exit.returncode == 0:
        return DONE
    if exit.signal:
        return Verdict(Failure.TRANSIENT, f"the command was killed by signal {exit.signal}")
    detail = _first_line(stderr_tail)
    return Verdict(
        Failure.TRANSIENT,
        f"the command exited with code {exit.returncode}" + (f": {detail}" if detail else ""),
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            flat = " ".join(line.split())
            return flat if len(flat) <= 300 else flat[:299] + "…"
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
            return flat if len(flat) <= 300 else flat[:299] + "…"
    return ""
