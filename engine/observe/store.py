"""The state directory on disk: atomic writes, safe reads, and one run at a time.

A write goes to a temporary file in the same directory and is renamed over `state.json`, so a
reader (`nova status`) or a crash at any instant sees the old file or the new one, never half
of one. An exclusive `flock` on `run.lock` makes sure only one `nova run` drives a directory;
the lock dies with its process, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import gc
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import fsio
from engine.errors import StateError
from engine.observe.state import State, read_state

STATE_FILE = "state.json"
LOCK_FILE = "run.lock"
RESERVE_FILE = ".space-reserve"  # disk kept for the state while a run goes on
# The most of state.json nova reads: a 20,000-task state is about 11 MB. What is larger was not
# written by nova, and must not fill the memory of `nova status`.
STATE_LIMIT = 1 << 30


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One read of state.json: the state, and if asked for and every task in the file is exactly
    as `TaskState.to_json` writes it, those tasks as the file has them: parsed, and the bytes of
    their JSON (so that `nova status --json` can print them without encoding 10,000 tasks)."""

    state: State
    tasks: dict[str, Any] | None = None
    tasks_json: memoryview | None = None


class StateStore:
    """The state directory: state.json written atomically, its journal, and the run's lock."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.path = self.dir / STATE_FILE
        self._lock_fd: int | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def read_json(self) -> dict[str, Any] | None:
        """The raw document, or None when there is no state yet."""
        found = self._read_document()
        return found[0] if found is not None else None

    def _read_document(
        self,
    ) -> tuple[dict[str, Any], bytes, str, tuple[int, int] | None] | None:
        """The document, the file's bytes and text, and where in the text the tasks are; None
        if there is no state yet.

        One read of one file: the writer replaces it with a rename, never rewrites it, so
        what is read is the whole of one version, however often the run writes.
        """
        try:
            data = fsio.read_regular(self.path, STATE_LIMIT)
        except FileNotFoundError:
            return None
        except fsio.UnsafeFileError as exc:
            raise StateError(
                f"{exc}. Move it aside (mv {self.path} {self.path}.bad) to start afresh; the "
                "task logs are kept."
            ) from None
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}.") from None
        try:
            text = data.decode("utf-8-sig")
            doc, span = _parse_object(text)
        except (ValueError, RecursionError) as exc:
            raise StateError(
                f"{self.path} is not valid JSON ({exc}). It was not written by nova, or was "
                f"edited by hand. Move it aside (mv {self.path} {self.path}.bad) to start "
                "afresh; the task logs are kept."
            ) from None
        if not isinstance(doc, dict):
            raise StateError(
                f"{self.path} does not hold a nova state. Move it aside to start afresh."
            )
        return doc, data, text, span

    def load(self) -> State | None:
        snapshot = self.read()
        return snapshot.state if snapshot is not None else None

    def read(self, tasks_json: bool = False) -> Snapshot | None:
        """The state now on disk, or None when there is none yet; StateError if unusable.

        With `tasks_json`, the snapshot also holds the file's tasks as they are, if they are
        exactly as nova writes them; without, the parsed document is freed at once.
        """
        with _collector_paused():
            found = self._read_document()
            if found is None:
                return None
            doc, data, text, span = found
            try:
                state, clean = read_state(doc)
            except ValueError as exc:
                raise StateError(
                    f"{self.path} cannot be read: {exc}. Upgrade nova, or move the file aside "
                    f"(mv {self.path} {self.path}.old) to start afresh."
                ) from None
            # Transitions the snapshot does not hold yet (a live run's, or a killed one's).
            if _replay(self.dir, state):
                clean = False  # the file's own text of the tasks is no longer the truth
        if not tasks_json or not clean or span is None:
            return Snapshot(state)
        # The span in bytes: the text before and after the tasks is short, so encode just that.
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        start = bom + len(text[: span[0]].encode())
        end = len(data) - len(text[span[1] :].encode())
        return Snapshot(state, doc["tasks"], memoryview(data)[start:end])

    def write(self, doc: dict[str, Any]) -> None:
        """Replace the state file atomically."""
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        self.write_bytes(data)

    def write_bytes(self, data: bytes, last: bool = False) -> None:
        """Replace the state file with `data` atomically. The last write of a run may give up
        the space `reserve()` set aside, on a full disk: the state must outlive the logs that
        filled it (earlier writes leave it, or the logs would fill it too)."""
        try:
            self._replace(data)
        except OSError as exc:
            if not last or exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not self._unreserve():
                raise
            self._replace(data)

    def _replace(self, data: bytes) -> None:
        fsio.make_private_dir(self.dir, link_ok=True)  # a link here was checked by the caller
        fsio.write_atomic(self.path, data)

    def reserve(self, size: int) -> None:
        """Set aside `size` bytes of disk beside the state (best effort), for its writes once
        agents' logs have filled the disk. A file already there, a link included, is replaced,
        never grown."""
        path = self.dir / RESERVE_FILE
        with contextlib.suppress(OSError):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            fd = fsio.create_new(path)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)

    def _unreserve(self) -> bool:
        """Give the reserved space back to the disk; True if there was some."""
        try:
            os.unlink(self.dir / RESERVE_FILE)
        except OSError:
            return False
        return True

    def unreserve(self) -> None:
        self._unreserve()

    def acquire(self) -> None:
        """Take the run lock, or StateError naming the run that holds it, or saying why the
        state directory cannot be used."""
        self._lock_fd = lock_dir(self.dir, LOCK_FILE, "is using", "--state-dir", "state directory")

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _replay(directory: Path, state: State) -> int:
    """Lay the journal's records that `state` does not include over it; how many."""
    from engine.observe.journal import overlay, read_journal

    try:
        found = read_journal(directory)
    except OSError as exc:
        raise StateError(f"cannot read {directory}/journal.jsonl: {exc.strerror}.") from None
    return overlay(state, found.records, state.run.journal_seq)


