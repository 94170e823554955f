"""The run's state: what every task is doing or did, as one JSON document.

This module is the model and its JSON form (schema below), with no I/O; `engine.observe.store`
writes it. The same document, plus totals, is what `nova status --json` prints, so the file under
`state/` and the command's output never disagree.

Schema (version 1)::

    {"schema": 1, "project": str, "cascade": str,
     "run": {"id", "pid", "pid_started", "started", "heartbeat", "ended", "running",
             "exit_code", "jobs", "paused_until", "pause_reason", "warning", "nova_version",
             "journal_seq"},
     "tasks": {ID: {"name", "branch", "group", "depends_on", "status", "attempts", "pid",
                    "pid_started", "started", "ended", "duration", "exit_code", "reason",
                    "failure", "session_id", "tokens": {MODEL: {"input", "output",
                    "cache_read", "cache_creation"}}, "cost_usd", "last_output", "agent",
                    "model", "permission_mode", "workdir", "log", "next_attempt_at",
                    "result"}}}

Times are ISO 8601 in UTC; tokens and cost cover every attempt of a task.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import isfinite
from typing import Any

from engine.observe.usage import TOKEN_KINDS, Tokens, add_by_model, sum_by_model
from engine.outcome import TaskStatus

SCHEMA = 1
RESULT_CHARS = 4000
# Costs are kept to 1e-10 USD: rounding to 6 places lost the CLI's 0.1030345, and a total of
# many tasks drifted from the sum of what the CLI reported. Ten places still drop the float
# noise of adding attempts (0.1 + 0.2).
COST_DIGITS = 10


def iso(t: float | None) -> str | None:
    """`t` in ISO 8601 UTC; None for None, and for a time no ISO text can name (NaN, year
    10000), which would otherwise stop the state from being written."""
    if t is None or not _MIN_TIME <= t < _MAX_TIME:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: object) -> float | None:
    """The time an ISO 8601 text names, or None if it names none that `iso` could write back."""
    if type(text) is not str or not text:
        return None
    try:
        t = datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
    # A naive time is read as local; one like 0001-01-01T00:00+14:00 is before year 1 in UTC.
    return t if _MIN_TIME <= t < _MAX_TIME else None


@dataclass(slots=True)
class TaskState:
    """What is known of one task: its status, attempts, process, session, tokens and result."""

    id: str
    name: str = ""
    branch: str = ""
    group: str = ""
    depends_on: tuple[str, ...] = ()
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    pid: int | None = None
    pid_started: float | None = None
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    failure: str | None = None
    session_id: str | None = None
    prior_tokens: dict[str, Tokens] = field(default_factory=dict)
    prior_cost: float | None = None
    live_tokens: dict[str, Tokens] = field(default_factory=dict)
    live_cost: float | None = None
    last_output: float | None = None
    agent: str | None = None
    model: str | None = None
    permission_mode: str | None = None
    workdir: str | None = None
    log: str | None = None
    next_attempt_at: float | None = None
    result: str | None = None

    @property
    def tokens(self) -> dict[str, Tokens]:
        if not self.live_tokens:
            return self.prior_tokens
        return add_by_model(self.prior_tokens, self.live_tokens)

    @property
    def cost_usd(self) -> float | None:
        if self.prior_cost is None and self.live_cost is None:
            return None
        return (self.prior_cost or 0.0) + (self.live_cost or 0.0)

    def close_attempt(self) -> None:
        """Fold the attempt's usage into the task's running totals."""
        self.prior_tokens = self.tokens
        self.prior_cost = self.cost_usd
        self.live_tokens = {}
        self.live_cost = None

    def duration(self, now: float) -> float | None:
        if self.started is None:
            return None
        end = self.ended if self.ended is not None and self.status != TaskStatus.RUNNING else now
        return max(0.0, end - self.started)

    def to_json(self) -> dict[str, Any]:
        started, ended = iso(self.started), iso(self.ended)
        return {
            "name": self.name,
            "branch": self.branch,
            "group": self.group,
            "depends_on": list(self.depends_on),
            "status": self.status.value,
            "attempts": self.attempts,
            "pid": self.pid,
            "pid_started": self.pid_started,
            "started": started,
            "ended": ended,
            "duration": _duration(from_iso(started), from_iso(ended)),
            "exit_code": self.exit_code,
            "reason": self.reason,
            "failure": self.failure,
            "session_id": self.session_id,
            "tokens": {m: t.as_dict() for m, t in self.tokens.items()},
            "cost_usd": _round_cost(self.cost_usd),
            "last_output": iso(self.last_output),
            "agent": self.agent,
            "model": self.model,
            "permission_mode": self.permission_mode,
            "workdir": self.workdir,
            "log": self.log,
            "next_attempt_at": iso(self.next_attempt_at),
            "result": self.result,
        }

    @classmethod
    def from_json(cls, task_id: str, data: dict[str, Any]) -> TaskState:
        """A task from its JSON form; a value of the wrong type reads as the field's default."""
        return read_task(task_id, data)[0]


