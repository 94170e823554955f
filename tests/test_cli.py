"""The `nova` command line: each command's output through click's CliRunner, and the exit codes
and `Error:` messages of the real `nova` program (engine.cli.commands.main) in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.cli.commands import TEMPLATE, cli, main
from engine.errors import AgentNotFoundError, CascadeError, ConfigError, StateError
from engine.observe.state import RunState, State, TaskState
from engine.observe.store import StateStore
from engine.outcome import TaskStatus
from engine.plan.cascade import parse_cascade

_BIN = Path(sys.executable).parent / "nova"
NOVA = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "engine"]

GOOD = """\
# Demo Plan

## L1: App

### L2: Core
| Task ID | Task Name | What Changes | Depends On | Model |
|---|---|---|---|---|
| F1 | Core Types | types | - | |
| F2 | Errors | errors | F1 | opus |
| F3 | "Odd" name | x | F1 | |

### L2: Top
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| T1 | Top | top | F2, F3 |
"""

# Line 9 holds the bad dependency; line 10 a row with a missing cell.
BAD = """\
# Demo Plan

## L1: App

### L2: Core
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| F1 | Core Types | types | - |
| F4 | Validation | checks | F1, F9 |
| F5 | Broken | row |
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test runs in its own directory, unaffected by the caller's NOVA_* variables."""
    for name in ("NOVA_STATE_DIR", "NOVA_LOGS_DIR", "NOVA_CLAUDE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def nova(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `nova` program, as a user would."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOVA_STATE_DIR", "NOVA_LOGS_DIR", "NOVA_CLAUDE")
    }
    return subprocess.run(
        [*NOVA, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def run_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """Call engine.cli.commands.main (the command line, in-process): (code, out, err)."""
    monkeypatch.setattr(sys, "argv", ["nova", *args])
    capsys.readouterr()
    code: str | int | None = 0  # main returns normally on success
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 0 if code is None else 1), out, err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def leftovers(directory: Path) -> list[str]:
    """Everything in `directory` except the CASCADE.md the test wrote."""
    return sorted(p.name for p in directory.iterdir() if p.name != "CASCADE.md")


# ---- validate --------------------------------------------------------------------------------


def test_validate_good_file_prints_a_summary(tmp_path: Path) -> None:
    """A valid file: exit 0 and a one-line count of tasks, sections and waves."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert result.stdout == "CASCADE.md: OK — 4 tasks in 2 sections, 3 waves.\n"


def test_validate_bad_file_raises_cascade_error_with_every_problem(tmp_path: Path) -> None:
    """The command raises one CascadeError carrying both problems, each with its line."""
    write(tmp_path / "CASCADE.md", BAD)
    result = invoke("validate")
    assert isinstance(result.exception, CascadeError)
    assert [(p.line, p.message.split(".")[0]) for p in result.exception.problems] == [
        (9, "task 'F4' depends on 'F9', which is not defined"),
        (10, "this row has 3 cells but the table header has 4"),
    ]
    assert result.stdout == ""


def test_nova_validate_bad_file_exits_2_with_error_lines_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """The real program prints `Error: CASCADE.md:LINE: ...` per problem on stderr, exit 2."""
    write(tmp_path / "CASCADE.md", BAD)
    proc = nova("validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == (
        "Error: CASCADE.md:9: task 'F4' depends on 'F9', which is not defined. Did you mean 'F1'?"
    )
    assert lines[1].startswith(
        "Error: CASCADE.md:10: this row has 3 cells but the table header has 4."
    )
    assert leftovers(tmp_path) == []


def test_main_validate_good_file_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry point exits 0 on a good file given by path."""
    write(tmp_path / "plan.md", GOOD)
    assert run_main(capsys, monkeypatch, "validate", "plan.md") == (
        0,
        "plan.md: OK — 4 tasks in 2 sections, 3 waves.\n",
        "",
    )


def test_main_validate_missing_file_exits_2_and_suggests_nova_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CASCADE.md: exit 2, and the message says how to make one."""
    assert run_main(capsys, monkeypatch, "validate") == (
        2,
        "",
        "Error: CASCADE.md: not found. Create one with 'nova init', or pass the path: "
        "nova run path/to/CASCADE.md.\n",
    )
    assert leftovers(tmp_path) == []


def test_main_validate_binary_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pointing nova at a binary file is bad input, not a crash."""
    (tmp_path / "CASCADE.md").write_bytes(b"\x7fELF\x00\x00\x01")
    assert run_main(capsys, monkeypatch, "validate") == (
        2,
        "",
        "Error: CASCADE.md: is a binary file, not markdown. Point nova at your CASCADE.md.\n",
    )


def test_main_validate_empty_file_shows_the_example_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The multi-line 'no tasks found' message keeps its indented example lines unprefixed."""
    write(tmp_path / "CASCADE.md", "")
    code, _, err = run_main(capsys, monkeypatch, "validate")
    assert code == 2
    lines = err.splitlines()
    assert lines[0].startswith("Error: CASCADE.md: no tasks found.")
    assert "  | Task ID | Task Name | What Changes | Depends On |" in lines


# ---- plan and graph --------------------------------------------------------------------------


def test_plan_shows_waves_with_agents_and_dependencies(tmp_path: Path) -> None:
    """`nova plan` lists each wave's tasks, the model they run with, and what they wait for."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("plan")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Demo Plan: 4 tasks in 3 waves"
    assert lines[1] == "wave 1:"
    assert lines[2].split() == ["F1", "Core", "Types", "[claude", "(default", "model)]"]
    assert lines[3] == "wave 2:"
    assert lines[4].split()[0] == "F2"
    assert "[claude opus] after F1" in lines[4]
    assert lines[5].split()[0] == "F3"
    assert lines[6] == "wave 3:"
    assert lines[7].split()[0] == "T1"
    assert lines[7].endswith("after F2, F3")


def test_plan_with_agent_cmd_shows_the_command_agent(tmp_path: Path) -> None:
    """`--agent-cmd` makes every task a command task in the plan."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("plan", "--agent-cmd", "python3 agent.py {id}")
    assert result.exit_code == 0
    assert result.stdout.count("[command]") == 4


def test_run_dry_run_shows_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    """`nova run --dry-run` prints the plan and starts nothing."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("run", "--dry-run", "--claude", "/nonexistent/claude")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Demo Plan: 4 tasks in 3 waves\n")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_graph_prints_every_task_and_edge(tmp_path: Path, fmt: str) -> None:
    """`nova graph -f dot|mermaid` draws every task and every dependency."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("graph", "-f", fmt)
    assert result.exit_code == 0, result.output
    out = result.stdout
    edges = [("F1", "F2"), ("F1", "F3"), ("F2", "T1"), ("F3", "T1")]
    if fmt == "dot":
        assert out.startswith('digraph "Demo Plan" {')
        assert '"F3" [label="F3: \\"Odd\\" name"];' in out
        for a, b in edges:
            assert f'"{a}" -> "{b}";' in out
        assert out.count(" -> ") == len(edges)
    else:
        assert out.startswith("flowchart LR")
        assert 't_F3["F3: #quot;Odd#quot; name"]' in out
        for a, b in edges:
            assert f"t_{a} --> t_{b}" in out
        assert out.count(" --> ") == len(edges)


def test_graph_rejects_unknown_format(tmp_path: Path) -> None:
    """An unknown format is a usage error (click's exit 2)."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("graph", "-f", "png")
    assert result.exit_code == 2
    assert "'png' is not one of 'dot', 'mermaid'" in result.stderr


def test_graph_of_cyclic_file_is_a_cascade_error(tmp_path: Path) -> None:
    """A cycle is found before anything is drawn."""
    write(
        tmp_path / "CASCADE.md",
        GOOD.replace("| F1 | Core Types | types | - |", "| F1 | Core Types | types | T1 |"),
    )
    result = invoke("graph")
    assert isinstance(result.exception, CascadeError)
    assert "cycle: F1 → F2 → T1 → F1" in str(result.exception)


# ---- init ------------------------------------------------------------------------------------


def test_init_writes_a_file_that_validates(tmp_path: Path) -> None:
    """`nova init` writes the starter plan, which parses and validates as is."""
    result = invoke("init", "--project", "Shop")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Wrote CASCADE.md. Edit it, then: nova validate CASCADE.md && nova run CASCADE.md\n"
    )
    text = (tmp_path / "CASCADE.md").read_text()
    assert text == TEMPLATE.format(project="Shop")
    cascade = parse_cascade(text)
    assert cascade.project == "Shop"
    assert cascade.tasks["A1"].depends_on == ("F1", "F2")
    assert invoke("validate").exit_code == 0


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    """An existing file is never replaced."""
    write(tmp_path / "CASCADE.md", "# mine\n")
    result = invoke("init")
    assert isinstance(result.exception, ConfigError)
    assert "CASCADE.md already exists; nova init never overwrites a file." in str(result.exception)
    assert (tmp_path / "CASCADE.md").read_text() == "# mine\n"