def lock_dir(directory: Path, name: str, doing: str, option: str, what: str) -> int:
    """Take the lock file `name` in `directory` for this run (a descriptor to keep open), or
    StateError naming the run that holds it (`another nova run (pid N) {doing} DIR/`), or
    saying why the directory cannot be used."""
    try:
        fsio.make_private_dir(directory, link_ok=True)  # a link here was checked by the caller
        fd = fsio.open_private(directory / name, os.O_RDWR)
    except fsio.UnsafeFileError as exc:
        raise StateError(f"{exc}. Remove it (rm {directory / name}); nova makes its own.") from None
    except OSError as exc:
        raise StateError(
            f"cannot use {directory} as the {what} ({exc.strerror}). Point {option} at a "
            "directory nova can create and write."
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StateError(
            f"another nova run (pid {holder}) {doing} {directory}/. Wait for it to finish, "
            f"stop it (kill {holder}), or use another {option}."
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError as exc:  # the pid is for the message above only: the lock holds anyway
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            os.close(fd)
            raise StateError(f"cannot write {directory / name} ({exc.strerror}).") from None
    return fd


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a state of 10,000 tasks is half a million objects,
    all kept, and the collections their making sets off took a fifth of the read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_SPACE = re.compile(r"[ \t\n\r]*")
# The C scanner json.loads uses: the value at an index, and where it ends. (It is set in
# JSONDecoder.__init__, which typeshed does not show.)
_SCAN: Callable[[str, int], tuple[Any, int]]
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parse_object(text: str) -> tuple[Any, tuple[int, int] | None]:
    """`json.loads(text)`, and where the value of the top-level object's "tasks" key is in
    `text` (start, end), or None. The top level is walked here, each value by the C scanner."""
    at = _skip_space(text, 0)
    if not text.startswith("{", at):
        return json.loads(text), None
    doc: dict[str, Any] = {}
    span = None
    at = _skip_space(text, at + 1)
    if text.startswith("}", at):
        at += 1
    else:
        while True:
            if not text.startswith('"', at):
                raise json.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, at
                )
            key, at = _SCAN(text, at)
            at = _skip_space(text, at)
            if not text.startswith(":", at):
                raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
            start = _skip_space(text, at + 1)
            try:
                doc[key], at = _SCAN(text, start)
            except StopIteration as stop:
                raise json.JSONDecodeError("Expecting value", text, stop.value) from None
            if key == "tasks":
                span = (start, at)
            at = _skip_space(text, at)
            if text.startswith(",", at):
                at = _skip_space(text, at + 1)
            elif text.startswith("}", at):
                at += 1
                break
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
    if _skip_space(text, at) != len(text):
        raise json.JSONDecodeError("Extra data", text, at)
    return doc, span


def _skip_space(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # `[...]*` always matches
