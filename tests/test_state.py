"""The run state and its JSON form (engine.observe.state), and the state directory on disk
(engine.observe.store): round trips, schema checks, token totals across attempts, atomic writes,
corrupt files and the one-run-at-a-time lock."""

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
    _TASK_ORDER,
    SCHEMA,
    RunState,
    State,
    StateEncoder,
    TaskState,
    from_iso,
    iso,
    read_state,
    read_task,
    sum_costs,
)
from engine.observe.store import LOCK_FILE, STATE_FILE, StateStore
from engine.observe.usage import Tokens
from engine.outcome import TaskStatus

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def sample_state() -> State:
    done = TaskState(
        id="F1",
        name="Core Types",
        branch="App",
        group="Foundation",
        depends_on=(),
        status=TaskStatus.DONE,
        attempts=2,
        pid=4242,
        pid_started=T0 - 1.5,
        started=T0,
        ended=T0 + 61.25,
        exit_code=0,
        reason=None,
        session_id="sess-1",
        prior_tokens={"claude-sonnet-5": Tokens(100, 20, 300, 40)},
        prior_cost=0.0123,
        last_output=T0 + 60,
        agent="claude",
        model="sonnet",
        permission_mode="acceptEdits",
        workdir="/w",
        log="logs/F1.log",
        result="Created types.",
    )
    failed = TaskState(
        id="F2",
        name="Errors",
        branch="App",
        group="Foundation",
        depends_on=("F1",),
        status=TaskStatus.FAILED,
        attempts=3,
        exit_code=1,
        reason="API Error: 400",
        failure="permanent",
        next_attempt_at=T0 + 120,
    )
    run = RunState(
        id="abc123",
        pid=999,
        pid_started=T0 - 10,
        started=T0 - 5,
        heartbeat=T0 + 70,
        ended=T0 + 80,
        running=False,
        exit_code=1,
        jobs=4,
        paused_until=T0 + 3600,
        pause_reason="usage limit reached",
        warning="w",
        nova_version="0.1.0",
    )
    return State(project="Proj", cascade="/p/CASCADE.md", run=run, tasks={"F1": done, "F2": failed})


# ---- the model -------------------------------------------------------------------------------


def test_state_survives_a_json_round_trip() -> None:
    """to_json then from_json gives back the same document, through real JSON text."""
    doc = sample_state().to_json()
    again = State.from_json(json.loads(json.dumps(doc))).to_json()
    assert again == doc
    assert doc["schema"] == SCHEMA
    assert doc["tasks"]["F1"]["tokens"] == {
        "claude-sonnet-5": {"input": 100, "output": 20, "cache_read": 300, "cache_creation": 40}
    }
    assert doc["tasks"]["F1"]["started"] == "2026-01-01T00:00:00.000Z"
    assert doc["tasks"]["F1"]["duration"] == 61.25


def test_round_trip_keeps_every_task_field() -> None:
    """Each field of a task comes back with its value and type."""
    back = State.from_json(json.loads(json.dumps(sample_state().to_json())))
    f1 = back.tasks["F1"]
    assert f1.status is TaskStatus.DONE
    assert (f1.attempts, f1.pid, f1.exit_code, f1.session_id) == (2, 4242, 0, "sess-1")
    assert f1.started == T0 and f1.ended == T0 + 61.25
    assert f1.tokens == {"claude-sonnet-5": Tokens(100, 20, 300, 40)}
    assert f1.cost_usd == pytest.approx(0.0123)
    assert back.tasks["F2"].depends_on == ("F1",)
    assert back.run.paused_until == T0 + 3600
    assert back.run.exit_code == 1


def test_every_field_comes_back_from_json_in_its_own_place() -> None:
    """With a distinct value in every field, a round trip gives the same task (no two fields
    swapped by the positional constructor in read_task)."""
    task = TaskState(
        id="F9",
        name="n",
        branch="b",
        group="g",
        depends_on=("F1", "F2"),
        status=TaskStatus.FAILED,
        attempts=3,
        pid=11,
        pid_started=T0 + 1.5,
        started=T0 + 2,
        ended=T0 + 3,
        exit_code=4,
        reason="r",
        failure="f",
        session_id="s",
        prior_tokens={"m": Tokens(5, 6, 7, 8)},
        prior_cost=0.9,
        last_output=T0 + 10,
        agent="claude",
        model="opus",
        permission_mode="plan",
        workdir="/w",
        log="l.log",
        next_attempt_at=T0 + 11,
        result="done",
    )
    assert TaskState.from_json("F9", json.loads(json.dumps(task.to_json()))) == task