def test_main_init_overwrite_exits_2_and_keeps_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the entry point, refusing to overwrite is exit 2."""
    write(tmp_path / "CASCADE.md", "# mine\n")
    code, _, err = run_main(capsys, monkeypatch, "init")
    assert code == 2
    assert err.startswith("Error: CASCADE.md already exists;")
    assert (tmp_path / "CASCADE.md").read_text() == "# mine\n"


# ---- status and logs -------------------------------------------------------------------------

STATE = {
    "schema": 1,
    "project": "Hand Written",
    "cascade": "/somewhere/CASCADE.md",
    "run": {
        "id": "r1",
        "pid": 2147480000,
        "pid_started": 1.0,
        "started": "2026-01-01T00:00:00.000Z",
        "ended": "2026-01-01T00:10:00.000Z",
        "running": False,
        "exit_code": 1,
        "jobs": 2,
    },
    "tasks": {
        "F1": {
            "name": "Core",
            "branch": "App",
            "group": "Core",
            "status": "done",
            "attempts": 1,
            "exit_code": 0,
            "session_id": "sess-1",
            "started": "2026-01-01T00:00:00.000Z",
            "ended": "2026-01-01T00:01:00.000Z",
            "tokens": {
                "claude-sonnet-5": {
                    "input": 100,
                    "output": 50,
                    "cache_read": 1000,
                    "cache_creation": 10,
                }
            },
            "cost_usd": 0.02,
            "agent": "claude",
            "permission_mode": "acceptEdits",
        },
        "F2": {
            "name": "Errors",
            "branch": "App",
            "group": "Core",
            "status": "failed",
            "attempts": 3,
            "exit_code": 1,
            "reason": "API Error: 500",
            "tokens": {
                "claude-sonnet-5": {"input": 1, "output": 2, "cache_read": 3, "cache_creation": 4},
                "claude-opus-4-8": {"input": 5, "output": 6, "cache_read": 7, "cache_creation": 8},
            },
            "cost_usd": 0.5,
        },
    },
}


def write_state(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    write(tmp_path / "state" / "state.json", json.dumps(STATE))


def test_status_without_state_is_a_state_error_naming_nova_run(tmp_path: Path) -> None:
    """Before any run, status says there is nothing yet and how to start."""
    result = invoke("status")
    assert isinstance(result.exception, StateError)
    assert str(result.exception) == (
        "no state in state/ yet. Start a run with 'nova run', or point at another directory "
        "with --state-dir."
    )


def test_nova_status_without_state_exits_2(tmp_path: Path) -> None:
    """Through the real program: exit 2 and the message on stderr."""
    proc = nova("status", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: no state in state/ yet. Start a run with 'nova run'")
    assert leftovers(tmp_path) == []


def test_status_json_reads_a_hand_written_state(tmp_path: Path) -> None:
    """`nova status --json` prints the documented document for a state written by hand."""
    write_state(tmp_path)
    result = invoke("status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["project"] == "Hand Written"
    assert doc["run"]["alive"] is False
    assert doc["run"]["exit_code"] == 1
    f1, f2 = doc["tasks"]["F1"], doc["tasks"]["F2"]
    assert (f1["status"], f1["attempts"], f1["exit_code"], f1["session_id"]) == (
        "done",
        1,
        0,
        "sess-1",
    )
    assert f1["tokens"] == STATE["tasks"]["F1"]["tokens"]  # type: ignore[index]
    assert f1["cost_usd"] == 0.02
    assert f2["status"] == "failed"
    assert f2["reason"] == "API Error: 500"
    assert doc["totals"]["tokens"] == {
        "claude-opus-4-8": {"input": 5, "output": 6, "cache_read": 7, "cache_creation": 8},
        "claude-sonnet-5": {"input": 101, "output": 52, "cache_read": 1003, "cache_creation": 14},
    }
    assert doc["totals"]["cost_usd"] == 0.52


def test_status_text_reads_a_hand_written_state(tmp_path: Path) -> None:
    """The text report lists both tasks and the per-model totals."""
    write_state(tmp_path)
    result = invoke("status", "--state-dir", "state")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Hand Written — finished ")
    assert "with exit code 1" in out.splitlines()[0]
    assert " F1  done" in out
    assert " F2  failed" in out
    assert "Errors — API Error: 500" in out
    assert "total cost $0.5200" in out
    assert "claude-opus-4-8: 5 in, 6 out, 7 cache read, 8 cache write" in out


def test_status_with_newer_schema_is_a_state_error(tmp_path: Path) -> None:
    """A state from a newer nova is refused with the fix, not misread."""
    (tmp_path / "state").mkdir()
    write(tmp_path / "state" / "state.json", json.dumps(STATE | {"schema": 99}))
    result = invoke("status")
    assert isinstance(result.exception, StateError)
    assert "newer than this nova's" in str(result.exception)


def test_logs_prints_a_task_log(tmp_path: Path) -> None:
    """`nova logs F1` prints logs/F1.log as it is."""
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "F1.log", "== F1 attempt 1 ==\n→ Bash: ls\n")
    result = invoke("logs", "F1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "== F1 attempt 1 ==\n→ Bash: ls\n"


def test_logs_raw_prints_the_last_attempt_of_that_task_only(tmp_path: Path) -> None:
    """`--raw` for api-1 shows its highest attempt, never the raw output of task api-1-x."""
    raw = tmp_path / "logs" / "raw"
    raw.mkdir(parents=True)
    write(raw / "api-1-1.stdout", "api-1 attempt 1\n")
    write(raw / "api-1-10.stdout", "api-1 attempt 10\n")
    write(raw / "api-1-2.stdout", "api-1 attempt 2\n")
    write(raw / "api-1-x-11.stdout", "api-1-x attempt 11\n")
    result = invoke("logs", "api-1", "--raw")
    assert result.exit_code == 0, result.output
    assert result.stdout == "api-1 attempt 10\n"


def test_logs_for_unknown_task_is_a_config_error(tmp_path: Path) -> None:
    """No log for the task: the error points at `nova status`."""
    result = invoke("logs", "NOPE")
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == (
        "no log for task 'NOPE' in logs/ yet. 'nova status' lists the tasks and what they "
        "are doing."
    )


def test_logs_refuses_a_path_as_task_id(tmp_path: Path) -> None:
    """A task ID like ../x cannot make nova read a file outside logs/."""
    write(tmp_path / "secret.log", "secret")
    (tmp_path / "logs").mkdir()
    result = invoke("logs", "../secret")
    assert isinstance(result.exception, ConfigError)
    assert "secret" not in result.stdout


def test_main_logs_unknown_task_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the entry point: exit 2."""
    code, _, err = run_main(capsys, monkeypatch, "logs", "NOPE")
    assert code == 2
    assert err.startswith("Error: no log for task 'NOPE'")


