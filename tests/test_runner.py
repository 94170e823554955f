"""The runner's policy (engine.run.runner) over a scripted executor, with no agent processes: order
and concurrency, retries, blocked dependents, usage-limit pauses, halts and waits for resources.

The executor seam is what makes this possible: `engine.executors.scripted` plays, for each
attempt of a task, the output lines and the exit that a test gives it, exactly as
`LocalExecutor` would hand them to the runner. State and logs are real files in a temporary
directory.
"""

from __future__ import annotations

import errno
import io
import itertools
import json
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine import interrupt
from engine.agents.claude.transcript import transcript_slug
from engine.errors import ExitCode
from engine.executors.base import ExecutorCapabilities, LastRun, ProcessId, SpawnError
from engine.executors.scripted import Play, ScriptedExecutor
from engine.observe.progress import LineReporter
from engine.plan.cascade import parse_cascade
from engine.plan.graph import build_graph
from engine.plan.settings import Settings
from engine.run.runner import Runner, RunOptions


def cascade_text(rows: Sequence[tuple[str, str]], settings: str = "") -> str:
    table = "\n".join(f"| {t} | Task {t} | change {t} | {d} |" for t, d in rows)
    return (
        f"# Policy\n\n{settings}\n\n## L1: Work\n\n"
        "| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"
        f"{table}\n"
    )


def run(
    tmp_path: Path,
    rows: Sequence[tuple[str, str]],
    script: dict[str, list[Play]],
    *,
    agent: str = "command",
    jobs: int = 4,
    settings: str = "",
    executor: ScriptedExecutor | None = None,
) -> tuple[ExitCode, ScriptedExecutor, dict[str, dict[str, object]], str]:
    path = tmp_path / "CASCADE.md"
    path.write_text(cascade_text(rows, settings))
    cascade = parse_cascade(path.read_text(), str(path))
    overrides = (
        Settings(agent="command", command="true {id}")
        if agent == "command"
        else (Settings(agent="claude"))
    )
    options = RunOptions(
        cascade_path=path,
        state_dir=tmp_path / "state",
        logs_dir=tmp_path / "logs",
        jobs=jobs,
        overrides=overrides,
        programs={"claude": "true"},
    )
    executor = executor if executor is not None else ScriptedExecutor(script)
    out = io.StringIO()
    runner = Runner(
        cascade, build_graph(cascade), options, LineReporter(out, colour=False), executor
    )
    runner.prepare()
    code = runner.run()
    doc = json.loads((tmp_path / "state" / "state.json").read_bytes())
    return code, executor, doc["tasks"], out.getvalue()


def claude_lines(session: str, *, error: bool = False, text: str = "ok") -> list[bytes]:
    """What Claude Code prints for one short attempt: init, then a result."""
    return [
        json.dumps(
            {"type": "system", "subtype": "init", "session_id": session, "model": "claude-sonnet-5"}
        ).encode(),
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": error,
                "stop_reason": "end_turn",
                "num_turns": 1,
                "session_id": session,
                "result": text,
                "total_cost_usd": 0.5,
                "modelUsage": {
                    "claude-sonnet-5": {
                        "inputTokens": 10,
                        "outputTokens": 2,
                        "cacheReadInputTokens": 0,
                        "cacheCreationInputTokens": 0,
                    }
                },
            }
        ).encode(),
    ]


def test_dependents_start_only_after_their_dependencies_and_jobs_caps_concurrency(
    tmp_path: Path,
) -> None:
    """Six independent tasks with -j 2 never run more than two at once; D runs after A, B."""
    rows = [("A", "-"), ("B", "-"), ("D", "A, B"), *((f"W{i}", "-") for i in range(4))]
    code, executor, tasks, _ = run(
        tmp_path, rows, {t: [Play(seconds=0.01)] for t, _ in rows}, jobs=2
    )
    assert code is ExitCode.OK
    assert executor.peak == 2
    order = [t for t, _ in executor.launches]
    assert order.index("D") > max(order.index("A"), order.index("B"))
    assert {t["status"] for t in tasks.values()} == {"done"}


def test_a_transient_failure_is_retried_and_a_failure_blocks_only_its_dependents(
    tmp_path: Path,
) -> None:
    """A fails once then works (attempts 2); B fails for good and blocks C, not E."""
    rows = [("A", "-"), ("B", "-"), ("C", "B"), ("E", "-")]
    script = {"A": [Play(code=1), Play()], "B": [Play(code=3)]}
    code, _, tasks, said = run(tmp_path, rows, script, settings="- retries: 1\n- retry-delay: 10ms")
    assert code is ExitCode.TASKS_NOT_DONE
    assert (tasks["A"]["status"], tasks["A"]["attempts"]) == ("done", 2)
    assert (tasks["B"]["status"], tasks["B"]["attempts"]) == ("failed", 2)
    assert (tasks["C"]["status"], tasks["C"]["reason"]) == ("blocked", "dependency B failed")
    assert tasks["E"]["status"] == "done"
    assert "B failed: the command exited with code 3" in said


