"""The run state and its JSON form (engine.observe.state): round trips, schema checks, token
totals across attempts, reading what is not quite what nova writes, and the encoder."""

from __future__ import annotations

import json

import pytest

from engine.observe.state import (
    _TASK_ORDER,
    SCHEMA,
    State,
    StateEncoder,
    TaskState,
    from_iso,
    iso,
    read_state,
    read_task,
    sum_costs,
)
from engine.observe.usage import Tokens
from engine.outcome import TaskStatus
from tests.support.states import T0, sample_state

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
    assert f1.started == T0
    assert f1.ended == T0 + 61.25
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
    assert isinstance(out["name"], str), note
    assert out["name"], note
    deps = out["depends_on"]
    assert isinstance(deps, list), note
    assert all(isinstance(d, str) for d in deps), note
    assert out["status"] in {s.value for s in TaskStatus}, note
    assert type(out["attempts"]) is int, note
    assert out["attempts"] >= 0, note
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
        assert isinstance(state.project, str), junk
        assert isinstance(state.cascade, str), junk
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


# ---- snapshots: what `nova status` reads -------------------------------------------------------
