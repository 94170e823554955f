"""A sample run state, for the tests of the state and of its store."""

from __future__ import annotations

from engine.observe.state import (
    RunState,
    State,
    TaskState,
)
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
