"""Judging an agent attempt: success only with a good final result and exit 0, and each failure
classified (transient, permanent, auth, incomplete, usage limit, timeout, stall, cancel) the way
the Claude Code CLI actually fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.agents.claude.stream import ClaudeStream
from engine.agents.claude.verdict import classify_claude, parse_limit_text
from engine.agents.command import classify_command
from engine.outcome import DONE, Exit, Failure, StopCause, Verdict

# 2026-01-01 03:00:00 UTC, a fixed "now" for reset times given as a clock time.
NOW = datetime(2026, 1, 1, 3, 0, tzinfo=UTC).timestamp()


def stream_of(*events: dict[str, Any]) -> ClaudeStream:
    stream = ClaudeStream()
    for event in events:
        stream.feed(json.dumps(event).encode() + b"\n")
    return stream


def result(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 1,
        "result": "Done.",
        "stop_reason": "end_turn",
        "session_id": "s",
        "total_cost_usd": 0.01,
        "modelUsage": {},
    }
    event.update(overrides)
    return event


def synthetic(text: str) -> dict[str, Any]:
    return {
        "type": "assistant",
        "message": {
            "id": "x",
            "model": "<synthetic>",
            "content": [{"type": "text", "text": text}],
            "usage": {},
        },
    }


def rate_limit(
    status: str, resets: int | None = 1767236400, kind: str | None = "five_hour"
) -> dict[str, Any]:
    info: dict[str, Any] = {"status": status}
    if resets is not None:
        info["resetsAt"] = resets
    if kind is not None:
        info["rateLimitType"] = kind
    return {"type": "rate_limit_event", "rate_limit_info": info}


def classify(
    stream: ClaudeStream, code: int | None = 0, stderr: str = "", stopped: StopCause | None = None
) -> Any:
    return classify_claude(
        Exit(code, stopped), stream, stderr, NOW, {"timeout": 1800.0, "stall_timeout": 600.0}
    )


def test_result_without_error_and_exit_zero_is_done() -> None:
    """The one success shape: result, is_error false, a stop reason, exit 0."""
    verdict = classify(stream_of(result()))
    assert verdict == DONE
    assert verdict.ok


def test_permission_denials_are_not_failures() -> None:
    """Tools the run may not use show up in permission_denials, and the task is still done."""
    denied = [{"tool_name": "Bash", "tool_use_id": "t", "tool_input": {"command": "touch x"}}]
    assert classify(stream_of(result(permission_denials=denied))).ok


def test_api_400_with_subtype_success_is_permanent() -> None:
    """`subtype: success` with `is_error: true` and status 400 fails, and is not retried."""
    stream = stream_of(
        synthetic("API Error: 400 bad request"),
        result(is_error=True, api_error_status=400, result="API Error: 400 bad request"),
    )
    verdict = classify(stream, code=1)
    assert verdict.failure is Failure.PERMANENT
    assert not verdict.failure.retryable
    assert "400" in verdict.reason


@pytest.mark.parametrize("status", [403, 404, 413])
def test_other_immediate_client_errors_are_permanent(status: int) -> None:
    """403, 404 and 413 fail at once in the CLI; retrying cannot help."""
    stream = stream_of(result(is_error=True, api_error_status=status, result="API Error"))
    assert classify(stream, code=1).failure is Failure.PERMANENT


def test_api_401_is_an_authentication_failure() -> None:
    """A 401 stops further launches: every task would fail the same way."""
    stream = stream_of(
        result(is_error=True, api_error_status=401, result="API Error: 401 unauthorized")
    )
    verdict = classify(stream, code=1)
    assert verdict.failure is Failure.AUTH
    assert verdict.reason.startswith("authentication failed: ")


def test_invalid_api_key_text_is_an_authentication_failure() -> None:
    """ "Invalid API key" without a status is still an auth failure."""
    stream = stream_of(result(is_error=True, result="Invalid API key · Please run /login"))
    assert classify(stream, code=1).failure is Failure.AUTH


def test_invalid_api_key_on_stderr_without_result_is_an_authentication_failure() -> None:
    """When the CLI dies before a result, its stderr is read for the cause."""
    assert classify(ClaudeStream(), code=1, stderr="Invalid API key\n").failure is Failure.AUTH


@pytest.mark.parametrize("status", [529, 500, 502])
def test_overloaded_and_server_errors_are_transient(status: int) -> None:
    """5xx after the CLI's own retries is worth another attempt later."""
    stream = stream_of(
        result(is_error=True, api_error_status=status, result=f"API Error: {status} overloaded")
    )
    verdict = classify(stream, code=1)
    assert verdict.failure is Failure.TRANSIENT
    assert verdict.failure.retryable
    assert verdict.reason == f"API Error: {status} overloaded"


