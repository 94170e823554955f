"""Fault injection: `nova run` with the real Claude Code CLI against the Messages API double.

Each test runs the `nova` command on a small CASCADE.md and checks how nova classifies and
handles one failure class of the API (see engine/outcome.py and engine/run/runner.py): transient
errors are retried, permanent ones are not, an authentication failure stops new launches, a
usage limit pauses the whole run without spending a retry, a hung server is ended by nova's
timeout.  The CLI's own behaviour behind these cases is in tests/support/CLAUDE_FINDINGS.md.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.claude_cli import claude_env
from tests.support.messages_double import (
    MessagesDouble,
    Scenario,
    cut_stream,
    fail_then_ok,
    hang,
    http_error,
    ok,
    rate_limit_headers,
    usage_limit,
)
from tests.support.procs import epoch, pids_with, wait_for

pytestmark = pytest.mark.claude

_BIN = Path(sys.executable).parent / "nova"
NOVA = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "engine"]
OAUTH_TOKEN = "sk-ant-oat01-double-test"
DEADLINE = 90.0  # generous bound for one `nova run` on a loaded 2-core machine

Double = Callable[..., MessagesDouble]


# --------------------------------------------------------------------------
# helpers


def _cascade(directory: Path, ids: list[str]) -> None:
    rows = "\n".join(f"| {i} | Task {i} | change {i} | - |" for i in ids)
    (directory / "CASCADE.md").write_text(
        "# Faults\n\n## L1: Work\n\n### L2: Steps\n"
        "| Task ID | Task Name | What Changes | Depends On |\n"
        "|---------|-----------|--------------|------------|\n"
        f"{rows}\n",
        encoding="utf-8",
    )


def _env(
    tmp_path: Path,
    api: MessagesDouble,
    claude_bin: str,
    *,
    oauth: bool = False,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Env for nova: the CLI's clean env against the double, NOVA_CLAUDE set, no stray NOVA_*."""
    env = {
        k: v
        for k, v in claude_env(tmp_path / "home", api.base_url).items()
        if not k.startswith("NOVA_")
    }
    env["NOVA_CLAUDE"] = claude_bin
    if oauth:
        # The CLI reads the unified rate-limit headers only for subscription (OAuth) auth.
        env.pop("ANTHROPIC_API_KEY", None)
        env["CLAUDE_CODE_OAUTH_TOKEN"] = OAUTH_TOKEN
    env.update(extra or {})
    return env


def _setup(
    tmp_path: Path,
    messages_double: Double,
    claude_bin: str,
    script: dict[str, Scenario],
    ids: list[str],
    **env_options: Any,
) -> tuple[MessagesDouble, dict[str, str]]:
    _cascade(tmp_path, ids)
    api = messages_double(script)
    return api, _env(tmp_path, api, claude_bin, **env_options)


def _nova_run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NOVA, "run", "CASCADE.md", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        stdin=subprocess.DEVNULL,
    )


