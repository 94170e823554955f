"""The state directory on disk: atomic writes, safe reads, and one run at a time.

A write goes to a temporary file in the same directory and is renamed over `state.json`, so a
reader (`nova status`) or a crash at any instant sees the old file or the new one, never half
of one. An exclusive `flock` on `run.lock` makes sure only one `nova run` drives a directory;
the lock dies with its process, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from engine.errors import StateError
from engine.state import State

STATE_FILE = "state.json"
LOCK_FILE = "run.lock"


class StateStore:
    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.path = self.dir / STATE_FILE
        self._lock_fd: int | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def read_json(self) -> dict[str, Any] | None:
        """The raw document, or None when there is no state yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}.") from None
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise StateError(
                f"{self.path} is not valid JSON ({exc}). It was not written by nova, or was "
                f"edited by hand. Move it aside (mv {self.path} {self.path}.bad) to start "
                "afresh; the task logs are kept."
            ) from None
        if not isinstance(doc, dict):
            raise StateError(
                f"{self.path} does not hold a nova state. Move it aside to start afresh."
            )
        return doc

    def load(self) -> State | None:
        doc = self.read_json()
        if doc is None:
            return None
        try:
            return State.from_json(doc)
        except ValueError as exc:
            raise StateError(
                f"{self.path} cannot be read: {exc}. Upgrade nova, or move the file aside "
                f"(mv {self.path} {self.path}.old) to start afresh."
            ) from None

    def write(self, doc: dict[str, Any]) -> None:
        """Replace the state file atomically."""
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        self.write_bytes(data)

    def write_bytes(self, data: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def acquire(self) -> None:
        """Take the run lock, or StateError naming the run that holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = self.dir / LOCK_FILE
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateError(
                f"another nova run (pid {holder}) is using {self.dir}. Wait for it to finish, "
                f"stop it (kill -INT {holder}), or use another --state-dir."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
