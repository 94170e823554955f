"""`nova run` end to end: the real `nova` command and Claude Code CLI against the API double.

Every test writes a CASCADE.md into a temporary project, runs the installed `nova` as a
subprocess (tests/support/nova_run.py) with the CLI pointed at a loopback double
(tests/support/messages_double.py), and checks what nova reports against what the double
actually served: tokens per model, the prompts the agents got, which tasks ran at all.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

from tests.support.messages_double import (
    MessagesDouble,
    cut_stream,
    fail_then_ok,
    http_error,
    ok,
)
from tests.support.nova_run import (
    DEADLINE,
    NovaProject,
    epoch,
    pids_with,
    read_cmdline,
    read_environ,
    wait_for,
)

pytestmark = pytest.mark.claude

Double = Callable[..., MessagesDouble]
RULE = "=" * 78
Usage = dict[str, dict[str, int]]


# --------------------------------------------------------------------------
# helpers


def _said(proc: Any) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def _attempts(log: str) -> list[tuple[str, str, str]]:
    """(header, body, footer) of every attempt in a task log, in order."""
    parts = log.split(RULE)
    assert parts[0] == "", log
    assert len(parts) % 4 == 1, log
    return [(parts[i], parts[i + 1], parts[i + 2]) for i in range(1, len(parts), 4)]


def _token_lines(usage: Usage) -> list[str]:
    """How a log footer lists `usage` (the double's numbers), one line per model."""
    return [
        f"  {model}: input {t['input']}, output {t['output']}, cache read {t['cache_read']}, "
        f"cache write {t['cache_creation']}"
        for model, t in sorted(usage.items())
    ]


def _add(*usages: Usage) -> Usage:
    out: Usage = {}
    for usage in usages:
        for model, tokens in usage.items():
            acc = out.setdefault(model, dict.fromkeys(tokens, 0))
            for kind, n in tokens.items():
                acc[kind] += n
    return out


def _prompt_text(api: MessagesDouble, task_id: str) -> str:
    """The messages of the first request the double got for a task, as one string."""
    first = api.messages_requests(task_id)[0]
    return json.dumps(first.body["messages"], ensure_ascii=False)


def _max_concurrent(tasks: dict[str, dict[str, Any]]) -> int:
    """The most tasks whose [started, ended] intervals overlap at one instant."""
    edges = []
    for task in tasks.values():
        edges.append((epoch(task["started"]), 1))
        edges.append((epoch(task["ended"]), -1))
    running = most = 0
    for _, step in sorted(edges):  # at equal times an end (-1) sorts before a start
        running += step
        most = max(most, running)
    return most


def _one_task_cascade(task_id: str) -> str:
    return (
        "# Stop\n\n- model: sonnet\n\n## L1: Work\n\n### L2: Steps\n"
        "| Task ID | Task Name | What Changes | Depends On |\n"
        "|---------|-----------|--------------|------------|\n"
        f"| {task_id} | Task {task_id} | change {task_id} | - |\n"
    )


def _sleeping_agent(project: NovaProject, task_id: str) -> tuple[str, int, int] | None:
    """(run id, agent pid, pid of the `sleep 300` its Bash tool runs), once both exist."""
    state = project.state()
    if not state or state["tasks"][task_id]["status"] != "running":
        return None
    run_id, agent = state["run"]["id"], state["tasks"][task_id]["pid"]
    for pid in pids_with(f"NOVA_RUN_ID={run_id}"):
        if read_cmdline(pid) == ["sleep", "300"] and agent:
            return run_id, agent, pid
    return None


@dataclass
class Interrupted:
    """What an interrupted `nova run` left: its exit, output, run id, and the processes it had."""

    returncode: int
    output: str
    run_id: str
    agent: psutil.Process
    sleeper: psutil.Process


def _gone(process: psutil.Process) -> bool:
    """True once the process has ended (a zombie has; a reused pid is another process)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _interrupt_during_bash(project: NovaProject, task_id: str) -> Interrupted:
    """Start `nova run`, wait until the task's Bash tool runs `sleep 300`, then Ctrl-C nova."""
    with project.start() as nova:
        run_id, agent, sleep_pid = wait_for(
            lambda: _sleeping_agent(project, task_id),
            f"task {task_id} to run `sleep 300` in its Bash tool",
            alive=nova,
        )
        sleeper, agent_process = psutil.Process(sleep_pid), psutil.Process(agent)
        # The tool call left the agent's session, but it is below the agent and carries
        # the task's marker: the two ways nova finds it.
        assert os.getsid(sleep_pid) != os.getsid(agent)
        assert agent in [p.pid for p in sleeper.parents()]
        assert f"NOVA_TASK_TOKEN={run_id}/{task_id}/1".encode() in (read_environ(sleep_pid) or [])
        nova.send_signal(signal.SIGINT)
        out, err = nova.communicate(timeout=DEADLINE)
    return Interrupted(nova.returncode, out + err, run_id, agent_process, sleeper)


# --------------------------------------------------------------------------
# a whole graph


GRAPH = """\
# Shop

- model: sonnet

## L1: Core

### L2: Base
| Task ID | Task Name | What Changes | Depends On | Model |
|---------|-----------|--------------|------------|-------|
| A1 | Types | Define the base types | - | opus |
| A2 | Errors | Add the error types | A1 | sonnet |

### L2: Build
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| A3 | Loader | Load the configuration | A1, A2 |

#### A3: Loader
- model: opus

Read the types A1 defined before writing the loader.

## L1: Side

### L2: Tools
| Task ID | Task Name | What Changes | Depends On | Model |
|---------|-----------|--------------|------------|-------|
| B1 | Lint | Add a linter | - | opus |
| B2 | Format | Add a formatter | - | sonnet |

### L2: Release
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| B3 | Docs | Write the docs | - |
| R1 | Package | Build the package | A3, B1 |
"""
PLAN = {  # what GRAPH says: task ID -> (name, model, depends on)
    "A1": ("Types", "opus", []),
    "A2": ("Errors", "sonnet", ["A1"]),
    "A3": ("Loader", "opus", ["A1", "A2"]),
    "B1": ("Lint", "opus", []),
    "B2": ("Format", "sonnet", []),
    "B3": ("Docs", "sonnet", []),
    "R1": ("Package", "sonnet", ["A3", "B1"]),
}
NAMES = {task_id: name for task_id, (name, _, _) in PLAN.items()}
MODELS = {task_id: model for task_id, (_, model, _) in PLAN.items()}
DEPENDS = {task_id: deps for task_id, (_, _, deps) in PLAN.items()}
TOOL_CALLS = {"A1": 2}


def test_graph_runs_every_task_with_exact_tokens_per_model_and_dependency_order(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """Seven tasks, two models, -j 3: all done, tokens as the API served, deps kept, logs whole."""
    project = nova_project
    project.write_cascade(GRAPH)
    api = project.use(messages_double({"A1": ok(tool_calls=2), "*": ok(tool_calls=1)}))

    proc = project.run("-j", "3", "--retries", "0")

    assert proc.returncode == 0, _said(proc)
    doc = project.status_json()
    tasks = doc["tasks"]
    assert sorted(tasks) == sorted(NAMES)
    assert doc["run"]["jobs"] == 3
    assert doc["run"]["exit_code"] == 0
    assert doc["totals"]["by_status"]["done"] == len(NAMES)

    session_ids = set()
    for task_id, task in tasks.items():
        served = api.usage_by_model(task_id)
        assert (task["status"], task["attempts"]) == ("done", 1), (task_id, task)
        assert task["model"] == MODELS[task_id]
        # The model the setting chose is the one the API was asked for, and the only one.
        assert len(served) == 1, served
        assert MODELS[task_id] in next(iter(served)), served
        assert task["tokens"] == served, task_id
        assert task["cost_usd"] > 0
        assert str(uuid.UUID(task["session_id"])) == task["session_id"]
        session_ids.add(task["session_id"])
        for dep in DEPENDS[task_id]:
            assert epoch(task["started"]) >= epoch(tasks[dep]["ended"]), (task_id, dep)
        assert task["depends_on"] == DEPENDS[task_id]
    assert len(session_ids) == len(tasks)

    # Totals are the sums: tokens per model as the API counted them, cost as the tasks'.
    assert doc["totals"]["tokens"] == api.usage_by_model()
    families = sorted(f for m in doc["totals"]["tokens"] for f in ("opus", "sonnet") if f in m)
    assert families == ["opus", "sonnet"]
    assert doc["totals"]["cost_usd"] == pytest.approx(
        sum(t["cost_usd"] for t in tasks.values()), abs=1e-5
    )
    # A1, B1 and B2 were ready at once; B3 too, but -j 3 held it back.
    assert _max_concurrent(tasks) == 3

    for task_id, task in tasks.items():
        ((header, body, footer),) = _attempts(project.log(task_id))
        assert header.startswith(f"\ntask {task_id} · {NAMES[task_id]} · attempt 1 · started ")
        assert f" --model {MODELS[task_id]} " in header
        calls = TOOL_CALLS.get(task_id, 1)
        assert body.count(f"] → Bash: echo hello from {task_id}\n") == calls
        assert body.count(f"] ← hello from {task_id}\n") == calls  # the tool really ran
        assert footer.startswith("\ndone\nexit 0 · ")
        assert footer.endswith(
            "\n".join(["tokens:", *_token_lines(api.usage_by_model(task_id))]) + "\n"
        )

        events = project.raw_events(task_id)
        assert events[0]["type"] == "system"
        assert events[0]["subtype"] == "init"
        assert events[0]["session_id"] == task["session_id"]
        result = events[-1]
        assert result["type"] == "result"
        assert result["is_error"] is False
        assert task["cost_usd"] == pytest.approx(result["total_cost_usd"], abs=1e-6)

    # Each agent was told what its dependencies reported, and only those.
    for task_id, deps in DEPENDS.items():
        prompt = _prompt_text(api, task_id)
        assert f"nova-task: {task_id}" in prompt
        for dep in DEPENDS:
            line = f"- {dep}: {NAMES[dep]} — reported: Finished {dep}."
            assert (line in prompt) == (dep in deps), (task_id, dep)


# --------------------------------------------------------------------------
# failures


FAILING_CHAIN = """\
# Chain

- model: sonnet

## L1: Core

### L2: Chain
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| F1 | Schema | Define the schema | - |
| F2 | Models | Build models on the schema | F1 |

### L2: Api
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| F3 | Endpoints | Serve the models | F2 |

## L1: Side

### L2: Free
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| S1 | Readme | Write the readme | - |
| S2 | License | Add a license | S1 |
"""


def test_failed_task_blocks_its_dependents_while_an_independent_branch_finishes(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """A 400 fails F1 once (no retry); F2 and F3 are blocked naming F1; S1, S2 finish; exit 1."""
    project = nova_project
    project.write_cascade(FAILING_CHAIN)
    api = project.use(
        messages_double(
            {
                "F1": http_error(400, message="messages.0.content: field required"),
                "*": ok(tool_calls=1),
            }
        )
    )

    proc = project.run("-j", "3", "--retries", "2", "--retry-delay", "0.1s")

    assert proc.returncode == 1, _said(proc)
    tasks = project.status_json()["tasks"]
    f1 = tasks["F1"]
    assert (f1["status"], f1["failure"], f1["attempts"]) == ("failed", "permanent", 1)
    assert "400" in f1["reason"]
    for blocked in ("F2", "F3"):
        task = tasks[blocked]
        assert (task["status"], task["attempts"]) == ("blocked", 0), task
        assert task["reason"] == "dependency F1 failed"
        assert not (project.dir / "logs" / f"{blocked}.log").exists()
    for free in ("S1", "S2"):
        assert tasks[free]["status"] == "done"
        assert tasks[free]["tokens"] == api.usage_by_model(free)

    assert [r.kind for r in api.messages_requests("F1")] == ["http_error:400"]
    assert {r.task_id for r in api.messages_requests()} == {"F1", "S1", "S2"}
    ((_, _, footer),) = _attempts(project.log("F1"))
    assert footer.startswith("\nfailed · ")
    assert "400" in footer.splitlines()[1]
    assert "tokens: none counted" in footer


def test_transient_529_is_retried_and_only_the_successful_attempt_counts_tokens(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """An overloaded API (529) fails attempt 1; nova retries; attempt 2 is done with its tokens."""
    project = nova_project
    project.write_cascade(_one_task_cascade("T1"))
    api = project.use(messages_double({"T1": fail_then_ok(529, times=1, then=ok(tool_calls=1))}))

    proc = project.run("--retries", "2", "--retry-delay", "0.1s")

    assert proc.returncode == 0, _said(proc)
    task = project.status_json()["tasks"]["T1"]
    assert (task["status"], task["attempts"], task["failure"]) == ("done", 2, None)
    assert [r.kind for r in api.messages_requests("T1")] == [
        "http_error:529",
        "ok:tool_use",
        "ok:end_turn",
    ]
    assert task["tokens"] == api.usage_by_model("T1")
    assert task["cost_usd"] == pytest.approx(
        project.raw_events("T1", 2)[-1]["total_cost_usd"], abs=1e-6
    )
    failed_attempt = project.raw_events("T1", 1)[-1]
    assert failed_attempt["is_error"] is True
    assert failed_attempt["api_error_status"] == 529

    (_, _, failed), (header, body, done) = _attempts(project.log("T1"))
    assert failed.startswith("\nwill retry · ")
    assert "529" in failed
    assert "tokens: none counted" in failed
    assert "attempt 2" in header
    assert "--resume" not in header
    assert "→ Bash: echo hello from T1" in body
    assert done.startswith("\ndone\n")


def test_cut_stream_without_stop_reason_fails_the_task(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """A stream cut before message_delta, which the CLI itself reports as success, is a failure."""
    project = nova_project
    project.write_cascade(_one_task_cascade("C1"))
    api = project.use(messages_double({"C1": cut_stream()}))

    proc = project.run("--retries", "0")

    assert proc.returncode == 1, _said(proc)
    task = project.status_json()["tasks"]["C1"]
    assert (task["status"], task["failure"], task["attempts"]) == ("failed", "transient", 1)
    assert "stream was cut" in task["reason"]
    assert "stop reason" in task["reason"]
    assert [r.kind for r in api.messages_requests("C1")] == ["cut_stream:eof"]
    # What the CLI said: exit 0, a result that is not an error, and no stop reason.
    result = project.raw_events("C1")[-1]
    assert result["type"] == "result"
    assert (result["is_error"], result["stop_reason"]) == (False, None)
    assert task["exit_code"] == 0
    ((_, _, footer),) = _attempts(project.log("C1"))
    assert footer.startswith("\nfailed · the API stream was cut")


def test_an_agent_killed_during_an_api_call_counts_its_tokens_from_the_transcript(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """The agent is SIGKILLed while its second API call hangs: no result, and its stdout has
    only the first reply's opening usage (output 1). nova reads the session transcript, so
    the task's tokens are exactly the double's served usage."""
    project = nova_project
    project.write_cascade(_one_task_cascade("H1"))
    api = project.use(messages_double({"H1": ok(tool_calls=1, hang_from_turn=1)}))

    with project.start("--retries", "0") as proc:
        wait_for(
            lambda: [r.kind for r in api.messages_requests("H1")] == ["ok:tool_use", "hang"],
            "the second API call to hang",
            alive=proc,
        )
        pid = wait_for(lambda: (project.state() or {})["tasks"]["H1"]["pid"], "the agent's pid")
        # The CLI writes its transcript a moment after each reply: kill once it has.
        wait_for(
            lambda: any(
                b'"output_tokens":80' in path.read_bytes()
                for path in (project.dir / "home" / ".claude" / "projects").glob("*/*.jsonl")
            ),
            "the first reply in the transcript",
        )
        os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 1

    task = project.status_json()["tasks"]["H1"]
    assert (task["status"], task["reason"]) == ("failed", "the agent was killed by signal 9")
    assert not any(e.get("type") == "result" for e in project.raw_events("H1"))
    assert task["tokens"] == api.usage_by_model("H1")
    assert task["tokens"]["claude-sonnet-5"]["output"] == 80  # stdout said 1
    assert "tokens are read from Claude Code's session transcript" in project.log("H1")


# --------------------------------------------------------------------------
# Ctrl-C and resuming


def test_ctrl_c_during_a_bash_tool_cancels_the_task_and_leaves_no_process(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """Ctrl-C while the agent's Bash tool runs `sleep 300` in its own session: 130, no leftovers."""
    project = nova_project
    project.write_cascade(_one_task_cascade("S1"))
    project.use(messages_double({"S1": ok(tool_calls=1, command="sleep 300")}))

    stopped = _interrupt_during_bash(project, "S1")

    assert stopped.returncode == 130, stopped.output
    assert pids_with(f"NOVA_RUN_ID={stopped.run_id}") == []
    assert _gone(stopped.sleeper)
    assert _gone(stopped.agent)
    doc = project.status_json()
    task = doc["tasks"]["S1"]
    assert (task["status"], task["pid"]) == ("cancelled", None)
    assert doc["run"]["exit_code"] == 130
    assert doc["run"]["alive"] is False
    ((_, _, footer),) = _attempts(project.log("S1"))
    assert footer.startswith("\ncancelled · stopped by the user")


RESUMABLE = """\
# Resume

- model: sonnet

## L1: Core

### L2: Base
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| D1 | Setup | Set up the project | - |
| F1 | Parser | Write the parser | D1 |
| G1 | Checker | Check parsed input | F1 |

## L1: Side

### L2: Other
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| D2 | Styles | Add the styles | - |
"""


def test_second_run_resumes_failed_and_blocked_tasks_without_redoing_done_ones(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """Run 2 after a failure runs only F1 and G1; D1 and D2 keep their run-1 results and tokens."""
    project = nova_project
    project.write_cascade(RESUMABLE)
    first = project.use(messages_double({"F1": http_error(400), "*": ok(tool_calls=1)}))
    proc = project.run("-j", "2", "--retries", "0")
    assert proc.returncode == 1, _said(proc)
    before = project.status_json()["tasks"]
    assert {t: before[t]["status"] for t in before} == {
        "D1": "done",
        "F1": "failed",
        "G1": "blocked",
        "D2": "done",
    }

    second = project.use(messages_double({"*": ok(tool_calls=1)}))
    proc = project.run("-j", "2", "--retries", "0")

    assert proc.returncode == 0, _said(proc)
    doc = project.status_json()
    tasks = doc["tasks"]
    assert all(t["status"] == "done" for t in tasks.values()), tasks
    assert {r.task_id for r in second.messages_requests()} == {"F1", "G1"}
    for kept in ("D1", "D2"):
        assert tasks[kept] == before[kept]  # not run again: same times, session, tokens
        assert tasks[kept]["tokens"] == first.usage_by_model(kept)
    assert (tasks["F1"]["attempts"], tasks["G1"]["attempts"]) == (2, 1)
    assert tasks["F1"]["tokens"] == second.usage_by_model("F1")
    assert tasks["G1"]["tokens"] == second.usage_by_model("G1")
    assert doc["totals"]["tokens"] == _add(first.usage_by_model(), second.usage_by_model())
    # F1 saw D1's run-1 result, G1 saw F1's run-2 result; F1 started afresh (it had failed).
    assert "- D1: Setup — reported: Finished D1." in _prompt_text(second, "F1")
    assert "- F1: Parser — reported: Finished F1." in _prompt_text(second, "G1")
    (first_header, _, _), (second_header, _, _) = _attempts(project.log("F1"))
    assert "attempt 1" in first_header
    assert "attempt 2" in second_header
    assert "--resume" not in second_header


def test_interrupted_claude_task_resumes_its_session_on_the_next_run(
    nova_project: NovaProject, messages_double: Double
) -> None:
    """A task cancelled mid-Bash runs again as `claude --resume <session>`, with its history."""
    project = nova_project
    project.write_cascade(_one_task_cascade("S1"))
    first = project.use(messages_double({"S1": ok(tool_calls=1, command="sleep 300")}))
    stopped = _interrupt_during_bash(project, "S1")
    assert stopped.returncode == 130, stopped.output
    cancelled = project.status_json()["tasks"]["S1"]
    assert cancelled["status"] == "cancelled"
    session = cancelled["session_id"]

    # Should the session start afresh instead, its first turn would be a quick echo, not sleep.
    second = project.use(messages_double({"S1": ok(tool_calls=1, command="echo {task} anew")}))
    proc = project.run("--retries", "0")

    assert proc.returncode == 0, _said(proc)
    task = project.status_json()["tasks"]["S1"]
    assert (task["status"], task["attempts"], task["session_id"]) == ("done", 2, session)
    _, (header, body, footer) = _attempts(project.log("S1"))
    assert "attempt 2" in header
    assert f" --resume {session}\n" in header
    assert f"] session {session} · " in body  # the CLI reports the resumed session
    assert "anew" not in body
    assert footer.startswith("\ndone\n")

    # The CLI resent the interrupted session (the first prompt and the reply that started the
    # sleep), then nova's resume prompt.  Whether the sleep's tool_use block itself comes back
    # varies: on SIGINT the CLI sometimes exits before its transcript holds the interrupted
    # tool_result, and on resume it drops a tool_use that has no result.
    (resumed,) = second.messages_requests("S1")
    assert resumed.kind == "ok:end_turn"
    messages = resumed.body["messages"]
    assert "Your task is S1: Task S1" in json.dumps(messages[0], ensure_ascii=False)
    replies = [m for m in messages if m["role"] == "assistant"]
    assert replies
    assert replies[0]["content"][0]["text"] == "Running step 1 for S1."
    calls = [
        b["input"]["command"] for m in replies for b in m["content"] if b["type"] == "tool_use"
    ]
    assert calls in ([], ["sleep 300"])
    last = json.dumps(messages[-1], ensure_ascii=False)
    assert messages[-1]["role"] == "user"
    assert "nova-task: S1" in last
    assert "You were interrupted before finishing this task" in last
    assert task["tokens"] == _add(first.usage_by_model("S1"), second.usage_by_model("S1"))
