"""Reading Claude Code's stream-json: session and model, tokens counted once per message, the
final modelUsage and cost as the truth, API errors, retries, usage-limit events, the log lines a
person reads, and never an exception on a line nova does not understand.

The lines follow /work/shared/claude-code.md and tests/support/CLAUDE_FINDINGS.md (CLI 2.1.197).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from engine.agents.claude.stream import ClaudeStream, describe_tool_call
from engine.agents.claude.transcript import transcript_slug, transcript_tokens, transcript_usage
from engine.agents.claude.verdict import classify_claude
from engine.observe.usage import Tokens
from engine.outcome import DONE, Exit, Failure
from engine.text import short
from tests.support.events import Reading

SESSION = "0f4c6a52-8d7e-4b0e-9a51-3c1f2d9e7a10"


def line(event: dict[str, Any]) -> bytes:
    """One stream-json line as the CLI writes it (compact JSON, type first, newline)."""
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def init(model: str = "claude-sonnet-5") -> dict[str, Any]:
    return {
        "type": "system",
        "subtype": "init",
        "cwd": "/tmp/work",
        "session_id": SESSION,
        "tools": ["Bash", "Edit", "Read"],
        "mcp_servers": [],
        "model": model,
        "permissionMode": "acceptEdits",
        "apiKeySource": "ANTHROPIC_API_KEY",
        "claude_code_version": "2.1.197",
        "output_style": "default",
        "uuid": "u-1",
    }


def usage(inp: int, out: int, cache_read: int = 0, cache_creation: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_creation,
        "service_tier": "standard",
    }


def assistant(
    msg_id: str, content: list[dict[str, Any]], u: dict[str, Any], model: str = "claude-sonnet-5"
) -> dict[str, Any]:
    return {
        "type": "assistant",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": u,
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "uuid": f"u-{msg_id}",
    }


def tool_result(tool_id: str, content: Any, is_error: bool = False) -> dict[str, Any]:
    return {
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {
                    "tool_use_id": tool_id,
                    "type": "tool_result",
                    "content": content,
                    "is_error": is_error,
                },
            ],
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "tool_use_result": {
            "stdout": content if isinstance(content, str) else "",
            "stderr": "",
            "interrupted": False,
        },
    }


def model_usage(
    inp: int, out: int, cache_read: int, cache_creation: int, cost: float
) -> dict[str, Any]:
    return {
        "inputTokens": inp,
        "outputTokens": out,
        "cacheReadInputTokens": cache_read,
        "cacheCreationInputTokens": cache_creation,
        "webSearchRequests": 0,
        "costUSD": cost,
        "contextWindow": 200000,
        "maxOutputTokens": 64000,
    }


def result(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 2650,
        "duration_api_ms": 2400,
        "num_turns": 2,
        "result": "Created types.py.",
        "stop_reason": "end_turn",
        "session_id": SESSION,
        "total_cost_usd": 0.01416,
        "usage": usage(120, 80, 0, 0),
        "modelUsage": {"claude-sonnet-5": model_usage(2100, 230, 1800, 400, 0.01416)},
        "permission_denials": [],
        "terminal_reason": "completed",
        "uuid": "u-r",
    }
    event.update(overrides)
    return event


def feed_all(stream: ClaudeStream, events: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for event in events:
        out += stream.feed(line(event))
    return out


TEXT_AND_TOOL = [
    assistant(
        "msg_01", [{"type": "text", "text": "I'll create the file."}], usage(1000, 1, 900, 200)
    ),
    assistant(
        "msg_01",
        [
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "Bash",
                "input": {"command": "touch types.py", "description": "make it"},
            }
        ],
        usage(1000, 1, 900, 200),
    ),
    tool_result("toolu_1", "created\nline two\nline three"),
    assistant("msg_02", [{"type": "text", "text": "Done."}], usage(1100, 1, 900, 200)),
]


def test_init_sets_session_model_version_and_permission_mode() -> None:
    """The system/init line tells nova the session to resume and the model used."""
    stream = Reading(ClaudeStream())
    out = stream.feed(line(init("claude-opus-4-8[1m]")))
    assert stream.session_id == SESSION
    assert stream.model == "claude-opus-4-8[1m]"
    assert stream.version == "2.1.197"
    assert stream.permission_mode == "acceptEdits"
    assert out == [
        f"session {SESSION} · model claude-opus-4-8[1m] · permission mode acceptEdits"
        " · claude 2.1.197"
    ]


def test_two_lines_of_one_message_count_its_usage_once() -> None:
    """Text + tool_use of one message.id share a usage snapshot; it is counted once."""
    stream = Reading(ClaudeStream())
    feed_all(stream, [init(), *TEXT_AND_TOOL])
    assert stream.live_tokens() == {
        "claude-sonnet-5": Tokens(input=2100, output=2, cache_read=1800, cache_creation=400)
    }


def test_a_later_line_with_more_output_for_the_same_message_replaces_the_snapshot() -> None:
    """If a line of a message carries a larger output count, that one is kept, not added."""
    stream = Reading(ClaudeStream())
    stream.feed(line(assistant("m", [{"type": "text", "text": "a"}], usage(10, 1))))
    stream.feed(line(assistant("m", [{"type": "text", "text": "b"}], usage(10, 40))))
    stream.feed(line(assistant("m", [{"type": "text", "text": "c"}], usage(10, 5))))
    assert stream.live_tokens() == {"claude-sonnet-5": Tokens(10, 40, 0, 0)}


def test_live_tokens_before_the_result_then_final_model_usage_wins() -> None:
    """Without a result, tokens are the live estimate; the result's modelUsage replaces it."""
    stream = Reading(ClaudeStream())
    feed_all(stream, [init(), *TEXT_AND_TOOL])
    assert stream.final_tokens() is None
    assert stream.tokens() == stream.live_tokens()
    assert stream.cost_usd() is None
    stream.feed(line(result()))
    assert stream.tokens() == {"claude-sonnet-5": Tokens(2100, 230, 1800, 400)}
    assert stream.cost_usd() == pytest.approx(0.01416)
    assert stream.result_text() == "Created types.py."


