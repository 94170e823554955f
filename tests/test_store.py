"""The state directory on disk (engine.observe.store): atomic writes, corrupt files, the
one-run-at-a-time lock, and snapshots read while a run writes."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import StateError
from engine.observe.state import (
    SCHEMA,
    StateEncoder,
)
from engine.observe.store import LOCK_FILE, STATE_FILE, StateStore
from tests.support.states import sample_state


def test_write_then_load_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """An atomic write leaves exactly state.json behind, readable as the same state."""
    store = StateStore(tmp_path / "state")
    doc = sample_state().to_json()
    for _ in range(3):
        store.write(doc)
    assert sorted(p.name for p in store.dir.iterdir()) == [STATE_FILE]
    assert store.read_json() == doc
    loaded = store.load()
    assert loaded is not None
    assert loaded.to_json() == doc


def test_failed_write_keeps_the_old_file_and_removes_its_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the rename fails (disk trouble), the previous state stays and no temp file is left."""
    store = StateStore(tmp_path)
    store.write({"schema": 1, "tasks": {}})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("engine.observe.store.os.replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        store.write(sample_state().to_json())
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]
    assert store.read_json() == {"schema": 1, "tasks": {}}


def test_write_replaces_the_file_rather_than_rewriting_it(tmp_path: Path) -> None:
    """A reader holding the old file keeps reading the old content (rename, not in-place)."""
    store = StateStore(tmp_path)
    store.write({"schema": 1, "tasks": {}, "v": 1})
    with open(store.path, "rb") as reader:
        store.write({"schema": 1, "tasks": {}, "v": 2})
        assert json.loads(reader.read())["v"] == 1
    assert store.read_json() == {"schema": 1, "tasks": {}, "v": 2}


def test_missing_state_loads_as_none(tmp_path: Path) -> None:
    """No state yet is not an error at this level."""
    store = StateStore(tmp_path / "nothing")
    assert store.load() is None
    assert not store.exists()


def test_corrupt_json_is_a_state_error_that_says_how_to_fix_it(tmp_path: Path) -> None:
    """A truncated state file names the file and the `mv` that starts afresh."""
    (tmp_path / STATE_FILE).write_text('{"schema": 1, "tasks": {')
    with pytest.raises(StateError) as info:
        StateStore(tmp_path).load()
    message = str(info.value)
    assert f"{tmp_path / STATE_FILE} is not valid JSON" in message
    assert f"mv {tmp_path / STATE_FILE} {tmp_path / STATE_FILE}.bad" in message


def test_state_that_is_not_an_object_is_a_state_error(tmp_path: Path) -> None:
    """A JSON list is not a state."""
    (tmp_path / STATE_FILE).write_text("[1, 2]")
    with pytest.raises(StateError, match="does not hold a nova state"):
        StateStore(tmp_path).load()


def test_newer_schema_on_disk_is_a_state_error_suggesting_an_upgrade(tmp_path: Path) -> None:
    """A file from a newer nova asks for an upgrade or a fresh start."""
    doc = sample_state().to_json()
    doc["schema"] = SCHEMA + 5
    StateStore(tmp_path).write(doc)
    with pytest.raises(StateError) as info:
        StateStore(tmp_path).load()
    assert "newer than this nova's" in str(info.value)
    assert "Upgrade nova, or move the file aside" in str(info.value)


HOLDER = """
import sys
from engine.observe.store import StateStore
store = StateStore(sys.argv[1])
store.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def test_second_run_cannot_take_the_lock_and_is_told_the_holders_pid(tmp_path: Path) -> None:
    """While another process holds the run lock, acquire fails naming that process."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(StateError) as info:
            StateStore(tmp_path).acquire()
        assert f"another nova run (pid {holder.pid}) is using {tmp_path}" in str(info.value)
        assert f"kill {holder.pid}" in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()  # type: ignore[union-attr]
    # The lock died with its holder: a new run takes it.
    store = StateStore(tmp_path)
    store.acquire()
    assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
    store.release()


def test_lock_is_released_for_the_next_run_in_the_same_process(tmp_path: Path) -> None:
    """release() lets a later acquire succeed."""
    first = StateStore(tmp_path)
    first.acquire()
    first.release()
    second = StateStore(tmp_path)
    second.acquire()
    second.release()


def test_lock_file_of_a_dead_run_does_not_block(tmp_path: Path) -> None:
    """A run.lock left by a killed run (with its pid inside) is no obstacle."""
    (tmp_path / LOCK_FILE).write_text("12345")
    store = StateStore(tmp_path)
    store.acquire()
    assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
    store.release()


