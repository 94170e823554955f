"""`nova run` under faults, with command agents and real processes: nothing outlives its run.

Each test runs the real `nova` command on a small CASCADE.md whose agents are the Python scripts
in tests/e2e/agents/ (hostile on purpose: they ignore signals, start children in sessions of
their own, close or leak their output pipes, hang). It then checks what nova promises: the
exit code, the state, the logs, and that no process carrying the run's NOVA_RUN_ID remains.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agents.harness import (
    NOVA,
    Nova,
    agent_cmd,
    alive,
    guardians,
    marked_pids,
    nova_env,
    out_dir,
    read_state,
    run_nova,
    runs,
    wait_until,
    write_cascade,
)

GRAPH = [("Q", "-"), ("S1", "-"), ("S2", "-"), ("D", "S1")]


def _stubborn_run(tmp_path: Path, out: Path) -> tuple[Nova, str, list[int]]:
    """Start a run where Q finishes and S1, S2 hang ignoring signals with setsid'd sleeps.

    Returns nova, the run's id, and the pids of the sleeps, once all that is under way.
    """
    write_cascade(
        tmp_path,
        GRAPH,
        settings={
            "agent": "command",
            "command": agent_cmd("stubborn.py", str(out), "{id}"),
            "retries": "0",
        },
        task_settings={
            "Q": {"command": agent_cmd("record.py", str(out), "{id}")},
            "D": {"command": agent_cmd("record.py", str(out), "{id}")},
        },
    )
    nova = Nova(tmp_path, "run", "-j", "3", "--grace", "1")

    def under_way() -> bool:
        if not all((out / f"{t}.ready").exists() for t in ("S1", "S2")):
            return False
        state_file = tmp_path / "state" / "state.json"
        return state_file.exists() and read_state(tmp_path)["tasks"]["Q"]["status"] == "done"

    wait_until(under_way, "Q done and S1, S2 running with their sleeps")
    run_id = read_state(tmp_path)["run"]["id"]
    sleeps = [int((out / f"{t}.ready").read_text()) for t in ("S1", "S2")]
    marked = marked_pids(run_id)
    assert all(pid in marked for pid in sleeps)  # the marker reaches setsid'd grandchildren
    return nova, run_id, sleeps


def _stop_stubborn_run(tmp_path: Path, out: Path, sig: signal.Signals) -> dict[str, Any]:
    """Start `_stubborn_run`, send nova `sig`, and check it stopped as a run must: exit 130,
    the state saved as ended, no process of the run left. Returns the state's tasks."""
    nova, run_id, sleeps = _stubborn_run(tmp_path, out)
    try:
        os.kill(nova.pid, sig)
        code = nova.wait(timeout=30)
    finally:
        nova.kill()
    assert code == 130, nova.stderr()
    state = read_state(tmp_path)
    assert (state["run"]["running"], state["run"]["exit_code"]) == (False, 130)
    assert marked_pids(run_id) == []
    assert [pid for pid in sleeps if alive(pid)] == []
    tasks: dict[str, Any] = state["tasks"]
    return tasks


def _resume_finishes_without_redoing_done_tasks(tmp_path: Path, out: Path) -> None:
    (out / "behave").touch()
    done = run_nova(tmp_path, "run", "-j", "3")
    assert done.returncode == 0, done.stderr
    tasks = read_state(tmp_path)["tasks"]
    assert {t: s["status"] for t, s in tasks.items()} == {t: "done" for t, _ in GRAPH}
    assert {t: runs(out, t) for t, _ in GRAPH} == {"Q": 1, "S1": 2, "S2": 2, "D": 1}


# --------------------------------------------------------------------------
# interrupts and crashes


