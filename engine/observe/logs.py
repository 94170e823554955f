"""Task logs: `logs/<ID>.log` for people, `logs/raw/<ID>-<attempt>.stdout` byte for byte.

The human log is framed per attempt by a header (task, attempt, command, start) and a footer
(outcome, exit, duration, tokens per model, cost); attempts append, nothing is erased. Lines
are buffered and flushed by the runner on its state-write timer, so a flood of output costs
few system calls while `nova logs -f` still sees lines within a fraction of a second.

The lines are what agents and checks printed, so their control characters are shown as
escapes (`engine.text.visible`): a `cat` of the log cannot retitle, clear or rewrite the
terminal. The raw logs keep the bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from engine import fsio
from engine.observe.redact import LogMasker, Redactor
from engine.observe.usage import Tokens, format_cost
from engine.text import visible

RULE = "=" * 78


def log_path(logs_dir: Path, task_id: str) -> Path:
    return logs_dir / f"{task_id}.log"


def raw_path(logs_dir: Path, task_id: str, attempt: int, stream: str = "stdout") -> Path:
    return logs_dir / "raw" / f"{task_id}-{attempt}.{stream}"


_memo: dict[str, tuple[int, str]] = {}


def _utc(t: float, fmt: str) -> str:
    """`t` formatted in UTC; memoized per second, as a flood of output asks once per line."""
    second = int(t)
    # Within a microsecond of the next second, fromtimestamp may round up: never memoize that.
    if t - second >= 0.999999 or second < 0:
        return datetime.fromtimestamp(t, UTC).strftime(fmt)
    memo = _memo.get(fmt)
    if memo is None or memo[0] != second:
        memo = _memo[fmt] = (second, datetime.fromtimestamp(second, UTC).strftime(fmt))
    return memo[1]


def clock(t: float) -> str:
    return _utc(t, "%H:%M:%S")


def stamp(t: float) -> str:
    return _utc(t, "%Y-%m-%d %H:%M:%S UTC")


def format_header(
    task_id: str,
    name: str,
    attempt: int,
    argv: Sequence[str],
    cwd: str,
    started: float,
    settings: Mapping[str, object],
) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
    return (
        f"{RULE}\n"
        f"task {task_id} · {name} · attempt {attempt} · started {stamp(started)}\n"
        f"command: {shlex.join(argv)}\n"
        f"cwd: {cwd}\n"
        f"settings: {shown}\n"
        f"{RULE}\n"
    )


def format_tokens(tokens: Mapping[str, Tokens]) -> list[str]:
    return [
        f"  {model}: input {t.input}, output {t.output}, cache read {t.cache_read}, "
        f"cache write {t.cache_creation}"
        for model, t in sorted(tokens.items())
    ]


def format_footer(
    outcome: str,
    reason: str,
    exit_code: int | None,
    duration: float,
    tokens: Mapping[str, Tokens],
    cost: float | None,
    ended: float,
) -> str:
    why = f" · {reason}" if reason else ""
    lines = [
        RULE,
        f"{outcome}{why}",
        f"{_exit_text(exit_code)} · {duration:.1f}s · ended {stamp(ended)} · "
        f"cost {format_cost(cost)}",
        "tokens:" if tokens else "tokens: none counted",
        *format_tokens(tokens),
        RULE,
    ]
    return "\n".join(lines) + "\n\n"


FLUSH_AT = 64 * 1024  # characters of log text held before they are written anyway
HELD_LIMIT = 1024 * 1024  # text kept while no descriptor is free to open the log
TEXT_LIMIT = 64 * 1024 * 1024  # characters of human log per attempt; the raw log has all


def _open_append(path: Path, logs_dir: Path) -> int:
    try:
        return fsio.open_append(path)
    except FileNotFoundError:  # the first log in a new logs directory
        # The logs directory may be a link the user chose (checked before the run); raw/ not.
        fsio.make_private_dir(logs_dir, link_ok=True)
        fsio.make_private_dir(logs_dir / "raw")
        return fsio.open_append(path)


class TaskLog:
    """The log files of one attempt.

    `open()` opens the human log and the raw stdout before the agent starts, so a shortage of
    descriptors shows then, when the attempt can still wait, not after its output is lost; the
    raw stderr is opened when the agent first writes to it. Raw output is written as it comes,
    one write per chunk read from the agent; the human log is held as text and written when
    the runner flushes (a few times a second), when it grows past `FLUSH_AT`, and at
    `close()`. The human log of one attempt stops at `TEXT_LIMIT` (the raw log has
    everything). Once open, a failed write (a full disk) never raises: the first error is kept
    in `error`. Text, and stderr that found no descriptor, wait (up to `HELD_LIMIT`) for the
    next try; anything else that could not be written is dropped.
    """

    def __init__(
        self, logs_dir: Path, task_id: str, attempt: int, redact: Redactor | None = None
    ) -> None:
        self.redact = redact or Redactor(())
        self.dir = logs_dir
        self._mask = LogMasker(self.redact)  # what is written, a line or a few at a time
        self.path = log_path(logs_dir, task_id)
        self.raw_out = raw_path(logs_dir, task_id, attempt)
        self.raw_err = raw_path(logs_dir, task_id, attempt, "stderr")
        self._fds: dict[Path, int] = {}
        self._stderr_held: list[bytes] = []
        self._stderr_bytes = 0
        self._text: list[str] = []
        self._held = 0
        self._written = 0  # characters of human log this attempt
        self.error: OSError | None = None

    def open(self) -> None:
        """Open the human log and the raw stdout; OSError if either fails, and then nothing is
        left open, nor a file this made that is still empty."""
        try:
            for path in (self.path, self.raw_out):
                self._fds[path] = _open_append(path, self.dir)
        except OSError:
            for path, fd in self._fds.items():
                with contextlib.suppress(OSError):
                    if os.fstat(fd).st_size == 0:
                        os.unlink(path)
            self.discard()
            raise

    def write(self, text: str) -> None:
        """Add framing text (header, footer): always kept, whatever the size limit."""
        self._add(visible(text))  # no escape acts on a `cat`

    def _add(self, text: str) -> None:
        """Add text already made visible."""
        self._text.append(self._mask.feed(text))
        self._held += len(text)
        if self._held > FLUSH_AT:
            self.flush()

    def lines(self, t: float, lines: Sequence[str], prefix: str = "") -> None:
        if not lines or self._written > TEXT_LIMIT:
            return
        at = clock(t)
        text = "".join([f"[{at}] {prefix}{line}\n" for line in lines])
        if text.count("\n") == len(lines):
            if not _plain_ascii(text):  # one scan of the whole text, at C speed, for a flood
                text = visible(text)
        else:  # a line holds a line break
            text = "".join([_shown(at, prefix, line) for line in lines])
        self._written += len(text)
        if self._written > TEXT_LIMIT:
            text += (
                f"[{at}] nova: this attempt's log passed {TEXT_LIMIT // (1 << 20)} MiB; "
                f"the rest of its output is only in {self.raw_out.name} and "
                f"{self.raw_err.name}.\n"
            )
        self._add(text)  # made visible above: one scan of an agent's lines, not two

    def raw_stdout(self, chunk: bytes) -> None:
        self._write(self.raw_out, chunk)

    def raw_stderr(self, chunk: bytes) -> None:
        if self._stderr_held:  # still waiting for a descriptor: keep the order
            self._hold_stderr(chunk)
            self._release_stderr()
            return
        failed = self._write(self.raw_err, chunk)
        if failed is not None and failed.errno in (errno.EMFILE, errno.ENFILE):
            self._hold_stderr(chunk)

    def _hold_stderr(self, chunk: bytes) -> None:
        if self._stderr_bytes + len(chunk) <= HELD_LIMIT:
            self._stderr_held.append(chunk)
            self._stderr_bytes += len(chunk)

    def _release_stderr(self) -> None:
        if self._stderr_held and self._write(self.raw_err, b"".join(self._stderr_held)) is None:
            self._stderr_held, self._stderr_bytes = [], 0

    def flush(self) -> None:
        if self._text:
            # Text decoded from JSON may hold lone surrogates: they must not stop the log.
            data = "".join(self._text).encode("utf-8", "replace")
            failed = self._write(self.path, data)
            # Kept for the next flush only when no descriptor was free (that passes) and not
            # much is held; a full disk drops it, or it would grow without end.
            short = failed is not None and failed.errno in (errno.EMFILE, errno.ENFILE)
            if not short or self._held > HELD_LIMIT:
                self._text = []
                self._held = 0

    def close(self) -> None:
        try:
            self._release_stderr()
            self._text.append(self._mask.finish())
            self.flush()
        finally:
            self.discard()

    def discard(self) -> None:
        """Close the files, dropping what was not written yet (an attempt that never ran)."""
        self._text = []
        self._held = 0
        self._stderr_held, self._stderr_bytes = [], 0
        for fd in self._fds.values():
            if fd >= 0:
                os.close(fd)
        self._fds = {}

    def _write(self, path: Path, data: bytes) -> OSError | None:
        """Append `data` to `path`; the error if it could not be (the first one is kept in
        `error`, to be said once)."""
        fd = self._fds.get(path)
        try:
            if fd is None:
                fd = self._fds[path] = _open_append(path, self.dir)
            _write_all(fd, data)
        except OSError as exc:  # ENOSPC, EDQUOT, EIO, EMFILE: keep the run going
            self.error = self.error or exc
            return exc
        return None


_ASCII_CONTROLS = bytes(c for c in range(0x20) if c not in (0x09, 0x0A)) + b"\x7f"


def _plain_ascii(text: str) -> bool:
    """Whether `text` is ASCII without a control character but tab and newline (what
    `visible` leaves as it is), found faster than its regex can."""
    if not text.isascii():
        return False
    data = text.encode("ascii")
    return len(data.translate(None, _ASCII_CONTROLS)) == len(data)


def _shown(at: str, prefix: str, line: str) -> str:
    """A line as the log shows it: controls as escapes, and a line break in it as lines of
    their own (with the time and prefix), so no text can pass for a line of nova's."""
    return "".join(f"[{at}] {prefix}{part}\n" for part in visible(line).split("\n"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _exit_text(code: int | None) -> str:
    """`exit 0`, `killed by SIGINT` (a negative code is the signal that ended the process)."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"
