"""One attempt of one task: the sink that turns an agent's output into logs and live usage.

Per chunk of output it does only what must happen per chunk: append the raw bytes, split lines
(with a bound on line length, so a 50 MB line cannot take 50 MB twice), mask secrets in each
whole line, feed the parser, and buffer the log lines. Secrets are masked on whole lines before
anything is cut or summarised, so no part of one survives a cut at a chunk boundary or at a
summary's length. Token totals are read from the parser when the state is written, not per
line.

An agent's output can be anything, so the handling of each line is guarded: whatever a parser
raises on a line (a number too long for int(), JSON nested too deep), that line is logged as
text with a note and the next line is read as if nothing happened. The raw log is written
before any of it, so it keeps every byte either way.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from engine.agents.base import Event, Ignored, Notice, OutputParser, SessionStarted, Text
from engine.executors.base import ProcessId
from engine.observe.logs import TaskLog
from engine.observe.redact import Redactor
from engine.observe.state import TaskState
from engine.observe.usage import Tokens
from engine.text import short, visible, visible_line

MAX_LINE = 32 * 1024 * 1024
STDERR_TAIL = 4096  # characters of the last stderr lines kept for the failure reason
STDERR_KEEP = 1024 * 1024  # stderr beyond this per attempt goes to the raw file only
UNPARSED_CHARS = 2000  # of a line no parser could read, shown in the human log


class LineSplitter:
    """Whole lines out of a stream of chunks, without their newlines.

    A line longer than `limit` is dropped as it grows (`dropped` counts them) rather than held:
    memory stays bounded whatever the agent prints.
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self.dropped = 0
        self._pieces: list[bytes] = []
        self._held = 0
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        cut = chunk.find(b"\n")
        if cut < 0:
            self._hold(chunk)
            return []
        # Slicing up to the newline (not past it) keeps the parsers from copying a huge line
        # again to strip it.
        if self._pieces and self._held + cut > self.limit:  # it ends, but too late
            self._skipping = True
            self.dropped += 1
        if self._pieces and not self._skipping:
            self._pieces.append(chunk[:cut])
            first = b"".join(self._pieces)
        else:
            first = chunk[:cut]
        self._pieces = []
        self._held = 0
        lines = chunk[cut + 1 :].split(b"\n")
        tail = lines.pop()
        if self._skipping:
            self._skipping = False
        else:
            lines.insert(0, first)
        if tail:
            self._hold(tail)
        return lines

    def finish(self) -> list[bytes]:
        """The last line, if the stream did not end with a newline."""
        last = [b"".join(self._pieces)] if self._pieces and not self._skipping else []
        self._pieces = []
        self._held = 0
        self._skipping = False
        return last

    def _hold(self, piece: bytes) -> None:
        if self._skipping:
            return
        self._held += len(piece)
        if self._held > self.limit:
            self._pieces = []
            self._held = 0
            self._skipping = True
            self.dropped += 1
            return
        self._pieces.append(piece)