def test_ctrl_c_ends_agents_that_ignore_signals_and_their_setsid_children(
    tmp_path: Path,
) -> None:
    """SIGINT ends stubborn agents and their setsid'd sleeps, nova exits 130; a rerun finishes."""
    out = out_dir(tmp_path)
    tasks = _stop_stubborn_run(tmp_path, out, signal.SIGINT)

    assert {t: s["status"] for t, s in tasks.items()} == {
        "Q": "done",
        "S1": "cancelled",
        "S2": "cancelled",
        "D": "pending",
    }
    log = (tmp_path / "logs" / "S1.log").read_text(encoding="utf-8")
    assert "after SIGINT; sent SIGTERM" in log
    assert "ignored SIGTERM" in log

    _resume_finishes_without_redoing_done_tasks(tmp_path, out)


def test_sigkill_of_nova_leaves_the_guardian_to_end_every_agent(tmp_path: Path) -> None:
    """After nova is SIGKILLed the guardian ends its agents and sleeps; the next run finishes."""
    out = out_dir(tmp_path)
    nova, run_id, sleeps = _stubborn_run(tmp_path, out)
    watchers = guardians(tmp_path, run_id)
    assert len(watchers) == 2
    assert nova.pid in watchers
    try:
        os.kill(nova.pid, signal.SIGKILL)
        assert nova.wait(timeout=30) == -signal.SIGKILL
    finally:
        nova.kill()

    state = read_state(tmp_path)  # an atomic write: still whole after the kill
    assert state["run"]["running"] is True  # nova never got to say otherwise
    wait_until(lambda: not marked_pids(run_id), f"no process with NOVA_RUN_ID={run_id}", timeout=15)
    assert [pid for pid in sleeps if alive(pid)] == []
    wait_until(lambda: not guardians(tmp_path, run_id), "the guardian to exit", timeout=15)

    _resume_finishes_without_redoing_done_tasks(tmp_path, out)


