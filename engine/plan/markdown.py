"""The pieces of markdown a plan is made of: headings, table rows and their cells, and a
table's header with the columns nova reads.

Pure functions of one line or one header, apart from the parser that puts them together
(`engine.plan.cascade`), so each can be tested and made fast on its own.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from engine.plan.settings import SETTING_KEYS, normalize_key

_SEPARATOR_CELL = re.compile(r"^:?-{1,}:?$")

# Header names accepted for each column nova reads (normalized: lower case, hyphens).
COLUMNS = {
    "id": ("task-id", "id"),
    "name": ("task-name", "name", "title"),
    "description": ("what-changes", "description", "details", "what"),
    "depends": ("depends-on", "depends", "dependencies", "deps", "after"),
}
KNOWN_COLUMNS = frozenset(name for names in COLUMNS.values() for name in names)
# A table with one of these columns but no Task ID column was meant as a task table: an error.
# Any other table without a Task ID column (`| Component | Owner |`) is text.
TASK_TABLE_COLUMNS = frozenset(("task-name", "what-changes", *COLUMNS["depends"])) - {"after"}
# A column name this close to a setting's is a warning. Stricter than for a list's keys (0.6):
# extra columns are common (`Time`, `Module`, `Comments`), and only typos should be named.
_COLUMN_CUTOFF = 0.75
COLUMN_MEANING = {
    "id": "the task ID",
    "name": "the task name",
    "description": "what changes",
    "depends": "the dependencies",
}


@dataclass(frozen=True)
class TableHeader:
    """A table's header row: its cells, their normalized names, and where each role is."""

    cells: list[str]
    columns: list[str]
    positions: dict[str, list[int]]  # every column of each role (id, name, depends, ...)
    index: dict[str, int | None]  # the first column of each role
    has_separator: bool

    @classmethod
    def of(cls, lines: list[str], start: int, end: int) -> TableHeader:
        cells = split_row(lines[start])
        columns = [normalize_key(c) for c in cells]
        positions = {
            role: [i for i, c in enumerate(columns) if c in names]
            for role, names in COLUMNS.items()
        }
        index = {role: at[0] if at else None for role, at in positions.items()}
        has_separator = end - start >= 2 and is_separator(split_row(lines[start + 1]))
        return cls(cells, columns, positions, index, has_separator)


def split_row(line: str) -> list[str]:
    """Cells of a markdown table row; `\\|` is a literal bar."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells = re.split(r"(?<!\\)\|", body)
    return [c.strip().replace("\\|", "|") for c in cells]


def heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading (`## Title ##`), or None.

    String methods, not a pattern: `(.*?)\\s*#*\\s*$` retries every split of a run of spaces
    in a title, cubic in its length, and every line of a plan is tried as a heading.
    """
    level = len(line) - len(line.lstrip("#"))
    rest = line[level:]
    if not 1 <= level <= 6 or not rest[:1].isspace():
        return None
    return level, rest.strip().rstrip("#").strip()


def is_separator(cells: list[str]) -> bool:
    return bool(cells) and all(_SEPARATOR_CELL.match(c.replace(" ", "")) for c in cells)


def plain(cell: str) -> str:
    """A cell without the markdown emphasis people put around IDs."""
    return cell.strip().strip("`*_").strip()


def task_named(title: str) -> str:
    """The task ID a `####` heading starts with (`F4: Title`, `Task F4`), or its first word."""
    words = title.split()
    if not words:
        return ""
    first = words[0].rstrip(":.")
    if first.lower() == "task" and len(words) > 1:
        first = words[1].rstrip(":.")
    return plain(first)


@functools.lru_cache(maxsize=256)
def near_setting(column: str) -> str:
    """The setting a table column's (normalized) name is close to, or ''."""
    close = difflib.get_close_matches(column, SETTING_KEYS, n=1, cutoff=_COLUMN_CUTOFF)
    return close[0] if close else ""