def test_stream_cut_with_null_stop_reason_is_transient_even_with_exit_zero() -> None:
    """A result with is_error false but no stop reason is a cut stream, not success."""
    stream = stream_of(result(stop_reason=None, result="Partial te"))
    verdict = classify(stream, code=0)
    assert verdict.failure is Failure.TRANSIENT
    assert verdict.reason == "the API stream was cut: the result has no stop reason"


def test_exit_zero_without_result_is_not_success() -> None:
    """SIGINT during an API call: exit 0 and no result line at all; that is a failure."""
    stream = stream_of({"type": "system", "subtype": "init", "session_id": "s", "model": "m"})
    verdict = classify(stream, code=0)
    assert not verdict.ok
    assert verdict.failure is Failure.TRANSIENT
    assert verdict.reason == "the agent exited with code 0 without a final result"


def test_good_result_with_nonzero_exit_is_not_success() -> None:
    """Exit code 1 after a clean-looking result still fails the attempt."""
    assert not classify(stream_of(result()), code=1).ok


def test_killed_by_signal_without_result_is_transient_and_names_the_signal() -> None:
    """A negative return code (killed) reads as the signal number."""
    verdict = classify(ClaudeStream(), code=-9)
    assert verdict.failure is Failure.TRANSIENT
    assert verdict.reason == "the agent was killed by signal 9"


def test_error_max_turns_is_incomplete() -> None:
    """Running out of turns is not a crash to retry blindly, and not a permanent error."""
    stream = stream_of(
        result(
            subtype="error_max_turns", is_error=True, num_turns=40, stop_reason=None, result=None
        )
    )
    verdict = classify(stream, code=1)
    assert verdict.failure is Failure.INCOMPLETE
    assert verdict.reason == "reached max turns (40)"
    assert not verdict.failure.retryable


def test_error_max_budget_is_incomplete() -> None:
    """Hitting the task's budget is incomplete work."""
    stream = stream_of(result(subtype="error_max_budget_usd", is_error=True, result=None))
    assert classify(stream, code=1).failure is Failure.INCOMPLETE


def test_rejected_rate_limit_event_pauses_with_the_event_reset_time() -> None:
    """The CLI's rate_limit_event gives the reset time directly."""
    stream = stream_of(
        rate_limit("rejected", resets=1767236400),
        result(is_error=True, result="You've hit your session limit · resets 4:38am (UTC)"),
    )
    verdict = classify(stream, code=1)
    assert verdict.failure is Failure.RATE_LIMIT
    assert verdict.rate_limit is not None
    assert verdict.rate_limit.resets_at == 1767236400.0
    assert verdict.rate_limit.limit_type == "five_hour"
    assert not verdict.failure.retryable


def test_rejected_event_with_neither_reset_nor_window_is_not_a_usage_limit() -> None:
    """A bare rejected event is server throttling: retried, not an hours-long pause."""
    stream = stream_of(
        rate_limit("rejected", resets=None, kind=None),
        result(is_error=True, api_error_status=429, result="API Error: 429"),
    )
    assert classify(stream, code=1).failure is Failure.TRANSIENT


