"""One attempt of one task: the sink that turns an agent's output into logs and live usage.

Per chunk of output it does only what must happen per chunk: append the raw bytes, split lines
(with a bound on line length, so a 50 MB line cannot take 50 MB twice), feed the parser, and
buffer the log lines. Token totals are read from the parser when the state is written, not per
line.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine import procs
from engine.agents import OutputParser
from engine.logs import TaskLog
from engine.state import TaskState
from engine.usage import Tokens

MAX_LINE = 32 * 1024 * 1024
STDERR_TAIL = 4096


class Attempt:
    """Receives an agent's output (the executor's `Sink`) for one attempt of a task."""

    def __init__(
        self,
        task: TaskState,
        parser: OutputParser,
        log: TaskLog,
        on_change: Callable[[], None],
        on_note: Callable[[str, str], None],
    ) -> None:
        self.task = task
        self.parser = parser
        self.log = log
        self._on_change = on_change
        self._on_note = on_note
        self._pieces: list[bytes] = []
        self._pending = 0
        self._skipping = False
        self.stderr_tail = b""
        self.last_output: float | None = None
        # This attempt's own usage, once it has ended (the task's totals cover every attempt).
        self.tokens: dict[str, Tokens] = {}
        self.cost: float | None = None

    # ---- executor sink ---------------------------------------------------------------------

    def started(self, pid: int) -> None:
        self.task.pid = pid
        self.task.pid_started = None  # read by `refresh`, once the agent has finished starting
        self._on_change()

    def stdout(self, chunk: bytes) -> None:
        now = time.time()
        self.last_output = now
        self.log.raw_stdout(chunk)
        cut = chunk.find(b"\n")
        if cut < 0:
            self._hold(chunk)
            self._on_change()
            return
        # Lines go to the parser without their newline (parsers strip them anyway): stripping
        # nothing returns the same bytes, where a newline to strip would copy a huge line.
        if self._pieces:
            self._pieces.append(chunk[:cut])
            first = b"".join(self._pieces)
            self._pieces = []
            self._pending = 0
        else:
            first = chunk[:cut]
        lines = chunk[cut + 1 :].split(b"\n")
        tail = lines.pop()
        self._line(first, now)
        for line in lines:
            self._line(line, now)
        if tail:
            self._hold(tail)
        self._on_change()

    def stderr(self, chunk: bytes) -> None:
        now = time.time()
        self.last_output = now
        self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL:]
        self.log.raw_stderr(now, chunk)
        self._on_change()

    def note(self, message: str) -> None:
        self.log.lines(time.time(), [message], "nova: ")
        self._on_note(self.task.id, message)

    # ---- lines -------------------------------------------------------------------------------

    def _hold(self, piece: bytes) -> None:
        if self._skipping:
            return
        self._pending += len(piece)
        if self._pending > MAX_LINE:
            self._pieces = []
            self._pending = 0
            self._skipping = True
            self.log.lines(
                time.time(),
                [f"(a line longer than {MAX_LINE // (1024 * 1024)} MiB was not parsed; "
                 "it is in the raw log)"],
                "nova: ",
            )
            return
        self._pieces.append(piece)

    def _line(self, line: bytes, now: float) -> None:
        if self._skipping:
            self._skipping = False
            return
        out = self.parser.feed(line)
        if out:
            self.log.lines(now, out)
            if self.parser.notices:
                for notice in self.parser.notices:
                    self._on_note(self.task.id, notice)
                self.parser.notices.clear()

    def finish_lines(self) -> None:
        """Parse a last line that had no final newline."""
        if self._pieces and not self._skipping:
            self._line(b"".join(self._pieces), time.time())
        self._pieces = []
        self._pending = 0

    def refresh(self) -> None:
        """Copy live usage from the parser into the task state (done when state is written).

        The agent's start time is read here too, not at spawn: reading /proc/<pid>/stat of a
        process that is still loading waits for it, and a state that names the pid must name
        its start time (how the next run recognises a survivor), so it is read before a write.
        """
        if self.task.pid is not None and self.task.pid_started is None:
            self.task.pid_started = procs.create_time(self.task.pid)
        self.task.live_tokens = self.parser.tokens()
        self.task.live_cost = self.parser.cost_usd()
        if self.parser.session_id:
            self.task.session_id = self.parser.session_id
        if self.last_output is not None:
            self.task.last_output = self.last_output
