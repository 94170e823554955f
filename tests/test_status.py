"""`nova status` rendering: every section and task in the text report, totals per model, the
run line (running, paused for a usage limit, dead, finished), and the JSON document's keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.commands import cli
from engine.observe.state import RunState, State, StateEncoder, TaskState
from engine.observe.status import (
    render_status,
    status_json,
    status_json_frame,
    status_json_text,
)
from engine.observe.store import StateStore
from engine.observe.usage import Tokens
from engine.outcome import TaskStatus

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
NOW = T0 + 3000


@pytest.fixture(autouse=True)
def utc_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local clock times in the report are rendered in UTC, so expected strings are fixed."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def task(task_id: str, status: TaskStatus, branch: str, group: str, **kw: object) -> TaskState:
    ts = TaskState(id=task_id, name=f"Name {task_id}", branch=branch, group=group, status=status)
    for key, value in kw.items():
        setattr(ts, key, value)
    return ts


def make_state(running: bool = True) -> State:
    tasks = [
        task(
            "F1",
            TaskStatus.DONE,
            "Service",
            "Foundation",
            attempts=1,
            started=T0,
            ended=T0 + 90,
            agent="claude",
            permission_mode="acceptEdits",
            prior_tokens={"claude-sonnet-5": Tokens(1000, 200, 5000, 300)},
            prior_cost=0.25,
            session_id="sess-f1",
            exit_code=0,
        ),
        task(
            "F2",
            TaskStatus.RUNNING,
            "Service",
            "Foundation",
            attempts=2,
            pid=31337,
            started=T0 + 100,
            last_output=NOW - 20 * 60,
            agent="claude",
            permission_mode="default",
            live_tokens={"claude-opus-4-8": Tokens(10, 5, 0, 0)},
            live_cost=0.5,
        ),
        task(
            "S1",
            TaskStatus.PENDING,
            "Service",
            "Storage",
            attempts=1,
            reason="API error 529",
            next_attempt_at=T0 + 3600,
        ),
        task("S2", TaskStatus.BLOCKED, "Service", "Storage", reason="blocked by F9"),
        task(
            "H1",
            TaskStatus.FAILED,
            "Interface",
            "HTTP",
            attempts=3,
            exit_code=1,
            reason="the command exited with code 1",
            agent="command",
            prior_tokens={"claude-sonnet-5": Tokens(1, 1, 1, 1)},
            prior_cost=0.125,
        ),
        task("R1", TaskStatus.CANCELLED, "Interface", "", reason="stopped by the user"),
    ]
    run = RunState(id="r1", pid=4242, started=T0, running=running, jobs=4)
    return State(
        project="Link Shortener", cascade="/p/CASCADE.md", run=run, tasks={t.id: t for t in tasks}
    )


def test_report_shows_every_branch_group_and_task() -> None:
    """Each branch and group gets a heading with its rollup; every task has a row."""
    text = render_status(make_state(), alive=True, now=NOW)
    assert "Service  [1/4 done · 6.5k tokens · $0.7500]" in text
    assert " Foundation  [1/2 done · 6.5k tokens · $0.7500]" in text
    assert " Storage  [0/2 done · 0 tokens · -]" in text
    assert "Interface  [0/2 done · 4 tokens · $0.1250]" in text
    assert " HTTP  [0/1 done · 4 tokens · $0.1250]" in text
    rows = {
        line.split()[1]: line
        for line in text.splitlines()
        if line.startswith("  ") and len(line.split()) > 2 and line.split()[0] in "·▶✓✗⊘■"
    }
    assert set(rows) == {"F1", "F2", "S1", "S2", "H1", "R1"}
    assert rows["F1"].split()[:6] == ["✓", "F1", "done", "1m30s", "6.5k", "$0.2500"]
    assert "claude:acceptEdits  Name F1" in rows["F1"]
    assert "command" in rows["H1"]
    assert "Name H1 — the command exited with code 1" in rows["H1"]


def test_report_details_running_retrying_and_blocked_tasks() -> None:
    """Running shows attempt, pid and a long silence; a retry shows its next try time."""
    text = render_status(make_state(), alive=True, now=NOW)
    assert "Name F2 — attempt 2, pid 31337, stalled? no output for 20m00s" in text
    assert "Name S1 — API error 529 (next try 01:00)" in text
    assert "Name S2 — blocked by F9" in text
    assert "claude:default" in text


def test_report_counts_statuses_and_totals_tokens_per_model() -> None:
    """The summary line counts each status; the footer gives cost and tokens per model."""
    text = render_status(make_state(), alive=True, now=NOW)
    lines = text.splitlines()
    assert lines[1] == "  1 blocked, 1 cancelled, 1 done, 1 failed, 1 pending, 1 running"
    assert "total cost $0.8750" in lines
    assert "  claude-opus-4-8: 10 in, 5 out, 0 cache read, 0 cache write" in lines
    assert "  claude-sonnet-5: 1.0k in, 201 out, 5.0k cache read, 301 cache write" in lines


def test_run_line_says_running_with_pid() -> None:
    """A live run names its pid and start time."""
    text = render_status(make_state(), alive=True, now=NOW)
    assert text.splitlines()[0] == "Link Shortener — running (pid 4242, started 00:00)"


def test_paused_run_says_waiting_for_rate_limit_until() -> None:
    """A run paused by a usage limit says until when, and why."""
    state = make_state()
    state.run.paused_until = T0 + 5 * 3600 + 38 * 60
    state.run.pause_reason = "usage limit reached"
    first = render_status(state, alive=True, now=NOW).splitlines()[0]
    assert first == (
        "Link Shortener — running (pid 4242, started 00:00) — waiting for rate "
        "limit until 05:38 (usage limit reached)"
    )


def test_dead_run_is_reported_and_its_running_tasks_marked_interrupted() -> None:
    """A run whose process is gone does not claim to be running anything."""
    text = render_status(make_state(), alive=False, now=NOW)
    assert text.splitlines()[0] == (
        "Link Shortener — not running: the run (pid 4242) stopped without saying so. "
        "Run 'nova run' again to resume."
    )
    assert "Name F2 — interrupted: the run is gone; 'nova run' resumes it" in text


def test_finished_run_gives_its_exit_code() -> None:
    """After the run, the line says when it ended and how."""
    state = make_state(running=False)
    state.run.ended = T0 + 4000
    state.run.exit_code = 1
    first = render_status(state, alive=False, now=NOW).splitlines()[0]
    assert first == "Link Shortener — finished 01:06 with exit code 1"


def test_colour_paints_task_rows_only_when_asked() -> None:
    """ANSI colours appear with colour=True and never without."""
    state = make_state()
    assert "\x1b[" not in render_status(state, alive=True, now=NOW)
    coloured = render_status(state, alive=True, now=NOW, colour=True)
    assert "\x1b[32m  ✓  F1" in coloured
    assert "\x1b[31m  ✗  H1" in coloured


def test_empty_state_renders() -> None:
    """A state with no tasks still renders a report."""
    text = render_status(State(), alive=False, now=NOW)
    assert text.startswith("nova — not started")
    assert "total cost -" in text


def test_status_json_has_the_documented_keys_and_values() -> None:
    """project, run, tasks{ID:{status, attempts, exit_code, tokens, cost_usd, session_id}},
    totals{tokens, cost_usd}."""
    doc = status_json(make_state(), alive=True, now=NOW)
    doc = json.loads(json.dumps(doc))  # it must be plain JSON
    assert doc["project"] == "Link Shortener"
    assert doc["run"]["pid"] == 4242
    assert doc["run"]["alive"] is True
    assert set(doc["tasks"]) == {"F1", "F2", "S1", "S2", "H1", "R1"}
    for entry in doc["tasks"].values():
        assert {"status", "attempts", "exit_code", "tokens", "cost_usd", "session_id"} <= set(entry)
        for tokens in entry["tokens"].values():
            assert set(tokens) == {"input", "output", "cache_read", "cache_creation"}
    f1 = doc["tasks"]["F1"]
    assert (f1["status"], f1["attempts"], f1["exit_code"], f1["session_id"]) == (
        "done",
        1,
        0,
        "sess-f1",
    )
    assert f1["tokens"] == {
        "claude-sonnet-5": {"input": 1000, "output": 200, "cache_read": 5000, "cache_creation": 300}
    }
    assert f1["cost_usd"] == 0.25
    assert doc["tasks"]["F2"]["tokens"] == {
        "claude-opus-4-8": {"input": 10, "output": 5, "cache_read": 0, "cache_creation": 0}
    }
    assert doc["totals"]["tokens"] == {
        "claude-opus-4-8": {"input": 10, "output": 5, "cache_read": 0, "cache_creation": 0},
        "claude-sonnet-5": {
            "input": 1001,
            "output": 201,
            "cache_read": 5001,
            "cache_creation": 301,
        },
    }
    assert doc["totals"]["cost_usd"] == 0.875
    assert doc["totals"]["by_status"] == {
        "pending": 1,
        "running": 1,
        "done": 1,
        "failed": 1,
        "blocked": 1,
        "cancelled": 1,
    }
    assert doc["generated"] == "2026-01-01T00:50:00.000Z"


def test_status_json_sections_roll_up_per_branch_and_group() -> None:
    """Each (branch, group) lists its tasks, tokens and cost."""
    sections = status_json(make_state(), alive=False, now=NOW)["sections"]
    assert [(s["branch"], s["group"], s["tasks"]) for s in sections] == [
        ("Service", "Foundation", ["F1", "F2"]),
        ("Service", "Storage", ["S1", "S2"]),
        ("Interface", "HTTP", ["H1"]),
        ("Interface", "", ["R1"]),
    ]
    assert sections[0]["cost_usd"] == 0.75
    assert sections[1]["cost_usd"] is None
    assert sections[1]["tokens"] == {}


def test_running_task_of_a_dead_run_stops_its_clock_at_the_last_sign_of_life() -> None:
    """When nova was killed, a task it left 'running' shows the time to its last output or the
    run's last heartbeat, whichever is later, and the same time on every later look."""
    state = make_state()
    f2 = state.tasks["F2"]
    f2.last_output = T0 + 100 + 95
    state.run.heartbeat = T0 + 100 + 130
    later = [render_status(state, alive=False, now=now) for now in (NOW, NOW + 3600, NOW + 86400)]
    assert later[0] == later[1] == later[2]
    row = next(line for line in later[0].splitlines() if " F2 " in line)
    assert row.split()[:4] == ["▶", "F2", "running", "2m10s"]
    state.run.heartbeat = None  # only the output is known
    row = next(line for line in render_status(state, False, NOW).splitlines() if " F2 " in line)
    assert row.split()[3] == "1m35s"
    f2.last_output = None  # nothing is known after the start
    row = next(line for line in render_status(state, False, NOW).splitlines() if " F2 " in line)
    assert row.split()[3] == "-"
    # A live run's task counts up to now.
    row = next(line for line in render_status(state, True, NOW).splitlines() if " F2 " in line)
    assert row.split()[3] == "48m20s"


