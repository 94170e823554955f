"""Live progress of `nova run` (engine.observe.progress): what a quiet run prints about itself."""

from __future__ import annotations

import io

from engine.observe.progress import LineReporter, progress_line
from engine.observe.state import RunState, State, TaskState
from engine.outcome import TaskStatus

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def test_a_quiet_run_prints_where_it_stands_the_longest_running_first() -> None:
    """After a quiet minute the progress line names the running tasks (longest first, five at
    most) with their times, and counts what is done and waiting."""
    state = State(project="P", run=RunState(id="r", running=True))
    for i in range(7):
        state.tasks[f"R{i}"] = TaskState(
            id=f"R{i}", status=TaskStatus.RUNNING, started=T0 - 60 * (i + 1)
        )
    state.tasks["D"] = TaskState(id="D", status=TaskStatus.DONE)
    state.tasks["W"] = TaskState(id="W")
    line = progress_line(state, T0)
    assert line == (
        "… 7 running (R6 7m00s, R5 6m00s, R4 5m00s, R3 4m00s, R2 3m00s, +2), 1 done, 1 waiting"
    )
    out = io.StringIO()
    reporter = LineReporter(out, colour=False)
    reporter.tick(state)
    assert out.getvalue() == ""  # it has only just started: nothing to add
    reporter.last_said -= 61
    reporter.tick(state)
    assert "7 running (R6" in out.getvalue()