def test_success_after_a_rejected_event_is_still_done() -> None:
    """A reply served past the limit (overage) is a finished task."""
    assert classify(stream_of(rate_limit("rejected"), result())).ok


def test_allowed_warning_event_does_not_fail_the_task() -> None:
    """A warning is information; the task's own result decides."""
    assert classify(stream_of(rate_limit("allowed_warning"), result())).ok


def test_usage_limit_text_with_epoch_gives_that_reset_time() -> None:
    """`Claude AI usage limit reached|<epoch>` (older CLIs) carries the reset as epoch seconds."""
    stream = stream_of(result(is_error=True, result="Claude AI usage limit reached|1767225600"))
    verdict = classify(stream, code=1)
    assert verdict.failure is Failure.RATE_LIMIT
    assert verdict.rate_limit is not None
    assert verdict.rate_limit.resets_at == 1767225600.0


def test_session_limit_text_with_clock_time_resets_today_when_still_ahead() -> None:
    """ "resets 4:38am (UTC)" at 03:00 UTC means 04:38 the same day."""
    stream = stream_of(
        result(is_error=True, result="You've hit your session limit · resets 4:38am (UTC)")
    )
    verdict = classify(stream, code=1)
    assert verdict.failure is Failure.RATE_LIMIT
    assert verdict.rate_limit is not None
    assert verdict.rate_limit.resets_at == datetime(2026, 1, 1, 4, 38, tzinfo=UTC).timestamp()
    assert verdict.rate_limit.limit_type == "five_hour"


def test_limit_text_without_event_on_stderr_is_a_usage_limit() -> None:
    """When no result came, the message on stderr is enough to pause."""
    verdict = classify(ClaudeStream(), code=1, stderr="5-hour limit reached ∙ resets 5am\n")
    assert verdict.failure is Failure.RATE_LIMIT
    assert verdict.rate_limit is not None
    assert verdict.rate_limit.resets_at == datetime(2026, 1, 1, 5, 0, tzinfo=UTC).timestamp()


def test_clock_time_already_past_today_resets_tomorrow() -> None:
    """ "resets 2am" seen at 03:00 means 02:00 the next day."""
    limit = parse_limit_text("5-hour limit reached ∙ resets 2am", NOW)
    assert limit is not None
    assert limit.resets_at == datetime(2026, 1, 2, 2, 0, tzinfo=UTC).timestamp()


def test_pm_clock_time_and_named_time_zone() -> None:
    """ "resets 4:30pm (Europe/Berlin)" is 15:30 UTC in winter."""
    limit = parse_limit_text("You've hit your weekly limit · resets 4:30pm (Europe/Berlin)", NOW)
    assert limit is not None
    assert limit.resets_at == datetime(2026, 1, 1, 15, 30, tzinfo=UTC).timestamp()


def test_twelve_am_and_twelve_pm_are_midnight_and_noon() -> None:
    """12am is 00:00 (tomorrow, seen at 03:00) and 12pm is 12:00."""
    midnight = parse_limit_text("usage limit reached · resets 12am", NOW)
    noon = parse_limit_text("usage limit reached · resets 12pm", NOW)
    assert midnight is not None
    assert noon is not None
    assert midnight.resets_at == datetime(2026, 1, 2, 0, 0, tzinfo=UTC).timestamp()
    assert noon.resets_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()


def test_limit_text_without_a_time_is_a_limit_with_unknown_reset() -> None:
    """ "usage limit reached" alone still pauses; nova picks the wait."""
    limit = parse_limit_text("Claude usage limit reached. Try again later.", NOW)
    assert limit is not None
    assert limit.status == "rejected"
    assert limit.resets_at is None


def test_text_that_merely_mentions_limits_is_not_a_usage_limit() -> None:
    """An agent's normal words about rate limiting do not pause the run."""
    assert (
        parse_limit_text("Implemented the rate limit middleware; resets at 5am daily.", NOW) is None
    )