def test_final_usage_strips_model_suffix_and_keeps_every_model() -> None:
    """`claude-opus-4-8[1m]` counts as `claude-opus-4-8`; haiku side calls stay separate."""
    stream = Reading(ClaudeStream())
    stream.feed(
        line(
            result(
                modelUsage={
                    "claude-opus-4-8[1m]": model_usage(5000, 700, 4000, 300, 0.09),
                    "claude-haiku-4-5-20251001": model_usage(300, 20, 0, 0, 0.0004),
                },
                total_cost_usd=0.0904,
            )
        )
    )
    assert stream.tokens() == {
        "claude-opus-4-8": Tokens(5000, 700, 4000, 300),
        "claude-haiku-4-5-20251001": Tokens(300, 20, 0, 0),
    }
    assert stream.cost_usd() == pytest.approx(0.0904)


def test_same_model_with_and_without_suffix_is_summed() -> None:
    """Two modelUsage keys that differ only by `[1m]` add up under one name."""
    stream = Reading(ClaudeStream())
    stream.feed(
        line(
            result(
                modelUsage={
                    "claude-sonnet-5": model_usage(10, 1, 0, 0, 0.1),
                    "claude-sonnet-5[1m]": model_usage(20, 2, 0, 0, 0.2),
                }
            )
        )
    )
    assert stream.tokens() == {"claude-sonnet-5": Tokens(30, 3, 0, 0)}


def test_live_tokens_use_the_init_model_when_a_message_has_none() -> None:
    """A message without a model is counted under the model from init, suffix stripped."""
    stream = Reading(ClaudeStream())
    stream.feed(line(init("claude-opus-4-8[1m]")))
    event = assistant("m1", [{"type": "text", "text": "hi"}], usage(5, 1))
    del event["message"]["model"]
    stream.feed(line(event))
    assert stream.live_tokens() == {"claude-opus-4-8": Tokens(5, 1, 0, 0)}