class Attempt:
    """Receives an agent's output (the executor's `Sink`) for one attempt of a task."""

    def __init__(
        self,
        task: TaskState,
        parser: OutputParser,
        log: TaskLog,
        on_change: Callable[[], None],
        on_note: Callable[[str, str], None],
        redact: Redactor | None = None,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self.task = task
        self._on_started = on_started
        self.parser = parser
        self.log = log
        self.redact = redact or Redactor(())
        self._on_change = on_change
        self._on_note = on_note
        self._out = LineSplitter()
        self._err = LineSplitter()
        self._stderr_logged = 0
        self._stderr_tail: deque[str] = deque()
        self._stderr_tail_chars = 0
        self.last_output: float | None = None
        # This attempt's own usage, once it has ended (the task's totals cover every attempt).
        self.tokens: dict[str, Tokens] = {}
        self.cost: float | None = None
        self._usage_closed = False
        self.unparsed = 0  # lines the parser raised on
        self._usage_failed = False

    # ---- executor sink ---------------------------------------------------------------------

    def started(self, process: ProcessId) -> None:
        self.task.pid, self.task.pid_started = process.pid, process.started
        if self._on_started is not None:
            self._on_started()
        self._on_change()

    def stdout(self, chunk: bytes) -> None:
        now = time.time()
        self.last_output = now
        self.log.raw_stdout(chunk)
        dropped = self._out.dropped
        for line in self._out.feed(chunk):
            self._line(line, now)
        if self._out.dropped != dropped:
            self._too_long()
        self._on_change()

    def stderr(self, chunk: bytes) -> None:
        now = time.time()
        self.last_output = now
        self.log.raw_stderr(chunk)
        self._stderr_lines(self._err.feed(chunk), now)
        self._on_change()

    def note(self, message: str) -> None:
        self.log.lines(time.time(), [message], "nova: ")
        self._on_note(self.task.id, visible_line(message))

    # ---- lines -------------------------------------------------------------------------------

    def _too_long(self) -> None:
        self.log.lines(
            time.time(),
            [
                f"(a line longer than {MAX_LINE // (1024 * 1024)} MiB was not parsed; "
                "it is in the raw log)"
            ],
            "nova: ",
        )

    def _line(self, line: bytes, now: float) -> None:
        masked = self.redact.bytes(line)
        parser = self.parser
        try:
            events = parser.feed(masked)
        except Exception as exc:  # any parser, any line: it must not stop the lines after it
            events = self._unparsed(masked, exc)
        if len(events) == 1 and type(events[0]) is Text:  # most lines: just log text
            self.log.lines(now, events[0].lines, events[0].prefix)
        elif events:
            self._dispatch(events, now)

    def _dispatch(self, events: list[Event], now: float) -> None:
        """Act on what one line said, in order: log lines, notices shown live, the session."""
        for event in events:
            # `type() is` first: this runs for every line an agent prints.
            if type(event) is Text:
                self.log.lines(now, event.lines, event.prefix)
            elif isinstance(event, Ignored):
                self.log.lines(now, [event.text], "nova: ")
            elif isinstance(event, Notice):
                # Shown on the user's terminal: it may quote the agent.
                self._on_note(self.task.id, visible_line(event.text))
            elif isinstance(event, SessionStarted):
                self.task.session_id = event.session_id

    def _unparsed(self, line: bytes, exc: Exception) -> list[Event]:
        """The log lines for a line the parser raised on: its text, and why it is only text."""
        self.unparsed += 1
        # A prefix is enough to show: the raw log has the whole line.
        text = short(line[: 8 * UNPARSED_CHARS].decode("utf-8", "replace"), UNPARSED_CHARS)
        why = (
            f"the line above ({len(line)} bytes) could not be read ({_describe_error(exc)}); "
            f"it is logged as text and kept whole in {self.log.raw_out.name}, and the lines "
            "after it are read as usual"
        )
        return [Text((text,)), Ignored(why)]

    def _stderr_lines(self, lines: list[bytes], now: float) -> None:
        shown = []
        for raw in lines:
            line = self.redact(raw.decode("utf-8", "replace")).rstrip("\r")
            if not line.strip():
                continue
            self._stderr_tail.append(line)
            self._stderr_tail_chars += len(line) + 1
            while self._stderr_tail_chars > STDERR_TAIL and len(self._stderr_tail) > 1:
                self._stderr_tail_chars -= len(self._stderr_tail.popleft()) + 1
            if self._stderr_logged < STDERR_KEEP:
                self._stderr_logged += len(line) + 1
                shown.append(line)
        self.log.lines(now, shown, "stderr: ")

    @property
    def stderr_tail(self) -> str:
        """The last lines the agent wrote to stderr (secrets masked), for the failure reason."""
        return "\n".join(self._stderr_tail)[-STDERR_TAIL:]

    def finish_lines(self) -> None:
        """Take the last lines that had no final newline."""
        now = time.time()
        for line in self._out.finish():
            self._line(line, now)
        self._stderr_lines(self._err.finish(), now)

    def refresh(self) -> None:
        """Copy live usage from the parser into the task state (done when state is written)."""
        if self._usage_closed:  # what goes on now (a check, a commit) spends no tokens
            return
        try:
            tokens, cost = self.parser.tokens(), self.parser.cost_usd()
        except Exception as exc:  # the state of every task is written here: keep it going
            if not self._usage_failed:
                self._usage_failed = True
                self.note(f"nova could not add up this attempt's usage ({_describe_error(exc)})")
        else:
            self.task.live_tokens, self.task.live_cost = tokens, cost
        if self.last_output is not None:
            self.task.last_output = self.last_output

    def close_usage(self) -> None:
        """The agent has ended: keep its usage as this attempt's and fold it into the task's
        totals, once; later refreshes (while its check runs) leave the usage alone."""
        self.tokens, self.cost = self.task.live_tokens, self.task.live_cost
        self.task.close_attempt()
        self._usage_closed = True


class CheckOutput:
    """Receives a check command's output (the executor's `Sink`): its lines go to the task's
    human log, marked `check:`, and the last of them are kept for the verdict and the agent."""

    TAIL_LINES = 60
    TAIL_CHARS = 8000

    def __init__(
        self,
        task: TaskState,
        log: TaskLog,
        on_change: Callable[[], None],
        on_note: Callable[[str, str], None],
        redact: Redactor,
    ) -> None:
        self.task = task
        self.log = log
        self.redact = redact
        self._on_change = on_change
        self._on_note = on_note
        self._out = LineSplitter()
        self._err = LineSplitter()
        self._tail: deque[str] = deque(maxlen=self.TAIL_LINES)

    def started(self, process: ProcessId) -> None:
        self.task.pid, self.task.pid_started = process.pid, process.started
        self._on_change()

    def stdout(self, chunk: bytes) -> None:
        self._lines(self._out.feed(chunk))

    def stderr(self, chunk: bytes) -> None:
        self._lines(self._err.feed(chunk))

    def note(self, message: str) -> None:
        self.log.lines(time.time(), [message], "nova: ")
        self._on_note(self.task.id, message)

    def finish(self) -> None:
        self._lines(self._out.finish() + self._err.finish())

    def tail(self) -> str:
        """The last lines of the check's output, control characters shown (the verdict's
        reason quotes them)."""
        text = "\n".join(self._tail)
        return visible(text[-self.TAIL_CHARS :])

    def _lines(self, lines: list[bytes]) -> None:
        if not lines:
            return
        decoded = [self.redact(line.decode("utf-8", "replace").rstrip("\r")) for line in lines]
        self._tail.extend(decoded)
        self.log.lines(time.time(), decoded, "check: ")
        self._on_change()


def _describe_error(exc: Exception) -> str:
    try:
        detail = str(exc)
    except Exception:  # a message that cannot be made is no reason to stop
        detail = ""
    return f"{type(exc).__name__}: {short(detail, 200)}" if detail else type(exc).__name__


class Collected:
    """Receives a short helper command's output (the executor's `Sink`): the first 64 KiB of
    stdout and stderr together, for its error message."""

    LIMIT = 64 * 1024

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def started(self, process: ProcessId) -> None:
        pass

    def stdout(self, chunk: bytes) -> None:
        if self._size < self.LIMIT:
            self._parts.append(chunk[: self.LIMIT - self._size])
            self._size += len(self._parts[-1])

    stderr = stdout

    def note(self, message: str) -> None:
        pass

    def text(self) -> str:
        return b"".join(self._parts).decode("utf-8", "replace")