# ---- run: refusing to start ------------------------------------------------------------------


def test_run_with_missing_claude_names_how_to_install_and_starts_nothing(tmp_path: Path) -> None:
    """A claude binary that does not exist stops the run before any state, log or agent."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("run", "--claude", "/nonexistent/claude")
    assert isinstance(result.exception, AgentNotFoundError)
    message = str(result.exception)
    assert message.startswith("Claude Code '/nonexistent/claude' does not exist")
    assert "npm install -g @anthropic-ai/claude-code" in message
    assert leftovers(tmp_path) == []


def test_nova_run_with_missing_claude_exits_2(tmp_path: Path) -> None:
    """Through the real program: exit 2, the install hint on stderr, nothing written."""
    write(tmp_path / "CASCADE.md", GOOD)
    proc = nova("run", "--claude", "/nonexistent/claude", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: Claude Code '/nonexistent/claude' does not exist")
    assert "npm install -g @anthropic-ai/claude-code" in proc.stderr
    assert leftovers(tmp_path) == []


def test_nova_run_with_missing_agent_command_exits_2(tmp_path: Path) -> None:
    """An --agent-cmd program that is not on PATH is bad input: exit 2, nothing written."""
    write(tmp_path / "CASCADE.md", GOOD)
    proc = nova("run", "--agent-cmd", "no-such-program-xyz {id}", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "Error: the agent command 'no-such-program-xyz' is not on PATH. Fix --agent-cmd or the "
        "command setting in CASCADE.md.\n"
    )
    assert leftovers(tmp_path) == []


def test_main_run_bad_file_exits_2_and_creates_no_state_or_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed plan is rejected before any directory is made."""
    write(tmp_path / "CASCADE.md", BAD)
    code, _, err = run_main(capsys, monkeypatch, "run", "--agent-cmd", "true")
    assert code == 2
    assert err.startswith("Error: CASCADE.md:9: ")
    assert leftovers(tmp_path) == []