def test_empty_model_usage_falls_back_to_live_tokens() -> None:
    """A cut stream's result has `modelUsage: {}`: the live count is all there is."""
    stream = Reading(ClaudeStream())
    feed_all(stream, [init(), TEXT_AND_TOOL[0]])
    stream.feed(line(result(modelUsage={}, total_cost_usd=0, stop_reason=None)))
    assert stream.final_tokens() is None
    assert stream.tokens() == {"claude-sonnet-5": Tokens(1000, 1, 900, 200)}
    assert stream.cost_usd() == 0.0


def test_cost_from_model_usage_when_total_is_missing() -> None:
    """Without total_cost_usd, cost is the sum of per-model costUSD."""
    stream = Reading(ClaudeStream())
    event = result(
        modelUsage={"a": model_usage(1, 1, 0, 0, 0.25), "b": model_usage(1, 1, 0, 0, 0.5)}
    )
    del event["total_cost_usd"]
    stream.feed(line(event))
    assert stream.cost_usd() == pytest.approx(0.75)


def test_synthetic_api_error_message_is_recorded_and_not_counted() -> None:
    """`model: <synthetic>` marks an API failure: it is logged and its usage is not tokens."""
    stream = Reading(ClaudeStream())
    event = assistant(
        "synthetic-1",
        [
            {
                "type": "text",
                "text": 'API Error: 400 {"type":"error","error":{"type":'
                '"invalid_request_error","message":"prompt is too long"}}',
            }
        ],
        usage(0, 0),
        model="<synthetic>",
    )
    event["error"] = "invalid_request"
    out = stream.feed(line(event))
    assert stream.api_error == "invalid_request"
    assert out == ["! API error: invalid_request"]
    assert stream.live_tokens() == {}


def test_synthetic_message_without_error_field_uses_its_text() -> None:
    """When the error field is missing, the message text explains the failure."""
    stream = Reading(ClaudeStream())
    stream.feed(
        line(
            assistant(
                "s",
                [{"type": "text", "text": "API Error: 529 Overloaded"}],
                usage(0, 0),
                model="<synthetic>",
            )
        )
    )
    assert stream.api_error == "API Error: 529 Overloaded"


def test_api_retry_line_records_status_and_tells_the_user() -> None:
    """system/api_retry yields a log line, a live notice and the last API status."""
    stream = Reading(ClaudeStream())
    out = stream.feed(
        line(
            {
                "type": "system",
                "subtype": "api_retry",
                "attempt": 1,
                "max_retries": 10,
                "retry_delay_ms": 570,
                "error_status": 529,
                "error": "overloaded_error",
                "session_id": SESSION,
            }
        )
    )
    assert out == ["! API error 529: the CLI retries (1/10) in 0.6s"]
    assert stream.api_error_status == 529
    assert stream.notices == ["API error 529; Claude Code retries (1/10)"]


def test_rate_limit_rejected_event_is_kept_with_reset_time_and_window() -> None:
    """A `rejected` rate_limit_event records when the limit resets and which window it is."""
    stream = Reading(ClaudeStream())
    out = stream.feed(
        line(
            {
                "type": "rate_limit_event",
                "rate_limit_info": {
                    "status": "rejected",
                    "resetsAt": 1767225600,
                    "rateLimitType": "five_hour",
                    "overageStatus": "rejected",
                },
                "uuid": "u",
                "session_id": SESSION,
            }
        )
    )
    assert stream.rate_limit is not None
    assert stream.rate_limit.status == "rejected"
    assert stream.rate_limit.resets_at == 1767225600.0
    assert stream.rate_limit.limit_type == "five_hour"
    assert out == ["! usage limit reached (five_hour)"]


def test_rate_limit_warning_event_is_a_notice_with_utilization() -> None:
    """`allowed_warning` tells the user how much of the window is used, without stopping."""
    stream = Reading(ClaudeStream())
    out = stream.feed(
        line(
            {
                "type": "rate_limit_event",
                "rate_limit_info": {
                    "status": "allowed_warning",
                    "resetsAt": 1767225600,
                    "rateLimitType": "seven_day",
                    "utilization": 0.91,
                },
            }
        )
    )
    assert out == ["! usage limit warning at 91% (seven_day)"]
    assert stream.notices == ["usage limit warning at 91% (seven_day)"]
    assert stream.rate_limit is not None
    assert stream.rate_limit.status == "allowed_warning"