def test_newer_schema_is_refused() -> None:
    """A state written by a newer nova is not misread."""
    doc = sample_state().to_json()
    doc["schema"] = SCHEMA + 1
    with pytest.raises(ValueError, match=f"schema version {SCHEMA + 1}, newer than"):
        State.from_json(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schema": 1}, "not a nova state document"),
        ({"schema": 1, "tasks": []}, "not a nova state document"),
        ({"tasks": {}}, "no schema version"),
        ({"schema": "1", "tasks": {}}, "no schema version"),
    ],
)
def test_documents_that_are_not_states_are_refused(doc: dict[str, object], message: str) -> None:
    """Missing tasks or schema is a ValueError with a reason."""
    with pytest.raises(ValueError, match=message):
        State.from_json(doc)


def test_unknown_status_and_junk_fields_read_as_safe_defaults() -> None:
    """A hand-edited task with odd values loads instead of crashing `nova status`."""
    state = State.from_json(
        {
            "schema": 1,
            "tasks": {
                "X": {
                    "status": "exploded",
                    "attempts": None,
                    "pid": True,
                    "tokens": {"m": "bad", "n": {"input": 5, "output": "many"}},
                    "cost_usd": "free",
                    "started": "yesterday",
                }
            },
        }
    )
    task = state.tasks["X"]
    assert task.status is TaskStatus.PENDING
    assert task.attempts == 0
    assert task.pid is None
    assert task.tokens == {"n": Tokens(5, 0, 0, 0)}
    assert task.cost_usd is None
    assert task.started is None
    assert task.name == "X"


def test_tokens_and_cost_add_up_across_attempts() -> None:
    """close_attempt folds each attempt's usage in; the task shows the sum of all attempts."""
    task = TaskState(id="F1")
    task.live_tokens = {"sonnet": Tokens(100, 10, 0, 5)}
    task.live_cost = 0.5
    assert task.tokens == {"sonnet": Tokens(100, 10, 0, 5)}
    task.close_attempt()
    assert task.live_tokens == {}
    task.live_tokens = {"sonnet": Tokens(1, 2, 3, 4), "opus": Tokens(7, 0, 0, 0)}
    task.live_cost = 0.25
    assert task.tokens == {"sonnet": Tokens(101, 12, 3, 9), "opus": Tokens(7, 0, 0, 0)}
    assert task.cost_usd == pytest.approx(0.75)
    task.close_attempt()
    task.close_attempt()  # closing with nothing live changes nothing
    assert task.tokens == {"sonnet": Tokens(101, 12, 3, 9), "opus": Tokens(7, 0, 0, 0)}
    assert task.cost_usd == pytest.approx(0.75)


def test_cost_is_unknown_until_some_attempt_reports_one() -> None:
    """No cost reported is None (unknown), not zero."""
    task = TaskState(id="F1")
    task.live_tokens = {"m": Tokens(1, 1, 0, 0)}
    task.close_attempt()
    assert task.cost_usd is None
    assert task.to_json()["cost_usd"] is None


def test_totals_sum_tokens_per_model_and_cost_over_tasks() -> None:
    """State.totals adds every task's tokens per model and their known costs."""
    state = sample_state()
    state.tasks["F2"].prior_tokens = {
        "claude-sonnet-5": Tokens(1, 1, 1, 1),
        "claude-opus-4-8": Tokens(9, 9, 9, 9),
    }
    state.tasks["F2"].prior_cost = 0.5
    tokens, cost = state.totals()
    assert tokens == {
        "claude-sonnet-5": Tokens(101, 21, 301, 41),
        "claude-opus-4-8": Tokens(9, 9, 9, 9),
    }
    assert cost == pytest.approx(0.5123)


