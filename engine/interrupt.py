"""Ctrl-C means exit 130, from nova's first instruction to its last.

Python turns SIGINT into KeyboardInterrupt wherever the main thread is: in the middle of an
import (a traceback), inside a finalizer (printed as "Exception ignored" and dropped: the run
went on and exited 0), between asyncio.run's own handler and the runner's (a half-made event
loop). So the console script's first act is `install`: from then on a SIGINT is recorded
here. It raises KeyboardInterrupt once (again only if that one was swallowed), and never
while a part of nova that stops cleanly by itself (the runner, from `prepare` to its end) has
`deferred` it: that part asks `requested()` when it can stop. At the end, a recorded SIGINT
makes the exit code 130, whatever swallowed the KeyboardInterrupt on the way.

Importing this module imports only `signal`, `sys` and `time`: it must stay cheap and first.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType

INTERRUPTED = 130  # engine.errors.ExitCode.INTERRUPTED, without importing anything

# A KeyboardInterrupt that has not ended nova after this long was swallowed on its way (by a
# finalizer): the next Ctrl-C raises another. Sooner, a second one would only break the exit
# that the first one started, with a traceback.
SWALLOWED_AFTER = 1.0

_requested = False
_raised: float | None = None  # when the last KeyboardInterrupt was raised (monotonic)
_deferred = 0


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _requested, _raised
    _requested = True
    now = time.monotonic()
    if _deferred or (_raised is not None and now - _raised < SWALLOWED_AFTER):
        return  # the code running now asks for it, or the stop is on its way
    _raised = now
    raise KeyboardInterrupt


def install() -> None:
    """Take SIGINT (from the main thread, before anything else is imported)."""
    signal.signal(signal.SIGINT, _on_sigint)


def installed() -> bool:
    return signal.getsignal(signal.SIGINT) is _on_sigint


def requested() -> bool:
    """Whether a SIGINT arrived since `install`."""
    return _requested


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within this, a SIGINT is only recorded: the code inside checks `requested()` and stops
    in its own way."""
    global _deferred
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1


def reset() -> None:
    """Forget a recorded SIGINT (for tests that call nova in-process)."""
    global _requested, _raised
    _requested, _raised = False, None


def main() -> None:
    """The `nova` console script: take SIGINT, then run the command line."""
    install()
    code: str | int | None = 0
    try:
        from engine.cli.commands import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        code = INTERRUPTED
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        # A KeyboardInterrupt raised inside C code (an import building its ImportError) can
        # come out as another exception ("TypeError: expected a message argument"). After a
        # Ctrl-C that is the Ctrl-C's doing: exit 130, quietly. Before one, it is a real bug.
        if not _requested:
            raise
        code = INTERRUPTED
    # Nothing is left to stop, and a Ctrl-C now could only end the interpreter's shutdown
    # with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(INTERRUPTED if _requested else code)
