"""Test-side helpers for running the real `nova` command with command agents from this folder.

Everything here runs nova as a subprocess (the console script of the venv, never through a
shell) and inspects what it left: the state JSON, the logs, and the processes that carry the
run's `NOVA_RUN_ID` marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.procs import alive, pids_with, read_environ, wait_for

__all__ = ["alive"]  # for the tests that import it here

AGENTS = Path(__file__).resolve().parent
_BIN = Path(sys.executable).parent / "nova"
NOVA = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "engine"]
TAG_VAR = "E2E_TEST_DIR"  # every process a test starts carries it
DEADLINE = 60.0  # generous bound for one `nova run` on a loaded 2-core machine


def agent_cmd(script: str, *args: str) -> str:
    """A command template running agents/<script> with this Python (no shell in between)."""
    return shlex.join([sys.executable, str(AGENTS / script), *args])


def write_cascade(
    directory: Path,
    rows: Sequence[tuple[str, str]],
    settings: Mapping[str, str] | None = None,
    task_settings: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Write directory/CASCADE.md: rows are (ID, 'DEP, DEP' or '-'); settings as bullet lists."""
    lines = ["# E2E", ""]
    lines += [f"- {k}: {v}" for k, v in (settings or {}).items()]
    lines += [
        "",
        "## L1: Work",
        "",
        "### L2: Steps",
        "| Task ID | Task Name | What Changes | Depends On |",
        "|---------|-----------|--------------|------------|",
    ]
    lines += [f"| {tid} | Task {tid} | change {tid} | {deps} |" for tid, deps in rows]
    for tid, extra in (task_settings or {}).items():
        lines += ["", f"#### {tid}: Task {tid}"]
        lines += [f"- {k}: {v}" for k, v in extra.items()]
    path = directory / "CASCADE.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def out_dir(tmp_path: Path) -> Path:
    """A fresh folder where the agents of this folder write what they did."""
    out = tmp_path / "out"
    out.mkdir()
    return out


def nova_env(cwd: Path) -> dict[str, str]:
    """nova's environment: ours without NOVA_* variables, tagged for `end_tagged(cwd)`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOVA_")}
    env[TAG_VAR] = str(cwd)
    return env


def end_tagged(cwd: Path) -> list[int]:
    """SIGKILL whatever a test's nova (and its agents) left running, and remove the cgroup of
    its last run; return the pids.

    Cleanup only, so that a failing test does not leave stubborn agents (or cgroups) behind.
    """
    found = pids_with(f"{TAG_VAR}={cwd}")
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    group = run_cgroup(cwd)
    if group is not None and group.is_dir():  # what is in it carries no tag: kill it all
        with contextlib.suppress(OSError):
            (group / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + 10
        while group.is_dir() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # busy until its last member has exited
                group.rmdir()
            time.sleep(0.05)
    return found


def own_cgroup() -> Path | None:
    """The directory of this process's cgroup v2 (where a nova it starts makes its own), or
    None if cgroup v2 is not mounted here."""
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    points = [m.split(" - ")[0].split()[4] for m in mounts if " - cgroup2 " in m]
    path = [c[3:] for c in Path("/proc/self/cgroup").read_text().splitlines() if c[:3] == "0::"]
    if not points or not path:
        return None
    return Path(points[0], path[0].lstrip("/"))


def run_cgroup(cwd: Path) -> Path | None:
    """The cgroup named by the record of the last run in cwd/state (its `cgroup` line)."""
    try:
        lines = (cwd / "state" / "processes.txt").read_text().splitlines()
    except OSError:
        return None
    named = [line.removeprefix("cgroup ") for line in lines if line.startswith("cgroup /")]
    return Path(named[0]) if named else None


def run_nova(
    cwd: Path,
    *args: str,
    timeout: float = DEADLINE,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `nova ARGS` in cwd to completion; output captured as text (`preexec_fn`: limits
    to set in the child first)."""
    return subprocess.run(
        [*NOVA, *args],
        cwd=cwd,
        env=nova_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec_fn,
    )


def run_nova_env(
    cwd: Path, extra: Mapping[str, str], *args: str, timeout: float = DEADLINE
) -> subprocess.CompletedProcess[str]:
    """`run_nova` with variables added to nova's environment."""
    return subprocess.run(
        [*NOVA, *args],
        cwd=cwd,
        env={**nova_env(cwd), **extra},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class Nova:
    """A `nova` process started in a session of its own, its output going to files."""

    def __init__(
        self, cwd: Path, *args: str, name: str = "nova", extra: Mapping[str, str] | None = None
    ) -> None:
        self.out_path = cwd / f"{name}.out"
        self.err_path = cwd / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*NOVA, *args],
                cwd=cwd,
                env={**nova_env(cwd), **(extra or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def wait(self, timeout: float = DEADLINE) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"nova did not exit within {timeout:g} s; stderr: {self.stderr()[-2000:]}"
            ) from None

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """Kill nova if it still runs (cleanup after a failed assertion)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def read_state(cwd: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((cwd / "state" / "state.json").read_bytes())
    return doc


def status_json(cwd: Path) -> dict[str, Any]:
    """`nova status --json`, parsed."""
    done = run_nova(cwd, "status", "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll `check` (another process's doing, nothing to await) until truthy or the deadline."""
    return wait_for(check, what, timeout)


def marked_pids(run_id: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds NOVA_RUN_ID=<run_id>."""
    return pids_with(f"NOVA_RUN_ID={run_id}")


def guardians(cwd: Path, run_id: str) -> list[int]:
    """Live processes of this test's nova (its tag) that are not agents (no run marker): once
    nova is dead, that is its guardian (a fork of nova, so it has nova's command line)."""
    tag = f"{TAG_VAR}={cwd}".encode()
    marker = f"NOVA_RUN_ID={run_id}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        environ = read_environ(int(name)) or []
        if tag in environ and marker not in environ and alive(int(name)):
            found.append(int(name))
    return found


def read_pid(path: Path) -> int | None:
    """The pid a process wrote to `path`, or None while it has not (wholly) written it."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return int(text) if text.strip().isdigit() and text.endswith("\n") else None


def runs(out: Path, task_id: str) -> int:
    """How many times the agents of this folder were started for task_id (they append a line)."""
    path = out / f"{task_id}.runs"
    return len(path.read_text().splitlines()) if path.exists() else 0
