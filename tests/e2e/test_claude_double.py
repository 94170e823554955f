"""The real Claude Code CLI against the loopback Messages API double.

The CLI tests skip when the binary is missing (install it with
scripts/install-claude.sh).  The first tests check the double on its own.
"""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.claude_cli import (
    ClaudeRun,
    claude_argv,
    claude_env,
    run_claude,
    transcript_path,
)
from tests.support.messages_double import (
    MessagesDouble,
    cut_stream,
    fail_then_ok,
    hang,
    http_error,
    ok,
)

# --------------------------------------------------------------------------
# helpers


def _post(api: MessagesDouble, path: str, body: dict[str, Any]) -> tuple[int, str]:
    u = urlsplit(api.base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def _request(
    task: str, *, assistant_turns: int = 0, stream: bool = True, in_system: bool = False
) -> dict[str, Any]:
    marker = f"nova-task: {task}\nplease work"
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "hi" if in_system else marker}]}
    ]
    for _ in range(assistant_turns):
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": "ok"}]})
        msgs.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "x", "content": "done"}],
            }
        )
    body: dict[str, Any] = {
        "model": "claude-test-1",
        "max_tokens": 100,
        "messages": msgs,
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
    }
    if stream:
        body["stream"] = True
    if in_system:
        body["system"] = [{"type": "text", "text": marker}]
    return body


def _run(
    claude_bin: str,
    api: MessagesDouble,
    tmp_path: Path,
    *,
    task: str = "T1",
    model: str = "sonnet",
    bypass: bool = True,
    allowed_tools: str | None = None,
    max_retries: int | None = 0,
    extra_env: dict[str, str] | None = None,
) -> ClaudeRun:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = claude_env(home, api.base_url, max_retries=max_retries, sandbox=bypass, extra=extra_env)
    argv = claude_argv(claude_bin, model=model, bypass=bypass, allowed_tools=allowed_tools)
    prompt = f"nova-task: {task}\nSay hello with the Bash tool, then stop.\n"
    return run_claude(argv, prompt, env, work, timeout=120)


def _model_usage(result: dict[str, Any]) -> dict[str, dict[str, int]]:
    """result.modelUsage in usage_by_model()'s shape, `[1m]`-style suffixes stripped."""
    out: dict[str, dict[str, int]] = {}
    for key, u in result["modelUsage"].items():
        acc = out.setdefault(
            re.sub(r"\[[^\]]*\]$", "", key),
            {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0},
        )
        acc["input"] += u["inputTokens"]
        acc["output"] += u["outputTokens"]
        acc["cache_read"] += u["cacheReadInputTokens"]
        acc["cache_creation"] += u["cacheCreationInputTokens"]
    return out


def _other_requests(api: MessagesDouble) -> list[tuple[str, str]]:
    return [
        (r.method, r.path)
        for r in api.requests
        if urlsplit(r.path).path.rstrip("/") != "/v1/messages"
    ]


# --------------------------------------------------------------------------
# the double on its own (no CLI needed)


