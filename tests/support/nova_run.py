"""Run the real `nova` command in a temporary project, against the Messages API double.

A `NovaProject` is one directory with a CASCADE.md, a fresh HOME for the Claude Code CLI (so
sessions and transcripts stay inside it) and the env that points nova at the CLI and the CLI at
the double.  Its methods run `nova` as a subprocess and read back what it left: the state JSON
(`nova status --json`), `logs/<ID>.log` and `logs/raw/<ID>-<attempt>.stdout`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.support import procs
from tests.support.claude_cli import claude_env
from tests.support.messages_double import MessagesDouble
from tests.support.procs import epoch, pids_with, read_cmdline, read_environ

# Re-exported: the tests import them with the project they run.
__all__ = [
    "epoch",
    "pids_with",
    "read_cmdline",
    "read_environ",
]  # for the tests that import them here

_BIN = Path(sys.executable).parent / "nova"
NOVA: list[str] = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "engine"]
DEADLINE = 90.0  # generous bound for one `nova run` on a loaded 2-core machine

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, deadline: float = DEADLINE, alive: Any = None
) -> T:
    """`tests.support.procs.wait_for`, with a `nova run`'s deadline."""
    return procs.wait_for(probe, what, deadline, alive)


def kill_marked(marker: str) -> None:
    """SIGKILL every process carrying `marker`: cleanup after a failed test, never an assertion."""
    for pid in pids_with(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class NovaProject:
    """A temporary project directory that `nova` runs in, against one Messages API double."""

    dir: Path
    claude_bin: str
    base_url: str = ""

    def write_cascade(self, text: str) -> Path:
        path = self.dir / "CASCADE.md"
        path.write_text(text, encoding="utf-8")
        return path

    def use(self, api: MessagesDouble) -> MessagesDouble:
        """Send the CLI of every later `nova run` to `api`; return it."""
        self.base_url = api.base_url
        return api

    def env(self) -> dict[str, str]:
        """The CLI's clean offline env (HOME inside the project), NOVA_CLAUDE set, no other NOVA_*.

        CLAUDE_CODE_MAX_RETRIES is 0, so the CLI never retries an API error itself: every
        retry a test sees is nova's.
        """
        assert self.base_url, "point the project at a double first: project.use(api)"
        env = {
            k: v
            for k, v in claude_env(self.dir / "home", self.base_url, max_retries=0).items()
            if not k.startswith("NOVA_")
        }
        env["NOVA_CLAUDE"] = self.claude_bin
        return env

    def run(self, *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
        """`nova run CASCADE.md ARGS...`, to the end."""
        return subprocess.run(
            [*NOVA, "run", "CASCADE.md", *args],
            cwd=self.dir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    @contextlib.contextmanager
    def start(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """`nova run` in its own session (so a signal reaches it alone); killed if left running."""
        proc = subprocess.Popen(
            [*NOVA, "run", "CASCADE.md", *args],
            cwd=self.dir,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=DEADLINE)
            run_id = (self.state() or {}).get("run", {}).get("id")
            if run_id:  # nova's guardian should do this; make sure a failed test leaks nothing
                kill_marked(f"NOVA_RUN_ID={run_id}")

    def state(self) -> dict[str, Any] | None:
        """The state file as a running nova last wrote it, or None if there is none yet."""
        try:
            doc: dict[str, Any] = json.loads((self.dir / "state" / "state.json").read_text())
        except (OSError, ValueError):  # not written yet
            return None
        return doc

    def status_json(self) -> dict[str, Any]:
        """What `nova status --json` prints."""
        proc = subprocess.run(
            [*NOVA, "status", "--json"],
            cwd=self.dir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        doc: dict[str, Any] = json.loads(proc.stdout)
        return doc

    def log(self, task_id: str) -> str:
        return (self.dir / "logs" / f"{task_id}.log").read_text(encoding="utf-8")

    def raw_events(self, task_id: str, attempt: int = 1) -> list[dict[str, Any]]:
        """Every line of logs/raw/<ID>-<attempt>.stdout, parsed (a line that is not JSON fails)."""
        path = self.dir / "logs" / "raw" / f"{task_id}-{attempt}.stdout"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
