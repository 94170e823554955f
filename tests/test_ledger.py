"""The record of a run's processes (engine.executors.ledger) and the guardian that reads it: what is
recorded is found again by pid and start time only, with everything below it, ended, and
named; a recorded pid that now names another process is left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.executors import guardian, ledger, procs

SLEEP = shutil.which("sleep") or "/bin/sleep"
SETSID = shutil.which("setsid") or "/usr/bin/setsid"


def test_a_record_is_read_line_by_line_and_a_torn_last_line_is_skipped() -> None:
    text = (
        "run abc123 4000 1700000000.25\n"
        "cgroup /sys/fs/cgroup/unified/nova.abc123\n"
        "proc 4242 1700000001.5\n"
        "proc nonsense here\n"
        "ended 4243 sleep 300\n"
        "proc 4244 17000"
    )
    record = ledger.parse_record(text)
    assert record.run_id == "abc123"
    assert record.nova == (4000, 1700000000.25)
    assert record.cgroup == "/sys/fs/cgroup/unified/nova.abc123"
    assert record.processes == [(4242, 1700000001.5)]
    assert record.ended == ["4243 sleep 300"]
    assert not record.done


def test_done_counts_only_as_the_last_line() -> None:
    """`done` then more lines is not a clean end: nova wrote after it (it never does)."""
    assert ledger.parse_record("proc 1 2.0\ndone\n").done
    assert not ledger.parse_record("done\nproc 1 2.0\n").done
    assert not ledger.parse_record("proc 1 2.0\ndone").done  # torn: maybe not `done` at all


def test_the_header_and_process_lines_read_back_as_written(tmp_path: Path) -> None:
    group = Path("/sys/fs/cgroup/nova.r1")
    text = ledger.header("r1", (123, 1700000000.123), group).encode()
    text += ledger.process_line(456, 1700000002.75)
    record = ledger.parse_record(text.decode())
    assert (record.run_id, record.nova, record.cgroup) == ("r1", (123, 1700000000.123), str(group))
    assert record.processes == [(456, 1700000002.75)]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A `sleep 300` child, killed and reaped after the test."""
    child = subprocess.Popen([SLEEP, "300"])
    yield child
    child.kill()
    child.wait()


def test_the_ledger_writes_each_process_once_to_the_file_and_the_pipe(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """Recorded again, a process is not written again; one already gone is not written."""
    path = tmp_path / ledger.FILE
    path.write_text("run r1 1 2.0\n")
    read_end, write_end = os.pipe()
    gone = subprocess.Popen(["true"])
    gone.wait()
    book = ledger.Ledger(path, write_end)
    book.add([sleeper.pid, gone.pid])
    book.add([sleeper.pid])
    book.close()
    os.close(write_end)
    told = os.read(read_end, 4096).decode()
    os.close(read_end)
    started = procs.create_time(sleeper.pid)
    assert started is not None
    assert ledger.parse_record(told).processes == [(sleeper.pid, started)]
    assert ledger.parse_record(path.read_text()).processes == [(sleeper.pid, started)]


def test_a_recorded_pid_with_another_start_time_is_never_ended(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """The pid names a process started at another time: not the one recorded."""
    started = procs.create_time(sleeper.pid)
    assert started is not None
    assert ledger.Hunt(None, [(sleeper.pid, started - 10)], []).end() == []
    assert sleeper.poll() is None


def test_this_process_and_its_ancestors_are_never_ended_even_if_recorded() -> None:
    """A record can name anything: the process reading it, and what runs that, are spared."""
    me = [(pid, procs.create_time(pid)) for pid in procs.ancestors()[:2]]
    assert [pid for pid, _ in me] == [os.getpid(), os.getppid()]
    assert ledger.Hunt(None, me, []).end() == []


def _hiding_shell() -> tuple[subprocess.Popen[str], int]:
    """A shell with a child that cleared its environment and left the session; both pids."""
    shell = subprocess.Popen(
        ["sh", "-c", f"env -i {SETSID} {SLEEP} 300 & echo $!; wait"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert shell.stdout is not None
    hidden = int(shell.stdout.readline())
    shell.stdout.close()  # the shell writes nothing more
    deadline = time.monotonic() + 10
    while not procs.command(hidden).startswith(SLEEP) and time.monotonic() < deadline:
        time.sleep(0.01)  # until setsid has become sleep: nothing to wait on in another process
    return shell, hidden


def test_a_recorded_process_and_what_hides_below_it_are_ended_and_named() -> None:
    shell, hidden = _hiding_shell()
    try:
        started = procs.create_time(shell.pid)
        ended = ledger.Hunt(None, [(shell.pid, started)], []).end()
        assert shell.wait(timeout=10) < 0
        assert not procs.alive([hidden])
        assert len(ended) == 2
        assert f"{hidden} {SLEEP} 300" in ended
        assert [e for e in ended if e.startswith(f"{shell.pid} sh -c env -i ")]
    finally:
        procs.send([shell.pid, hidden], procs.KILL)
        shell.wait()


def test_the_next_run_ends_what_the_record_names_says_so_and_forgets_it(tmp_path: Path) -> None:
    shell, hidden = _hiding_shell()
    try:
        text = ledger.header("r1", (os.getpid(), 1.0), None)
        text += ledger.process_line(shell.pid, procs.create_time(shell.pid) or 0.0).decode()
        ledger.write_record(tmp_path, text)
        notes: list[str] = []
        ledger.end_left(tmp_path, [], ["r1"], notes.append)
        assert not procs.alive([shell.pid, hidden])
        assert len(notes) == 1
        assert notes[0].startswith("ended 2 process(es) the last run left running: ")
        assert f"{hidden} {SLEEP} 300" in notes[0]
        assert ledger.read_record(tmp_path) is None
    finally:
        procs.send([shell.pid, hidden], procs.KILL)
        shell.wait()


def test_the_guardian_ends_what_nova_told_it_of_unless_nova_said_done(tmp_path: Path) -> None:
    """The pipe closes without `done`: the recorded shell and its hidden child are ended,
    and the record left for the next run says so. With `done` last, nothing is touched."""
    shell, hidden = _hiding_shell()
    try:
        told = ledger.process_line(shell.pid, procs.create_time(shell.pid) or 0.0)
        for last, ends in ((guardian.DONE, False), (b"", True)):
            read_end, write_end = os.pipe()
            os.write(write_end, told + last)
            os.close(write_end)
            assert guardian.watch(read_end, "r1", None, tmp_path, (1, 1.0)) == 0
            os.close(read_end)
            assert bool(procs.alive([shell.pid, hidden])) is not ends
        record = ledger.read_record(tmp_path)
        assert record is not None
        assert record.run_id == "r1"
        assert record.cgroup is None
        assert sorted(e.split()[0] for e in record.ended) == sorted([str(shell.pid), str(hidden)])
    finally:
        procs.send([shell.pid, hidden], procs.KILL)
        shell.wait()
