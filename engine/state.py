"""The run's state: what every task is doing or did, as one JSON document.

This module is the model and its JSON form (schema below), with no I/O; `engine.store` writes
it. The same document, plus totals, is what `nova status --json` prints, so the file under
`state/` and the command's output never disagree.

Schema (version 1)::

    {"schema": 1, "project": str, "cascade": str,
     "run": {"id", "pid", "pid_started", "started", "heartbeat", "ended", "running",
             "exit_code", "jobs", "paused_until", "pause_reason", "warning", "nova_version"},
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.outcome import TaskStatus
from engine.usage import Tokens, add_by_model, sum_by_model

SCHEMA = 1
RESULT_CHARS = 4000


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def from_iso(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass(slots=True)
class TaskState:
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
        return {
            "name": self.name,
            "branch": self.branch,
            "group": self.group,
            "depends_on": list(self.depends_on),
            "status": self.status.value,
            "attempts": self.attempts,
            "pid": self.pid,
            "pid_started": self.pid_started,
            "started": iso(self.started),
            "ended": iso(self.ended),
            "duration": (
                round(self.ended - self.started, 3)
                if self.started is not None and self.ended is not None
                else None
            ),
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
        try:
            status = TaskStatus(data.get("status", "pending"))
        except ValueError:
            status = TaskStatus.PENDING
        raw_tokens = data.get("tokens")
        tokens: dict[str, Any] = raw_tokens if isinstance(raw_tokens, dict) else {}
        cost = data.get("cost_usd")
        return cls(
            id=task_id,
            name=str(data.get("name") or task_id),
            branch=str(data.get("branch") or ""),
            group=str(data.get("group") or ""),
            depends_on=tuple(str(d) for d in data.get("depends_on") or ()),
            status=status,
            attempts=int(data.get("attempts") or 0),
            pid=_opt_int(data.get("pid")),
            pid_started=_opt_float(data.get("pid_started")),
            started=from_iso(data.get("started")),
            ended=from_iso(data.get("ended")),
            exit_code=_opt_int(data.get("exit_code")),
            reason=_opt_str(data.get("reason")),
            failure=_opt_str(data.get("failure")),
            session_id=_opt_str(data.get("session_id")),
            prior_tokens={
                str(m): Tokens.from_dict(t) for m, t in tokens.items() if isinstance(t, dict)
            },
            prior_cost=float(cost) if isinstance(cost, int | float) else None,
            last_output=from_iso(data.get("last_output")),
            agent=_opt_str(data.get("agent")),
            model=_opt_str(data.get("model")),
            permission_mode=_opt_str(data.get("permission_mode")),
            workdir=_opt_str(data.get("workdir")),
            log=_opt_str(data.get("log")),
            next_attempt_at=from_iso(data.get("next_attempt_at")),
            result=_opt_str(data.get("result")),
        )


@dataclass(slots=True)
class RunState:
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
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        return cls(
            id=str(data.get("id") or ""),
            pid=_opt_int(data.get("pid")),
            pid_started=_opt_float(data.get("pid_started")),
            started=from_iso(data.get("started")),
            heartbeat=from_iso(data.get("heartbeat")),
            ended=from_iso(data.get("ended")),
            running=bool(data.get("running")),
            exit_code=_opt_int(data.get("exit_code")),
            jobs=_opt_int(data.get("jobs")),
            paused_until=from_iso(data.get("paused_until")),
            pause_reason=_opt_str(data.get("pause_reason")),
            warning=_opt_str(data.get("warning")),
            nova_version=_opt_str(data.get("nova_version")),
        )


@dataclass(slots=True)
class State:
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
        """A state from its JSON form; ValueError if it is not one nova can read."""
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
            raise ValueError("it is not a nova state document")
        schema = data.get("schema")
        if not isinstance(schema, int):
            raise ValueError("it has no schema version")
        if schema > SCHEMA:
            raise ValueError(f"it has schema version {schema}, newer than this nova's {SCHEMA}")
        raw_run = data.get("run")
        run: dict[str, Any] = raw_run if isinstance(raw_run, dict) else {}
        return cls(
            project=str(data.get("project") or ""),
            cascade=str(data.get("cascade") or ""),
            run=RunState.from_json(run),
            tasks={
                str(k): TaskState.from_json(str(k), v)
                for k, v in data["tasks"].items()
                if isinstance(v, dict)
            },
        )

    def totals(self) -> tuple[dict[str, Tokens], float | None]:
        tokens = sum_by_model(t.tokens for t in self.tasks.values())
        costs = [c for c in (t.cost_usd for t in self.tasks.values()) if c is not None]
        return tokens, (sum(costs) if costs else None)


class StateEncoder:
    """Encodes a `State` as the bytes of state.json, re-encoding only tasks that can have changed.

    A task that is not running changes only together with its status, attempts, end time,
    reason or next attempt (see `engine.runner`), so its encoding is kept under that key; a
    running task is encoded afresh every time. On a big graph most tasks are done or waiting,
    so a write costs what the running ones cost, not what the whole graph does. The bytes are
    those of `json.dumps(state.to_json(), separators=(",", ":"), ensure_ascii=False)`.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[object, ...], str]] = {}

    def encode(self, state: State) -> bytes:
        dumps = _COMPACT.encode
        head = {"schema": SCHEMA, "project": state.project, "cascade": state.cascade,
                "run": state.run.to_json()}  # the keys of `State.to_json`, but the tasks
        parts = []
        for task_id, task in state.tasks.items():
            if task.status is TaskStatus.RUNNING:
                parts.append(dumps(task_id) + ":" + dumps(task.to_json()))
                continue
            key = (task.status, task.attempts, task.ended, task.reason, task.next_attempt_at)
            cached = self._cache.get(task_id)
            if cached is None or cached[0] != key:
                cached = self._cache[task_id] = (key, dumps(task_id) + ":" + dumps(task.to_json()))
            parts.append(cached[1])
        text = dumps(head)[:-1] + ',"tasks":{' + ",".join(parts) + "}}"
        # Text decoded from an agent's JSON may hold lone surrogates; they become "?".
        return text.encode("utf-8", "replace")


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _round_cost(cost: float | None) -> float | None:
    return round(cost, 6) if cost is not None else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
