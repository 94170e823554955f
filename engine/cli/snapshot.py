"""Reading the state for a command: the snapshot on disk and whether its run is alive, and
the error for a task ID the state does not know.

Cheap to import: what it needs is imported when it is called, so `nova status` starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.observe.state import State
    from engine.observe.store import Snapshot


def read_state(state_dir: Path) -> tuple[State, bool]:
    snapshot, alive = read_snapshot(state_dir)
    return snapshot.state, alive


def read_snapshot(state_dir: Path, tasks_json: bool = False) -> tuple[Snapshot, bool]:
    """The state on disk (see `StateStore.read`), and whether the run that wrote it is alive."""
    from engine.errors import StateError
    from engine.observe.store import StateStore

    snapshot = StateStore(state_dir).read(tasks_json)
    if snapshot is None:
        raise StateError(
            f"no state in {state_dir}/ yet. Start a run with 'nova run', or point "
            "at another directory with --state-dir."
        )
    run = snapshot.state.run
    if not run.running:  # a finished run: no need to load psutil to look for its process
        return snapshot, False
    from engine.executors.procs import same_process

    return snapshot, same_process(run.pid, run.pid_started)


def unknown_task(
    task_id: str, ids: list[str], where: str, lead: str = "no task", listed_by: str = "status"
) -> Any:
    """ConfigError for a task ID that is not among `ids`, suggesting the same ID in another
    case first, else the closest one."""
    from engine.errors import ConfigError
    from engine.plan.settings import suggest

    same = [t for t in ids if t.lower() == task_id.lower()]
    hint = f" Did you mean '{same[0]}'?" if same else suggest(task_id, ids, 0.5)
    return ConfigError(f"{lead} '{task_id}' {where}.{hint} 'nova {listed_by}' lists the tasks.")
