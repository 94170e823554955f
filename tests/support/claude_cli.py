"""Find the real Claude Code CLI and build a clean, offline environment for it.

See tests/support/CLAUDE_FINDINGS.md for what these settings were checked against.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/install-claude.sh to install the pinned Claude Code CLI"

# Variables of an outer Claude Code session (or of the user's own setup) that
# would change how the child behaves, route it elsewhere, or make it refuse to run.
_DROP_PREFIXES = ("CLAUDE", "ANTHROPIC_", "OTEL_", "AWS_BEARER_TOKEN_BEDROCK")
_DROP = {
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CONFIG_DIR",
    "DEBUG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NODE_OPTIONS",
    "MCP_TIMEOUT",
}


def find_claude() -> str | None:
    """Path of the claude binary: $NOVA_TEST_CLAUDE, <repo>/.tools/bin/claude, or PATH."""
    env = os.environ.get("NOVA_TEST_CLAUDE")
    if env:
        return env if os.access(env, os.X_OK) else None
    local = REPO / ".tools" / "bin" / "claude"
    if local.exists() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("claude")


def claude_env(
    home: Path,
    base_url: str,
    *,
    max_retries: int | None = 0,
    sandbox: bool = True,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """A clean env for running `claude -p` against a loopback Messages API double.

    `home` becomes HOME and gets `.claude/` (CLAUDE_CONFIG_DIR) inside it; both are
    created.  `max_retries=None` leaves the CLI's own retry policy in place (~10
    retries over minutes); the default 0 makes API errors fail at once.
    `sandbox=True` sets IS_SANDBOX=1, which root needs for bypassPermissions.
    """
    home = Path(home)
    config = home / ".claude"
    config.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if k not in _DROP and not k.startswith(_DROP_PREFIXES)
    }
    env.update(
        {
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(config),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": base_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_BUG_COMMAND": "1",
            "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
        }
    )
    if max_retries is not None:
        env["CLAUDE_CODE_MAX_RETRIES"] = str(max_retries)
    if sandbox:
        env["IS_SANDBOX"] = "1"
    else:
        env.pop("IS_SANDBOX", None)
    if extra:
        env.update(extra)
    return env


def claude_argv(
    claude: str,
    *,
    model: str = "sonnet",
    bypass: bool = True,
    allowed_tools: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """argv for a headless stream-json run; the prompt goes on stdin.

    `bypass=True` adds `--permission-mode bypassPermissions` (needs IS_SANDBOX=1 as
    root); otherwise pass `allowed_tools`, e.g. "Bash".
    """
    argv = [claude, "-p", "--output-format", "stream-json", "--verbose", "--model", model]
    if bypass:
        argv += ["--permission-mode", "bypassPermissions"]
    if allowed_tools:
        argv += ["--allowedTools", allowed_tools]
    return argv + list(extra or [])


@dataclass
class ClaudeRun:
    """Outcome of one `claude -p --output-format stream-json` run."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any] | None:
        """The final `result` event, if the last line is one."""
        if self.events and self.events[-1].get("type") == "result":
            return self.events[-1]
        return None

    @property
    def init(self) -> dict[str, Any] | None:
        for e in self.events:
            if e.get("type") == "system" and e.get("subtype") == "init":
                return e
        return None

    def of_type(self, type_: str, subtype: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("type") == type_ and (subtype is None or e.get("subtype") == subtype)
        ]

    @property
    def succeeded(self) -> bool:
        """nova's success rule: exit 0, last line a result, not is_error, stop_reason set."""
        r = self.result
        return (
            self.returncode == 0
            and r is not None
            and r.get("is_error") is False
            and r.get("stop_reason") is not None
        )


def run_claude(
    argv: list[str],
    prompt: str,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 120,
) -> ClaudeRun:
    """Run claude with `prompt` on stdin (stdin then closed) and parse its stdout."""
    t0 = time.monotonic()
    proc = subprocess.run(
        argv, input=prompt, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )
    elapsed = time.monotonic() - t0
    events = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return ClaudeRun(argv, proc.returncode, proc.stdout, proc.stderr, elapsed, events)


def transcript_path(config_dir: Path, cwd: Path, session_id: str) -> Path:
    """Where the CLI keeps a session's transcript (see CLAUDE_FINDINGS.md)."""
    slug = re.sub(r"[^A-Za-z0-9]", "-", str(cwd))
    return Path(config_dir) / "projects" / slug / f"{session_id}.jsonl"