def test_rate_limit_allowed_event_is_silent() -> None:
    """`allowed` is the normal case and leaves no trace."""
    stream = Reading(ClaudeStream())
    out = stream.feed(
        line({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed", "resetsAt": 1}})
    )
    assert out == []
    assert stream.rate_limit is None


def test_tool_use_and_tool_result_become_arrow_lines() -> None:
    """A Bash call reads `→ Bash: cmd`; its result `← first line (+N lines)`."""
    stream = Reading(ClaudeStream())
    out = feed_all(stream, TEXT_AND_TOOL)
    assert out == [
        "I'll create the file.",
        "→ Bash: touch types.py",
        "← created (+2 lines)",
        "Done.",
    ]


def test_tool_result_line_count_ignores_a_trailing_newline() -> None:
    """Output ending in a newline is not counted as one more line."""
    stream = Reading(ClaudeStream())
    assert stream.feed(line(tool_result("t", "a\nb\nc\n"))) == ["← a (+2 lines)"]


def test_tool_result_forms_single_line_list_content_empty_and_error() -> None:
    """Results as text blocks, a single line, no output, and an error are all shown."""
    stream = Reading(ClaudeStream())
    assert stream.feed(line(tool_result("t", [{"type": "text", "text": "ok"}]))) == ["← ok"]
    assert stream.feed(line(tool_result("t", ""))) == ["← (no output)"]
    assert stream.feed(line(tool_result("t", "Permission denied: touch x", is_error=True))) == [
        "← error: Permission denied: touch x"
    ]


def test_tool_call_descriptions_pick_the_meaningful_argument() -> None:
    """Edit shows its file, Grep its pattern, an unknown tool its JSON input."""
    assert describe_tool_call("Edit", {"file_path": "src/a.py", "old_string": "x"}) == (
        "Edit: src/a.py"
    )
    assert describe_tool_call("Grep", {"pattern": "TODO"}) == "Grep: TODO"
    assert describe_tool_call("Mystery", {"n": 1}) == 'Mystery: {"n": 1}'
    assert describe_tool_call("Bash", None) == "Bash"


def test_long_text_is_shortened_to_one_line() -> None:
    """short() flattens whitespace and cuts with an ellipsis."""
    assert short("a\n  b\tc") == "a b c"
    cut = short("x" * 500, 10)
    assert cut == "x" * 9 + "…"


def test_result_line_summarises_and_error_results_show_their_text() -> None:
    """The result becomes one summary line; an error result adds its message."""
    stream = Reading(ClaudeStream())
    out = stream.feed(
        line(
            result(
                is_error=True,
                api_error_status=400,
                total_cost_usd=0,
                modelUsage={},
                result="API Error: 400 prompt is too long",
                num_turns=1,
            )
        )
    )
    assert out == [
        "result: success · error True · stop end_turn · 1 turns · $0.0000",
        "! API Error: 400 prompt is too long",
    ]
    assert stream.api_error_status == 400


def test_error_subtype_lists_its_errors() -> None:
    """`errors` on error_* results are each shown."""
    stream = Reading(ClaudeStream())
    out = stream.feed(
        line(
            result(
                subtype="error_during_execution",
                is_error=True,
                errors=["Tool crashed", "second"],
                result=None,
            )
        )
    )
    assert out[1:] == ["! Tool crashed", "! second"]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json at all\n",
        b'{"type": "assistant", "message": \n',
        b"[1, 2, 3]\n",
        b'"just a string"\n',
        b"42\n",
        b"null\n",
        b"\n",
        b"   \n",
        b"",
        b"\xff\xfe garbage bytes\n",
        b'{"type":"future_event","payload":{"x":1}}\n',
        b'{"type":"system","subtype":"task_progress","data":{}}\n',
        b'{"type":"system","subtype":"init"}\n',
        b'{"type":42}\n',
        b'{"no_type":true}\n',
        b'{"type":"assistant","message":"not a dict"}\n',
        b'{"type":"assistant","message":{"id":"m","content":[1,"x",null],"usage":"nope"}}\n',
        b'{"type":"user","message":{"content":"plain string"}}\n',
        b'{"type":"rate_limit_event","rate_limit_info":null}\n',
        b'{"type":"result","modelUsage":{"m":"bad"},"total_cost_usd":"free"}\n',
        b'{"type":"stream_event","event":{"type":"message_start"}}\n',
    ],
)
def test_odd_lines_never_raise(raw: bytes) -> None:
    """Invalid JSON, arrays, unknown types and malformed fields are tolerated line by line."""
    stream = Reading(ClaudeStream())
    out = stream.feed(raw)
    assert isinstance(out, list)
    assert all(isinstance(x, str) for x in out)
    stream.tokens()
    stream.cost_usd()
    stream.result_text()


