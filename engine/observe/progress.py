"""Live progress of `nova run` in the terminal: one line per event, and a closing summary.

Lines rather than a redrawn screen, so the output reads the same in a terminal, a CI log and a
file; colour only when the output is a terminal. Whatever came from the plan or an agent (the
project, task names, reasons, notes) goes through `_v`, so its control characters show as
escapes: the only escape sequences printed are nova's own colours.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import IO, Protocol

from engine.errors import ExitCode
from engine.formats import format_duration
from engine.observe.state import State, TaskState
from engine.observe.status import clock_local, summarize_tokens
from engine.observe.usage import format_cost, format_count
from engine.outcome import TaskStatus, Verdict
from engine.text import visible_line as _v

QUIET_PROGRESS = 60.0  # seconds without a line before a progress line is printed
_COLOURS = {"green": "32", "red": "31", "yellow": "33", "cyan": "36", "dim": "2", "bold": "1"}


class Reporter(Protocol):
    """What the runner tells the person watching: a run's and its tasks' starts, ends and notes."""

    def run_started(self, state: State, already_done: int) -> None: ...
    def task_started(self, task: TaskState) -> None: ...
    def task_finished(self, task: TaskState, verdict: Verdict | None) -> None: ...
    def note(self, task_id: str | None, message: str) -> None: ...
    def paused(self, until: float, kind: str) -> None: ...
    def tick(self, state: State) -> None: ...
    def run_finished(self, state: State, code: ExitCode, halted: str | None) -> None: ...


class LineReporter:
    """A `Reporter` that writes one line per event to a terminal or a pipe."""

    def __init__(
        self, out: IO[str] | None = None, colour: bool | None = None, quiet: bool = False
    ) -> None:
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.quiet = quiet
        self.started = time.time()
        self.last_said = self.started
        self.gone = False
        self.total = 0
        self.finished = 0

    def _c(self, colour: str, text: str) -> str:
        return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m" if self.colour else text

    def _say(self, text: str) -> None:
        self.last_said = time.time()
        self._write(f"{self._c('dim', time.strftime('%H:%M:%S'))} {text}\n")

    def _write(self, text: str) -> None:
        """Print, unless whoever read the output has gone (`| head`, a closed terminal)."""
        if self.gone:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):  # EPIPE, EIO, or a closed file
            # The run goes on without an audience; the state and logs still say everything.
            self.gone = True
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.out.fileno())  # so that exiting cannot fail on a flush
                os.close(devnull)

    def run_started(self, state: State, already_done: int) -> None:
        self.total = len(state.tasks)
        self.finished = already_done
        resumed = f", {already_done} already done" if already_done else ""
        if already_done and already_done == self.total:
            resumed += " (--rerun ID or --fresh runs done tasks again)"
        self._say(
            self._c("bold", f"nova: {_v(state.project or 'plan')}")
            + f" — {self.total} task{'' if self.total == 1 else 's'}{resumed}, "
            f"up to {state.run.jobs} at once"
        )

    def task_started(self, task: TaskState) -> None:
        if self.quiet:
            return
        again = f" (attempt {task.attempts})" if task.attempts > 1 else ""
        self._say(f"{self._c('cyan', '▶')} {_v(task.id)} {_v(task.name)}{again}")

    def task_finished(self, task: TaskState, verdict: Verdict | None) -> None:
        progress = ""
        if task.status in (TaskStatus.DONE, TaskStatus.FAILED):
            self.finished += 1
            progress = self._c("dim", f" [{self.finished}/{self.total}]")
        duration = format_duration(task.duration(time.time()))
        who, reason = _v(task.id), _v(task.reason or "")
        tokens = sum(t.total for t in task.tokens.values())
        usage = f" · {format_count(tokens)} tokens · {format_cost(task.cost_usd)}" if tokens else ""
        if task.status == TaskStatus.DONE:
            if not self.quiet:
                self._say(f"{self._c('green', '✓')} {who} done in {duration}{usage}{progress}")
        elif task.status == TaskStatus.FAILED:
            self._say(f"{self._c('red', '✗')} {who} failed: {reason}{usage}{progress}")
        elif task.status == TaskStatus.CANCELLED:
            self._say(f"{self._c('yellow', '■')} {who} stopped{usage}")
        else:
            self._say(f"{self._c('yellow', '↻')} {who}: {reason}")

    def note(self, task_id: str | None, message: str) -> None:
        who = f"{_v(task_id)}: " if task_id else ""
        self._say(f"{self._c('yellow', '!')} {who}{_v(message)}")

    def paused(self, until: float, kind: str) -> None:
        self._say(
            f"{self._c('yellow', '⏸')} waiting for rate limit until {clock_local(until)} "
            f"({_v(kind)}); no new task starts before then. Ctrl-C stops the run."
        )

    def tick(self, state: State) -> None:
        """After a quiet minute (agents can work for an hour without a word), say where the
        run is: who runs and for how long, and what is done and waiting."""
        now = time.time()
        if self.quiet or now - self.last_said < QUIET_PROGRESS:
            return
        self._say(progress_line(state, now))

    def run_finished(self, state: State, code: ExitCode, halted: str | None) -> None:
        counts: dict[str, int] = {}
        for task in state.tasks.values():
            counts[task.status.value] = counts.get(task.status.value, 0) + 1
        parts = [f"{n} {s}" for s, n in counts.items()]
        tokens, cost = state.totals()
        elapsed = format_duration(time.time() - self.started)
        self._say(self._c("bold", f"finished in {elapsed}: ") + ", ".join(parts))
        for line in summarize_tokens(tokens):
            self._write(f"  {line}\n")
        self._write(f"  cost {format_cost(cost)}\n")
        failed = [t for t in state.tasks.values() if t.status == TaskStatus.FAILED]
        for task in failed[:10]:
            # Only point at a log that exists: a task that never started has none.
            see = f" (nova logs {_v(task.id)})" if task.log and os.path.exists(task.log) else ""
            self._write(f"  {self._c('red', '✗')} {_v(task.id)}: {_v(task.reason or '')}{see}\n")
        if len(failed) > 10:
            self._write(f"  … and {len(failed) - 10} more failed; see 'nova status'.\n")
        if halted:
            self._write(f"  {_v(halted)}\n")
        if code == ExitCode.INTERRUPTED:
            self._write(
                "  Interrupted. Run the same 'nova run' again to resume; done tasks are kept.\n"
            )
        elif code == ExitCode.TASKS_NOT_DONE:
            self._write(
                "  Not every task is done. Fix what failed and run 'nova run' again; "
                "done tasks are kept.\n"
            )


def progress_line(state: State, now: float) -> str:
    """`3 running (F1 12m04s, F2 5m10s, S1 40.2s), 10 done, 5 waiting`: where a run stands."""
    running = [t for t in state.tasks.values() if t.status == TaskStatus.RUNNING]
    running.sort(key=lambda t: t.started or now)
    shown = ", ".join(f"{_v(t.id)} {format_duration(t.duration(now))}" for t in running[:5])
    more = f", +{len(running) - 5}" if len(running) > 5 else ""
    parts = [f"{len(running)} running ({shown}{more})" if running else "0 running"]
    counts: dict[str, int] = {}
    for task in state.tasks.values():
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
    parts += [f"{counts[s]} {s}" for s in ("done", "failed", "blocked") if counts.get(s)]
    if counts.get("pending"):
        parts.append(f"{counts['pending']} waiting")
    if state.run.paused_until:
        parts.append(f"paused until {clock_local(state.run.paused_until)}")
    return "… " + ", ".join(parts)
