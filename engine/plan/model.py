"""The plan as data: its tasks, their dependencies and settings (what `parse_cascade` makes).

Its own module so that what reads a plan (the graph, the prompt, the runner) does not import
the parser, and the parser can use the graph (to report cycles) without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import Problem
from engine.plan.settings import DEFAULTS, Settings


@dataclass(frozen=True)
class Task:
    """One row of a task table, with its resolved settings and instructions."""

    id: str
    name: str
    description: str
    depends_on: tuple[str, ...]
    branch: str
    group: str
    line: int
    instructions: str = ""
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class Cascade:
    """A parsed CASCADE.md: the project, its settings and its tasks in file order."""

    path: str
    project: str
    settings: Settings
    tasks: dict[str, Task]
    warnings: tuple[Problem, ...] = ()

    def sections(self) -> list[tuple[str, str]]:
        """(branch, group) pairs in file order."""
        seen: dict[tuple[str, str], None] = {}
        for task in self.tasks.values():
            seen.setdefault((task.branch, task.group), None)
        return list(seen)


def effective_settings(task: Task, overrides: Settings) -> Settings:
    """A task's settings with command-line overrides on top and defaults underneath."""
    return overrides.over(task.settings.over(DEFAULTS))