def test_running_task_duration_counts_up_to_now() -> None:
    """A running task's duration is measured to `now`; a finished one to its end."""
    task = TaskState(id="F1", status=TaskStatus.RUNNING, started=T0, ended=T0 + 5)
    assert task.duration(T0 + 30) == 30
    task.status = TaskStatus.DONE
    assert task.duration(T0 + 30) == 5
    assert TaskState(id="F2").duration(T0) is None


def test_iso_times_round_trip_in_utc() -> None:
    """Times are ISO 8601 with a Z and millisecond precision."""
    assert iso(T0 + 0.5) == "2026-01-01T00:00:00.500Z"
    assert from_iso(iso(T0 + 0.5)) == T0 + 0.5
    assert iso(None) is None
    assert from_iso("not a time") is None
    assert from_iso(None) is None


# ---- the store -------------------------------------------------------------------------------


def test_write_then_load_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """An atomic write leaves exactly state.json behind, readable as the same state."""
    store = StateStore(tmp_path / "state")
    doc = sample_state().to_json()
    for _ in range(3):
        store.write(doc)
    assert sorted(p.name for p in store.dir.iterdir()) == [STATE_FILE]
    assert store.read_json() == doc
    loaded = store.load()
    assert loaded is not None and loaded.to_json() == doc


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


def _compact(state: State) -> bytes:
    return json.dumps(state.to_json(), separators=(",", ":"), ensure_ascii=False).encode()


def test_encoder_writes_the_same_bytes_as_dumping_the_whole_document() -> None:
    """StateEncoder's cached encoding equals a fresh json.dumps after every kind of change."""
    state = sample_state()
    encoder = StateEncoder()
    assert encoder.encode(state) == _compact(state)
    f2 = state.tasks["F2"]
    f2.status, f2.attempts, f2.started = TaskStatus.RUNNING, 4, T0 + 100
    f2.live_tokens = {"claude-opus-4-8": Tokens(5, 1, 0, 0)}
    assert encoder.encode(state) == _compact(state)
    f2.live_tokens = {"claude-opus-4-8": Tokens(50, 9, 0, 0)}  # a running task changes freely
    assert encoder.encode(state) == _compact(state)
    f2.status, f2.ended, f2.reason = TaskStatus.PENDING, T0 + 130, "retry 1/2 in 10s"
    f2.next_attempt_at = T0 + 140
    f2.close_attempt()
    assert encoder.encode(state) == _compact(state)
    f2.status, f2.reason = TaskStatus.BLOCKED, "dependency F1 failed"
    state.run.heartbeat = T0 + 200
    state.project = "Renamed — ünïcode"
    assert encoder.encode(state) == _compact(state)


def test_encoder_output_is_valid_utf8_even_with_lone_surrogates() -> None:
    """Text decoded from an agent's JSON can hold a lone surrogate; the state still encodes."""
    state = sample_state()
    state.tasks["F1"].result = "broken \ud800 text"
    data = StateEncoder().encode(state)
    assert json.loads(data.decode("utf-8"))["tasks"]["F1"]["result"] == "broken ? text"


def _loads_strict(data: bytes) -> object:
    """json.loads as a strict reader does it: NaN and Infinity are no JSON."""

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


def test_encoder_writes_strict_json_whatever_numbers_the_state_holds() -> None:
    """A cost or time that is NaN or infinite (the parsers keep them out; this is the belt)
    is written as null, the rest of the state as it is: the write neither fails nor writes
    bare NaN."""
    state = sample_state()
    f1, f2 = state.tasks["F1"], state.tasks["F2"]
    f1.prior_cost, f1.pid_started = float("nan"), float("inf")
    f2.status, f2.live_cost, f2.next_attempt_at = TaskStatus.RUNNING, float("-inf"), float("inf")
    state.run.heartbeat, state.run.paused_until = float("nan"), 1e300
    doc = _loads_strict(StateEncoder().encode(state))
    assert isinstance(doc, dict)
    tasks, run = doc["tasks"], doc["run"]
    assert (tasks["F1"]["cost_usd"], tasks["F1"]["pid_started"]) == (None, None)
    assert (tasks["F2"]["cost_usd"], tasks["F2"]["next_attempt_at"]) == (None, None)
    assert (run["heartbeat"], run["paused_until"]) == (None, None)
    assert tasks["F1"]["name"] == state.tasks["F1"].name