def test_run_with_bad_duration_option_is_a_config_error(tmp_path: Path) -> None:
    """`--timeout soon` names the option and the rule."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("run", "--agent-cmd", "true", "--timeout", "soon")
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == (
        "--timeout: 'soon' is not a duration; write it like 90s, 30m, 2h or 1h30m."
    )
    assert leftovers(tmp_path) == []


def test_run_with_unsplittable_agent_cmd_is_a_config_error(tmp_path: Path) -> None:
    """An unbalanced quote in --agent-cmd is reported, not run."""
    write(tmp_path / "CASCADE.md", GOOD)
    result = invoke("run", "--agent-cmd", "agent 'oops {id}")
    assert isinstance(result.exception, ConfigError)
    assert "cannot be split into words" in str(result.exception)


# ---- run: real, tiny runs through the program's exit codes -----------------------------------


def test_nova_run_all_done_exits_0_and_a_rerun_resumes(tmp_path: Path) -> None:
    """Every task done is exit 0; running again redoes nothing and still exits 0."""
    write(tmp_path / "CASCADE.md", GOOD)
    agent = f"{sys.executable} -c \"print('did {{id}}'); print('Token usage: input=3, output=2')\""
    proc = nova("run", "-q", "--agent-cmd", agent, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = json.loads(invoke("status", "--json").stdout)
    assert {t["status"] for t in status["tasks"].values()} == {"done"}
    assert {t["attempts"] for t in status["tasks"].values()} == {1}
    assert "did F2" in (tmp_path / "logs" / "F2.log").read_text()
    again = nova("run", "-q", "--agent-cmd", agent, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    status = json.loads(invoke("status", "--json").stdout)
    assert {t["attempts"] for t in status["tasks"].values()} == {1}
    logs = invoke("logs", "F1")
    assert logs.exit_code == 0
    assert "did F1" in logs.stdout


def test_nova_run_with_a_failing_task_exits_1_and_blocks_its_dependents(tmp_path: Path) -> None:
    """A task that fails makes the run exit 1; what depends on it is blocked, not run."""
    write(tmp_path / "CASCADE.md", GOOD)
    agent = f"{sys.executable} -c \"import sys; sys.exit(3 if '{{id}}' == 'F2' else 0)\""
    proc = nova("run", "-q", "--retries", "0", "--agent-cmd", agent, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    tasks = json.loads(invoke("status", "--json").stdout)["tasks"]
    assert {k: v["status"] for k, v in tasks.items()} == {
        "F1": "done",
        "F2": "failed",
        "F3": "done",
        "T1": "blocked",
    }
    assert tasks["F2"]["exit_code"] == 3


def test_rerun_runs_a_done_task_and_its_dependents_again_and_fresh_runs_all(
    tmp_path: Path,
) -> None:
    """--rerun F2 redoes F2 and T1 (it depends on F2), not F1 or F3; attempts go on, so no
    log is overwritten; --fresh redoes everything; tokens spent so far are kept."""
    write(tmp_path / "CASCADE.md", GOOD)
    said = "print('did {id} {attempt}'); print('Token usage: input=3, output=2')"
    agent = f'{sys.executable} -c "{said}"'
    assert nova("run", "-q", "--agent-cmd", agent, cwd=tmp_path).returncode == 0
    again = nova("run", "--rerun", "F2", "--agent-cmd", agent, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "running 2 done task(s) again, as asked: F2, T1." in again.stdout
    tasks = json.loads(invoke("status", "--json").stdout)["tasks"]
    assert {k: v["attempts"] for k, v in tasks.items()} == {"F1": 1, "F2": 2, "F3": 1, "T1": 2}
    assert {v["status"] for v in tasks.values()} == {"done"}
    log = (tmp_path / "logs" / "F2.log").read_text()
    assert "did F2 1" in log
    assert "did F2 2" in log
    assert tasks["F2"]["tokens"]["command"]["input"] == 6
    fresh = nova("run", "-q", "--fresh", "--agent-cmd", agent, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    tasks = json.loads(invoke("status", "--json").stdout)["tasks"]
    assert {k: v["attempts"] for k, v in tasks.items()} == {"F1": 2, "F2": 3, "F3": 2, "T1": 3}


def test_rerun_of_an_unknown_task_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path / "CASCADE.md", GOOD)
    proc = nova("run", "--rerun", "F22", "--agent-cmd", "true", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "Error: --rerun: there is no task 'F22' in the plan. Did you mean 'F2'? 'nova plan' "
        "lists the tasks.\n"
    )
    assert leftovers(tmp_path) == []


def test_a_logs_dir_nova_cannot_make_exits_2_before_anything_runs(tmp_path: Path) -> None:
    """--logs-dir under a file: refused up front (exit 2), no state written, no task failed."""
    write(tmp_path / "CASCADE.md", GOOD)
    write(tmp_path / "blocker", "")
    proc = nova("run", "--logs-dir", "blocker/logs", "--agent-cmd", "true", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "Error: cannot write task logs to blocker/logs (Not a directory). Point --logs-dir at "
        "a directory nova can create and write.\n"
    )
    assert leftovers(tmp_path) == ["blocker"]


def test_the_state_of_a_moved_plan_is_carried_over(tmp_path: Path) -> None:
    """A checkout moved elsewhere (same project, old path gone) keeps its done tasks; a
    different plan file next to a live one is still refused."""
    old = tmp_path / "old"
    old.mkdir()
    write(old / "CASCADE.md", GOOD)
    assert nova("run", "-q", "--agent-cmd", "true", cwd=old).returncode == 0
    new = tmp_path / "new"
    old.rename(new)
    moved = nova("run", "--agent-cmd", "true", cwd=new)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"the plan moved from {old / 'CASCADE.md'}: its state is carried over." in moved.stdout
    assert "4 already done" in moved.stdout
    write(new / "Other.md", GOOD)
    other = nova("run", "Other.md", "--agent-cmd", "true", cwd=new)
    assert other.returncode == 2
    assert "belongs to another plan" in other.stderr


# ---- help ------------------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    """`nova --help` exits 0 and names each command and the exit codes."""
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("run", "status", "validate", "plan", "graph", "logs", "init"):
        assert f"  {command} " in result.stdout
    assert "Exit codes: 0 all done, 1 a task did not finish, 2 bad input, 130 interrupted." in (
        result.stdout
    )


def test_nova_help_and_run_help_exit_0(tmp_path: Path) -> None:
    """The real program's help for itself and for `run` exits 0."""
    main_help = nova("--help", cwd=tmp_path)
    assert main_help.returncode == 0
    assert "Usage: nova" in main_help.stdout
    run_help = nova("run", "--help", cwd=tmp_path)
    assert run_help.returncode == 0
    assert "--agent-cmd TEMPLATE" in run_help.stdout
    assert "bypassPermissions is never the default" in " ".join(run_help.stdout.split())


