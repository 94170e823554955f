"""Processes an agent hides from nova still do not outlive the run, whoever ends it.

The agent starts `env -i setsid sh -c '...; exec sleep 300' &`: a grandchild that clears
nova's marker from its environment and leaves the agent's session, as a fault campaign found
survived a SIGKILL of nova and the next run. One such grandchild stays the agent's child; the
other is orphaned at once (its parent exits), so it belongs to nobody in the process tree once
nova is dead. Each test runs with the run's cgroup and without it (NOVA_CGROUP=0), where the
record of processes nova keeps must find them alone.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.agents.harness import (
    Nova,
    alive,
    guardians,
    own_cgroup,
    read_pid,
    read_state,
    run_cgroup,
    run_nova_env,
    wait_until,
    write_cascade,
)

SLEEP = shutil.which("sleep") or "/bin/sleep"
SETSID = shutil.which("setsid") or "/usr/bin/setsid"
MODES = {"cgroup": {}, "no-cgroup": {"NOVA_CGROUP": "0"}}


def _hide(pidfile: Path) -> str:
    """Shell words that start the hidden grandchild; its pid goes to `pidfile`."""
    inner = f"echo $$ > {shlex.quote(str(pidfile))}; exec {SLEEP} 300"
    return f"env -i {SETSID} sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1"


def _agent(kept: Path, orphan: Path, stay: bool) -> str:
    """An agent command: one grandchild it keeps as its child, one orphaned at once; then it
    stays (sleeps), or exits once both have written their pids."""
    files = " && ".join(f"[ -s {shlex.quote(str(p))} ]" for p in (kept, orphan))
    then = "exec sleep 300" if stay else f"until {files}; do sleep 0.01; done; exit 0"
    script = f"{_hide(kept)} & ({_hide(orphan)} &); {then}"
    return shlex.join(["sh", "-c", script])


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> dict[str, str]:
    """nova's extra environment: with the run's cgroup, or without it."""
    if request.param == "cgroup":
        here = own_cgroup()
        if here is None or not os.access(here / "cgroup.procs", os.W_OK):
            pytest.skip("cgroup v2 is not writable here (run as root to test it)")
    return MODES[request.param]


@pytest.fixture
def hidden(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The pid files of the two grandchildren; whatever they name is killed after the test."""
    files = (tmp_path / "kept.pid", tmp_path / "orphan.pid")
    yield files
    for path in files:  # cleanup only: they carry no tag that end_tagged could find
        pid = read_pid(path)
        if pid is not None and alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _start(tmp_path: Path, mode: dict[str, str], hidden: tuple[Path, Path]) -> tuple[Nova, str]:
    """Start a run whose agent hides two grandchildren and stays; return nova and the run id
    once both are running and, without a cgroup, nova has recorded the orphan."""
    write_cascade(tmp_path, [("K", "-")])
    agent = _agent(*hidden, stay=True)
    nova = Nova(tmp_path, "run", "--retries", "0", "--agent-cmd", agent, extra=mode)
    wait_until(lambda: all(read_pid(p) for p in hidden), "both grandchildren to start")
    wait_until(lambda: (tmp_path / "state" / "state.json").exists(), "the state")
    if mode:  # no cgroup: only the record can name the orphan once nova is gone
        orphan = f"proc {read_pid(hidden[1])} "
        wait_until(lambda: orphan in _record(tmp_path), "nova to record the orphan")
    return nova, read_state(tmp_path)["run"]["id"]


def _record(tmp_path: Path) -> str:
    try:
        return (tmp_path / "state" / "processes.txt").read_text()
    except OSError:
        return ""


def test_the_guardian_ends_grandchildren_that_cleared_the_marker_when_nova_is_killed(
    tmp_path: Path, mode: dict[str, str], hidden: tuple[Path, Path]
) -> None:
    """SIGKILL of nova: its guardian ends both grandchildren and removes the run's cgroup;
    the next run says which processes the guardian ended."""
    nova, run_id = _start(tmp_path, mode, hidden)
    group = run_cgroup(tmp_path)
    try:
        os.kill(nova.pid, signal.SIGKILL)
        assert nova.wait(timeout=30) == -signal.SIGKILL
    finally:
        nova.kill()
    pids = [read_pid(p) for p in hidden]
    wait_until(lambda: not any(alive(p) for p in pids if p), "the grandchildren to end", 15)
    wait_until(lambda: not guardians(tmp_path, run_id), "the guardian to exit", timeout=15)
    assert (group is not None) == (not mode)  # the mode under test is the one in use
    assert group is None or not group.exists()

    again = run_nova_env(tmp_path, mode, "run", "--agent-cmd", "true", "--retries", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    said = [line for line in again.stdout.splitlines() if "its guardian ended" in line]
    assert len(said) == 1, again.stdout
    assert all(f"{pid} {SLEEP} 300" in said[0] for pid in pids), said[0]
    assert not (tmp_path / "state" / "processes.txt").exists()


def test_the_next_run_ends_what_a_killed_nova_and_guardian_left_and_names_it(
    tmp_path: Path, mode: dict[str, str], hidden: tuple[Path, Path]
) -> None:
    """SIGKILL of the guardian and nova leaves the grandchildren running; the next run ends
    them before it starts anything, names each (pid and command) and removes the cgroup."""
    nova, run_id = _start(tmp_path, mode, hidden)
    group = run_cgroup(tmp_path)
    try:
        (guardian,) = [pid for pid in guardians(tmp_path, run_id) if pid != nova.pid]
        os.kill(guardian, signal.SIGKILL)
        os.kill(nova.pid, signal.SIGKILL)
        assert nova.wait(timeout=30) == -signal.SIGKILL
    finally:
        nova.kill()
    pids = [read_pid(p) for p in hidden]
    assert all(p is not None and alive(p) for p in pids)  # nothing else would end them

    again = run_nova_env(tmp_path, mode, "run", "--agent-cmd", "true", "--retries", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not any(alive(p) for p in pids if p)
    said = [line for line in again.stdout.splitlines() if "the last run left running" in line]
    assert len(said) == 1, again.stdout
    assert all(f"{pid} {SLEEP} 300" in said[0] for pid in pids), said[0]
    assert group is None or not group.exists()
    assert not (tmp_path / "state" / "processes.txt").exists()


def test_grandchildren_an_agent_leaves_on_exit_are_ended_with_its_task(
    tmp_path: Path, mode: dict[str, str], hidden: tuple[Path, Path]
) -> None:
    """An agent that exits at once, leaving both grandchildren: nova ends them when the task
    ends, and leaves no cgroup and no record behind."""
    write_cascade(tmp_path, [("K", "-")])
    agent = _agent(*hidden, stay=False)
    done = run_nova_env(tmp_path, mode, "run", "--retries", "0", "--agent-cmd", agent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cgroup" not in done.stdout + done.stderr  # with or without one: nothing to say
    pids = [read_pid(p) for p in hidden]
    assert all(pids)
    assert not any(alive(p) for p in pids if p)
    assert "without nova's marker" in (tmp_path / "logs" / "K.log").read_text()
    assert not (tmp_path / "state" / "processes.txt").exists()
    here = own_cgroup()
    assert here is None or not (here / f"nova.{read_state(tmp_path)['run']['id']}").exists()