def test_double_streams_tool_use_then_final_text() -> None:
    with MessagesDouble({"A": ok(tool_calls=1, usage=(10, 20, 30, 40))}) as api:
        status, text = _post(api, "/v1/messages?beta=true", _request("A"))
        assert status == 200
        events = _sse(text)
        names = [n for n, _ in events]
        assert names[0] == "message_start"
        assert names[-2:] == ["message_delta", "message_stop"]
        start = events[0][1]["message"]
        assert start["model"] == "claude-test-1"
        assert start["usage"] == {
            "input_tokens": 10,
            "cache_creation_input_tokens": 40,
            "cache_read_input_tokens": 30,
            "output_tokens": 1,
        }
        blocks = [d["content_block"] for n, d in events if n == "content_block_start"]
        assert [b["type"] for b in blocks] == ["text", "tool_use"]
        assert blocks[1]["name"] == "Bash"
        js = "".join(
            d["delta"]["partial_json"]
            for n, d in events
            if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
        )
        assert json.loads(js) == {"command": "echo hello from A", "description": "say hello"}
        delta = events[-2][1]
        assert delta["delta"]["stop_reason"] == "tool_use"
        assert delta["usage"] == {"output_tokens": 20}

        # Turn 2 (one assistant message in the history): final text, per-turn usage.
        status, text = _post(api, "/v1/messages", _request("A", assistant_turns=1))
        events = _sse(text)
        final = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        assert final == "Finished A."
        assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
        assert events[-2][1]["usage"] == {"output_tokens": 21}

        reqs = api.messages_requests()
        assert [(r.task_id, r.turn, r.kind) for r in reqs] == [
            ("A", 0, "ok:tool_use"),
            ("A", 1, "ok:end_turn"),
        ]
        assert api.usage_by_model() == {
            "claude-test-1": {
                "input": 10 + 20,
                "output": 20 + 21,
                "cache_read": 30 + 130,
                "cache_creation": 80,
            }
        }


def test_double_routes_errors_fallbacks_and_unknown_paths() -> None:
    script = {
        "E": http_error(429, message="slow down"),
        "F": fail_then_ok(503, times=1),
        "*": ok(tool_calls=0, text="default {task}"),
    }
    with MessagesDouble(script) as api:
        status, text = _post(api, "/v1/messages", _request("E"))
        assert status == 429
        assert json.loads(text) == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "slow down"},
        }

        assert _post(api, "/v1/messages", _request("F"))[0] == 503
        assert _post(api, "/v1/messages", _request("F"))[0] == 200

        # The marker is also found in the system prompt; unknown ids use "*".
        # A request without "stream" gets one JSON message.
        status, text = _post(api, "/v1/messages", _request("Z", stream=False, in_system=True))
        msg = json.loads(text)
        assert status == 200
        assert msg["content"] == [{"type": "text", "text": "default Z"}]
        assert msg["usage"]["output_tokens"] == 80

        assert _post(api, "/v1/messages/count_tokens", _request("Z"))[0] == 200
        assert _post(api, "/v1/nothing", {})[0] == 404

        kinds = [(r.task_id, r.kind) for r in api.requests]
        assert kinds == [
            ("E", "http_error:429"),
            ("F", "http_error:503"),
            ("F", "ok:tool_use"),
            ("Z", "ok:end_turn:plain"),
            ("Z", "count_tokens"),
            (None, "unknown"),
        ]
        assert api.usage_by_model(task_id="F") == {
            "claude-test-1": {"input": 1200, "output": 80, "cache_read": 300, "cache_creation": 50}
        }
        assert api.usage_by_model(task_id="E") == {}


# --------------------------------------------------------------------------
# the real CLI