def test_totals_and_sections_keep_the_cost_the_cli_reported() -> None:
    """Costs of 0.1030345 and 0.2 add up to 0.3030345 in totals and sections, not a sum of
    numbers rounded to 6 places."""
    state = make_state()
    state.tasks["F1"].prior_cost = 0.1030345
    state.tasks["F2"].live_cost, state.tasks["F2"].prior_cost = 0.2, None
    state.tasks["H1"].prior_cost = None
    doc = status_json(State.from_json(json.loads(json.dumps(state.to_json()))), False, NOW)
    assert doc["tasks"]["F1"]["cost_usd"] == 0.1030345
    assert doc["totals"]["cost_usd"] == 0.3030345
    assert doc["sections"][0]["cost_usd"] == 0.3030345


def test_status_json_text_is_status_json_compact_or_indented() -> None:
    """Without indent the text is the document compact, as state.json is; with indent=2 it is
    json.dumps(indent=2)."""
    state = make_state()
    doc = status_json(state, True, NOW)
    compact = status_json_text(state, True, NOW)
    assert compact == json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
    assert status_json_text(state, True, NOW, indent=2) == (
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    )


def test_status_json_prints_the_state_files_tasks_as_they_are(tmp_path: Path) -> None:
    """From a state nova wrote, the compact document is the frame around the file's own JSON
    of the tasks, byte for byte the document built from the parsed tasks."""
    state = make_state()
    state.tasks["F2"].started = T0 + 100.1234567  # finer than the file's milliseconds
    store = StateStore(tmp_path)
    store.write_bytes(StateEncoder().encode(state))
    snapshot = store.read(tasks_json=True)
    assert snapshot is not None
    assert snapshot.tasks_json is not None
    head, tail = status_json_frame(snapshot.state, True, NOW)
    text = head + bytes(snapshot.tasks_json).decode() + tail
    doc = status_json(snapshot.state, True, NOW, tasks=snapshot.tasks)
    assert text == json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
    assert json.loads(text)["tasks"] == json.loads(StateEncoder().encode(state))["tasks"]
    indented = status_json_text(snapshot.state, True, NOW, indent=2, tasks=snapshot.tasks)
    assert json.loads(indented) == json.loads(text)


