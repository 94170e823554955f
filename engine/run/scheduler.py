"""Which task runs next: the scheduler's state machine, with no processes and no clock.

Every task is in exactly one phase: waiting (for dependencies), ready, running, delayed (a retry
or a usage-limit requeue whose time has not come), done, failed, blocked (a dependency failed)
or cancelled. Moves between phases are O(1) or O(dependents); ready tasks come out
critical-path first, so the longest chain of remaining work starts earliest.

The scheduler is also the one writer of each task's `TaskStatus` during a run (the status in
the state, which `nova status` shows): every move sets the phase and the status together, so
the two never drift apart. The status is the phase as the user sees it (waiting, ready and
delayed are all `pending`), with two exceptions said where they happen.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Protocol

from engine.outcome import TaskStatus
from engine.plan.graph import TaskGraph


class Phase(StrEnum):
    """Where a task is in the scheduler."""

    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    DELAYED = "delayed"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


_SETTLED = frozenset({Phase.DONE, Phase.FAILED, Phase.BLOCKED, Phase.CANCELLED})
STATUS = {
    Phase.WAITING: TaskStatus.PENDING,
    Phase.READY: TaskStatus.PENDING,
    Phase.RUNNING: TaskStatus.RUNNING,
    Phase.DELAYED: TaskStatus.PENDING,
    Phase.DONE: TaskStatus.DONE,
    Phase.FAILED: TaskStatus.FAILED,
    Phase.BLOCKED: TaskStatus.BLOCKED,
    Phase.CANCELLED: TaskStatus.CANCELLED,
}


class Tracked(Protocol):
    """A task's record whose status the scheduler keeps (the state's `TaskState`)."""

    status: TaskStatus


class Scheduler:
    """The tasks' phases, and the one place that moves them (and their status)."""

    def __init__(
        self,
        graph: TaskGraph,
        done: Iterable[str] = (),
        tasks: Mapping[str, Tracked] | None = None,
    ) -> None:
        self.graph = graph
        # The records whose status follows the phases (none: the phases alone, in tests).
        self._tasks: Mapping[str, Tracked] = tasks if tasks is not None else {}
        self.phase: dict[str, Phase] = {}
        self._missing: dict[str, int] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._rank = {task_id: i for i, task_id in enumerate(graph.order)}
        done_set = set(done)
        self._open = 0  # tasks not settled
        for task_id in graph.order:
            if task_id in done_set:
                self._move(task_id, Phase.DONE)
                continue
            self._open += 1
            missing = sum(1 for d in graph.deps[task_id] if d not in done_set)
            self._missing[task_id] = missing
            self._move(task_id, Phase.WAITING)
            if missing == 0:
                self._make_ready(task_id)

    def _move(self, task_id: str, phase: Phase, status: TaskStatus | None = None) -> None:
        """The only writer of a phase, and of a task's status."""
        self.phase[task_id] = phase
        record = self._tasks.get(task_id)
        if record is not None:
            record.status = STATUS[phase] if status is None else status

    def _make_ready(self, task_id: str) -> None:
        self._move(task_id, Phase.READY)
        heapq.heappush(self._heap, (-self.graph.priority[task_id], self._rank[task_id], task_id))

    def pop_ready(self) -> str | None:
        """The most urgent ready task, now marked running; None if none is ready.

        Its status stays pending until `begin`: the attempt, not the pick, makes a task
        running in the state (the state must not say running before the attempt's number,
        start time and journal record do)."""
        while self._heap:
            _, _, task_id = heapq.heappop(self._heap)
            if self.phase[task_id] is Phase.READY:
                self.phase[task_id] = Phase.RUNNING
                return task_id
        return None

    def begin(self, task_id: str) -> None:
        """The attempt of a task marked running has begun: its status says so."""
        self._move(task_id, Phase.RUNNING)

    def _settle(self, task_id: str, phase: Phase, status: TaskStatus | None = None) -> None:
        if self.phase[task_id] not in _SETTLED:
            self._open -= 1
        self._move(task_id, phase, status)

    def done(self, task_id: str) -> list[str]:
        """Mark a running task done; return the tasks that became ready."""
        self._settle(task_id, Phase.DONE)
        ready = []
        for dependent in self.graph.dependents[task_id]:
            if self.phase[dependent] is not Phase.WAITING:
                continue
            self._missing[dependent] -= 1
            if self._missing[dependent] == 0:
                self._make_ready(dependent)
                ready.append(dependent)
        return ready

    def fail(self, task_id: str, phase: Phase = Phase.FAILED) -> list[str]:
        """Mark a task failed (or cancelled); return the tasks now blocked because of it.

        Below a cancelled task nothing failed: its dependents cannot run in this run, but
        their status stays pending (they run on the next one)."""
        self._settle(task_id, phase)
        kept = TaskStatus.PENDING if phase is Phase.CANCELLED else None
        blocked = []
        for dependent in self.graph.downstream(task_id):
            if self.phase[dependent] not in _SETTLED:
                self._settle(dependent, Phase.BLOCKED, kept)
                blocked.append(dependent)
        return blocked

    def delay(self, task_id: str) -> None:
        """A running task will run again later (retry backoff, usage limit)."""
        self._move(task_id, Phase.DELAYED)

    def requeue(self, task_id: str) -> None:
        """A delayed or running task is ready again."""
        if self.phase[task_id] in (Phase.DELAYED, Phase.RUNNING):
            self._make_ready(task_id)

    def cancel_open(self) -> list[str]:
        """Settle every task that has not started as cancelled; return them."""
        cancelled = []
        for task_id, phase in self.phase.items():
            if phase in (Phase.WAITING, Phase.READY, Phase.DELAYED):
                self._settle(task_id, Phase.CANCELLED)
                cancelled.append(task_id)
        return cancelled

    @property
    def finished(self) -> bool:
        """Every task is settled: nothing runs, nothing can run any more."""
        return self._open == 0

    def count(self, phase: Phase) -> int:
        """How many tasks are in `phase`."""
        return sum(1 for p in self.phase.values() if p is phase)