def test_invalid_json_is_counted_and_shown_as_text() -> None:
    """A stray non-JSON line (a warning the CLI printed) is kept in the log as text."""
    stream = Reading(ClaudeStream())
    assert stream.feed(b"Warning: something odd\n") == ["Warning: something odd"]
    assert stream.feed(b"[1,2]\n") == []
    assert stream.bad_lines == 2
    assert stream.lines == 2


def test_unknown_event_types_are_ignored_and_later_lines_still_count() -> None:
    """A newer CLI's events do not disturb the reading of the ones nova knows."""
    stream = Reading(ClaudeStream())
    stream.feed(b'{"type":"telepathy","level":9000}\n')
    stream.feed(line({"type": "system", "subtype": "compact_boundary"}))
    stream.feed(line(init()))
    stream.feed(line(result()))
    assert stream.session_id == SESSION
    assert stream.tokens() == {"claude-sonnet-5": Tokens(2100, 230, 1800, 400)}


def test_transcript_tokens_count_each_reply_once_with_its_final_usage_since_a_time() -> None:
    """One reply per content block shares (requestId, message.id): counted once, with the
    larger output; replies before `since` (an earlier attempt) and synthetic ones are left
    out; models lose their [1m] suffix."""

    def entry(stamp: str, request: str, message: str, output: int, model: str) -> bytes:
        return json.dumps(
            {
                "type": "assistant",
                "timestamp": stamp,
                "requestId": request,
                "message": {
                    "id": message,
                    "model": model,
                    "usage": {
                        "input_tokens": 100,
                        "output_tokens": output,
                        "cache_read_input_tokens": 10,
                        "cache_creation_input_tokens": 5,
                    },
                },
            }
        ).encode()

    lines = [
        entry("2026-12-01T10:00:00.000Z", "req_0", "msg_0", 50, "claude-opus-4-8"),  # before
        b'{"type":"user","timestamp":"2026-12-01T10:00:02.000Z"}',
        entry("2026-12-01T10:00:03.000Z", "req_1", "msg_1", 1, "claude-opus-4-8[1m]"),
        entry("2026-12-01T10:00:03.100Z", "req_1", "msg_1", 70, "claude-opus-4-8[1m]"),
        entry("2026-12-01T10:00:04.000Z", "req_2", "msg_2", 30, "claude-haiku-4-5"),
        entry("2026-12-01T10:00:05.000Z", "req_3", "msg_3", 9, "<synthetic>"),
        b"not json at all",
    ]
    assert transcript_tokens(lines, "2026-12-01T10:00:01.000Z") == {
        "claude-opus-4-8": Tokens(100, 70, 10, 5),
        "claude-haiku-4-5": Tokens(100, 30, 10, 5),
    }


def test_transcript_slug_replaces_every_character_but_letters_and_digits() -> None:
    """The CLI keeps /tmp/cc-work-x_1's sessions under projects/-tmp-cc-work-x-1."""
    assert transcript_slug("/tmp/cc-work-x_1") == "-tmp-cc-work-x-1"


