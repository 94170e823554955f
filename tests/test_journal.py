"""The journal of task transitions (engine.observe.journal): its lines, replay over a snapshot, torn
and damaged lines, group commit, the file it keeps, and how the store, the writer, the runner
and `carry_over` use it."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from engine.executors.base import Launch
from engine.executors.scripted import ScriptedExecutor
from engine.observe.journal import (
    JOURNAL_FILE,
    Journal,
    Record,
    decode,
    decode_line,
    encode,
    overlay,
    read_journal,
)
from engine.observe.progress import LineReporter
from engine.observe.state import RunState, State, StateEncoder, TaskState
from engine.observe.store import StateStore
from engine.observe.writer import StateWriter
from engine.outcome import TaskStatus
from engine.plan.cascade import parse_cascade
from engine.plan.graph import build_graph
from engine.plan.settings import Settings
from engine.run.runner import Runner, RunOptions


def _task(task_id: str, status: TaskStatus, attempts: int) -> TaskState:
    return TaskState(id=task_id, name=f"Task {task_id}", status=status, attempts=attempts)


def _line(seq: int, ts: TaskState, kind: str = "end") -> bytes:
    return encode(seq, ts.id, kind, ts.to_json())


def test_a_record_is_one_json_line_that_decodes_to_what_was_encoded() -> None:
    """encode gives one line ending in a newline; decode_line gives the record back."""
    ts = _task("A", TaskStatus.DONE, 2)
    line = _line(7, ts)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line)["state"] == ts.to_json()
    assert decode_line(line.rstrip(b"\n")) == Record(7, "A", "end", ts.to_json())
    for junk in (b"", b"[]", b'{"seq": "7", "task": "A", "state": {}}', b'{"seq": 1'):
        assert decode_line(junk) is None, junk


def test_replay_lays_only_records_after_the_snapshots_seq_over_it_in_order() -> None:
    """Records up to the snapshot's seq are in it already; later ones win over earlier ones."""
    state = State(run=RunState(journal_seq=1))
    state.tasks["A"] = _task("A", TaskStatus.PENDING, 0)
    state.tasks["B"] = _task("B", TaskStatus.DONE, 1)
    data = b"".join(
        [
            _line(1, _task("B", TaskStatus.FAILED, 1)),  # older than the snapshot: skipped
            _line(2, _task("A", TaskStatus.RUNNING, 1), "start"),
            _line(3, _task("A", TaskStatus.DONE, 1)),
            _line(4, _task("C", TaskStatus.RUNNING, 1), "start"),
        ]
    )
    found = decode(data)
    assert (found.last_seq, found.end, found.bad) == (4, len(data), [])
    assert overlay(state, found.records, state.run.journal_seq) == 3
    assert {t: (s.status, s.attempts) for t, s in state.tasks.items()} == {
        "A": (TaskStatus.DONE, 1),
        "B": (TaskStatus.DONE, 1),
        "C": (TaskStatus.RUNNING, 1),
    }


def test_a_settled_tasks_record_and_the_next_state_write_share_one_encoding() -> None:
    """StateEncoder.task_text is the task's to_json as JSON text, running or settled, and the
    state encoded after it is byte for byte what json.dumps gives."""
    state = State(project="P", cascade="C.md")
    state.tasks["A:1"] = _task("A:1", TaskStatus.DONE, 1)
    state.tasks["B"] = _task("B", TaskStatus.RUNNING, 2)
    encoder = StateEncoder()
    for ts in state.tasks.values():
        assert json.loads(encoder.task_text(ts)) == ts.to_json()
    compact = json.dumps(state.to_json(), separators=(",", ":"), ensure_ascii=False)
    assert encoder.encode(state) == compact.encode()


def test_a_torn_last_line_is_ignored_and_a_damaged_middle_line_is_reported() -> None:
    """A last line cut mid-append (or zeros after a power loss) is left out quietly, and `end`
    is where it starts; a bad line with records after it is listed in `bad`."""
    one = _line(1, _task("A", TaskStatus.DONE, 1))
    two = _line(2, _task("B", TaskStatus.DONE, 1))
    for tail in (two[:-9], b"\0\0\0\0", b"\0\0\n", b'{"seq": 3\n'):
        found = decode(one + tail)
        assert ([r.seq for r in found.records], found.end, found.bad) == ([1], len(one), [])
    found = decode(one + b"garbage\n" + two)
    assert ([r.seq for r in found.records], found.bad) == ([1, 2], [2])


def test_the_journal_keeps_the_highest_attempt_number_each_task_was_given() -> None:
    """An attempt counted as none afterwards (its agent never started) keeps its number."""
    found = decode(
        _line(1, _task("A", TaskStatus.RUNNING, 3), "start")
        + _line(2, _task("A", TaskStatus.PENDING, 2))
        + _line(3, _task("B", TaskStatus.RUNNING, 1), "start")
    )
    assert found.given() == {"A": 3, "B": 1}


