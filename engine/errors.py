"""Every error nova raises on purpose, and the exit code each one maps to.

The tree::

    NovaError                 nova could not do what was asked (exit 2)
    ├── CascadeError          CASCADE.md is malformed; carries every problem found
    ├── ConfigError           a bad command-line value or setting
    ├── StateError            the state file is corrupt, newer, or locked by another run
    └── AgentNotFoundError    the agent binary (claude, or the --agent-cmd program) is missing

Task outcomes (failed, timed out, blocked, ...) are never exceptions: they are data in
`engine.outcome`. Only `engine.cli.commands` turns these exceptions into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes of every nova command."""

    OK = 0
    TASKS_NOT_DONE = 1
    BAD_INPUT = 2
    INTERRUPTED = 130


class NovaError(Exception):
    """nova could not start or continue; the message says what to do."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class Problem:
    """One problem in a CASCADE.md, located at a line (0 when it concerns the whole file)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class CascadeError(NovaError):
    """CASCADE.md could not be used; `problems` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem], warnings: tuple[Problem, ...] = ()) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        self.warnings = warnings  # found too: shown with the errors, not a pass later
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(NovaError):
    """A command-line option or setting has a value nova cannot use."""


class StateError(NovaError):
    """The state directory cannot be used as it is (corrupt, newer schema, or in use)."""


class AgentNotFoundError(NovaError):
    """The program that runs agents is not installed or not on PATH."""
