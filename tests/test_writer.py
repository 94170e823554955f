"""The debounced state writer (engine.observe.writer): changes are gathered into one write, the
run's end writes at once, and a write that fails keeps the last good file and is said once.

(Its journal compaction is tested with the journal, in test_journal.py.)"""

from __future__ import annotations

import asyncio
import errno
import json
from pathlib import Path

import pytest

from engine.observe.state import State, TaskState
from engine.observe.store import StateStore
from engine.observe.writer import WRITE_INTERVAL, StateWriter
from engine.outcome import TaskStatus


class _Writes:
    """Counts the writer's writes and lets a test await the next one."""

    def __init__(self) -> None:
        self.count = 0
        self.errors: list[OSError] = []
        self.next: asyncio.Future[None] | None = None

    def before(self) -> None:
        self.count += 1
        if self.next is not None and not self.next.done():
            self.next.set_result(None)


def _writer(tmp_path: Path, writes: _Writes) -> tuple[StateWriter, State]:
    state = State(project="P", cascade="CASCADE.md")
    writer = StateWriter(StateStore(tmp_path), state, writes.before, writes.errors.append)
    return writer, state


def _on_disk(tmp_path: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads((tmp_path / "state.json").read_bytes())
    return doc


def test_changes_made_before_the_write_are_gathered_into_one(tmp_path: Path) -> None:
    """Three touches, one write, and it holds every change made before it."""
    writes = _Writes()

    async def scenario() -> None:
        writer, state = _writer(tmp_path, writes)
        writer.interval = 0.0  # the debounce is the timer; its length is not what is tested
        writes.next = asyncio.get_running_loop().create_future()
        for task_id in ("A", "B", "C"):
            state.tasks[task_id] = TaskState(task_id, status=TaskStatus.DONE)
            writer.touch()
        await writes.next
        assert writes.count == 1
        writer.flush(last=True)

    asyncio.run(scenario())
    assert writes.count == 2
    tasks = _on_disk(tmp_path)["tasks"]
    assert isinstance(tasks, dict)
    assert sorted(tasks) == ["A", "B", "C"]


def test_flush_writes_at_once_and_cancels_the_pending_write(tmp_path: Path) -> None:
    writes = _Writes()

    async def scenario() -> None:
        writer, state = _writer(tmp_path, writes)
        writer.touch()
        state.project = "changed"
        writer.flush(last=True)
        assert writes.count == 1
        assert writer._handle is None  # nothing left to write later

    asyncio.run(scenario())
    assert _on_disk(tmp_path)["project"] == "changed"


def test_a_failed_write_keeps_the_last_file_is_said_once_and_the_recovery_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the old state.json stays, `on_error` hears of it once for any number of
    failures, and once more (`written again`) when a write succeeds."""
    writes = _Writes()
    writer, state = _writer(tmp_path, writes)
    writer.flush()
    before = (tmp_path / "state.json").read_bytes()
    real = StateStore.write_bytes

    def full(self: StateStore, data: bytes, last: bool = False) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(StateStore, "write_bytes", full)
    state.project = "lost for now"
    writer.flush()
    writer.flush()
    assert (tmp_path / "state.json").read_bytes() == before
    assert [e.errno for e in writes.errors] == [errno.ENOSPC]
    monkeypatch.setattr(StateStore, "write_bytes", real)
    writer.flush()
    assert [e.errno for e in writes.errors] == [errno.ENOSPC, 0]
    assert _on_disk(tmp_path)["project"] == "lost for now"


def test_the_interval_stretches_with_the_time_a_write_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that takes 1 s makes the next come 4 s later at the soonest: writing never
    takes more than a fifth of the loop's time; a fast one keeps the floor."""
    clock = iter([10.0, 11.0, 20.0, 20.001])
    monkeypatch.setattr("engine.observe.writer.time.perf_counter", lambda: next(clock))
    writer, _ = _writer(tmp_path, _Writes())
    writer.flush()
    assert writer.interval == pytest.approx(4.0)
    writer.flush()
    assert writer.interval == WRITE_INTERVAL
