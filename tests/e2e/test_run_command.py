"""`nova run` with command agents and real processes: order, concurrency, retries, usage, output.

Every test runs the real `nova` command (the venv's console script) in a temporary directory on
a small CASCADE.md whose agents are the Python scripts in tests/e2e/agents/, started with this
interpreter and never through a shell. The assertions read what nova left behind: the state
JSON, `nova status --json`, the human logs and the raw logs.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.agents.harness import (
    NOVA,
    Nova,
    agent_cmd,
    nova_env,
    out_dir,
    read_state,
    run_nova,
    run_nova_env,
    runs,
    status_json,
    wait_until,
    write_cascade,
)
from tests.e2e.agents.hostile import HOSTILE_FORMS

# Bound for nova's resident memory while it relays hostile output; generous on purpose.
RSS_LIMIT = 300 * 1024 * 1024


def _tokens(i: int, o: int, cr: int = 0, cc: int = 0) -> dict[str, int]:
    return {"input": i, "output": o, "cache_read": cr, "cache_creation": cc}


# --------------------------------------------------------------------------
# order and concurrency


DIAMOND_AND_CHAIN = [
    ("A", "-"),
    ("B", "A"),
    ("C", "A"),
    ("D", "B, C"),
    ("E", "-"),
    ("F", "E"),
    ("G", "F"),
]


def test_dependents_start_after_their_dependencies_end_and_jobs_caps_concurrency(
    tmp_path: Path,
) -> None:
    """A diamond and a chain with -j 2 finish, each task after its dependencies, never 3 at once."""
    out = out_dir(tmp_path)
    # A and E (the two roots) wait for each other, so the run provably reaches 2 at once.
    meet = {"command": agent_cmd("record.py", str(out), "{id}", "2")}
    write_cascade(
        tmp_path,
        DIAMOND_AND_CHAIN,
        settings={
            "agent": "command",
            "command": agent_cmd("record.py", str(out), "{id}"),
            "retries": "0",
        },
        task_settings={"A": meet, "E": meet},
    )

    done = run_nova(tmp_path, "run", "-j", "2")

    assert done.returncode == 0, done.stderr
    state = read_state(tmp_path)
    assert {t: s["status"] for t, s in state["tasks"].items()} == {
        t: "done" for t, _ in DIAMOND_AND_CHAIN
    }
    assert {t: runs(out, t) for t, _ in DIAMOND_AND_CHAIN} == {t: 1 for t, _ in DIAMOND_AND_CHAIN}
    times: dict[tuple[str, str], float] = {}
    for line in (out / "events").read_text().splitlines():
        event, task_id, at = line.split()
        times[(event, task_id)] = float(at)
    for task_id, deps in DIAMOND_AND_CHAIN:
        for dep in (d.strip() for d in deps.split(",") if d.strip() != "-"):
            assert times[("start", task_id)] > times[("end", dep)], (task_id, dep)
    assert int((out / "peak").read_text()) == 2
    assert int((out / "active").read_text()) == 0


# --------------------------------------------------------------------------
# failures and retries


def test_failing_command_is_retried_once_then_fails_blocking_only_its_dependents(
    tmp_path: Path,
) -> None:
    """Exit 3 with --retries 1 runs twice, then fails; its dependent is blocked, others finish."""
    out = out_dir(tmp_path)
    write_cascade(
        tmp_path,
        [("X", "-"), ("Y", "X"), ("Z", "-")],
        settings={"agent": "command", "command": agent_cmd("record.py", str(out), "{id}")},
        task_settings={"X": {"command": agent_cmd("fail.py", str(out), "{id}", "3")}},
    )

    done = run_nova(tmp_path, "run", "-j", "2", "--retries", "1", "--retry-delay", "0.05s")

    assert done.returncode == 1, done.stderr
    tasks = read_state(tmp_path)["tasks"]
    assert (tasks["X"]["status"], tasks["X"]["attempts"], tasks["X"]["exit_code"]) == (
        "failed",
        2,
        3,
    )
    assert "exited with code 3" in tasks["X"]["reason"]
    assert (tasks["Y"]["status"], tasks["Y"]["attempts"]) == ("blocked", 0)
    assert tasks["Y"]["reason"] == "dependency X failed"
    assert tasks["Z"]["status"] == "done"
    assert (runs(out, "X"), runs(out, "Y"), runs(out, "Z")) == (2, 0, 1)

    log = (tmp_path / "logs" / "X.log").read_text(encoding="utf-8")
    marks = [
        "· attempt 1 ·",
        "X run 1 of the failing agent",
        "X broke on run 1",
        "· attempt 2 ·",
        "X run 2 of the failing agent",
        "X broke on run 2",
    ]
    positions = [log.find(m) for m in marks]
    assert -1 not in positions, log
    assert positions == sorted(positions), log  # the second attempt appended, erased nothing
    assert log.count("· attempt ") == 2
    for attempt in (1, 2):
        raw = tmp_path / "logs" / "raw" / f"X-{attempt}.stdout"
        assert raw.read_bytes() == f"X run {attempt} of the failing agent\n".encode()


# --------------------------------------------------------------------------
# usage


def test_token_usage_lines_and_stream_json_are_summed_per_model(tmp_path: Path) -> None:
    """`Token usage:` lines add up per model; stream-json counts its result, else messages once."""
    write_cascade(
        tmp_path,
        [("L", "-"), ("S", "-"), ("P", "-")],
        settings={"agent": "command", "retries": "0"},
        task_settings={
            "L": {"command": agent_cmd("tokens.py", "lines")},
            "S": {"command": agent_cmd("tokens.py", "stream")},
            "P": {"command": agent_cmd("tokens.py", "partial")},
        },
    )

    done = run_nova(tmp_path, "run", "-j", "3")

    assert done.returncode == 0, done.stderr
    doc = status_json(tmp_path)
    lines, stream = doc["tasks"]["L"], doc["tasks"]["S"]
    assert lines["tokens"] == {"command": _tokens(20, 10, 4, 2), "other": _tokens(10, 5, 2, 1)}
    assert lines["cost_usd"] is None
    assert stream["tokens"] == {
        "claude-sonnet-4-5": _tokens(100, 40, 7, 3),
        "claude-haiku-4-5": _tokens(20, 4),
    }
    assert stream["cost_usd"] == pytest.approx(0.0123)
    assert (stream["session_id"], stream["result"]) == ("sess-1", "all done")
    # Without a result, a message repeated under one id counts once.
    assert doc["tasks"]["P"]["tokens"] == {"claude-sonnet-4-5": _tokens(3, 1, 5, 2)}
    assert doc["totals"]["tokens"] == {
        "command": _tokens(20, 10, 4, 2),
        "other": _tokens(10, 5, 2, 1),
        "claude-sonnet-4-5": _tokens(103, 41, 12, 5),
        "claude-haiku-4-5": _tokens(20, 4),
    }
    assert doc["totals"]["cost_usd"] == pytest.approx(0.0123)


# --------------------------------------------------------------------------
# hostile output


def _peak_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Poll nova's RSS (and the kernel's high-water mark, which catches spikes between polls)."""
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            rss = proc.memory_info().rss
            with open(f"/proc/{pid}/status") as handle:
                hwm = next(
                    (int(ln.split()[1]) * 1024 for ln in handle if ln.startswith("VmHWM:")), 0
                )
            peak[0] = max(peak[0], rss, hwm)
            time.sleep(0.02)
    except (psutil.Error, OSError):
        return  # nova exited