def test_corrupt_files_of_every_kind_are_state_errors(tmp_path: Path) -> None:
    """Bad UTF-8, a deep nest, trailing junk and broken objects are all 'not valid JSON'."""
    for data in (
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'{"schema": 1, "tasks": {}} x',
        b'{"schema": 1,}',
        b'{"schema" 1}',
        b'{"schema": }',
        b"{",
        b"",
    ):
        (tmp_path / STATE_FILE).write_bytes(data)
        with pytest.raises(StateError, match="is not valid JSON"):
            StateStore(tmp_path).read()


def test_snapshot_holds_the_files_own_json_of_its_tasks(tmp_path: Path) -> None:
    """Asked for, a state nova wrote comes back with its tasks as parsed and as the file's
    bytes of their JSON, even after a byte order mark and non-ASCII text."""
    state = sample_state()
    state.project = "Prøject ✓"
    state.tasks["F1"].name = "Çore — types"
    store = StateStore(tmp_path)
    store.write_bytes(codecs.BOM_UTF8 + StateEncoder().encode(state))
    snapshot = store.read(tasks_json=True)
    assert snapshot is not None
    assert snapshot.state.to_json() == state.to_json()
    assert snapshot.tasks is not None
    assert snapshot.tasks_json is not None
    assert json.loads(bytes(snapshot.tasks_json)) == snapshot.tasks == state.to_json()["tasks"]
    assert bytes(snapshot.tasks_json).startswith(b'{"F1":{"name":"\xc3\x87ore')
    assert bytes(snapshot.tasks_json).endswith(b"}}")
    plain = store.read()  # not asked for: nothing kept beyond the state
    assert plain is not None
    assert plain.tasks is None
    assert plain.tasks_json is None


@pytest.mark.parametrize(
    "text",
    [
        '{"schema":1,"tasks":{}}',
        ' \n{ "tasks" : { "F1" : {"name": "a\\"tasks\\":{"} } , "schema" : 1 }\n ',
        '{"schema": 1, "run": {"tasks": {"x": 1}}, "tasks": {"F1": {}}, "project": "p"}',
        '{"schema": 1, "tasks": {"A": {}}, "tasks": {"B": {}}}',
        '\ufeff{"schema": 1, "tasks": {"É": {"name": "ünï \\ud800"}}}',
        "{}",
    ],
)
def test_snapshot_reads_any_object_like_json_loads(tmp_path: Path, text: str) -> None:
    """The state file is read exactly as json.loads reads it, whatever its layout, and the
    tasks' text is the text of the document's tasks."""
    (tmp_path / STATE_FILE).write_bytes(text.encode("utf-8", "surrogatepass"))
    store = StateStore(tmp_path)
    assert store.read_json() == json.loads(text.lstrip("\ufeff"))
    found = store._read_document()
    assert found is not None
    doc, _, read_text, span = found
    if "tasks" in doc:
        assert span is not None
        assert json.loads(read_text[span[0] : span[1]]) == doc["tasks"]


def test_hand_edited_tasks_are_not_passed_through(tmp_path: Path) -> None:
    """A task not as nova writes it (here: attempts as text) gives a snapshot without the
    file's JSON of the tasks, so status prints them as nova reads them."""
    doc = sample_state().to_json()
    doc["tasks"]["F1"]["attempts"] = "2"
    StateStore(tmp_path).write(doc)
    snapshot = StateStore(tmp_path).read(tasks_json=True)
    assert snapshot is not None
    assert snapshot.tasks is None
    assert snapshot.tasks_json is None
    assert snapshot.state.tasks["F1"].attempts == 0


WRITER = """
import json, sys
from engine.observe.store import StateStore
store = StateStore(sys.argv[1])
for n in range(int(sys.argv[2])):
    tasks = {f"T{i}": {"name": f"v{n}", "result": "x" * (n % 7) * 500} for i in range(n % 50 + 1)}
    store.write({"schema": 1, "project": str(n), "tasks": tasks})
print("done", flush=True)
"""


def test_reading_while_a_run_writes_always_sees_one_whole_version(tmp_path: Path) -> None:
    """While another process replaces state.json hundreds of times, every read is complete
    and consistent: the project names the version, and every task belongs to it."""
    store = StateStore(tmp_path)
    store.write({"schema": 1, "project": "start", "tasks": {}})
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), "400"], stdout=subprocess.PIPE, text=True
    )
    seen = set()
    try:
        while writer.poll() is None:
            snapshot = store.read()
            assert snapshot is not None
            state = snapshot.state
            seen.add(state.project)
            if state.project != "start":
                n = int(state.project)
                assert len(state.tasks) == n % 50 + 1
                assert {t.name for t in state.tasks.values()} == {f"v{n}"}
    finally:
        writer.wait(timeout=60)
        writer.stdout.close()  # type: ignore[union-attr]
    assert writer.returncode == 0
    assert len(seen) > 1
