"""Which task runs next: the scheduler's state machine, with no processes and no clock.

Every task is in exactly one phase: waiting (for dependencies), ready, running, delayed (a retry
or a usage-limit requeue whose time has not come), done, failed, blocked (a dependency failed)
or cancelled. Moves between phases are O(1) or O(dependents); ready tasks come out
critical-path first, so the longest chain of remaining work starts earliest.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from enum import StrEnum

from engine.plan.graph import TaskGraph


class Phase(StrEnum):
    """Where a task is in the scheduler: waiting for dependencies, ready, running, settled."""

    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    DELAYED = "delayed"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


_SETTLED = frozenset({Phase.DONE, Phase.FAILED, Phase.BLOCKED, Phase.CANCELLED})


class Scheduler:
    """Which tasks may start now: dependencies met, critical path first, in file order on ties."""

    def __init__(self, graph: TaskGraph, done: Iterable[str] = ()) -> None:
        self.graph = graph
        self.phase: dict[str, Phase] = {}
        self._missing: dict[str, int] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._rank = {task_id: i for i, task_id in enumerate(graph.order)}
        done_set = set(done)
        self._open = 0  # tasks not settled
        for task_id in graph.order:
            if task_id in done_set:
                self.phase[task_id] = Phase.DONE
                continue
            self._open += 1
            missing = sum(1 for d in graph.deps[task_id] if d not in done_set)
            self._missing[task_id] = missing
            self.phase[task_id] = Phase.WAITING
            if missing == 0:
                self._make_ready(task_id)

    def _make_ready(self, task_id: str) -> None:
        self.phase[task_id] = Phase.READY
        heapq.heappush(self._heap, (-self.graph.priority[task_id], self._rank[task_id], task_id))

    def pop_ready(self) -> str | None:
        """The most urgent ready task, now marked running; None if none is ready."""
        while self._heap:
            _, _, task_id = heapq.heappop(self._heap)
            if self.phase[task_id] is Phase.READY:
                self.phase[task_id] = Phase.RUNNING
                return task_id
        return None

    def _settle(self, task_id: str, phase: Phase) -> None:
        if self.phase[task_id] not in _SETTLED:
            self._open -= 1
        self.phase[task_id] = phase

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
        """Mark a task failed (or cancelled); return the tasks now blocked because of it."""
        self._settle(task_id, phase)
        blocked = []
        for dependent in self.graph.downstream(task_id):
            if self.phase[dependent] not in _SETTLED:
                self._settle(dependent, Phase.BLOCKED)
                blocked.append(dependent)
        return blocked

    def delay(self, task_id: str) -> None:
        """A running task will run again later (retry backoff, usage limit)."""
        self.phase[task_id] = Phase.DELAYED

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
        return sum(1 for p in self.phase.values() if p is phase)