@pytest.mark.parametrize(
    ("kind", "tokens"),
    [
        ("long_line", _tokens(1, 1)),
        ("binary", _tokens(2, 3)),
        ("no_newline", _tokens(7, 1)),
        ("non_objects", _tokens(4, 4)),
        ("unknown_events", _tokens(5, 5)),
        ("flood", _tokens(9, 9)),
    ],
)
def test_hostile_output_is_kept_byte_for_byte_with_bounded_memory(
    tmp_path: Path, kind: str, tokens: dict[str, int]
) -> None:
    """Hostile stdout leaves the raw log identical, the task done, usage counted and RSS bounded."""
    sums = tmp_path / "written.sha256"
    write_cascade(tmp_path, [("H", "-")])

    nova = Nova(
        tmp_path, "run", "--retries", "0", "--agent-cmd", agent_cmd("hostile.py", kind, str(sums))
    )
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_peak_rss, args=(nova.pid, stop, peak), daemon=True)
    watcher.start()
    try:
        code = nova.wait(timeout=120)
    finally:
        stop.set()
        watcher.join()
        nova.kill()

    assert code == 0, nova.stderr()
    task = read_state(tmp_path)["tasks"]["H"]
    assert (task["status"], task["exit_code"]) == ("done", 0)
    assert task["tokens"] == {"command": tokens}
    digest, size = sums.read_text().split()
    raw = tmp_path / "logs" / "raw" / "H-1.stdout"
    assert raw.stat().st_size == int(size)
    with open(raw, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == digest
    assert 0 < peak[0] < RSS_LIMIT, f"nova's peak RSS was {peak[0] / 2**20:.0f} MiB"
    assert "· attempt 1 ·" in (tmp_path / "logs" / "H.log").read_text(encoding="utf-8")


def _strict_state(cwd: Path) -> dict[str, Any]:
    """state.json read as a strict JSON parser reads it (no NaN, no Infinity)."""

    def refuse(name: str) -> None:
        raise AssertionError(f"state.json holds {name}, which is not JSON")

    doc: dict[str, Any] = json.loads(
        (cwd / "state" / "state.json").read_bytes(), parse_constant=refuse
    )
    return doc


def test_no_hostile_line_stops_the_log_and_none_reaches_the_terminal(tmp_path: Path) -> None:
    """Every hostile form (huge numbers, deep JSON, NUL, bad UTF-8, escapes, wrong types,
    NaN costs, a 100 MiB line) between good lines: every later line is logged, the good
    usage counted, the raw log byte-exact, the task done, the state strict JSON, and no ESC
    byte in nova's output, the human log or `nova status`."""
    sums = tmp_path / "written.sha256"
    write_cascade(tmp_path, [("H", "-")])

    nova = Nova(
        tmp_path,
        "run",
        "--retries",
        "0",
        "--agent-cmd",
        agent_cmd("hostile.py", "forms", str(sums)),
    )
    try:
        code = nova.wait(timeout=120)
    finally:
        nova.kill()

    assert code == 0, nova.stderr()
    digest, size = sums.read_text().split()
    raw = tmp_path / "logs" / "raw" / "H-1.stdout"
    assert raw.stat().st_size == int(size)
    with open(raw, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == digest
    log = (tmp_path / "logs" / "H.log").read_bytes()
    text = log.decode("utf-8")
    for name in HOSTILE_FORMS:
        assert f"] after {name}\n" in text, name
    assert "] last line\n" in text
    assert "rest of this attempt's output is not logged" not in text
    task = _strict_state(tmp_path)["tasks"]["H"]
    assert (task["status"], task["exit_code"]) == ("done", 0)
    good = len(HOSTILE_FORMS) + 1
    assert task["tokens"] == {
        "command": _tokens(good, good),
        "\\e]0;owned\\x07": _tokens(2, 2),  # model=<OSC 0>
        "\\e]0;x\\x07": _tokens(3, 1),  # a stream-json model
        "m" * 199 + "…": _tokens(0, 0),  # a 5,000-character model name
    }
    assert task["cost_usd"] == 0.5  # the result's; nan, inf and -2 were ignored
    assert task["result"] == "done \\e]0;owned\\x07"
    assert "nova: ignored cost=nan in a 'Token usage:' line" in text
    status = run_nova(tmp_path, "status")
    for shown in (log, nova.out_path.read_bytes(), nova.err_path.read_bytes(), status.stdout):
        assert "\x1b" not in (shown if isinstance(shown, str) else shown.decode("utf-8", "replace"))
    assert "API error \\e]0;owned\\x07; Claude Code retries (1/10)" in nova.stdout()


def test_an_agents_failure_text_is_shown_with_its_escapes_made_visible(tmp_path: Path) -> None:
    """The reason of a failed task quotes the agent's stderr: in the state, in nova's output
    and in `nova status` its OSC, clear-screen and backspaces are escapes, never bytes."""
    write_cascade(tmp_path, [("H", "-")])
    done = run_nova(
        tmp_path,
        "run",
        "--retries",
        "0",
        "--agent-cmd",
        agent_cmd("hostile.py", "failing", str(tmp_path / "written.sha256")),
    )
    assert done.returncode == 1, done.stderr
    task = _strict_state(tmp_path)["tasks"]["H"]
    assert task["status"] == "failed"
    assert task["reason"] == (
        "the command exited with code 1: error: title \\e]0;owned\\x07 clip "
        "\\e]52;c;ZXZpbA==\\x07 clear \\e[2J\\e[H back\\b\\b"
    )
    status = run_nova(tmp_path, "status")
    log = (tmp_path / "logs" / "H.log").read_text(encoding="utf-8")
    for shown in (done.stdout, done.stderr, status.stdout, log):
        assert "\x1b" not in shown
        assert "\x08" not in shown
    assert "\\e]0;owned\\x07" in done.stdout
    assert "stderr: error: title \\e]0;owned\\x07" in log


# --------------------------------------------------------------------------
# the state file


def test_state_file_always_parses_while_a_wide_graph_runs(tmp_path: Path) -> None:
    """Reading state.json as fast as possible during a 300-task -j 8 run never sees a torn file."""
    n = 300
    write_cascade(tmp_path, [(f"T{i:03d}", "-") for i in range(n)])
    trivial = shlex.join([sys.executable, "-S", "-c", "pass"])
    state_file = tmp_path / "state" / "state.json"

    nova = Nova(tmp_path, "run", "-j", "8", "--retries", "0", "--agent-cmd", trivial)
    reads, done_counts = 0, set()
    try:
        while nova.proc.poll() is None:
            try:
                data = state_file.read_bytes()
            except FileNotFoundError:
                assert reads == 0, "state.json vanished after it was first written"
                continue
            doc = json.loads(data)  # a torn write would raise here
            assert doc["schema"] == 1
            reads += 1
            done_counts.add(sum(t["status"] == "done" for t in doc["tasks"].values()))
        code = nova.wait()
    finally:
        nova.kill()

    assert code == 0, nova.stderr()
    final = read_state(tmp_path)
    assert sum(t["status"] == "done" for t in final["tasks"].values()) == n
    assert reads > 10
    assert any(0 < c < n for c in done_counts), "never read the state mid-run"
    assert final["run"]["exit_code"] == 0
    assert final["run"]["running"] is False


# --------------------------------------------------------------------------
# secrets


def test_secrets_from_the_environment_never_reach_logs_state_or_status(tmp_path: Path) -> None:
    """An agent prints an API key from nova's environment in pieces, at cut points and in its
    result: no 8 characters of it appear in the human log, the state, or `nova status`; the
    raw output keeps it, byte for byte."""
    key = "sk-ant-api03-" + "S3CRET" * 6 + "0123456789abcdef"
    write_cascade(
        tmp_path,
        [("X", "-")],
        settings={"agent": "command", "command": agent_cmd("secrets.py"), "retries": "0"},
    )
    env_run = run_nova_env(tmp_path, {"NOVA_TEST_API_KEY": key}, "run")
    assert env_run.returncode == 1, env_run.stderr
    pieces = {key[i : i + 8] for i in range(len(key) - 7)}
    shown = _what_people_see(tmp_path, "X", env_run)
    for where, text in shown.items():
        found = sorted(p for p in pieces if p in text)
        assert not found, f"{where} shows part of the secret: {found[:3]}"
    assert "***" in shown["log"]
    assert "***" in shown["state"]
    assert key.encode() in (tmp_path / "logs" / "raw" / "X-1.stdout").read_bytes()
    assert key.encode() in (tmp_path / "logs" / "raw" / "X-1.stderr").read_bytes()


def test_a_secret_encoded_or_broken_by_an_agent_is_masked_everywhere_but_the_raw_log(
    tmp_path: Path,
) -> None:
    """An agent prints the key JSON-escaped, URL-encoded, in base64 at each offset (standard
    and URL-safe), split by colour codes and wrapped over two lines written apart: none of
    those forms is in the human log, the state or `nova status`, and the raw log has them.
    A secret-looking variable too short to mask is named at run start, its value is not."""
    import base64
    from urllib.parse import quote_plus

    key = "sk-ant-api03-" + "Zx9/Qw+" * 4 + "0123456789"
    write_cascade(
        tmp_path,
        [("X", "-")],
        settings={"agent": "command", "command": agent_cmd("secret_forms.py"), "retries": "0"},
    )
    extra = {"NOVA_TEST_API_KEY": key, "FOO_TOKEN": "t0p5"}
    env_run = run_nova_env(tmp_path, extra, "run")
    assert env_run.returncode == 0, env_run.stderr
    assert "the value of FOO_TOKEN is shorter than 8 characters" in env_run.stdout
    assert "t0p5" not in env_run.stdout
    forms = {"".join(f"\\u{ord(c):04x}" for c in key), quote_plus(key)}
    forms |= {key[i : i + 8] for i in range(len(key) - 7)}
    for offset in range(3):
        blob = b"Q" * offset + key.encode() + b" trailing bytes"
        first, last = -(-4 * offset // 3), 4 * (offset + len(key)) // 3
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(encode(blob).decode()[first:last])
    shown = _what_people_see(tmp_path, "X", env_run)
    for where, text in shown.items():
        found = sorted(f for f in forms if f in text)
        assert not found, f"{where} shows the secret: {found[:3]}"
    assert shown["log"].count("***") >= 10, shown["log"]
    raw = (tmp_path / "logs" / "raw" / "X-1.stdout").read_text(encoding="utf-8")
    assert key[:14] in raw
    assert quote_plus(key) in raw


def test_a_program_named_by_a_placeholder_is_found_and_run(tmp_path: Path) -> None:
    """`{cascade_dir}/agent.py` as the program: the pre-flight check fills the placeholder
    (it used to look for '/agent.py' and refuse to start) and every task runs it."""
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    agent = plan_dir / "agent.py"
    agent.write_text(f"#!{sys.executable}\nimport sys\nprint('ran', sys.argv[1])\n")
    agent.chmod(0o755)
    write_cascade(
        plan_dir,
        [("A", "-"), ("B", "A")],
        settings={"agent": "command", "command": "{cascade_dir}/agent.py {id}"},
    )
    done = run_nova(tmp_path, "run", "plan/CASCADE.md")
    assert done.returncode == 0, done.stderr
    assert {t: s["status"] for t, s in read_state(tmp_path)["tasks"].items()} == {
        "A": "done",
        "B": "done",
    }
    assert "ran B" in (tmp_path / "logs" / "B.log").read_text()


def test_nova_logs_follow_prints_the_log_as_it_grows_and_ends_with_the_task(
    tmp_path: Path,
) -> None:
    """`nova logs A -f` started during the run prints lines as the agent says them and exits
    by itself once A is done, with the log's footer last."""
    script = tmp_path / "talk.py"
    script.write_text(
        "import time\nfor i in range(6):\n    print('step', i, flush=True)\n    time.sleep(0.5)\n"
    )
    talk = shlex.join([sys.executable, str(script)])
    write_cascade(tmp_path, [("A", "-")], settings={"agent": "command", "command": talk})
    nova = Nova(tmp_path, "run")
    try:
        wait_until(lambda: (tmp_path / "logs" / "A.log").exists(), "A's log")
        follow = subprocess.run(
            [*NOVA, "logs", "A", "-f"],
            cwd=tmp_path,
            env=nova_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert nova.wait() == 0, nova.stderr()
    finally:
        nova.kill()
    assert follow.returncode == 0, follow.stderr
    said = follow.stdout
    assert [f"step {i}" in said for i in range(6)] == [True] * 6
    assert said.rstrip().splitlines()[-1].startswith("=====")  # the footer's closing rule
    assert "\ndone\n" in said


# --------------------------------------------------------------------------
# check commands


def test_a_check_that_fails_retries_the_agent_at_once_and_its_output_reaches_the_prompt(
    tmp_path: Path,
) -> None:
    """X's check passes only after X's agent ran twice: attempt 1 'succeeds', its check
    fails, attempt 2 runs at once (no retry delay) with the check's output in its prompt
    file, and its check passes. Y, with a check that never passes and --retries 1, fails
    after two checks, and its dependent is blocked."""
    out = out_dir(tmp_path)
    record = agent_cmd("record.py", str(out), "{id}")
    write_cascade(
        tmp_path,
        [("X", "-"), ("Y", "-"), ("Z", "Y")],
        settings={
            "agent": "command",
            "command": f"sh -c 'cp {{prompt_file}} {out}/{{id}}-{{attempt}}.prompt; {record}'",
            "retries": "1",
            "retry-delay": "1h",  # a check failure does not wait for it
        },
        task_settings={
            "X": {"check": agent_cmd("check.py", str(out), "{id}", "2")},
            "Y": {"check": agent_cmd("check.py", str(out), "{id}", "99")},
        },
    )

    done = run_nova(tmp_path, "run")

    assert done.returncode == 1, done.stdout + done.stderr
    tasks = read_state(tmp_path)["tasks"]
    assert (tasks["X"]["status"], tasks["X"]["attempts"]) == ("done", 2)
    assert (tasks["Y"]["status"], tasks["Y"]["failure"], tasks["Y"]["attempts"]) == (
        "failed",
        "check",
        2,
    )
    assert tasks["Y"]["reason"] == "the check failed with exit code 1: Y: 2 run(s), want 99"
    assert tasks["Z"]["status"] == "blocked"
    assert (runs(out, "X"), runs(out, "Y"), runs(out, "Z")) == (2, 2, 0)
    assert (out / "X.checks").read_text().count("checked") == 2
    first, second = ((out / f"X-{n}.prompt").read_text() for n in (1, 2))
    assert "The check" not in first
    assert "failed with exit code 1 after your last attempt" in second
    assert "collecting tests\nX: 1 run(s), want 2" in second
    log = (tmp_path / "logs" / "X.log").read_text(encoding="utf-8")
    assert "] check: X: 1 run(s), want 2" in log
    assert "will retry · the check failed with exit code 1: X: 1 run(s), want 2" in log
    assert "] check: X: all 2 good" in log
    assert "nova: the check passed" in log


def test_a_check_that_outlives_the_timeout_is_ended_and_counts_as_a_failed_check(
    tmp_path: Path,
) -> None:
    out = out_dir(tmp_path)
    write_cascade(
        tmp_path,
        [("X", "-")],
        settings={
            "agent": "command",
            "command": agent_cmd("record.py", str(out), "{id}"),
            "check": agent_cmd("check.py", str(out), "{id}", "hang"),
            "timeout": "1s",
            "retries": "0",
        },
    )

    done = run_nova(tmp_path, "run")

    assert done.returncode == 1, done.stdout + done.stderr
    task = read_state(tmp_path)["tasks"]["X"]
    assert (task["status"], task["failure"]) == ("failed", "check")
    assert task["reason"] == "the check timed out after 1s"
    assert task["pid"] is None


def test_a_check_program_that_is_not_there_exits_2_before_anything_runs(tmp_path: Path) -> None:
    out = out_dir(tmp_path)
    write_cascade(
        tmp_path,
        [("X", "-")],
        settings={"agent": "command", "command": agent_cmd("record.py", str(out), "{id}")},
        task_settings={"X": {"check": "run the linter"}},
    )

    done = run_nova(tmp_path, "run")

    assert done.returncode == 2
    assert done.stderr == (
        "Error: task 'X': the check command 'run' is not on PATH. Fix the check setting in "
        "CASCADE.md (check: run the linter); if that line is a note, not a setting, reword it.\n"
    )
    assert runs(out, "X") == 0
    assert not (tmp_path / "state" / "state.json").exists()


def test_tokens_are_counted_once_while_a_slow_check_runs(tmp_path: Path) -> None:
    """State writes during the check refreshed the finished agent's usage on top of the
    totals it was already folded into: X's 100 input tokens read 200."""
    write_cascade(
        tmp_path,
        [("X", "-")],
        settings={
            "agent": "command",
            "command": "sh -c 'echo Token usage: input=100, output=10'",
            "check": f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(1)'",
        },
    )

    done = run_nova(tmp_path, "run")

    assert done.returncode == 0, done.stdout + done.stderr
    task = read_state(tmp_path)["tasks"]["X"]
    assert task["tokens"]["command"]["input"] == 100
    assert task["tokens"]["command"]["output"] == 10


def _what_people_see(
    tmp_path: Path, task_id: str, run: subprocess.CompletedProcess[str]
) -> dict[str, str]:
    """Every place nova shows a task's output to people (not the raw logs), by name."""
    return {
        "log": (tmp_path / "logs" / f"{task_id}.log").read_text(encoding="utf-8"),
        "state": (tmp_path / "state" / "state.json").read_text(encoding="utf-8"),
        "status": run_nova(tmp_path, "status").stdout,
        "status --json": run_nova(tmp_path, "status", "--json").stdout,
        "run output": run.stdout + run.stderr,
    }