def test_many_appends_cost_one_sync_and_appends_during_a_sync_share_the_next(
    tmp_path: Path,
) -> None:
    """Ten records then durable(): one sync. While a sync is under way, five more records with
    five waiters: one more sync for all of them, and each waiter returns once it is done."""
    syncs: list[int] = []
    release = threading.Event()
    second_sync: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def sync(fd: int) -> None:
        syncs.append(os.fstat(fd).st_size)
        if len(syncs) == 2:
            loop, started = second_sync[0]
            loop.call_soon_threadsafe(started.set)
            release.wait(10)

    async def scenario(journal: Journal) -> None:
        second_sync.append((asyncio.get_running_loop(), asyncio.Event()))
        for i in range(10):
            journal.task(_task(f"T{i}", TaskStatus.DONE, 1))
        await journal.durable()
        assert len(syncs) == 1
        assert journal.idle()
        journal.task(_task("X", TaskStatus.RUNNING, 1), "start")
        first = asyncio.ensure_future(journal.durable())
        await second_sync[0][1].wait()  # the sync of X is under way in the journal's thread
        waiters = []
        for i in range(5):
            journal.task(_task(f"Y{i}", TaskStatus.RUNNING, 1), "start")
            waiters.append(asyncio.ensure_future(journal.durable()))
        release.set()
        await asyncio.gather(first, *waiters)
        assert len(syncs) == 3
        assert journal.idle()

    journal = Journal(tmp_path, sync=sync, wait_for_sync=True)
    journal.open(0)
    try:
        asyncio.run(scenario(journal))
    finally:
        journal.close()
    assert [r.seq for r in read_journal(journal.path.parent).records] == list(range(1, 17))


def test_a_record_is_in_the_file_at_once_and_synced_soon_after_all(tmp_path: Path) -> None:
    """A task's end is in the file the moment it is appended (a kill -9 then cannot lose it),
    with no start after it to wait for; the journal's thread syncs it by itself."""
    synced = threading.Event()

    def sync(fd: int) -> None:
        synced.wait(10)

    journal = Journal(tmp_path, sync=sync)
    journal.open(0)

    async def scenario() -> None:
        journal.task(_task("A", TaskStatus.DONE, 1))
        # Written before any sync: what a new nova would read after a kill now.
        assert [r.task for r in read_journal(tmp_path).records] == ["A"]
        await journal.durable()  # without wait_for_sync: the write is what it waits for
        assert not journal.idle()  # the sync is still under way
        synced.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not journal.idle():  # synced by the journal's thread, nothing to await
            assert loop.time() < deadline, "the record was never synced"
            await asyncio.sleep(0.001)

    try:
        asyncio.run(scenario())
    finally:
        journal.close()
    assert [r.task for r in read_journal(tmp_path).records] == ["A"]


def test_the_journal_file_is_private_refuses_a_link_and_loses_a_torn_tail_on_open(
    tmp_path: Path,
) -> None:
    """Created 0600; a planted symlink is refused (O_NOFOLLOW); opened again at the end of the
    last whole record, a torn append after it is cut, so the next record starts a line."""
    journal = Journal(tmp_path)
    journal.open(0)
    path = tmp_path / JOURNAL_FILE
    journal.task(_task("A", TaskStatus.DONE, 1))
    journal.commit()
    journal.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open(path, "ab") as handle:
        handle.write(b'{"seq": 2, "task"')
    found = read_journal(tmp_path)
    again = Journal(tmp_path)
    again.open(found.last_seq, found.end)
    again.task(_task("B", TaskStatus.DONE, 1))
    again.commit()
    again.close()
    assert [(r.seq, r.task) for r in read_journal(tmp_path).records] == [(1, "A"), (2, "B")]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "target"
    target.write_bytes(b"")
    (elsewhere / JOURNAL_FILE).symlink_to(target)
    with pytest.raises(OSError, match="symbolic links") as caught:
        Journal(elsewhere).open(0)
    assert caught.value.errno == errno.ELOOP
    assert target.read_bytes() == b""


def test_a_failed_write_is_said_once_kept_and_written_with_the_next_record(
    tmp_path: Path,
) -> None:
    """A full disk: the record is kept and the file cut back, on_error hears it once, and the
    next record's write brings the kept ones along; durable() never hangs meanwhile."""
    errors: list[OSError] = []
    full = [True]

    def write(fd: int, data: memoryview) -> int:
        if full[0]:
            os.write(fd, data[:5])  # half a record reaches the file before the disk fills
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    journal = Journal(tmp_path, errors.append, write=write, wait_for_sync=True)
    journal.open(0)

    async def scenario() -> None:
        journal.task(_task("A", TaskStatus.DONE, 1))
        await journal.durable()
        journal.task(_task("B", TaskStatus.DONE, 1))
        await journal.durable()
        assert (tmp_path / JOURNAL_FILE).read_bytes() == b""
        full[0] = False
        journal.task(_task("C", TaskStatus.DONE, 1))
        await journal.durable()

    try:
        asyncio.run(scenario())
    finally:
        journal.close()
    assert [e.errno for e in errors] == [errno.ENOSPC, 0]
    assert [r.task for r in read_journal(tmp_path).records] == ["A", "B", "C"]