# ---- hostile values: checked where they enter, said in warnings -------------------------------


def test_a_line_nested_too_deep_for_json_is_text_and_the_result_after_it_counts() -> None:
    """100,000 levels of nesting make json raise RecursionError: that line is a bad line, and
    the success that follows is still read (the agent is not marked failed)."""
    stream = Reading(ClaudeStream())
    deep = b'{"type":"assistant","message":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    shown = stream.feed(deep)
    assert stream.bad_lines == 1
    assert len(shown) == 1
    assert shown[0].startswith('{"type":"assistant"')
    assert stream.warnings == [
        f"the line above ({len(deep) - 1} bytes) is JSON nested too deep to read; it is logged "
        "as text and kept whole in the raw log"
    ]
    stream.feed(line(result()))
    assert classify_claude(Exit(0), stream.parser, "", 0.0) == DONE
    assert stream.tokens() == {"claude-sonnet-5": Tokens(2100, 230, 1800, 400)}


WRONG_EVERYWHERE = {
    "type": "result",
    "subtype": {"a": 1},
    "is_error": "false",
    "stop_reason": 7,
    "num_turns": 10**4000,
    "session_id": ["../../etc"],
    "total_cost_usd": float("nan"),
    "usage": "all of it",
    "modelUsage": {
        "m": "lots",
        "claude-x": {"inputTokens": -1, "outputTokens": 10**40, "costUSD": float("inf")},
    },
    "errors": 5,
    "result": {"text": "x"},
    "api_error_status": "500",
    "terminal_reason": [],
}


def test_a_result_with_wrong_types_in_every_field_is_read_without_raising() -> None:
    """Every field of the wrong type is dropped and said once; the result reads as an error
    (an is_error that is not a boolean is no success), with no tokens, cost or session."""
    stream = Reading(ClaudeStream())
    stream.feed(line(init()))
    shown = stream.feed(json.dumps(WRONG_EVERYWHERE).encode())
    assert shown == ["result: None · error True · stop None · None turns"]
    assert stream.tokens() == {"claude-x": Tokens()}
    assert stream.cost_usd() is None
    assert stream.result_text() == ""
    assert stream.session_id == SESSION
    assert stream.api_error_status is None
    verdict = classify_claude(Exit(0), stream.parser, "", 0.0)
    assert verdict.failure is Failure.TRANSIENT
    [warning] = stream.warnings
    for key in ("subtype", "is_error", "stop_reason", "num_turns", "session_id", "errors"):
        assert f"{key}=" in warning
    assert "num_turns=a number of about 4001 digits" in warning
    assert "total_cost_usd=nan" in warning
    assert "modelUsage[claude-x].outputTokens=a number of about 41 digits" in warning
    assert "modelUsage[claude-x].costUSD=inf" in warning


def test_costs_and_counts_that_are_not_finite_or_are_absurd_are_ignored() -> None:
    """NaN and Infinity parse from JSON in Python: a cost of either (or negative) is no cost,
    a count over 10^15 no count, so no total becomes NaN or infinite."""
    stream = Reading(ClaudeStream())
    stream.feed(line(assistant("m1", [], usage(10**40, 5))))
    assert stream.tokens() == {"claude-sonnet-5": Tokens(0, 5)}
    assert stream.warnings == [
        "ignored input_tokens=a number of about 41 digits in the usage of message m1: "
        "a token count is a whole number from 0 to 10^15"
    ]
    for bad in (b"NaN", b"Infinity", b"-Infinity", b"-0.5", b"1e300"):
        stream.feed(b'{"type":"result","subtype":"success","total_cost_usd":' + bad + b"}\n")
        assert stream.cost_usd() is None, bad
    entry = model_usage(1, 1, 0, 0, float("nan"))
    stream.feed(line(result(total_cost_usd=None, modelUsage={"claude-x": entry})))
    assert stream.cost_usd() is None
    assert "$nan" not in " ".join(stream.feed(line(result(total_cost_usd=float("nan")))))