# ---- hand-edited and damaged states ------------------------------------------------------------

JUNK: list[object] = [
    5,
    -1,
    0,
    1.5,
    10**30,
    True,
    None,
    "",
    "x",
    [1],
    ["F1", 2],
    {"a": 1},
    [],
    {},
    float("nan"),
    float("inf"),
    "2026-01-01T00:00:00Z",  # a time, but not as nova writes it
    "2026-W01-1T00:00:00.000Z",  # a week date in nova's shape
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "9999-12-31T23:59:59.999-14:00",  # after 9999 in UTC
    "2026-02-30T00:00:00.000Z",  # nova's shape, no such day
    {"m": {"input": True, "output": -1, "cache_read": 1, "cache_creation": 2}},  # odd counts
]
TASK_KEYS = sorted(sample_state().tasks["F1"].to_json())
RUN_KEYS = sorted(sample_state().run.to_json())


def _strict(doc: object) -> object:
    """The document through strict JSON text (no NaN or Infinity), as a program reads it."""
    return json.loads(json.dumps(doc, allow_nan=False))


@pytest.mark.parametrize("key", TASK_KEYS)
def test_a_task_value_of_the_wrong_type_reads_as_a_default_instead_of_raising(key: str) -> None:
    """Every task field, set to every kind of junk, loads, and writes back as strict JSON
    with values of the documented types."""
    for junk in JUNK:
        doc = sample_state().to_json()
        doc["tasks"]["F1"][key] = junk
        _check_task(State.from_json(doc).tasks["F1"], f"{key}={junk!r}")


def _check_task(task: TaskState, note: str) -> None:
    """The task writes back as strict JSON, each value of its documented type."""
    out = _strict(task.to_json())
    assert isinstance(out, dict), note
    assert isinstance(out["name"], str) and out["name"], note
    deps = out["depends_on"]
    assert isinstance(deps, list) and all(isinstance(d, str) for d in deps), note
    assert out["status"] in {s.value for s in TaskStatus}, note
    assert type(out["attempts"]) is int and out["attempts"] >= 0, note
    assert out["pid"] is None or (type(out["pid"]) is int and out["pid"] > 0), note
    for name in ("started", "ended", "last_output", "next_attempt_at"):
        assert out[name] is None or from_iso(out[name]) is not None, note
    assert all(
        set(t) == {"input", "output", "cache_read", "cache_creation"}
        and all(type(n) is int for n in t.values())
        for t in out["tokens"].values()
    ), note
    assert out["cost_usd"] is None or type(out["cost_usd"]) is float, note
    for name in ("reason", "failure", "session_id", "agent", "model", "workdir", "log", "result"):
        assert out[name] is None or isinstance(out[name], str), note


@pytest.mark.parametrize("key", RUN_KEYS)
def test_a_run_value_of_the_wrong_type_reads_as_a_default_instead_of_raising(key: str) -> None:
    """Every run field, set to every kind of junk, loads and writes back as strict JSON."""
    for junk in JUNK:
        doc = sample_state().to_json()
        doc["run"][key] = junk
        out = _strict(State.from_json(doc).run.to_json())
        assert isinstance(out, dict)
        assert out["running"] is (junk is True if key == "running" else False), junk
        assert out["pid"] is None or (type(out["pid"]) is int and out["pid"] > 0), junk
        assert isinstance(out["id"], str), junk


@pytest.mark.parametrize("key", ["project", "cascade", "run"])
def test_top_level_values_of_the_wrong_type_read_as_defaults(key: str) -> None:
    """The project, the plan's path and the run block may be junk too."""
    for junk in JUNK:
        doc = sample_state().to_json()
        doc[key] = junk
        state = State.from_json(doc)
        assert isinstance(state.project, str) and isinstance(state.cascade, str), junk
        assert _strict(state.to_json())