def test_a_failed_sync_is_said_and_never_holds_a_start_back(tmp_path: Path) -> None:
    """fdatasync failing (an I/O error): durable() still returns, the error is said once, and
    the records stay in the file."""
    errors: list[OSError] = []

    def sync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    journal = Journal(tmp_path, errors.append, sync=sync, wait_for_sync=True)
    journal.open(0)

    async def scenario() -> None:
        journal.task(_task("A", TaskStatus.DONE, 1))
        await journal.durable()

    try:
        asyncio.run(scenario())
    finally:
        journal.close()
    assert [e.errno for e in errors] == [errno.EIO]
    assert [r.task for r in read_journal(tmp_path).records] == ["A"]


def _snapshot_with_journal(tmp_path: Path) -> StateStore:
    """state.json that includes record 1, and a journal of records 1 and 2."""
    store = StateStore(tmp_path)
    state = State(project="P", cascade="C.md", run=RunState(journal_seq=1))
    state.tasks["A"] = _task("A", TaskStatus.DONE, 1)
    state.tasks["B"] = _task("B", TaskStatus.PENDING, 0)
    store.write(state.to_json())
    (tmp_path / JOURNAL_FILE).write_bytes(
        _line(1, _task("A", TaskStatus.DONE, 1)) + _line(2, _task("B", TaskStatus.DONE, 1))
    )
    return store


def test_the_store_reads_the_snapshot_with_the_journal_laid_over_it(tmp_path: Path) -> None:
    """`nova status` and the next run see a transition the debounced state had not written;
    the file's own text of the tasks is then not offered as the truth."""
    snapshot = _snapshot_with_journal(tmp_path).read(tasks_json=True)
    assert snapshot is not None
    assert snapshot.state.tasks["B"].status is TaskStatus.DONE
    assert snapshot.tasks_json is None


def test_the_writer_records_its_seq_and_empties_the_journal_into_a_synced_state(
    tmp_path: Path,
) -> None:
    """A write names the last record it includes; the run's last write commits the journal,
    then empties it, and reading gives the same state as before. The state directory is a
    link the user made (which must not stop the journal from being emptied)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "real")
    tmp_path = tmp_path / "state"
    store = StateStore(tmp_path)
    state = State(project="P", cascade="C.md")
    journal = Journal(tmp_path)
    journal.open(0)
    state.tasks["A"] = _task("A", TaskStatus.DONE, 1)
    journal.task(state.tasks["A"])
    writer = StateWriter(store, state, lambda: None, lambda exc: None, journal)
    writer.flush()
    doc = store.read_json()
    assert doc is not None
    assert doc["run"]["journal_seq"] == 1
    assert len(read_journal(tmp_path).records) == 1  # in the file at once; not yet emptied
    state.tasks["B"] = _task("B", TaskStatus.DONE, 1)
    journal.task(state.tasks["B"])
    writer.flush(last=True)
    journal.close()
    assert (tmp_path / JOURNAL_FILE).read_bytes() == b""
    snapshot = store.read()
    assert snapshot is not None
    assert snapshot.state.run.journal_seq == 2
    assert {t: s.status for t, s in snapshot.state.tasks.items()} == {
        "A": TaskStatus.DONE,
        "B": TaskStatus.DONE,
    }


class _Watching:
    """At each start, reads the state as a new `nova run` would find it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.seen: dict[str, dict[str, tuple[str, int]]] = {}

    def __call__(self, launch: Launch) -> None:
        snapshot = StateStore(self.state_dir).read()
        assert snapshot is not None
        self.seen[launch.env["NOVA_TASK_ID"]] = {
            t: (s.status.value, s.attempts) for t, s in snapshot.state.tasks.items()
        }


def test_an_agent_starts_only_once_its_attempt_and_its_dependencies_done_are_on_disk(
    tmp_path: Path,
) -> None:
    """At B's start, what is on disk already says A is done and B runs its attempt 1."""
    path = tmp_path / "CASCADE.md"
    path.write_text(
        "# P\n\n## L1: Work\n\n| Task ID | Task Name | What Changes | Depends On |\n"
        "|---|---|---|---|\n| A | Task A | a | - |\n| B | Task B | b | A |\n"
    )
    cascade = parse_cascade(path.read_text(), str(path))
    options = RunOptions(
        cascade_path=path,
        state_dir=tmp_path / "state",
        logs_dir=tmp_path / "logs",
        overrides=Settings(agent="command", command="true {id}"),
    )
    watching = _Watching(options.state_dir)
    executor = ScriptedExecutor(on_start=watching)
    runner = Runner(
        cascade, build_graph(cascade), options, LineReporter(io.StringIO(), colour=False), executor
    )
    runner.prepare()
    runner.run()
    assert watching.seen["A"]["A"] == ("running", 1)
    assert watching.seen["B"] == {"A": ("done", 1), "B": ("running", 1)}