def test_numbers_too_big_for_a_float_in_known_events_do_not_raise() -> None:
    """A retry delay of 400 digits once raised OverflowError out of the parser; attempt counts
    of 4,000 digits cannot be printed. They show as unknown."""
    stream = Reading(ClaudeStream())
    shown = stream.feed(
        line(
            {
                "type": "system",
                "subtype": "api_retry",
                "attempt": 10**4000,
                "max_retries": 10,
                "retry_delay_ms": 10**400,
                "error_status": 10**30,
            }
        )
    )
    assert shown == ["! API error : the CLI retries (?/10)"]
    assert stream.api_error_status is None


def test_a_rate_limit_reset_that_is_no_time_is_no_reset() -> None:
    """resetsAt of Infinity or past year 9999 cannot be waited for or written: unknown."""
    stream = Reading(ClaudeStream())
    for resets in (float("inf"), 1e300, float("nan"), -5):
        event = {
            "type": "rate_limit_event",
            "rate_limit_info": {"status": "rejected", "resetsAt": resets, "utilization": resets},
        }
        stream.feed(line(event))
        assert stream.rate_limit is not None
        assert (stream.rate_limit.resets_at, stream.rate_limit.utilization) == (None, None)


def test_a_rate_limit_window_that_is_no_name_is_unknown() -> None:
    """The window becomes the run's pause reason, printed by `nova run` and `nova status`."""
    stream = Reading(ClaudeStream())
    info = {"status": "rejected", "resetsAt": 1_900_000_000, "rateLimitType": "\x1b]0;x\x07"}
    assert stream.feed(line({"type": "rate_limit_event", "rate_limit_info": info})) == [
        "! usage limit reached (unknown window)"
    ]
    assert stream.rate_limit is not None
    assert stream.rate_limit.limit_type is None
    info["rateLimitType"] = "seven_day_opus"
    stream.feed(line({"type": "rate_limit_event", "rate_limit_info": info}))
    assert stream.rate_limit.limit_type == "seven_day_opus"


def test_a_session_id_that_is_no_uuid_is_not_taken() -> None:
    """nova resumes with --resume ID and reads projects/<slug>/<ID>.jsonl: a path or a control
    character in an id is never kept."""
    for bad in ("../../etc/passwd", "a\x1b]0;x\x07", "x" * 500):
        stream = Reading(ClaudeStream())
        stream.feed(line({**init(), "session_id": bad}))
        stream.feed(line(result(session_id=bad)))
        assert stream.session_id is None, bad


def test_model_names_and_result_text_from_the_stream_have_their_escapes_shown() -> None:
    """Model names become token keys (state, status, footers) and the result text is kept in
    the state: neither holds a control character; a long name is cut and said."""
    stream = Reading(ClaudeStream())
    stream.feed(line(assistant("m1", [], usage(1, 1), model="evil\x1b]0;owned\x07")))
    stream.feed(line(assistant("m2", [], usage(2, 2), model="m" * 5000)))
    assert stream.tokens() == {"evil\\e]0;owned\\x07": Tokens(1, 1), "m" * 199 + "…": Tokens(2, 2)}
    assert stream.warnings == [f"a model name of 5000 characters was cut to 200: {'m' * 199}…"]
    stream.feed(line(result(result="done\x1b[2J\x1b]52;c;ZXZpbA==\x07", modelUsage={})))
    assert stream.result_text() == "done\\e[2J\\e]52;c;ZXZpbA==\\x07"


@pytest.mark.timeout(20)
def test_a_transcript_that_is_a_fifo_counts_nothing_and_does_not_hang(tmp_path: Path) -> None:
    """The Claude Code transcript nova reads after a killed attempt: a FIFO is passed over."""
    cwd = str(tmp_path / "work")
    projects = tmp_path / "config" / "projects" / transcript_slug(cwd)
    projects.mkdir(parents=True)
    os.mkfifo(projects / "s1.jsonl")
    assert transcript_usage({"CLAUDE_CONFIG_DIR": str(tmp_path / "config")}, cwd, "s1", 0.0) == {}