def test_a_reader_that_goes_away_does_not_fail_tasks(tmp_path: Path) -> None:
    """`nova run | head -1`: once nothing reads nova's output, every task still runs and is
    recorded as done, dependents included, and nova exits 0 without a traceback."""
    out = out_dir(tmp_path)
    command = agent_cmd("record.py", str(out), "{id}")
    write_cascade(
        tmp_path,
        [("A", "-"), ("B", "A"), ("C", "B")],
        settings={"agent": "command", "command": command},
    )
    proc = subprocess.Popen(
        [*NOVA, "run"],
        cwd=tmp_path,
        env=nova_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.readline()  # the first line, as `head -1` would
    proc.stdout.close()
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    assert code == 0, err
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
    assert {t: s["status"] for t, s in read_state(tmp_path)["tasks"].items()} == {
        "A": "done",
        "B": "done",
        "C": "done",
    }


def test_a_closed_terminal_sighup_stops_the_run_like_ctrl_c(tmp_path: Path) -> None:
    """SIGHUP (the terminal or SSH session went away, taking nova's output with it) stops
    the agents in order and saves the state: exit 130, no agent left, the rerun finishes."""
    out = out_dir(tmp_path)
    _stop_stubborn_run(tmp_path, out, signal.SIGHUP)
    _resume_finishes_without_redoing_done_tasks(tmp_path, out)


def test_under_nohup_a_hangup_does_not_stop_the_run(tmp_path: Path) -> None:
    """`nohup nova run &` ignores SIGHUP on purpose: the closed terminal's hangup leaves the
    run going, and it finishes every task."""
    out = out_dir(tmp_path)
    slow = shlex.join([sys.executable, "-c", "import time; time.sleep(1.5)"])
    write_cascade(
        tmp_path, [("A", "-"), ("B", "A")], settings={"agent": "command", "command": slow}
    )
    proc = subprocess.Popen(
        ["nohup", *NOVA, "run"],
        cwd=tmp_path,
        env=nova_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: (tmp_path / "state" / "state.json").exists(), "the state")
        os.kill(proc.pid, signal.SIGHUP)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    tasks = read_state(tmp_path)["tasks"]
    assert {t: s["status"] for t, s in tasks.items()} == {"A": "done", "B": "done"}
    assert out.exists()


def test_second_run_on_the_same_state_dir_is_refused_naming_the_first(tmp_path: Path) -> None:
    """A second `nova run` on a busy state dir exits 2 naming the first's pid and starts nothing."""
    out = out_dir(tmp_path)
    write_cascade(tmp_path, [("G", "-")])
    first = Nova(
        tmp_path, "run", "--retries", "0", "--agent-cmd", agent_cmd("gate.py", str(out), "{id}")
    )
    try:
        wait_until(lambda: (out / "G.ready").exists(), "the first run's agent to start")

        second = run_nova(
            tmp_path, "run", "--retries", "0", "--agent-cmd", agent_cmd("gate.py", str(out), "{id}")
        )

        assert second.returncode == 2
        assert f"another nova run (pid {first.pid})" in second.stderr
        assert read_state(tmp_path)["run"]["pid"] == first.pid
        (out / "release").touch()
        assert first.wait() == 0, first.stderr()
    finally:
        (out / "release").touch()
        first.kill()
    assert runs(out, "G") == 1


def test_second_run_with_another_state_dir_but_the_same_logs_is_refused(tmp_path: Path) -> None:
    """Two runs writing one logs/ would append to the same logs and raw files: the second
    exits 2 naming the first, and writes no log."""
    out = out_dir(tmp_path)
    write_cascade(tmp_path, [("G", "-")])
    gate = agent_cmd("gate.py", str(out), "{id}")
    first = Nova(tmp_path, "run", "--agent-cmd", gate)
    try:
        wait_until(lambda: (out / "G.ready").exists(), "the first run's agent to start")

        second = run_nova(tmp_path, "run", "--state-dir", "other", "--agent-cmd", gate)

        assert second.returncode == 2
        assert second.stderr == (
            f"Error: another nova run (pid {first.pid}) is writing its logs to logs/. Wait for "
            f"it to finish, stop it (kill {first.pid}), or use another --logs-dir.\n"
        )
        (out / "release").touch()
        assert first.wait() == 0, first.stderr()
    finally:
        (out / "release").touch()
        first.kill()
    assert runs(out, "G") == 1
    assert not (tmp_path / "other" / "state.json").exists()
    log = (tmp_path / "logs" / "G.log").read_text(encoding="utf-8")
    assert log.count("· attempt ") == 1  # the first run's attempt, and no other
    assert sorted(p.name for p in (tmp_path / "logs" / "raw").iterdir()) == ["G-1.stdout"]


# --------------------------------------------------------------------------
# output pipes


def test_agent_that_closes_its_output_is_awaited_until_it_exits(tmp_path: Path) -> None:
    """An agent that closes stdout and stderr and works on is done only when it exits 0."""
    finished = tmp_path / "finished"
    write_cascade(tmp_path, [("C", "-")])

    done = run_nova(
        tmp_path, "run", "--retries", "0", "--agent-cmd", agent_cmd("closer.py", str(finished))
    )

    assert done.returncode == 0, done.stderr
    task = read_state(tmp_path)["tasks"]["C"]
    assert (task["status"], task["exit_code"]) == ("done", 0)
    # The agent wrote its finish time just before exiting; state times are cut to milliseconds.
    ended = datetime.fromisoformat(task["ended"]).timestamp()
    assert ended + 0.001 >= float(finished.read_text())


@pytest.mark.parametrize("session", ["same-session", "setsid"])
def test_grandchild_holding_stdout_open_does_not_hang_nova_and_is_ended(
    tmp_path: Path, session: str
) -> None:
    """An agent that exits leaving `sleep 300` on its stdout is done, and the sleep is ended."""
    pidfile = tmp_path / "sleep.pid"
    write_cascade(tmp_path, [("K", "-")])

    done = run_nova(
        tmp_path,
        "run",
        "--retries",
        "0",
        "--agent-cmd",
        agent_cmd("leaky.py", str(pidfile), session),
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    state = read_state(tmp_path)
    assert (state["tasks"]["K"]["status"], state["tasks"]["K"]["exit_code"]) == ("done", 0)
    assert not alive(int(pidfile.read_text()))
    assert marked_pids(state["run"]["id"]) == []
    assert "the agent left 1 process(es) running" in (tmp_path / "logs" / "K.log").read_text()


def test_pipe_held_by_a_process_without_the_marker_is_closed_after_a_grace(
    tmp_path: Path,
) -> None:
    """A pipe held by an unmarked setsid'd sleep cannot hang nova. While another agent runs
    the sleep cannot be told apart from that agent's, so nova closes the pipe after a grace
    and says so; once no agent runs, it ends the sleep."""
    pidfile = tmp_path / "sleep.pid"
    busy = shlex.join([sys.executable, "-c", "import time; time.sleep(4)"])
    write_cascade(
        tmp_path,
        [("K", "-"), ("W", "-")],
        task_settings={
            "K": {"command": agent_cmd("leaky.py", str(pidfile), "scrubbed")},
            "W": {"command": busy},
        },
        settings={"agent": "command"},
    )
    try:
        done = run_nova(tmp_path, "run", "--retries", "0", "-j", "2", timeout=60)
    finally:
        if pidfile.exists():  # cleanup only: the assertion below says whether nova did it
            sleep_pid = int(pidfile.read_text())
            was_alive = alive(sleep_pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(sleep_pid, signal.SIGKILL)
    assert done.returncode == 0, done.stderr
    task = read_state(tmp_path)["tasks"]["K"]
    assert (task["status"], task["exit_code"]) == ("done", 0)
    log = (tmp_path / "logs" / "K.log").read_text(encoding="utf-8")
    assert "left sleep" in log
    assert log.count("a process without nova's marker still holds the agent's output") == 1
    assert "Event loop is closed" not in done.stderr
    assert not was_alive
    # Ended when W, the last agent, ended (no agent could then have started it).
    assert "process(es) without nova's marker" in (tmp_path / "logs" / "W.log").read_text()


def test_an_agent_alone_that_leaves_an_unmarked_process_has_it_ended_with_the_task(
    tmp_path: Path,
) -> None:
    """With no other agent running, a process re-parented to nova without any marker can only
    be the task's: it is ended when the task ends, and the log says so."""
    pidfile = tmp_path / "sleep.pid"
    write_cascade(tmp_path, [("K", "-")])
    try:
        done = run_nova(
            tmp_path,
            "run",
            "--retries",
            "0",
            "--agent-cmd",
            agent_cmd("leaky.py", str(pidfile), "scrubbed"),
        )
        was_alive = alive(int(pidfile.read_text()))
    finally:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert done.returncode == 0, done.stderr
    assert not was_alive
    log = (tmp_path / "logs" / "K.log").read_text(encoding="utf-8")
    assert "1 process(es) without nova's marker" in log
    assert "output pipe still held open" not in log


def test_ctrl_c_ends_a_grandchild_whose_parent_died_and_that_cleared_its_marker(
    tmp_path: Path,
) -> None:
    """The middle process of a tool dies on SIGTERM, re-parenting its grandchild (own
    session, no marker, ignores signals) to nova: nova saw it in the task's tree before, so
    it still kills it; nothing outlives the run."""
    pidfile = tmp_path / "grandchild.pid"
    write_cascade(tmp_path, [("C", "-")])
    nova = Nova(
        tmp_path,
        "run",
        "--retries",
        "0",
        "--grace",
        "0.5",
        "--agent-cmd",
        agent_cmd("chain.py", str(pidfile)),
    )
    try:
        wait_until(pidfile.exists, "the grandchild to start")
        grandchild = int(pidfile.read_text())
        wait_until(lambda: (tmp_path / "state" / "state.json").exists(), "the state")
        os.kill(nova.pid, signal.SIGINT)
        code = nova.wait(timeout=30)
        was_alive = alive(grandchild)
    finally:
        nova.kill()
        with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert code == 130, nova.stderr()
    assert not was_alive


# --------------------------------------------------------------------------
# time limits


def test_timeout_fails_the_task_and_ends_its_agent(tmp_path: Path) -> None:
    """--timeout 1s on an agent sleeping 60 s fails it 'timed out after 1s', leaving no process."""
    out = out_dir(tmp_path)
    write_cascade(tmp_path, [("T", "-")])

    done = run_nova(
        tmp_path,
        "run",
        "--timeout",
        "1s",
        "--retries",
        "0",
        "--agent-cmd",
        agent_cmd("slow.py", str(out), "{id}"),
    )

    assert done.returncode == 1, done.stderr
    state = read_state(tmp_path)
    task = state["tasks"]["T"]
    assert (task["status"], task["failure"], task["reason"]) == (
        "failed",
        "timeout",
        "timed out after 1s",
    )
    assert marked_pids(state["run"]["id"]) == []
    assert [int(p) for p in (out / "T.runs").read_text().split() if alive(int(p))] == []


def test_stall_timeout_ends_a_silent_agent_and_retries_it(tmp_path: Path) -> None:
    """--stall-timeout 1s ends a quiet agent as stalled, and --retries 1 runs it once more."""
    out = out_dir(tmp_path)
    write_cascade(tmp_path, [("T", "-")])

    done = run_nova(
        tmp_path,
        "run",
        "--stall-timeout",
        "1s",
        "--retries",
        "1",
        "--retry-delay",
        "0.05s",
        "--agent-cmd",
        agent_cmd("slow.py", str(out), "{id}", "talk"),
    )

    assert done.returncode == 1, done.stderr
    state = read_state(tmp_path)
    task = state["tasks"]["T"]
    assert (task["status"], task["failure"], task["attempts"]) == ("failed", "stalled", 2)
    assert task["reason"] == "no output for 1s; ended it"
    pids = [int(p) for p in (out / "T.runs").read_text().split()]
    assert len(pids) == 2
    assert [p for p in pids if alive(p)] == []
    assert marked_pids(state["run"]["id"]) == []
    log = (tmp_path / "logs" / "T.log").read_text(encoding="utf-8")
    assert log.count("T said one thing and went quiet") == 2


# --------------------------------------------------------------------------
# resources


def test_too_few_descriptors_make_tasks_wait_and_run_not_fail(tmp_path: Path) -> None:
    """With a hard limit of 64 open files, -j 40 cannot start 40 agents at once: the ones that
    find no descriptors wait and start later, without spending a retry; every task is done."""
    import resource

    out = out_dir(tmp_path)
    ids = [f"T{i:02d}" for i in range(40)]
    write_cascade(
        tmp_path,
        [(t, "-") for t in ids],
        settings={
            "agent": "command",
            "retries": "0",
            "command": agent_cmd("record.py", str(out), "{id}"),
        },
    )

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    done = subprocess.run(
        [*NOVA, "run", "-j", "40"],
        cwd=tmp_path,
        env=nova_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        preexec_fn=few_files,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tasks = read_state(tmp_path)["tasks"]
    assert {s["status"] for s in tasks.values()} == {"done"}
    assert "Too many open files; starts when a running agent ends" in done.stdout
    assert sum(runs(out, t) for t in ids) == 40  # each agent ran once: waiting is no attempt
    for t in ids:  # and no log of attempts that never started
        assert (tmp_path / "logs" / f"{t}.log").read_text().count(" · attempt ") == 1
        assert tasks[t]["attempts"] == 1


def test_a_full_disk_is_reported_and_does_not_hang_the_run(tmp_path: Path) -> None:
    """Logs on a 2 MB file system and an agent printing 5 MB: the agent is never blocked, the
    run ends, and both the output and the state say the logs could not be written."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        flood = shlex.join([sys.executable, "-c", "[print('x' * 99) for i in range(50000)]"])
        write_cascade(
            tmp_path, [("F", "-")], settings={"agent": "command", "retries": "0", "command": flood}
        )
        done = run_nova(tmp_path, "run", "--logs-dir", str(disk / "logs"), timeout=60)
        assert done.returncode == 0, done.stderr
        assert "could not write all of its log: No space left on device" in done.stdout
        state = read_state(tmp_path)
        assert state["tasks"]["F"]["status"] == "done"
        assert "logs could not be written (No space left on device" in state["run"]["warning"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_disk_filled_by_logs_still_takes_the_final_state(tmp_path: Path) -> None:
    """Logs and state on one 4 MB file system, agents printing 6 MB: the logs run out of room,
    but the state's reserved space takes its writes, so every done task is recorded done and
    the next run redoes nothing."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        flood = shlex.join([sys.executable, "-c", "[print('x' * 99) for i in range(20000)]"])
        write_cascade(
            tmp_path,
            [("A", "-"), ("B", "-"), ("C", "A")],
            settings={"agent": "command", "retries": "0", "command": flood},
        )
        where = ["--logs-dir", str(disk / "logs"), "--state-dir", str(disk / "state")]
        done = run_nova(tmp_path, "run", *where, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "No space left on device" in done.stdout
        doc = json.loads((disk / "state" / "state.json").read_bytes())
        assert {t: s["status"] for t, s in doc["tasks"].items()} == dict.fromkeys("ABC", "done")
        assert doc["run"]["running"] is False
        assert not (disk / "state" / ".space-reserve").exists()  # given back at the end
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_attempts_go_on_from_the_logs_when_the_state_was_moved_aside(tmp_path: Path) -> None:
    """After `mv state.json` (what nova advises for a broken state) the next run numbers its
    attempts after the ones in logs/raw/, so no raw log mixes two attempts."""
    out = out_dir(tmp_path)
    write_cascade(
        tmp_path,
        [("A", "-")],
        settings={"agent": "command", "command": agent_cmd("record.py", str(out), "{id}")},
    )
    assert run_nova(tmp_path, "run").returncode == 0
    (tmp_path / "state" / "state.json").rename(tmp_path / "state.json.old")
    assert run_nova(tmp_path, "run").returncode == 0
    raw = tmp_path / "logs" / "raw"
    assert sorted(p.name for p in raw.glob("A-*.stdout")) == ["A-1.stdout", "A-2.stdout"]
    assert (raw / "A-1.stdout").read_text() == (raw / "A-2.stdout").read_text() == "A worked\n"
    assert read_state(tmp_path)["tasks"]["A"]["attempts"] == 2


def test_ctrl_c_during_a_check_stops_it_and_leaves_the_task_cancelled(tmp_path: Path) -> None:
    """SIGINT while X's check runs: the check is ended, X is cancelled (so it runs again next
    time), not failed; nova exits 130 and no process of the run is left."""
    out = out_dir(tmp_path)
    write_cascade(
        tmp_path,
        [("X", "-")],
        settings={
            "agent": "command",
            "command": agent_cmd("record.py", str(out), "{id}"),
            "check": agent_cmd("check.py", str(out), "{id}", "hang"),
        },
    )
    nova = Nova(tmp_path, "run")
    try:
        wait_until(lambda: (out / "X.checks").exists(), "the check to start")
        run_id = read_state(tmp_path)["run"]["id"]
        os.kill(nova.pid, signal.SIGINT)
        code = nova.wait(timeout=30)
    finally:
        nova.kill()

    assert code == 130, nova.stderr()
    task = read_state(tmp_path)["tasks"]["X"]
    assert (task["status"], task["pid"]) == ("cancelled", None)
    assert marked_pids(run_id) == []
    log = (tmp_path / "logs" / "X.log").read_text(encoding="utf-8")
    assert "check: checking slowly" in log
    assert "stopped by the user during the check" in log