def test_a_usage_limit_pauses_every_launch_and_resumes_the_session_without_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rejected limit (reset 0.3 s away) stops all launches until then; A runs again with
    --resume of its session although retries is 0, and B starts only after the reset."""
    resets = time.time() + 0.3
    limit = json.dumps(
        {
            "type": "rate_limit_event",
            "rate_limit_info": {
                "status": "rejected",
                "resetsAt": resets,
                "rateLimitType": "five_hour",
            },
        }
    ).encode()
    script = {
        "A": [
            Play(lines=[*claude_lines("sess-A", error=True)[:1], limit], code=1),
            Play(lines=claude_lines("sess-A")),
        ],
        "B": [Play(lines=claude_lines("sess-B"))],
    }
    monkeypatch.setattr("engine.run.runner.RATE_LIMIT_MARGIN", 0.05)
    monkeypatch.setattr("engine.run.runner.RATE_LIMIT_MIN_WAIT", 0.05)
    code, executor, tasks, said = run(
        tmp_path, [("A", "-"), ("B", "A")], script, agent="claude", settings="- retries: 0"
    )
    assert code is ExitCode.OK
    assert [t for t, _ in executor.launches] == ["A", "A", "B"]
    second = executor.launches[1][1]
    assert "--resume" in second.argv
    assert "sess-A" in second.argv
    assert (tasks["A"]["attempts"], tasks["A"]["failure"]) == (2, None)
    assert "waiting for rate limit until" in said


def test_a_usage_limit_whose_reset_is_past_waits_and_backs_off_when_it_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A limit whose resetsAt is an hour past still waits the minimum from now; when it comes
    back right after each wait, the wait doubles, and the run says so. (Today's bug: a stale
    reset relaunched at once, 90 times in 10 s.)"""
    stale = time.time() - 3600
    limit = json.dumps(
        {
            "type": "rate_limit_event",
            "rate_limit_info": {
                "status": "rejected",
                "resetsAt": stale,
                "rateLimitType": "five_hour",
            },
        }
    ).encode()
    rejected = Play(lines=[*claude_lines("sess-A", error=True)[:1], limit], code=1)
    script = {"A": [rejected, rejected, rejected, Play(lines=claude_lines("sess-A"))]}
    monkeypatch.setattr("engine.run.runner.RATE_LIMIT_MARGIN", 0.0)
    monkeypatch.setattr("engine.run.runner.RATE_LIMIT_MIN_WAIT", 0.1)
    code, executor, tasks, said = run(
        tmp_path, [("A", "-")], script, agent="claude", settings="- retries: 0"
    )
    assert code is ExitCode.OK
    assert [t for t, _ in executor.launches] == ["A"] * 4
    at = executor.launched_at
    gaps = [later - earlier for earlier, later in itertools.pairwise(at)]
    # At least the minimum, then twice it, then four times: a floor, so load cannot break it.
    assert [g >= floor for g, floor in zip(gaps, (0.1, 0.2, 0.4), strict=True)] == [True] * 3
    assert "its reset time is past or near; waiting at least" in said
    assert "came back right after its wait (once)" in said
    assert "came back right after its wait (2 times in a row)" in said
    assert (tasks["A"]["status"], tasks["A"]["attempts"]) == ("done", 4)


def test_an_authentication_failure_halts_launches_and_says_how_to_log_in(
    tmp_path: Path,
) -> None:
    """A 401 on A: A fails as auth, B and C never start and say why, the run's warning says
    how to log in."""
    auth = [
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": True,
                "stop_reason": "stop_sequence",
                "api_error_status": 401,
                "result": "Invalid API key · Please run /login",
            }
        ).encode()
    ]
    code, executor, tasks, said = run(
        tmp_path,
        [("A", "-"), ("B", "-"), ("C", "-")],
        {"A": [Play(lines=auth, code=1)]},
        agent="claude",
        jobs=1,
    )
    assert code is ExitCode.TASKS_NOT_DONE
    assert [t for t, _ in executor.launches] == ["A"]
    assert tasks["A"]["failure"] == "auth"
    assert tasks["B"]["reason"].startswith("not started")
    doc = json.loads((tmp_path / "state" / "state.json").read_bytes())
    assert "claude /login" in doc["run"]["warning"]
    assert "claude /login" in said


def test_no_descriptors_to_start_an_agent_is_a_wait_not_a_failure(tmp_path: Path) -> None:
    """EMFILE at spawn: the task waits and starts again, no retry spent (retries is 0)."""
    script = {"A": [Play(raises=SpawnError(errno.EMFILE, "Too many open files")), Play()]}
    code, executor, tasks, said = run(tmp_path, [("A", "-")], script, settings="- retries: 0")
    assert code is ExitCode.OK
    assert [t for t, _ in executor.launches] == ["A", "A"]
    assert tasks["A"]["status"] == "done"
    assert "Too many open files; trying again in" in said
    assert [launch.env["NOVA_ATTEMPT"] for _, launch in executor.launches] == ["1", "1"]