@pytest.mark.parametrize(
    ("cause", "failure", "reason"),
    [
        (StopCause.CANCEL, Failure.CANCELLED, "stopped by the user"),
        (StopCause.TIMEOUT, Failure.TIMEOUT, "timed out after 30m"),
        (StopCause.STALL, Failure.STALLED, "no output for 10m; ended it"),
    ],
)
def test_stops_by_nova_override_whatever_the_agent_printed(
    cause: StopCause, failure: Failure, reason: str
) -> None:
    """When nova ended the agent, that is the verdict, even if a result slipped out."""
    verdict = classify(stream_of(result()), code=-15, stopped=cause)
    assert (verdict.failure, verdict.reason) == (failure, reason)


def test_only_transient_stalled_and_check_failures_are_retryable() -> None:
    """Retrying a permanent, auth, incomplete, limit, timeout or cancelled failure is wrong; a
    failed check is retried, with its output for the agent."""
    assert {f for f in Failure if f.retryable} == {
        Failure.TRANSIENT,
        Failure.STALLED,
        Failure.CHECK,
    }


def test_timeout_without_a_configured_limit_still_reads_well() -> None:
    """A timeout verdict without limits says 'its time limit'."""
    verdict = classify_claude(Exit(-15, StopCause.TIMEOUT), ClaudeStream(), "", NOW)
    assert verdict.reason == "timed out after its time limit"


def test_exit_signal_property() -> None:
    """Exit.signal is the signal number for negative return codes only."""
    assert Exit(-9).signal == 9
    assert Exit(1).signal is None
    assert Exit(None).signal is None


# ---- command agents --------------------------------------------------------------------------


def test_command_exit_zero_is_done() -> None:
    """A plain command succeeds by exiting 0."""
    assert classify_command(Exit(0), None, "", None) == DONE


def test_command_nonzero_exit_is_transient_with_stderr() -> None:
    """A failing command is retried; the first stderr line explains it."""
    verdict = classify_command(Exit(3), None, "\n  boom: disk full  \nmore\n", None)
    assert verdict.failure is Failure.TRANSIENT
    assert verdict.reason == "the command exited with code 3: boom: disk full"


def test_command_killed_by_signal_names_it() -> None:
    """A command killed from outside reports the signal."""
    verdict = classify_command(Exit(-11), None, "", None)
    assert verdict.failure is Failure.TRANSIENT
    assert verdict.reason == "the command was killed by signal 11"


def test_command_speaking_stream_json_with_error_result_fails_despite_exit_zero() -> None:
    """A command that prints a stream-json result with is_error fails even with exit 0."""
    stream = stream_of(result(is_error=True, result="it broke"))
    verdict = classify_command(Exit(0), stream, "", None)
    assert verdict.failure is Failure.TRANSIENT
    assert verdict.reason == "it broke"


def test_command_stopped_by_timeout() -> None:
    """nova's own stop wins for commands too."""
    verdict = classify_command(Exit(-15, StopCause.TIMEOUT), None, "", {"timeout": 90.0})
    assert (verdict.failure, verdict.reason) == (Failure.TIMEOUT, "timed out after 1m30s")


def test_a_session_the_cli_cannot_find_is_its_own_class() -> None:
    """`--resume` of a session the CLI no longer has (error_during_execution, the message in
    `errors` and on stderr) is SESSION_LOST: the runner starts afresh instead of retrying."""
    lost = "No conversation found with session ID: 1111"
    stream = stream_of(
        result(
            subtype="error_during_execution",
            is_error=True,
            stop_reason=None,
            num_turns=0,
            result=None,
            errors=[lost],
        )
    )
    verdict = classify_claude(Exit(1), stream, "", NOW)
    assert verdict.failure is Failure.SESSION_LOST
    assert classify_claude(Exit(1), ClaudeStream(), lost + "\n", NOW).failure is (
        Failure.SESSION_LOST
    )