def test_main_unknown_option_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A usage error is bad input: exit 2 with click's message naming the option."""
    code, _, err = run_main(capsys, monkeypatch, "run", "--no-such-flag")
    assert code == 2
    assert "No such option" in err
    assert "--no-such-flag" in err


# ---- plain output, help and init in more places ----------------------------------------------

ONE_TASK = """\
# Solo

## L1: App
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| F1 | Only | the one thing | - |
"""


def test_validate_and_plan_say_1_task_and_1_wave_in_the_singular(tmp_path: Path) -> None:
    """One task in one section and one wave reads `1 task`, `1 section`, `1 wave`."""
    write(tmp_path / "CASCADE.md", ONE_TASK)
    assert invoke("validate").stdout == "CASCADE.md: OK — 1 task in 1 section, 1 wave.\n"
    assert invoke("plan").stdout.splitlines()[0] == "Solo: 1 task in 1 wave"


def test_help_gives_every_command_a_whole_one_line_description() -> None:
    """`nova --help` lists each command with a description click does not cut short."""
    from engine.cli.commands import SHORT_HELP

    assert sorted(SHORT_HELP) == sorted(cli.commands)
    assert all(len(text) <= 45 for text in SHORT_HELP.values())
    commands = invoke("--help").stdout.split("Commands:\n", 1)[1].splitlines()
    assert commands == [f"  {name:<8}  {SHORT_HELP[name]}" for name in sorted(SHORT_HELP)]