def test_a_program_that_cannot_be_started_fails_at_once(tmp_path: Path) -> None:
    """ENOENT at spawn is permanent: no retry, its dependents blocked."""
    script = {"A": [Play(raises=SpawnError(errno.ENOENT, "No such file or directory"))]}
    code, executor, tasks, _ = run(
        tmp_path, [("A", "-"), ("B", "A")], script, settings="- retries: 3\n- retry-delay: 10ms"
    )
    assert code is ExitCode.TASKS_NOT_DONE
    assert len(executor.launches) == 1
    assert (tasks["A"]["failure"], tasks["B"]["status"]) == ("permanent", "blocked")


def test_an_executor_error_after_the_agent_ran_is_never_taken_for_a_start_failure(
    tmp_path: Path,
) -> None:
    """EMFILE raised after the agent ran (while cleaning up) is nova's error, not 'could not
    start': the task is not run again, so its work is not done twice."""
    script = {"A": [Play(lines=[b"did the work"], fails_after=OSError(errno.EMFILE, "x"))]}
    code, executor, tasks, _ = run(tmp_path, [("A", "-")], script, settings="- retries: 3")
    assert code is ExitCode.TASKS_NOT_DONE
    assert len(executor.launches) == 1
    assert tasks["A"]["status"] == "failed"
    assert "nova error" in tasks["A"]["reason"]


class _Survivors(ScriptedExecutor):
    """A scripted executor that found something the last run left running."""

    def end_survivors(self, last: LastRun) -> list[str]:
        super().end_survivors(last)
        return ["ended 1 process(es) the last run left running: 999 sleep 300."]


def test_the_runner_ends_the_last_runs_survivors_through_its_executor(tmp_path: Path) -> None:
    """The agents the state says were running, by pid and start time, and the last run's id
    go to the executor before the run begins; what it says it ended is told; then the run
    begins and ends once on it."""
    run(tmp_path, [("A", "-"), ("B", "-")], {})
    path = tmp_path / "state" / "state.json"
    doc = json.loads(path.read_bytes())
    doc["run"]["id"] = "old-run"
    doc["tasks"]["A"].update(status="running", pid=999, pid_started=123.5)
    path.write_text(json.dumps(doc))
    executor = _Survivors()
    code, _, _, said = run(tmp_path, [("A", "-"), ("B", "-")], {}, executor=executor)
    assert code is ExitCode.OK
    assert executor.survivors_of == [LastRun("old-run", (ProcessId("", 999, 123.5),))]
    assert "ended 1 process(es) the last run left running: 999 sleep 300." in said
    assert len(executor.runs) == 1
    assert executor.ended == 1
    assert [t for t, _ in executor.launches] == ["A"]  # B stayed done


@pytest.mark.parametrize("shared", [True, False])
def test_a_transcript_is_read_only_where_the_agent_shares_novas_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    """An attempt that ended without totals takes its tokens from Claude Code's transcript,
    which is a file where the agent ran: read when the executor shares nova's file system,
    never on a machine that is not the agent's."""
    config = tmp_path / "config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    projects = config / "projects" / transcript_slug(os.getcwd())  # the agent works there
    projects.mkdir(parents=True)
    reply = {
        "type": "assistant",
        "timestamp": "2099-01-01T00:00:00.000Z",
        "requestId": "req_1",
        "message": {
            "id": "msg_1",
            "model": "claude-sonnet-5",
            "usage": {"input_tokens": 100, "output_tokens": 7},
        },
    }
    (projects / "sess-A.jsonl").write_text(json.dumps(reply) + "\n")
    executor = ScriptedExecutor(
        {"A": [Play(lines=claude_lines("sess-A")[:1], code=1)]},
        capabilities=ExecutorCapabilities(shared_fs=shared),
    )
    _, _, tasks, _ = run(
        tmp_path, [("A", "-")], {}, agent="claude", settings="- retries: 0", executor=executor
    )
    tokens = tasks["A"]["tokens"]
    assert bool(tokens) is shared, tokens


def test_a_ctrl_c_before_the_loop_stops_the_run_at_once_and_sigint_stays_novas(
    tmp_path: Path,
) -> None:
    """A SIGINT that nova's handler recorded while the run prepared (deferred, so no
    KeyboardInterrupt) stops the run as soon as its loop starts: 130, no agent started; and
    when the loop's own handler goes, nova's is back (asyncio would leave Python's default)."""
    previous = signal.getsignal(signal.SIGINT)
    interrupt.install()
    try:
        with interrupt.deferred():
            signal.raise_signal(signal.SIGINT)
            code, executor, tasks, out = run(tmp_path, [("A", "-"), ("B", "A")], {})
        assert interrupt.installed()
    finally:
        signal.signal(signal.SIGINT, previous)
        interrupt.reset()
    assert (code, executor.launches) == (ExitCode.INTERRUPTED, [])
    assert "Ctrl-C: stopping the run (no agent is running)." in out
    assert {t: s["status"] for t, s in tasks.items()} == {"A": "pending", "B": "pending"}