@dataclass(slots=True)
class RunState:
    """What is known of the run: its process, heartbeat, end and exit code."""

    id: str = ""
    pid: int | None = None
    pid_started: float | None = None
    started: float | None = None
    heartbeat: float | None = None
    ended: float | None = None
    running: bool = False
    exit_code: int | None = None
    jobs: int | None = None
    paused_until: float | None = None
    pause_reason: str | None = None
    warning: str | None = None
    nova_version: str | None = None
    journal_seq: int = 0  # the last record of state/journal.jsonl this state includes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "pid_started": self.pid_started,
            "started": iso(self.started),
            "heartbeat": iso(self.heartbeat),
            "ended": iso(self.ended),
            "running": self.running,
            "exit_code": self.exit_code,
            "jobs": self.jobs,
            "paused_until": iso(self.paused_until),
            "pause_reason": self.pause_reason,
            "warning": self.warning,
            "nova_version": self.nova_version,
            "journal_seq": self.journal_seq,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        """The run from its JSON form; a value of the wrong type reads as the field's default."""
        return cls(
            id=_opt_str(data.get("id")) or "",
            pid=_opt_pid(data.get("pid")),
            pid_started=_opt_float(data.get("pid_started")),
            started=from_iso(data.get("started")),
            heartbeat=from_iso(data.get("heartbeat")),
            ended=from_iso(data.get("ended")),
            running=data.get("running") is True,  # not bool(): "false" is truthy
            exit_code=_opt_int(data.get("exit_code")),
            jobs=_opt_int(data.get("jobs")),
            paused_until=from_iso(data.get("paused_until")),
            pause_reason=_opt_str(data.get("pause_reason")),
            warning=_opt_str(data.get("warning")),
            nova_version=_opt_str(data.get("nova_version")),
            journal_seq=_opt_int(data.get("journal_seq")) or 0,
        )