@pytest.mark.parametrize("key", [*TASK_KEYS, "extra"])
def test_a_task_is_clean_only_if_it_is_exactly_what_to_json_writes(key: str) -> None:
    """read_task says a task is clean (printable as it is) only when the file holds exactly what
    `to_json` would write for it; `duration` may be any number (as an older nova wrote it)."""
    assert read_task("F1", sample_state().tasks["F1"].to_json())[1] is True
    for junk in [*JUNK, 61.0, 61, 61.249]:
        raw = sample_state().tasks["F1"].to_json()
        raw[key] = junk
        task, clean = read_task("F1", json.loads(json.dumps(raw)))
        if clean:
            written = task.to_json()
            if key == "duration":
                assert type(raw["duration"]) is float, junk
                del written["duration"], raw["duration"]
            assert json.dumps(raw, sort_keys=True) == json.dumps(written, sort_keys=True), junk


def test_every_task_nova_writes_reads_back_as_clean() -> None:
    """Tasks in every status, with and without times and usage, are clean after a write."""
    state = sample_state()
    state.tasks["R"] = TaskState(
        id="R",
        name="Run",
        status=TaskStatus.RUNNING,
        started=T0 + 0.123456,
        pid=77,
        pid_started=T0,
        live_tokens={"m": Tokens(1, 2, 3, 4)},
        live_cost=0.1 + 0.2,
    )
    state.tasks["P"] = TaskState(id="P", name="Pending")
    data = json.loads(StateEncoder().encode(state))
    assert all(tuple(t) == _TASK_ORDER for t in data["tasks"].values())  # read_task's fast path
    assert read_state(data)[1] is True
    data["tasks"]["P"]["attempts"] = "2"
    assert read_state(data)[1] is False


def test_a_state_read_and_written_again_is_unchanged() -> None:
    """Times are written to the millisecond; the duration is worked out from the times as
    written, so a resumed run that reads the state and writes it back changes nothing (it
    used to come from the finer times in memory and change by a millisecond)."""
    state = sample_state()
    f1 = state.tasks["F1"]
    f1.started, f1.ended = T0 + 0.1239, T0 + 0.7171  # 0.5932 s apart; as written, 0.594
    first = StateEncoder().encode(state)
    again = StateEncoder().encode(State.from_json(json.loads(first)))
    assert again == first
    assert json.loads(first)["tasks"]["F1"]["duration"] == 0.594


def test_cost_keeps_the_precision_the_cli_reported() -> None:
    """A cost of 0.1030345 (as Claude Code reports it) is written and read back unchanged, not
    rounded to 0.103034."""
    task = TaskState(id="F1", prior_cost=0.1030345)
    doc = json.loads(json.dumps(task.to_json()))
    assert doc["cost_usd"] == 0.1030345
    assert TaskState.from_json("F1", doc).cost_usd == 0.1030345


def test_cost_of_several_attempts_has_no_float_noise() -> None:
    """0.1 + 0.2 is written as 0.3, not 0.30000000000000004."""
    task = TaskState(id="F1", prior_cost=0.1, live_cost=0.2)
    assert task.to_json()["cost_usd"] == 0.3


def test_total_cost_is_the_exact_sum_of_the_task_costs() -> None:
    """The total of 1,000 tasks of 0.0000125 each is 0.0125, as the CLI's numbers add up."""
    state = State(tasks={f"T{i}": TaskState(id=f"T{i}", prior_cost=0.0000125) for i in range(1000)})
    again = State.from_json(json.loads(json.dumps(state.to_json())))
    assert again.totals()[1] == 0.0125
    assert sum_costs([0.1, 0.2, None]) == pytest.approx(0.3, abs=1e-16)
    assert sum_costs([None]) is None


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


# ---- snapshots: what `nova status` reads -------------------------------------------------------


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
    assert snapshot.tasks is not None and snapshot.tasks_json is not None
    assert json.loads(bytes(snapshot.tasks_json)) == snapshot.tasks == state.to_json()["tasks"]
    assert bytes(snapshot.tasks_json).startswith(b'{"F1":{"name":"\xc3\x87ore')
    assert bytes(snapshot.tasks_json).endswith(b"}}")
    plain = store.read()  # not asked for: nothing kept beyond the state
    assert plain is not None and plain.tasks is None and plain.tasks_json is None


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
    assert snapshot.tasks is None and snapshot.tasks_json is None
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