MALFORMED: list[tuple[str, object]] = [
    ("tasks.F1.depends_on", 5),
    ("tasks.F1.attempts", [1]),
    ("tasks.F1.attempts", "three"),
    ("tasks.F1.tokens", "lots"),
    ("tasks.F1.tokens", {"claude-sonnet-5": [1, 2]}),
    ("tasks.F1.tokens", {"claude-sonnet-5": {"input": "9", "output": None}}),
    ("tasks.F1.cost_usd", "0.25"),
    ("tasks.F1.started", 1767225600),
    ("tasks.F1.started", "0001-01-01T00:00:00+14:00"),
    ("tasks.F1.name", {"first": "Core"}),
    ("tasks.F1.name", "bad \ud800 text"),
    ("tasks.F1.status", ["done"]),
    ("tasks.F1.next_attempt_at", "9999-12-31T23:59:59.999-14:00"),
    ("tasks.F1", "not a task"),
    ("run", [1, 2]),
    ("run.pid", -5),
    ("run.running", "no"),
    ("run.pid_started", "yesterday"),
    ("project", 42),
]


@pytest.mark.parametrize(("path", "value"), MALFORMED, ids=[p for p, _ in MALFORMED])
@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["text", "json"])
def test_status_of_a_malformed_state_is_printed_not_a_traceback(
    tmp_path: Path, flags: list[str], path: str, value: object
) -> None:
    """A state that is valid JSON with values of the wrong type is shown, with those values read
    as defaults, by `nova status` and `nova status --json` (exit 0, no exception)."""
    doc = make_state().to_json()
    doc["run"]["running"], doc["run"]["pid_started"] = True, T0
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    target[last] = value
    (tmp_path / "state.json").write_text(json.dumps(doc), encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(cli, ["status", *flags, "--state-dir", str(tmp_path)])
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    if flags:
        out = json.loads(result.stdout)
        assert set(out) >= {"project", "run", "tasks", "totals", "sections"}
        assert out["run"]["alive"] is False
    else:
        assert "Link Shortener" in result.stdout or path == "project"


def test_status_json_is_compact_when_not_printed_to_a_terminal(tmp_path: Path) -> None:
    """Printed to a pipe or file, `nova status --json` is one line of compact JSON."""
    StateStore(tmp_path).write_bytes(StateEncoder().encode(make_state()))
    result = CliRunner().invoke(cli, ["status", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert result.stdout.endswith("}\n")
    printed = json.loads(result.stdout)
    expected = status_json(make_state(), False, NOW)
    assert printed.pop("generated")
    assert expected.pop("generated")
    assert printed == json.loads(json.dumps(expected))


def test_status_json_to_a_stdout_that_is_not_utf8_is_all_in_its_encoding(tmp_path: Path) -> None:
    """With stdout in Latin-1, the tasks are not copied from the (UTF-8) file but encoded like
    the rest, so every name reads back right."""
    state = make_state()
    state.tasks["F1"].name = "Çore"
    StateStore(tmp_path).write_bytes(StateEncoder().encode(state))
    runner = CliRunner(charset="latin-1")
    result = runner.invoke(cli, ["status", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tasks"]["F1"]["name"] == "Çore"


def test_the_runs_warning_is_shown_under_its_summary() -> None:
    """What stopped the run from launching more (an auth failure) is in the text report."""
    state = State(
        project="P",
        run=RunState(id="r", ended=T0, exit_code=1, warning="task A could not authenticate"),
    )
    state.tasks["A"] = TaskState(id="A", name="a", status=TaskStatus.FAILED)
    text = render_status(state, alive=False, now=T0)
    assert text.splitlines()[2] == "  ! task A could not authenticate"