@dataclass(slots=True)
class State:
    """The whole state `nova status` reads: the project, the run and every task."""

    project: str = ""
    cascade: str = ""
    run: RunState = field(default_factory=RunState)
    tasks: dict[str, TaskState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "project": self.project,
            "cascade": self.cascade,
            "run": self.run.to_json(),
            "tasks": {task_id: t.to_json() for task_id, t in self.tasks.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        """A state from its JSON form; ValueError if it is not one nova can read.

        Values of the wrong type (a hand-edited or damaged file) read as the field's default
        rather than raising, so that `nova status` and `nova run` can still use the rest.
        """
        return read_state(data)[0]

    def totals(self) -> tuple[dict[str, Tokens], float | None]:
        tokens = sum_by_model(t.tokens for t in self.tasks.values())
        return tokens, sum_costs(t.cost_usd for t in self.tasks.values())


def sum_costs(costs: Iterable[float | None]) -> float | None:
    """The sum of the known costs (None if none is known), without float rounding drift."""
    known = [c for c in costs if c is not None]
    return math.fsum(known) if known else None


# ---- reading -------------------------------------------------------------------------------
# `nova status` reads every task of a state on every call, so this is written for speed: one
# function with the checks inline, and a positional constructor call (keywords cost three
# times as much). Every value is checked, since the file may have been edited by hand; one of
# the wrong type reads as the field's default, and marks the task as not `clean`.

_STATUSES = {s.value: s for s in TaskStatus}
_TASK_ORDER = (
    "name",
    "branch",
    "group",
    "depends_on",
    "status",
    "attempts",
    "pid",
    "pid_started",
    "started",
    "ended",
    "duration",
    "exit_code",
    "reason",
    "failure",
    "session_id",
    "tokens",
    "cost_usd",
    "last_output",
    "agent",
    "model",
    "permission_mode",
    "workdir",
    "log",
    "next_attempt_at",
    "result",
)  # the keys of `TaskState.to_json`, in its order
_TASK_ORDER_SET = frozenset(_TASK_ORDER)
_TOKEN_KEYS = frozenset(TOKEN_KINDS)
_STR = frozenset((str,))
_STR_OR_NONE = frozenset((str, type(None)))
_MAX_PID = 2**31 - 1
# The times `iso` can write: 0001-01-01 to 9999-12-31 in UTC.
_MIN_TIME = -62135596800.0
_MAX_TIME = 253402300800.0


def read_state(data: dict[str, Any]) -> tuple[State, bool]:
    """`State.from_json`, and whether every task in `data` is already exactly as `to_json`
    writes it (the same keys and values, `duration` aside), so it can be shown as it is."""
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
        raise ValueError("it is not a nova state document")
    schema = data.get("schema")
    if type(schema) is not int:
        raise ValueError("it has no schema version")
    if schema > SCHEMA:
        raise ValueError(f"it has schema version {schema}, newer than this nova's {SCHEMA}")
    raw_run = data.get("run")
    run: dict[str, Any] = raw_run if isinstance(raw_run, dict) else {}
    tasks: dict[str, TaskState] = {}
    clean = True
    for task_id, raw in data["tasks"].items():
        if type(raw) is not dict:
            clean = False
            continue
        task, ok = read_task(task_id, raw)
        tasks[task_id] = task
        clean = clean and ok
    state = State(
        project=_opt_str(data.get("project")) or "",
        cascade=_opt_str(data.get("cascade")) or "",
        run=RunState.from_json(run),
        tasks=tasks,
    )
    return state, clean


def read_task(task_id: str, data: dict[str, Any]) -> tuple[TaskState, bool]:
    """`TaskState.from_json`, and whether `data` is exactly as `to_json` writes it (`duration`
    aside: any number is taken as it is)."""
    # Long on purpose: `nova status` reads 10,000 tasks in this function, and a call per field
    # (25 of them) would cost more than the checks. Each field is one plain check that keeps
    # a well-formed value and marks the task unclean otherwise; only the parts that loop (the
    # times, the tokens) are functions of their own.
    values: Any
    if len(data) == len(_TASK_ORDER) and tuple(data) == _TASK_ORDER:  # as nova writes it
        values, clean = data.values(), True
    else:
        values = [data.get(key) for key in _TASK_ORDER]
        clean = data.keys() == _TASK_ORDER_SET
    (
        name,
        branch,
        group,
        deps,
        status,
        attempts,
        pid,
        pid_started,
        raw_started,
        raw_ended,
        duration,
        exit_code,
        reason,
        failure,
        session_id,
        raw_tokens,
        cost,
        raw_last_output,
        agent,
        model,
        permission_mode,
        workdir,
        log,
        raw_next_attempt_at,
        result,
    ) = values
    if type(name) is not str or not name:
        name, clean = task_id, False
    if type(branch) is not str:
        branch, clean = "", False
    if type(group) is not str:
        group, clean = "", False
    if type(deps) is list:
        depends_on = tuple(deps)
        if depends_on and not _STR.issuperset(map(type, depends_on)):
            depends_on, clean = tuple(d for d in depends_on if type(d) is str), False
    else:
        depends_on, clean = (), False
    status = _STATUSES.get(status) if type(status) is str else None
    if status is None:
        status, clean = TaskStatus.PENDING, False
    if type(attempts) is not int or attempts < 0:
        attempts, clean = 0, False
    if pid is not None and not (type(pid) is int and 0 < pid <= _MAX_PID):
        pid, clean = None, False
    if pid_started is not None and not (type(pid_started) is float and isfinite(pid_started)):
        pid_started, clean = _opt_float(pid_started), False
    started, ok_started = _read_time(raw_started)
    ended, ok_ended = _read_time(raw_ended)
    last_output, ok_last = _read_time(raw_last_output)
    next_attempt_at, ok_next = _read_time(raw_next_attempt_at)
    if not (ok_started and ok_ended and ok_last and ok_next):
        clean = False
    # Not compared with the times, to save a round() per task: a file's duration as another
    # nova wrote it (from finer times) or a hand-edited one is shown as the file has it.
    if (
        duration is not None
        if started is None or ended is None
        else type(duration) is not float or not isfinite(duration)
    ):
        clean = False
    if exit_code is not None and type(exit_code) is not int:
        exit_code, clean = None, False
    strings = (reason, failure, session_id, agent, model, permission_mode, workdir, log, result)
    if not _STR_OR_NONE.issuperset(map(type, strings)):
        reason, failure, session_id, agent, model, permission_mode, workdir, log, result = (
            v if type(v) is str else None for v in strings
        )
        clean = False
    tokens, ok_tokens = _read_tokens(raw_tokens)
    if not ok_tokens:
        clean = False
    if cost is not None and not (
        type(cost) is float and isfinite(cost) and round(cost, COST_DIGITS) == cost
    ):
        cost, clean = _opt_float(cost), False
    task = TaskState(
        task_id,
        name,
        branch,
        group,
        depends_on,
        status,
        attempts,
        pid,
        pid_started,
        started,
        ended,
        exit_code,
        reason,
        failure,
        session_id,
        tokens,
        cost,
        {},
        None,
        last_output,
        agent,
        model,
        permission_mode,
        workdir,
        log,
        next_attempt_at,
        result,
    )
    return task, clean


def _read_tokens(value: object) -> tuple[dict[str, Tokens], bool]:
    """A task's tokens per model, and whether they are written exactly as `to_json` writes
    them."""
    tokens: dict[str, Tokens] = {}
    if type(value) is not dict:
        return tokens, False
    clean = True
    for key, t in value.items():
        if type(t) is dict and t.keys() == _TOKEN_KEYS:
            i, o, r, c = t["input"], t["output"], t["cache_read"], t["cache_creation"]
            if (
                type(i) is int
                and type(o) is int
                and type(r) is int
                and type(c) is int
                and i | o | r | c >= 0
            ):  # the or of ints is negative if one is
                tokens[key] = Tokens(i, o, r, c)
                continue
        clean = False
        if isinstance(t, dict):
            tokens[key] = Tokens.from_dict(t)
    return tokens, clean


def _read_time(value: object) -> tuple[float | None, bool]:
    """A time of the state, and whether it is written exactly as `iso` writes it
    (2026-01-01T00:00:00.000Z)."""
    if value is None:
        return None, True
    if type(value) is str and len(value) == 24 and value[4:20:3] == "--T::." and value[-1] == "Z":
        try:  # from_iso, inline; in this form the time is always one `iso` can write
            return datetime.fromisoformat(value).timestamp(), True
        except ValueError:
            return None, False
    return from_iso(value), False


class StateEncoder:
    """Encodes a `State` as the bytes of state.json, re-encoding only tasks that can have changed.

    A task that is not running changes only together with its status, attempts, end time,
    reason or next attempt (see `engine.run.runner`), so its encoding is kept under that key; a
    running task is encoded afresh every time. On a big graph most tasks are done or waiting,
    so a write costs what the running ones cost, not what the whole graph does. The bytes are
    those of `json.dumps(state.to_json(), separators=(",", ":"), ensure_ascii=False)`, but that
    a number that is not finite is written as null.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[object, ...], str]] = {}

    def encode(self, state: State) -> bytes:
        dumps = _COMPACT.encode
        head = {
            "schema": SCHEMA,
            "project": state.project,
            "cascade": state.cascade,
            "run": state.run.to_json(),
        }  # the keys of `State.to_json`, but the tasks
        parts = []
        for task_id, task in state.tasks.items():
            if task.status is TaskStatus.RUNNING:
                parts.append(dumps(task_id) + ":" + _dumps(task.to_json()))
                continue
            key = (task.status, task.attempts, task.ended, task.reason, task.next_attempt_at)
            cached = self._cache.get(task_id)
            if cached is None or cached[0] != key:
                cached = self._cache[task_id] = (key, dumps(task_id) + ":" + _dumps(task.to_json()))
            parts.append(cached[1])
        text = _dumps(head)[:-1] + ',"tasks":{' + ",".join(parts) + "}}"
        # Text decoded from an agent's JSON may hold lone surrogates; they become "?".
        return text.encode("utf-8", "replace")

    def task_text(self, task: TaskState) -> str:
        """The JSON text of `task.to_json()`, shared with the next `encode` when it is settled
        (the journal's record of a task's end costs no second encoding)."""
        dumps = _COMPACT.encode
        if task.status is TaskStatus.RUNNING:
            return dumps(task.to_json())
        key = (task.status, task.attempts, task.ended, task.reason, task.next_attempt_at)
        name = dumps(task.id)
        cached = self._cache.get(task.id)
        if cached is None or cached[0] != key:
            cached = self._cache[task.id] = (key, name + ":" + dumps(task.to_json()))
        return cached[1][len(name) + 1 :]


# allow_nan=False: NaN and Infinity are not JSON, and strict readers of state.json refuse them.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _dumps(value: dict[str, Any]) -> str:
    """`value` as compact JSON; a number that is not finite (which the parsers keep out, but
    a state must be written whatever it holds) is written as null."""
    try:
        return _COMPACT.encode(value)
    except ValueError:
        return _COMPACT.encode(_finite(value))


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _duration(started: float | None, ended: float | None) -> float | None:
    # From the times as written (to the millisecond), not as held: so the duration is the
    # same when a later run reads the state and writes it again.
    return round(ended - started, 3) if started is not None and ended is not None else None


def _round_cost(cost: float | None) -> float | None:
    return round(cost, COST_DIGITS) if cost is not None else None


def _opt_int(value: object) -> int | None:
    return value if type(value) is int else None


def _opt_pid(value: object) -> int | None:
    return value if type(value) is int and 0 < value <= _MAX_PID else None


def _opt_float(value: object) -> float | None:
    # Infinity and NaN parse from JSON text in Python, but are not JSON: they read as unknown.
    if type(value) is int:
        return float(value) if abs(value) < 2**53 else None
    return value if type(value) is float and isfinite(value) else None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