def test_init_creates_missing_folders(tmp_path: Path) -> None:
    """`nova init plans/new/CASCADE.md` makes the folders and writes a file that validates."""
    result = invoke("init", "plans/new/CASCADE.md")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plans" / "new" / "CASCADE.md").read_text() == TEMPLATE.format(
        project="My Project"
    )
    assert invoke("validate", "plans/new/CASCADE.md").exit_code == 0


def test_main_init_under_a_file_exits_2_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file where the folder should be is bad input (exit 2), not a traceback."""
    write(tmp_path / "notes", "mine\n")
    assert run_main(capsys, monkeypatch, "init", "notes/CASCADE.md") == (
        2,
        "",
        "Error: notes is a file, so notes/CASCADE.md cannot be written. Choose another path.\n",
    )
    assert (tmp_path / "notes").read_text() == "mine\n"


def test_nova_validate_prints_a_warning_for_a_setting_below_the_task_table(tmp_path: Path) -> None:
    """A setting nova will not apply (its list is below the task table) is a Warning line;
    exit 0."""
    write(tmp_path / "CASCADE.md", ONE_TASK + "\n- model: opus\n")
    proc = nova("validate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "CASCADE.md: OK — 1 task in 1 section, 1 wave.\n"
    assert proc.stderr == (
        "Warning: CASCADE.md:8: this line looks like the setting 'model', but nova reads it as "
        "text: a list below a task table (line 4) is not read for settings. To set model, put "
        "'- model: opus' in a list right under the heading on line 3. If it is a note, put a "
        "line of text directly above the list.\n"
    )


def test_plan_shows_each_tasks_settings_that_are_not_the_defaults(tmp_path: Path) -> None:
    """`nova plan` shows a task's timeout, retries and max-turns when they are not nova's
    defaults, so a setting read from a list is never a surprise; defaults are not shown."""
    text = ONE_TASK.replace(
        "| F1 | Only | the one thing | - |", "| F1 | Only | x | - |\n| F2 | Two | y | - |"
    )
    text += "\n#### F1: Only\n- model: opus\n- timeout: 5s\n- retries: 3\n- max-turns: 40\n"
    text += "\n#### F2: Two\n- retries: 2\n- timeout: 1h\n"
    write(tmp_path / "CASCADE.md", text)
    result = invoke("plan")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2] == "  F1         Only  [claude opus · max-turns 40 · timeout 5s · retries 3]"
    assert lines[3] == "  F2         Two  [claude (default model)]"


def test_logs_raw_points_at_the_stderr_and_prints_it_with_stderr(tmp_path: Path) -> None:
    """An agent that wrote only a traceback: `--raw` says where its stderr is, `--raw --stderr`
    prints it."""
    raw = tmp_path / "logs" / "raw"
    raw.mkdir(parents=True)
    write(raw / "E-1.stdout", "")
    write(raw / "E-1.stderr", "Traceback (most recent call last): ...\n")
    plain = invoke("logs", "E", "--raw")
    assert plain.exit_code == 0
    assert plain.stdout == ""
    assert "its stderr is in logs/raw/E-1.stderr" in plain.stderr
    err = invoke("logs", "E", "--raw", "--stderr")
    assert err.exit_code == 0
    assert err.stdout.startswith("Traceback")
    (raw / "E-2.stdout").write_text("second attempt\n")  # and no stderr: nothing, no error
    quiet = invoke("logs", "E", "--stderr")
    assert (quiet.exit_code, quiet.stdout) == (0, "")
    assert quiet.stderr == "(attempt 2 of 'E' wrote nothing to stderr)\n"


def test_logs_follow_of_a_task_the_state_does_not_know_is_an_error(tmp_path: Path) -> None:
    """`-f` on a typo would wait for nothing: nova says which tasks there are."""
    state = State(project="P", run=RunState(id="r", ended=1.0))
    state.tasks["F1"] = TaskState(id="F1", status=TaskStatus.DONE)
    StateStore(tmp_path / "state").write(state.to_json())
    result = invoke("logs", "F2", "-f")
    assert isinstance(result.exception, ConfigError)
    assert "no task 'F2' in state/." in str(result.exception)
    assert "Did you mean 'F1'?" in str(result.exception)


def test_logs_follow_of_a_task_that_will_not_run_is_an_error(tmp_path: Path) -> None:
    """A blocked task has no log and will not get one in this run: say so, do not exit 0."""
    state = State(project="P", run=RunState(id="r", ended=1.0))
    state.tasks["B"] = TaskState(id="B", status=TaskStatus.BLOCKED, reason="dependency A failed")
    StateStore(tmp_path / "state").write(state.to_json())
    result = invoke("logs", "B", "-f")
    assert isinstance(result.exception, ConfigError)
    assert "has no log and is not running" in str(result.exception)


def test_a_typo_in_an_agent_cmd_placeholder_exits_2_even_for_a_dry_run(tmp_path: Path) -> None:
    write(tmp_path / "CASCADE.md", GOOD)
    for extra in ((), ("--dry-run",)):
        proc = nova("run", "--agent-cmd", "echo {idd}", *extra, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr == (
            "Error: agent command 'echo {idd}' has the placeholder {idd}, which nova does not "
            "fill in. Did you mean {id}? The placeholders are {id}, {name}, {prompt_file}, "
            "{cascade_dir}, {attempt}.\n"
        )
    assert leftovers(tmp_path) == []
    literal = nova("run", "-q", "--agent-cmd", "sh -c 'echo {hello}'", cwd=tmp_path)
    assert literal.returncode == 0, literal.stderr  # braces that are no placeholder's typo


def test_a_directory_given_for_a_plan_means_its_cascade_md(tmp_path: Path) -> None:
    """`nova init newdir` writes newdir/CASCADE.md (like git init newdir); validate, plan
    and run read DIR/CASCADE.md."""
    made = nova("init", "newdir", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("Wrote newdir/CASCADE.md.")
    assert nova("validate", "newdir", cwd=tmp_path).stdout.startswith("newdir/CASCADE.md: OK")
    assert nova("init", "newdir", cwd=tmp_path).returncode == 2  # never overwrites
    assert (tmp_path / "plan.txt").exists() is False
    assert nova("init", "plan.txt", cwd=tmp_path).returncode == 0
    assert (tmp_path / "plan.txt").is_file()


def test_validate_reports_a_cycle_and_warnings_with_the_other_errors(tmp_path: Path) -> None:
    """One pass shows everything: the cycle, the unknown dependency, the bad ID and the
    warning for a column nova does not read, not a round of fixes per kind of problem."""
    write(
        tmp_path / "CASCADE.md",
        "# P\n\n## L1: A\n\n| Task ID | Task Name | What Changes | Depends On | Modle |\n"
        "|---|---|---|---|---|\n| A1 | a | x | A2 | |\n| A2 | b | x | A1 | |\n"
        "| A3 | c | x | A9 | |\n| ../x | d | x | - | |\n",
    )
    proc = nova("validate", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [line.split(":")[0] + ":" + line.split(":")[2] for line in lines] == [
        "Warning:5",
        "Error:7",
        "Error:9",
        "Error:10",
    ]
    assert "in a cycle: A1 → A2 → A1" in lines[1]
    assert "'A9', which is not defined" in lines[2]
    assert "'../x' is not allowed" in lines[3]


def test_validate_finds_a_workdir_that_does_not_exist_with_its_task_line(tmp_path: Path) -> None:
    write(
        tmp_path / "CASCADE.md", GOOD.replace("# Demo Plan\n", "# Demo Plan\n\n- workdir: gone\n")
    )
    proc = nova("validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"Error: CASCADE.md:10: task 'F1': workdir '{tmp_path / 'gone'}' does not exist. Create "
        "it or fix the task's workdir setting.\n"
    )


def test_validate_refuses_an_agent_kind_no_adapter_is_registered_for(tmp_path: Path) -> None:
    """The registry's kinds are checked by `nova validate` too, with the close match."""
    write(tmp_path / "CASCADE.md", GOOD.replace("# Demo Plan\n", "# Demo Plan\n\n- agent: claud\n"))
    proc = nova("validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "Error: CASCADE.md:10: task 'F1': agent 'claud' is not one of claude, command. Did you "
        "mean 'claude'?\n"
    )


