"""Claude Code's failures, classified: what an exit, its stream and its stderr add up to.

Pure: the inputs are the exit status, the parsed stream and the tail of stderr; the clock is
passed in. The rules follow observed CLI behaviour (`shared/claude-code.md`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from engine.agents.claude.stream import ClaudeStream
from engine.outcome import DONE, Exit, Failure, RateLimit, Verdict, first_line, stop_verdict

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


def classify_claude(
    exit: Exit,
    stream: ClaudeStream,
    stderr_tail: str,
    now: float,
    limits: dict[str, float] | None = None,
) -> Verdict:
    """Success means a final `result` with is_error false, a stop reason, and exit 0."""
    stopped = stop_verdict(exit, limits or {})
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
    detail = first_line(text) or f"exit code {exit.returncode}"
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