@pytest.mark.claude
def test_bash_tool_run_usage_matches_double(
    claude_bin: str, messages_double: Any, tmp_path: Path
) -> None:
    api = messages_double({"T1": ok(tool_calls=1)})
    run = _run(claude_bin, api, tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.succeeded
    result = run.result
    assert result is not None
    assert result["is_error"] is False
    assert result["subtype"] == "success"
    assert result["stop_reason"] == "end_turn"
    assert result["num_turns"] == 2
    assert result["result"] == "Finished T1."

    # The CLI really ran the Bash call and sent its output back.
    tool_results = [
        c
        for e in run.of_type("user")
        for c in e["message"]["content"]
        if isinstance(c, dict) and c.get("type") == "tool_result"
    ]
    assert [c["content"] for c in tool_results] == ["hello from T1"]
    reqs = api.messages_requests()
    assert [(r.task_id, r.turn, r.kind) for r in reqs] == [
        ("T1", 0, "ok:tool_use"),
        ("T1", 1, "ok:end_turn"),
    ]
    last_user = reqs[1].body["messages"][-1]["content"]
    assert any(
        c.get("type") == "tool_result" and c.get("content") == "hello from T1" for c in last_user
    )

    # Token truth: modelUsage equals exactly what the double reported, one model key
    # (the id the CLI sent), and the CLI made no other model calls (no haiku side calls).
    expected = api.usage_by_model()
    assert list(expected) == [reqs[0].model]
    assert reqs[0].model.startswith("claude-sonnet")
    assert _model_usage(result) == expected
    assert list(result["modelUsage"]) == [reqs[0].model]
    assert result["usage"]["input_tokens"] == expected[reqs[0].model]["input"]
    assert result["total_cost_usd"] > 0
    assert result["total_cost_usd"] == pytest.approx(
        sum(u["costUSD"] for u in result["modelUsage"].values())
    )
    # Besides /v1/messages the CLI only probes `HEAD /`.
    assert set(_other_requests(api)) <= {("HEAD", "/")}

    # Per message id, the assistant lines carry the message_start snapshot (output 1).
    by_id: dict[str, set[int]] = {}
    for e in run.of_type("assistant"):
        by_id.setdefault(e["message"]["id"], set()).add(e["message"]["usage"]["output_tokens"])
    assert len(by_id) == 2
    assert all(v == {1} for v in by_id.values())

    # The transcript holds the final usage per reply, keyed by our request-id header.
    init = run.init
    assert init is not None
    assert init["session_id"] == result["session_id"]
    path = transcript_path(tmp_path / "home" / ".claude", tmp_path / "work", init["session_id"])
    assert path.is_file(), list((tmp_path / "home" / ".claude").rglob("*.jsonl"))
    seen: dict[tuple[str, str], int] = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") == "assistant":
            key = (entry["requestId"], entry["message"]["id"])
            seen[key] = entry["message"]["usage"]["output_tokens"]
    assert sorted(rid for rid, _ in seen) == sorted(r.request_id for r in reqs)
    assert sorted(seen.values()) == sorted(r.usage["output_tokens"] for r in reqs)


@pytest.mark.claude
def test_allowed_tools_without_bypass_three_calls(
    claude_bin: str, messages_double: Any, tmp_path: Path
) -> None:
    api = messages_double({"T3": ok(tool_calls=3, command="touch made-by-{task}-{turn}")})
    run = _run(claude_bin, api, tmp_path, task="T3", bypass=False, allowed_tools="Bash")

    assert run.succeeded, (run.returncode, run.stdout[-2000:], run.stderr)
    assert run.init is not None
    assert run.init["permissionMode"] == "default"
    result = run.result
    assert result is not None
    assert result["num_turns"] == 4
    assert result["permission_denials"] == []
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [
        "made-by-T3-0",
        "made-by-T3-1",
        "made-by-T3-2",
    ]
    assert [r.turn for r in api.messages_requests()] == [0, 1, 2, 3]
    assert _model_usage(result) == api.usage_by_model(task_id="T3")


@pytest.mark.claude
def test_write_without_permission_is_denied_not_an_error(
    claude_bin: str, messages_double: Any, tmp_path: Path
) -> None:
    api = messages_double({"T4": ok(tool_calls=1, command="touch made-by-{task}")})
    run = _run(claude_bin, api, tmp_path, task="T4", bypass=False)

    assert run.succeeded
    result = run.result
    assert result is not None
    assert [d["tool_name"] for d in result["permission_denials"]] == ["Bash"]
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.claude
@pytest.mark.parametrize(
    ("alias", "family"),
    [("sonnet", "claude-sonnet"), ("opus", "claude-opus"), ("haiku", "claude-haiku")],
)
def test_model_alias_sent_and_reported(
    claude_bin: str, messages_double: Any, tmp_path: Path, alias: str, family: str
) -> None:
    api = messages_double({"*": ok(tool_calls=0)})
    run = _run(claude_bin, api, tmp_path, model=alias)

    assert run.succeeded
    result = run.result
    assert result is not None
    reqs = api.messages_requests()
    assert len(reqs) == 1
    assert reqs[0].model.startswith(family)
    assert _model_usage(result) == api.usage_by_model()
    assert [e["message"]["model"] for e in run.of_type("assistant")] == [reqs[0].model]


@pytest.mark.claude
def test_http_400_fails_at_once_even_with_cli_retries(
    claude_bin: str, messages_double: Any, tmp_path: Path
) -> None:
    api = messages_double({"T1": http_error(400, "invalid_request_error", "bad request T1")})
    # max_retries=None keeps the CLI's own retry policy: a 400 is still not retried.
    run = _run(claude_bin, api, tmp_path, max_retries=None)

    assert run.returncode == 1
    assert run.elapsed < 30
    assert not run.succeeded
    result = run.result
    assert result is not None
    assert result["is_error"] is True
    assert result["subtype"] == "success"  # sic: API failures keep subtype "success"
    assert result["api_error_status"] == 400
    assert "bad request T1" in result["result"]
    assert result["modelUsage"] == {}
    assert result["total_cost_usd"] == 0
    assert [r.kind for r in api.messages_requests()] == ["http_error:400"]
    synthetic = [e for e in run.of_type("assistant") if e["message"]["model"] == "<synthetic>"]
    assert len(synthetic) == 1


@pytest.mark.claude
def test_cut_stream_eof_is_accepted_by_cli(
    claude_bin: str, messages_double: Any, tmp_path: Path
) -> None:
    """Stream ends (cleanly at the HTTP level) after one text block, no message_delta."""
    api = messages_double({"T1": cut_stream()})
    run = _run(claude_bin, api, tmp_path)

    assert run.returncode == 0
    result = run.result
    assert result is not None
    assert result["is_error"] is False
    assert result["stop_reason"] is None
    assert result["result"] == "Partial answer for T1"
    assert result["modelUsage"] == {}
    assert not run.succeeded  # nova's rule catches it: stop_reason is null
    assert [r.kind for r in api.messages_requests()] == ["cut_stream:eof"]
    assert api.usage_by_model() == {}


@pytest.mark.claude
def test_cut_stream_connection_closed_mid_body(
    claude_bin: str, messages_double: Any, tmp_path: Path
) -> None:
    """Connection closed without the final chunk: the CLI reports an error."""
    api = messages_double({"T1": cut_stream("close")})
    run = _run(claude_bin, api, tmp_path)

    assert run.returncode == 1
    result = run.result
    assert result is not None
    assert result["is_error"] is True
    assert "Connection closed mid-response" in result["result"]
    # The partial reply's message_start usage is counted (output_tokens 1).
    model = api.messages_requests()[0].model
    assert _model_usage(result) == {
        model: {"input": 1200, "output": 1, "cache_read": 300, "cache_creation": 50}
    }
    assert [r.kind for r in api.messages_requests()] == ["cut_stream:close"]


@pytest.mark.claude
def test_retry_then_success_counts_only_served_replies(
    claude_bin: str, messages_double: Any, tmp_path: Path
) -> None:
    api = messages_double({"T1": fail_then_ok(500, times=1)})
    run = _run(claude_bin, api, tmp_path, max_retries=2)

    assert run.succeeded
    retries = run.of_type("system", "api_retry")
    assert [(e["attempt"], e["error_status"]) for e in retries] == [(1, 500)]
    assert [r.kind for r in api.messages_requests()] == [
        "http_error:500",
        "ok:tool_use",
        "ok:end_turn",
    ]
    result = run.result
    assert result is not None
    assert _model_usage(result) == api.usage_by_model()


@pytest.mark.claude
def test_hang_with_api_timeout(claude_bin: str, messages_double: Any, tmp_path: Path) -> None:
    api = messages_double({"T1": hang(60)})
    run = _run(claude_bin, api, tmp_path, extra_env={"API_TIMEOUT_MS": "2000"})

    assert run.returncode == 1
    assert 2 <= run.elapsed < 30
    result = run.result
    assert result is not None
    assert result["is_error"] is True
    assert "timed out" in result["result"].lower()
    assert [r.kind for r in api.messages_requests()] == ["hang"]