def _nova_start(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`nova run CASCADE.md ARGS` in the background, its output in pipes."""
    return subprocess.Popen(
        [*NOVA, "run", "CASCADE.md", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _status(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [*NOVA, "status", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _status_json(cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_status(cwd, env, "--json"))
    return doc


def _paused(state_file: Path, nova: subprocess.Popen[str]) -> bool:
    """Wait until another process's state records a pause (fails if nova exits first)."""

    def paused() -> bool:
        with contextlib.suppress(OSError, ValueError):  # not written yet, or mid-rename
            return bool(json.loads(state_file.read_text())["run"]["paused_until"])
        return False

    return wait_for(paused, "nova to pause", DEADLINE, alive=nova)


def _log(cwd: Path, task_id: str) -> str:
    return (cwd / "logs" / f"{task_id}.log").read_text(encoding="utf-8")


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


# --------------------------------------------------------------------------
# transient, permanent


def test_overloaded_529_is_retried_and_the_task_is_done_on_attempt_two(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """A 529 the CLI gives up on at once is a transient failure: nova retries and succeeds."""
    api, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {"A": fail_then_ok(529, times=1, then=ok(tool_calls=0))},
        ["A"],
    )
    proc = _nova_run(tmp_path, env, "--retries", "2", "--retry-delay", "0.1s")

    assert proc.returncode == 0, _said(proc)
    task = _status_json(tmp_path, env)["tasks"]["A"]
    assert (task["status"], task["attempts"]) == ("done", 2)
    assert task["reason"] is None
    assert task["failure"] is None
    assert [r.kind for r in api.messages_requests("A")] == ["http_error:529", "ok:end_turn"]
    log = _log(tmp_path, "A")
    assert "attempt 1" in log
    assert "attempt 2" in log
    assert "will retry" in log
    assert "529" in log
    assert "Finished A." in log


def test_bad_request_400_fails_at_once_as_permanent(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """A 400 is permanent: one request, no retry despite --retries, failure 'permanent'."""
    api, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {"A": http_error(400, message="messages: field required")},
        ["A"],
    )
    proc = _nova_run(tmp_path, env, "--retries", "2", "--retry-delay", "0.1s")

    assert proc.returncode == 1, _said(proc)
    task = _status_json(tmp_path, env)["tasks"]["A"]
    assert (task["status"], task["attempts"], task["failure"]) == ("failed", 1, "permanent")
    assert "400" in task["reason"]
    assert [r.kind for r in api.messages_requests("A")] == ["http_error:400"]


def test_cut_stream_is_transient_and_spends_the_retries(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """A stream cut before message_stop (CLI exit 0, no stop reason) is retried, then fails."""
    api, env = _setup(tmp_path, messages_double, claude_bin, {"A": cut_stream()}, ["A"])
    proc = _nova_run(tmp_path, env, "--retries", "1", "--retry-delay", "0.1s")

    assert proc.returncode == 1, _said(proc)
    task = _status_json(tmp_path, env)["tasks"]["A"]
    assert (task["status"], task["attempts"], task["failure"]) == ("failed", 2, "transient")
    assert "stream was cut" in task["reason"]
    assert [r.kind for r in api.messages_requests("A")] == ["cut_stream:eof"] * 2


# --------------------------------------------------------------------------
# usage limits (subscription auth)


def test_usage_limit_pauses_the_run_until_the_reset_without_spending_a_retry(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """A rejected five_hour limit pauses every launch until reset + margin, then A runs again."""
    api, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {"A": usage_limit(resets_in=5, then=ok(tool_calls=0)), "*": ok(tool_calls=0)},
        ["A", "B"],
        oauth=True,
        extra={"NOVA_RATE_LIMIT_MARGIN": "0.5", "NOVA_RATE_LIMIT_MIN_WAIT": "1"},
    )
    nova = _nova_start(tmp_path, env, "-j", "1", "--retries", "0")
    try:
        assert _paused(tmp_path / "state" / "state.json", nova)
        during = _status_json(tmp_path, env)
        text = _status(tmp_path, env)
        out, err = nova.communicate(timeout=DEADLINE)
    finally:
        if nova.poll() is None:
            nova.kill()
            nova.wait()

    assert nova.returncode == 0, out + err
    limited = api.messages_requests("A")[0]
    assert limited.kind == "usage_limit:429"
    reset = int(limited.reply_headers["anthropic-ratelimit-unified-reset"])

    # While paused: the run says until when and why; B, ready all along, has not started.
    run = during["run"]
    assert run["pause_reason"] == "five_hour"
    until = epoch(run["paused_until"])
    assert until == pytest.approx(reset + 0.5, abs=0.01)  # the CLI's resetsAt + the margin
    assert during["tasks"]["B"]["status"] == "pending"
    assert during["tasks"]["A"]["status"] == "pending"
    hhmm = time.strftime("%H:%M", time.localtime(until))
    assert f"waiting for rate limit until {hhmm} (five_hour)" in text

    # After: A ran again although --retries is 0; B started only after the reset.
    final = _status_json(tmp_path, env)
    a, b = final["tasks"]["A"], final["tasks"]["B"]
    assert (a["status"], a["attempts"], a["failure"]) == ("done", 2, None)
    assert (b["status"], b["attempts"]) == ("done", 1)
    assert epoch(b["started"]) >= reset
    assert final["run"]["paused_until"] is None
    assert [r.kind for r in api.messages_requests("A")] == ["usage_limit:429", "ok:end_turn"]
    assert "waiting for rate limit until" in out
    log = _log(tmp_path, "A")
    assert "usage limit reached (five_hour)" in log
    assert "waiting for usage limit" in log
    # The second attempt picks the session up where the limit stopped it, not from scratch:
    # the CLI resumes it, so its request carries the first prompt and the note to continue.
    assert f"--resume {a['session_id']}" in log
    resumed = api.messages_requests("A")[1].body["messages"]
    said_to_a = json.dumps(resumed)
    assert "Your task is A" in said_to_a
    assert "You were interrupted" in said_to_a


def test_a_usage_limit_whose_reset_is_past_waits_and_backs_off_instead_of_hammering(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """The API rejects A twice with a reset an hour in the past (a stale resetsAt, or another
    clock): nova still waits the minimum from now, then twice it when the limit comes straight
    back, and says so; A then runs. Before, each rejection relaunched at once (90 requests in
    10 s against a rejecting account)."""
    api, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {"A": usage_limit(resets_in=-3600, times=2, then=ok(tool_calls=0))},
        ["A"],
        oauth=True,
        extra={"NOVA_RATE_LIMIT_MARGIN": "0", "NOVA_RATE_LIMIT_MIN_WAIT": "1"},
    )
    done = _nova_run(tmp_path, env, "--retries", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    requests = api.messages_requests("A")
    assert [r.kind for r in requests] == ["usage_limit:429"] * 2 + ["ok:end_turn"]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    # Lower bounds only: a loaded machine makes them longer, never shorter.
    assert gaps[0] >= 1.0, gaps
    assert gaps[1] >= 2.0, gaps
    assert "its reset time is past or near; waiting at least 1s" in done.stdout
    assert "came back right after its wait (once)" in done.stdout
    a = _status_json(tmp_path, env)["tasks"]["A"]
    assert (a["status"], a["attempts"]) == ("done", 3)


def test_rate_limit_headers_on_served_replies_do_not_pause_the_run(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """Replies served with 'allowed_warning' or 'rejected' (overage) headers are plain successes."""
    later = time.time() + 3600
    api, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {
            "W": ok(
                tool_calls=0,
                headers=rate_limit_headers(
                    "allowed_warning", later, "five_hour", utilization=0.92, threshold=0.9
                ),
            ),
            "R": ok(tool_calls=0, headers=rate_limit_headers("rejected", later, "five_hour")),
        },
        ["W", "R"],
        oauth=True,
    )
    proc = _nova_run(tmp_path, env, "-j", "2", "--retries", "0")

    assert proc.returncode == 0, _said(proc)
    doc = _status_json(tmp_path, env)
    for task_id in ("W", "R"):
        task = doc["tasks"][task_id]
        assert (task["status"], task["attempts"]) == ("done", 1), task
    assert "waiting for rate limit" not in _said(proc)
    assert "usage limit warning at 92% (five_hour)" in _log(tmp_path, "W")
    assert [r.kind for r in api.messages_requests()] == ["ok:end_turn"] * 2


def test_server_throttling_429_under_oauth_is_retried_not_a_pause(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """A 429 without reset or window ('not your usage limit') is transient, not a 15-min pause."""
    api, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {"A": fail_then_ok(429, times=1, then=ok(tool_calls=0))},
        ["A"],
        oauth=True,
    )
    proc = _nova_run(tmp_path, env, "--retries", "1", "--retry-delay", "0.1s")

    assert proc.returncode == 0, _said(proc)
    task = _status_json(tmp_path, env)["tasks"]["A"]
    assert (task["status"], task["attempts"]) == ("done", 2)
    assert "waiting for rate limit" not in _said(proc)
    assert "not your usage limit" in _log(tmp_path, "A")
    assert [r.kind for r in api.messages_requests("A")] == ["http_error:429", "ok:end_turn"]


# --------------------------------------------------------------------------
# authentication, hangs, a missing CLI


def test_auth_failure_fails_the_task_and_starts_no_other(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """A 401 fails its task as 'auth', halts new launches, and tells the user how to log in."""
    api, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {"A": http_error(401, "authentication_error", "invalid x-api-key"), "*": ok(tool_calls=0)},
        ["A", "B", "C", "D"],
    )
    proc = _nova_run(tmp_path, env, "-j", "1", "--retries", "2", "--retry-delay", "0.1s")

    assert proc.returncode == 1, _said(proc)
    tasks = _status_json(tmp_path, env)["tasks"]
    assert (tasks["A"]["status"], tasks["A"]["failure"]) == ("failed", "auth")
    assert tasks["A"]["attempts"] == 1
    assert "authentication failed" in tasks["A"]["reason"]
    for other in ("B", "C", "D"):
        assert (tasks[other]["status"], tasks[other]["attempts"]) == ("pending", 0)
    assert {r.task_id for r in api.messages_requests()} == {"A"}
    assert [r.kind for r in api.messages_requests("A")] == ["http_error:401"]
    said = _said(proc)
    assert "claude /login" in said
    assert "ANTHROPIC_API_KEY" in said
    doc = _status_json(tmp_path, env)
    assert "could not authenticate" in doc["run"]["warning"]  # kept for `nova status`
    assert all(doc["tasks"][t]["reason"].startswith("not started") for t in ("B", "C", "D"))


def test_hung_server_is_ended_by_the_timeout_and_no_agent_survives(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """With the API silent, --timeout 3s ends the attempt; nova exits 1, leaving no process."""
    api, env = _setup(tmp_path, messages_double, claude_bin, {"A": hang(120)}, ["A"])
    proc = _nova_run(tmp_path, env, "--timeout", "3s", "--retries", "0")

    assert proc.returncode == 1, _said(proc)
    doc = _status_json(tmp_path, env)
    task = doc["tasks"]["A"]
    assert (task["status"], task["failure"]) == ("failed", "timeout")
    assert task["reason"] == "timed out after 3s"
    assert [r.kind for r in api.messages_requests("A")] == ["hang"]  # still waiting: not closed
    run_id = doc["run"]["id"]
    assert run_id
    assert pids_with(f"NOVA_RUN_ID={run_id}", alive_only=False) == []


def test_missing_claude_binary_exits_2_before_anything_runs(
    messages_double: Double, tmp_path: Path
) -> None:
    """A --claude path that does not exist is bad input: exit 2, an install hint, no state."""
    api, env = _setup(tmp_path, messages_double, "/nonexistent/claude", {}, ["A", "B"])
    proc = _nova_run(tmp_path, env, "--claude", "/nonexistent/claude")

    assert proc.returncode == 2, _said(proc)
    assert "/nonexistent/claude" in proc.stderr
    assert "npm install -g @anthropic-ai/claude-code" in proc.stderr
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "logs").exists()
    assert api.requests == []
    assert sorted(os.listdir(tmp_path)) == ["CASCADE.md", "home"]


def test_a_run_stopped_during_a_usage_limit_pause_leaves_no_stale_pause(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """Ctrl-C while waiting out a limit: exit 130, and the state no longer claims a pause or
    a next try that no run will make."""
    _, env = _setup(
        tmp_path,
        messages_double,
        claude_bin,
        {"A": usage_limit(resets_in=600, then=ok(tool_calls=0)), "*": ok(tool_calls=0)},
        ["A"],
        oauth=True,
    )
    nova = _nova_start(tmp_path, env)
    try:
        assert _paused(tmp_path / "state" / "state.json", nova)
        nova.send_signal(2)
        out, err = nova.communicate(timeout=DEADLINE)
    finally:
        if nova.poll() is None:
            nova.kill()
            nova.wait()
    assert nova.returncode == 130, out + err
    doc = _status_json(tmp_path, env)
    assert (doc["run"]["paused_until"], doc["run"]["pause_reason"]) == (None, None)
    task = doc["tasks"]["A"]
    assert (task["status"], task["next_attempt_at"]) == ("pending", None)
    assert "waiting for rate limit" not in _status(tmp_path, env)

    # The next run picks A's session up where the limit stopped it.
    again = _nova_run(tmp_path, env)
    assert again.returncode == 0, _said(again)
    assert f"--resume {task['session_id']}" in _log(tmp_path, "A")


def test_a_session_the_cli_no_longer_has_is_started_afresh_without_a_retry(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """The state says A was interrupted in session S, but the CLI has no such session: the
    resume fails with 'No conversation found', and A starts afresh at once, with --retries 0."""
    api, env = _setup(tmp_path, messages_double, claude_bin, {"*": ok(tool_calls=0)}, ["A"])
    lost = "11111111-2222-3333-4444-555555555555"
    state = {
        "schema": 1,
        "project": "Faults",
        "cascade": str(tmp_path / "CASCADE.md"),
        "run": {"id": "old", "running": False},
        "tasks": {"A": {"status": "running", "attempts": 1, "session_id": lost, "agent": "claude"}},
    }
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text(json.dumps(state), encoding="utf-8")

    proc = _nova_run(tmp_path, env, "--retries", "0")

    assert proc.returncode == 0, _said(proc)
    task = _status_json(tmp_path, env)["tasks"]["A"]
    assert (task["status"], task["attempts"]) == ("done", 3)
    assert task["session_id"] != lost
    log = _log(tmp_path, "A")
    assert f"--resume {lost}" in log
    assert "will start afresh · the session to continue was not found" in log
    assert [r.kind for r in api.messages_requests("A")] == ["ok:end_turn"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal concerns runs as root")
def test_bypass_permissions_as_root_without_is_sandbox_exits_2_before_anything_runs(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """As root, Claude Code refuses bypassPermissions unless IS_SANDBOX=1 exactly: nova says
    so before starting anything, instead of failing (and retrying) every task."""
    api, env = _setup(
        tmp_path, messages_double, claude_bin, {}, ["A", "B"], extra={"IS_SANDBOX": "yes"}
    )
    proc = _nova_run(tmp_path, env, "--permission-mode", "bypassPermissions")

    assert proc.returncode == 2, _said(proc)
    assert "IS_SANDBOX is 'yes'" in proc.stderr
    assert "IS_SANDBOX=1" in proc.stderr
    assert api.requests == []
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "logs").exists()


def test_a_failed_check_sends_its_output_to_the_same_session_and_then_passes(
    claude_bin: str, messages_double: Double, tmp_path: Path
) -> None:
    """A's check fails the first time it runs and passes the second. So attempt 2 continues
    A's session (--resume) with the check's verdict and output in its prompt, and A is done
    after two attempts, with --retries 1."""
    api, env = _setup(tmp_path, messages_double, claude_bin, {"A": ok(tool_calls=1)}, ["A"])
    check = (
        "sh -c 'echo run >> checks.txt; n=$(wc -l < checks.txt); "
        "[ $n -ge 2 ] || { echo check run $n: tests failed; exit 1; }'"
    )
    plan = (tmp_path / "CASCADE.md").read_text(encoding="utf-8")
    (tmp_path / "CASCADE.md").write_text(
        plan.replace("# Faults\n", f"# Faults\n\n- check: {check}\n"), encoding="utf-8"
    )

    proc = _nova_run(tmp_path, env, "--retries", "1")

    assert proc.returncode == 0, _said(proc)
    task = _status_json(tmp_path, env)["tasks"]["A"]
    assert (task["status"], task["attempts"]) == ("done", 2)
    log = _log(tmp_path, "A")
    assert "check: check run 1: tests failed" in log
    assert "will retry · the check failed with exit code 1: check run 1: tests failed" in log
    assert f"--resume {task['session_id']}" in log
    assert "the check passed" in log
    requests = api.messages_requests("A")
    assert [r.kind for r in requests] == ["ok:tool_use", "ok:end_turn", "ok:end_turn"]
    resumed = json.dumps(requests[-1].body)  # attempt 2: the session so far, then the check
    assert "failed with exit code 1 after your last attempt" in resumed
    assert "check run 1: tests failed" in resumed