def test_root_refusing_bypass_permissions_halts_with_the_fix() -> None:
    """The CLI's refusal of bypassPermissions as root is a set-up failure that halts the run
    and names IS_SANDBOX=1, not a passing failure retried for every task."""
    said = (
        "--dangerously-skip-permissions cannot be used with root/sudo privileges for "
        "security reasons\n"
    )
    verdict = classify_claude(Exit(1), ClaudeStream(), said, NOW)
    assert verdict.failure is Failure.SETUP
    assert verdict.failure.halts
    assert not verdict.failure.retryable
    assert "IS_SANDBOX=1" in verdict.reason


def test_a_reset_printed_for_this_very_minute_is_now_not_tomorrow() -> None:
    """ "resets 3:00am" seen at 03:00:20 (the CLI prints minutes) waits seconds, not a day."""
    limit = parse_limit_text("You've hit your session limit · resets 3am (UTC)", NOW + 20)
    assert limit is not None
    assert limit.resets_at is not None
    assert 0 <= limit.resets_at - (NOW + 20) < 60


def test_a_dated_reset_just_past_is_now_and_one_months_ago_is_next_year() -> None:
    """ "resets Jan 1, 2:30am" seen on Jan 1 at 03:00 is over; "Dec 31" seen then is too,
    and "Jan 1" seen on Dec 30 of the year before is two days ahead, not 363 days behind."""
    past = parse_limit_text("You've hit your weekly limit · resets Jan 1, 2:30am (UTC)", NOW)
    assert past is not None
    assert past.resets_at == NOW
    ahead_now = datetime(2025, 12, 30, 3, 0, tzinfo=UTC).timestamp()
    ahead = parse_limit_text("You've hit your weekly limit · resets Jan 1, 2:30am (UTC)", ahead_now)
    assert ahead is not None
    assert ahead.resets_at == datetime(2026, 1, 1, 2, 30, tzinfo=UTC).timestamp()


def test_an_impossible_reset_date_does_not_break_classification() -> None:
    """ "resets Feb 30" cannot be a date: still a usage limit, never an exception."""
    limit = parse_limit_text("You've hit your weekly limit · resets Feb 30, 2am (UTC)", NOW)
    assert limit is not None
    assert limit.status == "rejected"


def test_check_verdicts_name_how_the_check_ended_and_its_last_line() -> None:
    from engine.outcome import check_verdict

    tail = "collecting\n\nFAILED tests/test_a.py::test_x - assert 1 == 2\n\n"
    assert check_verdict(Exit(0), tail, 60.0).ok
    assert check_verdict(Exit(1), tail, 60.0) == Verdict(
        Failure.CHECK,
        "the check failed with exit code 1: FAILED tests/test_a.py::test_x - assert 1 == 2",
    )
    assert check_verdict(Exit(-9), "", 60.0) == Verdict(
        Failure.CHECK, "the check was killed by signal 9"
    )
    assert check_verdict(Exit(-15, StopCause.TIMEOUT), tail, 90.0) == Verdict(
        Failure.CHECK, "the check timed out after 1m30s"
    )
    stopped = check_verdict(Exit(-2, StopCause.CANCEL), tail, 90.0)
    assert stopped.failure is Failure.CANCELLED
    assert Failure.CHECK.retryable
    assert not Failure.CHECK.halts


def test_check_feedback_keeps_the_end_of_long_output() -> None:
    from engine.plan.prompt import CHECK_OUTPUT_CHARS, check_feedback

    told = check_feedback("pytest -q", "failed with exit code 1", "x" * 10_000 + "\nLAST")
    assert told.startswith(
        "The check that decides whether this task is done, `pytest -q`, failed with exit code "
        "1 after your last attempt. The end of its output:"
    )
    assert told.rstrip().endswith("LAST\n```")
    assert len(told) < CHECK_OUTPUT_CHARS + 300
    assert check_feedback("true", "failed with exit code 1", " \n").endswith(
        "It printed nothing.\n"
    )
