"""Picking up where the last run stopped: what it finished, what it left running, and which
sessions its interrupted tasks can continue.

Done tasks stay done (unless asked to run again: `--rerun`, `--fresh`); everything else runs
again. An interrupted Claude task continues its own session. What a killed run left running
is ended before anything starts, by the executor (`Executor.end_survivors`): the local one
finds it from its cgroup and its record of processes (`engine.executors.ledger`: pid and start
time, never a bare pid) and by the run's marker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from engine.agents import capabilities
from engine.errors import StateError
from engine.executors.base import LastRun, ProcessId
from engine.observe.logs import log_path
from engine.observe.state import State, TaskState
from engine.outcome import TaskStatus
from engine.plan.cascade import Cascade
from engine.plan.settings import Settings


def carry_over(
    previous: State | None,
    state: State,
    cascade: Cascade,
    settings: Mapping[str, Settings],
    logs_dir: Path,
    where: Path,
    rerun: frozenset[str] = frozenset(),
    note: Callable[[str], None] = lambda message: None,
    given: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """Fill `state.tasks` from the last run's state; return the sessions to resume per task.

    `where` is the state file, for the message when it belongs to another plan. Tasks in
    `rerun` start afresh even if done; their tokens and cost so far are kept (they were spent).
    `given` is the highest attempt number the journal shows each task was given.
    """
    if previous is not None and previous.cascade and previous.cascade != state.cascade:
        if not _moved(previous, state):
            raise StateError(
                f"{where} belongs to another plan ({previous.cascade}). Use --state-dir to "
                "keep each plan's state apart, or move the old state aside."
            )
        note(f"the plan moved from {previous.cascade}: its state is carried over.")
    old = previous.tasks if previous else {}
    # Attempt numbers go on above every one given out: in the state, in the journal (a start
    # the state never saw), or on disk (a state moved aside), so no raw log holds two attempts.
    on_disk = attempts_on_disk(logs_dir)
    given = given or {}
    resume: dict[str, str] = {}
    redone: list[str] = []
    for task_id, task in cascade.tasks.items():
        ts = old.get(task_id)
        if ts is None:
            ts = TaskState(id=task_id)
        ts.attempts = max(ts.attempts, given.get(task_id, 0), on_disk.get(task_id, 0))
        ts.name, ts.branch, ts.group = task.name, task.branch, task.group
        ts.depends_on = task.depends_on
        ts.log = str(log_path(logs_dir, task_id))
        if task_id in rerun:
            if ts.status is TaskStatus.DONE:
                redone.append(task_id)
            ts.status = TaskStatus.PENDING  # afresh: no session to continue, no old result
            ts.session_id = ts.result = ts.started = ts.ended = ts.exit_code = None
        if ts.status != TaskStatus.DONE:
            # Stopped mid-work: interrupted, or waiting to go on (a usage limit's reset, a
            # continuation) when the run ended. Its session holds that work.
            unfinished = ts.status in (TaskStatus.RUNNING, TaskStatus.CANCELLED) or (
                ts.status is TaskStatus.PENDING and ts.failure in _WAITING_TO_GO_ON
            )
            if unfinished and ts.session_id and capabilities(settings[task_id].agent).resume:
                resume[task_id] = ts.session_id
            ts.status = TaskStatus.PENDING
            ts.pid = ts.pid_started = ts.next_attempt_at = None
            ts.reason = ts.failure = None  # what the last run said no longer holds
        state.tasks[task_id] = ts
    if redone:
        shown = ", ".join(redone[:10]) + (
            f" and {len(redone) - 10} more" if len(redone) > 10 else ""
        )
        note(f"running {len(redone)} done task(s) again, as asked: {shown}.")
    return resume


def _moved(previous: State, state: State) -> bool:
    """Whether the last run's plan is this one, moved: the same project name, and its old
    path holds no file any more (a renamed or moved checkout)."""
    return previous.project == state.project and not os.path.exists(previous.cascade)


_WAITING_TO_GO_ON = ("rate_limit", "incomplete")


def attempts_on_disk(logs_dir: Path) -> dict[str, int]:
    """The highest attempt number of each task's raw logs (`raw/<ID>-<n>.stdout`)."""
    found: dict[str, int] = {}
    try:
        names = os.listdir(logs_dir / "raw")
    except OSError:
        return found
    for name in names:
        stem, dot, stream = name.rpartition(".")
        task_id, dash, number = stem.rpartition("-")
        if dot and dash and number.isdigit() and stream in ("stdout", "stderr"):
            found[task_id] = max(found.get(task_id, 0), int(number))
    return found


def last_run(previous: State | None) -> LastRun:
    """What the executor needs to end what the last run left running: its id, and the agents
    its state says were running (the state names no host: they ran where nova did)."""
    if previous is None:
        return LastRun(None)
    agents = tuple(
        ProcessId("", t.pid, t.pid_started)
        for t in previous.tasks.values()
        if t.status == TaskStatus.RUNNING and t.pid is not None
    )
    return LastRun(previous.run.id, agents)
