"""`nova logs`: printing a task's log with its control characters made visible, finding the
log through the state, and following it (-f) while the task runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from engine.cli.snapshot import read_state, unknown_task
from engine.errors import NovaError
from engine.text import visible


def print_log(path: Path, show: LogShown, watch: TaskWatch | None) -> None:
    """Print the log at `path`; with a `watch` (`--follow`), what it gains while the task runs."""
    from engine.errors import ConfigError

    position = 0
    while True:
        if path.exists():
            position = _print_from(path, position, show)
        if watch is None or not watch.still_running():
            if watch is not None and path.exists():  # print what came after the last look
                _print_from(path, position, show, final=True)
            elif watch is not None:  # it will not run in this run (blocked, failed to start...)
                raise ConfigError(
                    f"task '{watch.task_id}' has no log and is not running. 'nova status' says why."
                )
            show.write(b"", final=True)  # a character cut at the end of the file
            return
        time.sleep(0.25)


class LogShown:
    """Prints a log as it is read, its control characters made visible (a task's name in the
    header, or what an agent printed, must not act on the terminal); with `keep`, the bytes
    as they are (raw output going to a program)."""

    def __init__(self, out: Any, keep: bool) -> None:
        import codecs

        self.out = out
        self.keep = keep
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, chunk: bytes, final: bool = False) -> None:
        if not self.keep:
            chunk = visible(self.decoder.decode(chunk, final)).encode("utf-8", "replace")
        self.out.write(chunk)
        self.out.flush()


def _print_from(path: Path, position: int, show: LogShown, final: bool = False) -> int:
    """Print the log `path` from `position` on, a piece at a time; where it ended. ConfigError
    if it is not a regular file (a FIFO would hang the read, /dev/zero never end it)."""
    from engine.errors import ConfigError
    from engine.fsio import UnsafeFileError, open_regular

    try:
        handle = open_regular(path)
    except UnsafeFileError as exc:
        raise ConfigError(f"{exc}. Remove it (rm {path}); nova writes its own there.") from None
    with handle:
        handle.seek(position)
        while chunk := handle.read(1 << 20):
            show.write(chunk)
        position = handle.tell()
    if final:
        show.write(b"", final=True)
    return position


def raw_log(logs_dir: Path, task_id: str, stderr: bool) -> tuple[Path, int]:
    """The raw stdout (or stderr) of the task's last attempt, and that attempt's number; says
    when its stderr has something, and ConfigError when the task has no raw output at all."""
    from engine.errors import ConfigError
    from engine.observe.logs import raw_path
    from engine.run.resume import attempts_on_disk

    last = attempts_on_disk(logs_dir).get(task_id)
    if last is None:
        raise ConfigError(f"no raw output for task '{task_id}' in {logs_dir}/raw/ yet.")
    other = raw_path(logs_dir, task_id, last, "stderr")
    if not stderr and other.exists() and other.stat().st_size:
        click.echo(f"(its stderr is in {other}; --stderr prints it)", err=True)
    return raw_path(logs_dir, task_id, last, "stderr" if stderr else "stdout"), last


def log_from_state(state_dir: Path, task_id: str, logs_dir: Path) -> Path:
    """The log the state names for a task (a run with another --logs-dir), or ConfigError
    saying why there is none: no such task, or what the task is doing instead."""
    from engine.errors import ConfigError, StateError

    try:
        state, _ = read_state(state_dir)
    except StateError:
        state = None
    task = state.tasks.get(task_id) if state else None
    if task is not None and task.log and Path(task.log).exists():
        return Path(task.log)
    if task is not None:
        why = f": {task.reason}" if task.reason else ""
        raise ConfigError(f"task '{task_id}' has no log yet; it is {task.status}{why}.")
    if state is not None and state.tasks:
        raise unknown_task(task_id, list(state.tasks), f"in {state_dir}/")
    raise ConfigError(
        f"no log for task '{task_id}' in {logs_dir}/ yet. 'nova status' lists "
        "the tasks and what they are doing."
    )


def check_known(state_dir: Path, task_id: str) -> None:
    """With -f: a task the state does not know would be followed forever for nothing."""
    state, _ = read_state(state_dir)  # StateError (exit 2) when there is no state yet
    if task_id not in state.tasks:
        raise unknown_task(task_id, list(state.tasks), f"in {state_dir}/")


class TaskWatch:
    """Whether a task may still write to its log, from the state, read at most every 2 s and
    only when the file changed (a 10,000-task state takes 0.2 s to read), or 10 s after the
    last read, which is what notices a run that died without a word."""

    def __init__(self, state_dir: Path, task_id: str) -> None:
        self.path = state_dir / "state.json"
        self.state_dir = state_dir
        self.task_id = task_id
        self.looked = self.read = -1e9
        self.seen: tuple[int, int] | None = None
        self.answer = True

    def still_running(self) -> bool:
        now = time.monotonic()
        if now - self.looked < 2.0:
            return self.answer
        self.looked = now
        try:
            stat = self.path.stat()
            version: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_ino)
        except OSError:
            version = None
        if version == self.seen and now - self.read < 10.0:
            return self.answer
        self.seen, self.read = version, now
        try:
            state, alive = read_state(self.state_dir)
        except NovaError:
            self.answer = False
            return False
        task = state.tasks.get(self.task_id)
        self.answer = alive and task is not None and task.status.value in ("running", "pending")
        return self.answer