def _outside_plan(tmp_path: Path, workdir: str, allow: bool = False) -> Path:
    """GOOD in tmp_path/project, F1 working in `workdir` (with `workdir-outside: yes` if
    `allow`); F1's row is on line 8."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    extra = "\n- workdir-outside: yes" if allow else ""
    write(project / "CASCADE.md", f"{GOOD}\n#### F1: Core Types\n- workdir: {workdir}{extra}\n")
    return project


def _outside_error(workdir: Path, project: Path) -> str:
    return (
        f"Error: CASCADE.md:8: task 'F1' works in {workdir}, outside the project ({project}). "
        "Set 'workdir-outside: yes' in its settings to allow it.\n"
    )


@pytest.mark.parametrize("workdir", ["../../../..", "/etc", "link", "../elsewhere"])
def test_validate_refuses_a_workdir_outside_the_project(tmp_path: Path, workdir: str) -> None:
    """Up the tree, absolute, through a symlink, next to it: all resolve outside the folder of
    CASCADE.md, which is an error naming the resolved path and the setting that allows it."""
    (tmp_path / "elsewhere").mkdir()
    project = _outside_plan(tmp_path, workdir)
    (project / "link").symlink_to(tmp_path / "elsewhere")
    proc = nova("validate", cwd=project)
    resolved = (project / workdir).resolve()
    assert (proc.returncode, proc.stderr) == (2, _outside_error(resolved, project))


def test_validate_takes_a_workdir_inside_the_project_or_outside_when_the_plan_says_so(
    tmp_path: Path,
) -> None:
    (tmp_path / "elsewhere").mkdir()
    project = _outside_plan(tmp_path, "sub/../sub")
    (project / "sub").mkdir()
    assert nova("validate", cwd=project).returncode == 0
    _outside_plan(tmp_path, "../elsewhere", allow=True)
    assert nova("validate", cwd=project).returncode == 0


def test_run_with_a_workdir_outside_the_project_starts_no_agent(tmp_path: Path) -> None:
    """Exit 2 before anything runs: the agent would have left a file in its workdir."""
    (tmp_path / "elsewhere").mkdir()
    project = _outside_plan(tmp_path, "../elsewhere")
    agent = f"{sys.executable} -c \"open('ran-{{id}}', 'w')\""
    proc = nova("run", "--agent-cmd", agent, cwd=project)
    assert (proc.returncode, proc.stderr) == (2, _outside_error(tmp_path / "elsewhere", project))
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert not list(project.glob("ran-*"))


def test_plan_shows_a_workdir_outside_the_project_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    project = _outside_plan(tmp_path, "../elsewhere", allow=True)
    proc = nova("plan", cwd=project)
    assert proc.returncode == 0, proc.stderr
    f1 = next(line for line in proc.stdout.splitlines() if line.startswith("  F1 "))
    assert f1 == (
        f"  F1         Core Types  [claude (default model) · workdir {tmp_path / 'elsewhere'} "
        "(outside the project)]"
    )
    dry = nova("run", "--dry-run", cwd=project)
    assert dry.stdout == proc.stdout


def test_logs_finds_a_log_through_the_state_and_says_why_a_task_has_none(tmp_path: Path) -> None:
    """After a run with --logs-dir L, `nova logs F1` finds L/F1.log through the state; a
    blocked task says it is blocked and why; a wrong-case ID is suggested."""
    write(tmp_path / "CASCADE.md", GOOD)
    agent = f"{sys.executable} -c \"import sys; sys.exit(3 if '{{id}}' == 'F2' else 0)\""
    assert (
        nova(
            "run", "-q", "--retries", "0", "--logs-dir", "L", "--agent-cmd", agent, cwd=tmp_path
        ).returncode
        == 1
    )
    found = nova("logs", "F1", cwd=tmp_path)
    assert found.returncode == 0
    assert "task F1 · Core Types · attempt 1" in found.stdout
    blocked = nova("logs", "T1", cwd=tmp_path)
    assert (blocked.returncode, blocked.stderr) == (
        2,
        "Error: task 'T1' has no log yet; it is blocked: dependency F2 failed.\n",
    )
    wrong = nova("logs", "f1", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "Did you mean 'F1'?" in wrong.stderr
