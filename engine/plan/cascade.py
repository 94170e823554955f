"""Parse CASCADE.md, the plan of work, into tasks.

The format is plain markdown: `#` names the project, `## L1: X` a branch, `### L2: Y` a group,
and every row of a task table (`Task ID | Task Name | What Changes | Depends On`) a task.
nova adds two things that keep such a file ordinary markdown:

* settings, as a bullet list of `key: value` under a heading (project, branch, group or
  `#### <ID>` task heading) or as extra table columns (`Model`, `Timeout`, ...);
* longer instructions for a task, as everything under a `#### <ID>: ...` heading, sub-headings
  included.

Only one list per heading can hold settings (see `engine.plan.sections`), so a bullet like
`- Model: a tiny data model` in a list of notes stays prose instead of becoming a setting.

Parsing is pure (text in, `Cascade` or `CascadeError` out) and collects every problem it can
find in one pass, each with its line, so a user fixes a file in one go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from engine.errors import CascadeError, Problem
from engine.plan.graph import build_graph
from engine.plan.markdown import (
    COLUMN_MEANING,
    COLUMNS,
    KNOWN_COLUMNS,
    TASK_TABLE_COLUMNS,
    TableHeader,
    heading,
    is_separator,
    near_setting,
    plain,
    split_row,
    task_named,
)

# Re-exported, for the modules that import the plan's data from here (run/runner, preflight,
# resume): the lead points them at engine.plan.model at the merge, then these go.
from engine.plan.model import Cascade as Cascade
from engine.plan.model import Task as Task
from engine.plan.model import effective_settings as effective_settings
from engine.plan.sections import (
    CODE,
    SUBHEADING,
    TASKS,
    TEXT,
    Reading,
    read_body,
)
from engine.plan.settings import (
    SETTING_KEYS,
    SettingError,
    Settings,
    key_of,
    normalize_key,
    parse_setting,
    suggest,
)

MAX_BYTES = 64 * 1024 * 1024
MAX_SUGGESTIONS = 50  # "Did you mean" for this many problems per file; the rest go without
TASK_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_])?$")
_LEVEL_PREFIX = re.compile(r"^L\d+\s*:\s*", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_NO_DEPS = {"", "-", "—", "–", "none", "n/a"}


@dataclass
class _Section:
    level: int
    title: str
    line: int
    raw: str = ""
    parent: _Section | None = None  # the enclosing `####`-or-deeper section, if any
    body: list[tuple[int, str, int]] = field(default_factory=list)  # (line, text, kind)
    settings: dict[str, object] = field(default_factory=dict)
    task: _Section | None = None  # the task section whose instructions this one is part of


@dataclass
class _Row:
    id: str
    name: str
    description: str
    depends: list[tuple[str, int]]
    branch: _Section | None
    group: _Section | None
    line: int
    settings: dict[str, object]


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.problems: list[Problem] = []
        self._suggestions = 0
        self.warnings: list[Problem] = []
        self.project: _Section | None = None
        self.branch: _Section | None = None
        self.group: _Section | None = None
        self.detail: _Section | None = None
        self.details: list[_Section] = []
        self.structure: list[_Section] = []  # the project, branch and group sections
        self.tasks_end: int | None = None  # index of the line after the last task table
        self.branches: dict[str, int] = {}
        self.groups: dict[tuple[str, str], int] = {}
        self.rows: list[_Row] = []
        self.rejected: dict[str, int] = {}  # ID -> line of a task row reported as an error

    def _suggest(
        self, value: str, by_id: dict[str, _Row], not_this: str = "", cutoff: float = 0.6
    ) -> str:
        """`suggest` over every task ID, for the first few problems only: each one compares
        with every ID, and a file of thousands of mistakes must still be reported at once."""
        self._suggestions += 1
        if self._suggestions > MAX_SUGGESTIONS:
            return ""
        return suggest(value, [t for t in by_id if t != not_this], cutoff=cutoff)

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    @property
    def current(self) -> _Section | None:
        return self.detail or self.group or self.branch or self.project

    def parse(self) -> None:
        in_fence = False
        i = 0
        while i < len(self.lines):
            raw = self.lines[i]
            lineno = i + 1
            if _FENCE.match(raw):
                in_fence = not in_fence
                self._text(raw, lineno, CODE)
                i += 1
                continue
            if in_fence:
                self._text(raw, lineno, CODE)
                i += 1
                continue
            found = heading(raw)
            if found:
                self._heading(*found, lineno, raw)
                i += 1
                continue
            if "|" in raw and not raw.lstrip().startswith("|") and self._pipeless_header(i):
                self.error(
                    lineno,
                    "this line looks like the header of a task table, but nova reads a table "
                    "only from rows that start with '|', so it holds no tasks. Start every row "
                    "of the table with '|', like '| Task ID | Task Name | What Changes | "
                    "Depends On |' and '|---|---|---|---|'.",
                )
            if raw.lstrip().startswith("|"):
                end, is_tasks = self._table(i)
                if is_tasks:
                    self._text("", lineno, TASKS)
                else:
                    for j in range(i, end):
                        self._text(self.lines[j], j + 1, CODE)
                i = end
                continue
            self._text(raw, lineno, TEXT)
            i += 1

    def _pipeless_header(self, i: int) -> bool:
        """Whether line index `i` heads a task table written without its outer pipes
        (`Task ID | Task Name | ...` above `---|---|...`)."""
        if i + 1 >= len(self.lines) or "-" not in self.lines[i + 1]:
            return False
        header = split_row(self.lines[i])
        return (
            len(header) >= 2
            and is_separator(split_row(self.lines[i + 1]))
            and any(normalize_key(c) in COLUMNS["id"] for c in header)
        )

    def _text(self, raw: str, lineno: int, kind: int) -> None:
        section = self.current
        if section is not None:
            section.body.append((lineno, raw, kind))

    def _heading(self, level: int, title: str, lineno: int, raw: str) -> None:
        if level == 1:
            if self.project is not None:
                self.error(
                    lineno,
                    f"a second project heading '# {title}' (the first is on line "
                    f"{self.project.line}). Use '## L1: {title}' for a branch.",
                )
                return
            self.project = _Section(1, title, lineno)
            self.structure.append(self.project)
            self.branch = self.group = self.detail = None
        elif level == 2:
            name = _LEVEL_PREFIX.sub("", title)
            if name in self.branches:
                self.error(
                    lineno,
                    f"branch '{name}' is defined twice (first on line {self.branches[name]}). "
                    "Merge the two sections or rename one.",
                )
            self.branches.setdefault(name, lineno)
            self.branch = _Section(2, name, lineno, raw=raw.rstrip())
            self.structure.append(self.branch)
            self.group = self.detail = None
        elif level == 3:
            name = _LEVEL_PREFIX.sub("", title)
            branch = self.branch.title if self.branch else ""
            key = (branch, name)
            if key in self.groups:
                self.error(
                    lineno,
                    f"group '{name}' is defined twice in this branch (first on line "
                    f"{self.groups[key]}). Merge the two sections or rename one.",
                )
            self.groups.setdefault(key, lineno)
            self.group = _Section(3, name, lineno, raw=raw.rstrip())
            self.structure.append(self.group)
            self.detail = None
        else:
            # A deeper heading opens a part of the section above it (`##### Steps` in `#### F4`).
            parent = self.detail
            while parent is not None and parent.level >= level:
                parent = parent.parent
            self.detail = _Section(level, title, lineno, raw=raw.rstrip(), parent=parent)
            self.details.append(self.detail)

    def _table(self, start: int) -> tuple[int, bool]:
        """Read the table at line index `start`: (index after it, whether it lists tasks)."""
        end = start
        while end < len(self.lines) and self.lines[end].lstrip().startswith("|"):
            end += 1
        head = TableHeader.of(self.lines, start, end)
        if head.index["id"] is None:
            return end, self._not_a_task_table(start, end, head)
        if self._malformed_task_table(start, end, head):
            return end, True
        self.tasks_end = end
        setting_columns = self._check_columns(start + 1, head)
        # Rows are still read, with the first of each column, so that their other problems show.
        for offset in range(start + 2, end):
            self._row(
                split_row(self.lines[offset]), offset + 1, head.cells, head.index, setting_columns
            )
        return end, True

    def _not_a_task_table(self, start: int, end: int, head: TableHeader) -> bool:
        """A table without a Task ID column: whether it was meant to list tasks (reported)."""
        gap = self._blank_gap(start) if not head.has_separator else None
        if gap:
            # Markdown ends a table at a blank line, so these rows would be text: lost tasks.
            self.tasks_end = end
            where = (
                f"the blank line on line {gap[0]} ends that table. Remove the blank line."
                if gap[0] == gap[1]
                else f"the blank lines on lines {gap[0]}-{gap[1]} end that table. Remove them."
            )
            self.error(start + 1, f"this row looks like part of the task table above, but {where}")
            return True
        in_section = self.branch is not None or self.group is not None
        meant = any(c in TASK_TABLE_COLUMNS for c in head.columns)
        if in_section and self.detail is None and head.has_separator and meant:
            self.error(
                start + 1,
                f"this table has no 'Task ID' column (it has: {', '.join(head.cells)}). "
                "Task tables need the columns Task ID | Task Name | What Changes | "
                "Depends On; put other tables under a '#### Notes' heading.",
            )
            return True
        return False

    def _malformed_task_table(self, start: int, end: int, head: TableHeader) -> bool:
        """Whether a table with a Task ID column cannot be read (reported, its rows rejected):
        no separator row, a required column missing, or no section to hold its tasks."""
        if not head.has_separator:
            self.error(
                start + 1,
                "this task table has no separator row under its header. Add a line like "
                "'|---|---|---|---|' below the header.",
            )
            self._reject_rows(start + 1, end, head.index["id"])
            return True
        missing = [
            label
            for role, label in (("name", "Task Name"), ("depends", "Depends On"))
            if head.index[role] is None
        ]
        if missing:
            self.error(
                start + 1,
                f"this task table has no {' or '.join(repr(m) for m in missing)} column "
                f"(it has: {', '.join(head.cells)}). Add the column; write '-' for no "
                "dependencies.",
            )
        elif self.branch is None and self.group is None:
            self.error(
                start + 1,
                "this task table is outside any section. Put it under a '## L1: <branch>' "
                "heading (and optionally a '### L2: <group>' heading).",
            )
        else:
            return False
        self._reject_rows(start + 2, end, head.index["id"])
        return True

    def _check_columns(self, lineno: int, head: TableHeader) -> list[tuple[int, str]]:
        """Report repeated and misspelt columns of a task table; its setting columns, as
        (position, key), the first of each key."""
        settings_at: dict[str, list[int]] = {}
        for i, c in enumerate(head.columns):
            if c in SETTING_KEYS:
                settings_at.setdefault(c, []).append(i)
        repeated = [
            (COLUMN_MEANING[role], at) for role, at in head.positions.items() if len(at) > 1
        ]
        repeated += [(f"the setting '{key}'", at) for key, at in settings_at.items() if len(at) > 1]
        for meaning, at in repeated:
            named = [f"'{head.cells[i]}' (column {i + 1})" for i in at]
            self.error(
                lineno,
                f"this task table has more than one column for {meaning}: "
                f"{', '.join(named[:-1])} and {named[-1]}. nova reads only one, so merge them "
                "into one column.",
            )
        self._near_setting_columns(head.cells, head.columns, lineno)
        return [(at[0], key) for key, at in settings_at.items()]

    def _reject_rows(self, first: int, end: int, id_at: int | None) -> None:
        """The IDs in the rows of a table reported as a whole (line indexes first..end), so
        that what refers to them says their table has an error instead of 'no such task'."""
        if id_at is None:
            return
        for offset in range(first, end):
            cells = split_row(self.lines[offset])
            if id_at < len(cells) and plain(cells[id_at]):
                self.rejected.setdefault(plain(cells[id_at]), offset + 1)

    def _near_setting_columns(self, header: list[str], columns: list[str], lineno: int) -> None:
        """Warn for a column nova does not read whose name is close to a setting's (`Modle`):
        its cells would be ignored. A warning, not an error: `Mode` may be a column of notes."""
        for at, column in enumerate(columns):
            if column in KNOWN_COLUMNS or column in SETTING_KEYS:
                continue
            setting = near_setting(column)
            if setting:
                self.warnings.append(
                    Problem(
                        self.path,
                        lineno,
                        f"column '{header[at]}' (column {at + 1}) is not a column nova reads, so "
                        f"its cells are ignored; its name is close to the setting '{setting}'. "
                        f"To set {setting} per task, name the column '{setting}'.",
                    )
                )

    def _blank_gap(self, start: int) -> tuple[int, int] | None:
        """Line numbers (first, last) of the blank lines between the last task table and the
        table at index `start`, when nothing else separates them."""
        after = self.tasks_end
        if after is None or after >= start:
            return None
        if any(self.lines[k].strip() for k in range(after, start)):
            return None
        return after + 1, start

    def _row(
        self,
        cells: list[str],
        lineno: int,
        header: list[str],
        index: dict[str, int | None],
        setting_columns: list[tuple[int, str]],
    ) -> None:
        if len(cells) != len(header):
            at = index["id"]
            if at is not None and at < len(cells) and plain(cells[at]):
                self.rejected.setdefault(plain(cells[at]), lineno)
            self.error(
                lineno,
                f"this row has {len(cells)} cells but the table header has {len(header)}. "
                "Make every row have one cell per column (escape a literal bar as '\\|').",
            )
            return

        def cell(role: str) -> str:
            at = index[role]
            return cells[at] if at is not None else ""

        task_id = plain(cell("id"))
        if not task_id:
            self.error(lineno, "this row has an empty Task ID. Give every task an ID like F1.")
            return
        if not TASK_ID.match(task_id):
            self.rejected.setdefault(task_id, lineno)
            self.error(
                lineno,
                f"task ID '{task_id}' is not allowed: IDs name files (logs/<ID>.log), so they "
                "use only ASCII letters, digits, '.', '_' and '-', start with a letter or "
                "digit, and are at most 64 characters.",
            )
            return
        depends: dict[str, int] = {}  # a dict: a repeated ID is dropped in O(1), not O(deps)
        raw_deps = cell("depends").strip()
        if raw_deps.lower() not in _NO_DEPS:
            for part in re.split(r"[,;]", raw_deps):
                dep = plain(part)
                if dep and dep.lower() not in _NO_DEPS:
                    depends.setdefault(dep, lineno)
        settings = self._row_settings(task_id, cells, lineno, setting_columns)
        self.rows.append(
            _Row(
                id=task_id,
                name=plain(cell("name")) or task_id,
                description=cell("description").strip(),
                depends=list(depends.items()),
                branch=self.branch,
                group=self.group,
                line=lineno,
                settings=settings,
            )
        )

    def _row_settings(
        self, task_id: str, cells: list[str], lineno: int, setting_columns: list[tuple[int, str]]
    ) -> dict[str, object]:
        """The settings a task row gives in setting columns (`-` or empty: none); each bad
        value reported."""
        settings: dict[str, object] = {}
        for at, key in setting_columns:
            value = cells[at].strip()
            if value.lower() in _NO_DEPS:
                continue
            try:
                name, parsed = parse_setting(key, value)
            except SettingError as exc:
                self.error(lineno, f"task '{task_id}': {exc}")
                continue
            settings[name] = parsed
        return settings

    def build(self) -> Cascade:
        if not self.rows and not self.problems:
            self.error(
                0,
                "no tasks found. Add a section with a task table, for example:\n"
                "  ## L1: App\n  | Task ID | Task Name | What Changes | Depends On |\n"
                "  |---|---|---|---|\n  | A1 | First task | What it does | - |",
            )
        by_id = self._unique_rows()
        self._check_depends(by_id)
        for part in self.structure:
            part.settings = self._take(read_body(part.body, part.line, task=False))
        self._sections_without_tasks(by_id)
        instructions, detail_settings = self._details(by_id)
        project_settings = Settings(**self.project.settings) if self.project else Settings()  # type: ignore[arg-type]
        tasks = self._tasks(by_id, project_settings, instructions, detail_settings)
        warnings = tuple(sorted(self.warnings, key=lambda p: p.line))
        if self.problems:
            raise CascadeError(self.problems + self._cycles(tasks), warnings)
        return Cascade(
            path=self.path,
            project=self.project.title if self.project else "",
            settings=project_settings,
            tasks=tasks,
            warnings=warnings,
        )

    def _unique_rows(self) -> dict[str, _Row]:
        """The task rows by ID; a repeated ID, or one that differs only in case, is reported
        and its later row dropped."""
        by_id: dict[str, _Row] = {}
        by_folded: dict[str, _Row] = {}
        for row in self.rows:
            if row.id in by_id:
                self.error(
                    row.line,
                    f"task ID '{row.id}' is defined twice (first on line "
                    f"{by_id[row.id].line}). Rename one of them.",
                )
                continue
            if row.id.lower() in by_folded:
                other = by_folded[row.id.lower()]
                self.error(
                    row.line,
                    f"task ID '{row.id}' differs from '{other.id}' (line {other.line}) only in "
                    "case; their log files would collide. Rename one of them.",
                )
                continue
            by_id[row.id] = row
            by_folded[row.id.lower()] = row
        return by_id

    def _check_depends(self, by_id: dict[str, _Row]) -> None:
        """Report each dependency that names no other task."""
        for row in by_id.values():
            for dep, lineno in row.depends:
                if dep in by_id and dep != row.id:
                    continue  # the common case, without a call per dependency
                self.error(lineno, self._depend_problem(row, dep, by_id))

    def _depend_problem(self, row: _Row, dep: str, by_id: dict[str, _Row]) -> str:
        if dep == row.id:
            return f"task '{row.id}' depends on itself. Remove '{dep}'."
        if dep in self.rejected:
            return (
                f"task '{row.id}' depends on '{dep}', whose row (line "
                f"{self.rejected[dep]}) has an error, so there is no task '{dep}'. Fix "
                "that row."
            )
        words = dep.split()
        if len(words) > 1:
            fix = (
                f"Separate the IDs with commas: {', '.join(words)}."
                if all(w in by_id for w in words)
                else "Task IDs have no spaces; separate several with commas."
            )
            return f"task '{row.id}' depends on '{dep}'. {fix}"
        return (
            f"task '{row.id}' depends on '{dep}', which is not defined."
            # Short IDs like F9 and F3 share half their characters: ratio 0.5.
            # The task itself is never the fix (that would be a self-dependency).
            f"{self._suggest(dep, by_id, row.id, cutoff=0.5)}"
        )

    def _tasks(
        self,
        by_id: dict[str, _Row],
        project_settings: Settings,
        instructions: dict[str, str],
        detail_settings: dict[str, dict[str, object]],
    ) -> dict[str, Task]:
        """The tasks, each with its settings merged: project, branch, group, row, details."""
        tasks: dict[str, Task] = {}
        # The settings of each (branch, group) are merged once, not once per task.
        section_settings: dict[tuple[int, int], Settings] = {}
        for row in by_id.values():
            section = (id(row.branch), id(row.group))
            merged = section_settings.get(section, project_settings)
            if section not in section_settings:
                for layer in (
                    row.branch.settings if row.branch else {},
                    row.group.settings if row.group else {},
                ):
                    if layer:
                        merged = Settings(**layer).over(merged)  # type: ignore[arg-type]
                section_settings[section] = merged
            for layer in (row.settings, detail_settings.get(row.id, {})):
                if layer:
                    merged = Settings(**layer).over(merged)  # type: ignore[arg-type]
            tasks[row.id] = Task(
                id=row.id,
                name=row.name,
                description=row.description,
                depends_on=tuple(d for d, _ in row.depends),
                branch=row.branch.title if row.branch else "",
                group=row.group.title if row.group else "",
                line=row.line,
                instructions=instructions.get(row.id, ""),
                settings=merged,
            )
        return tasks

    def _cycles(self, tasks: dict[str, Task]) -> list[Problem]:
        """Cycles among the tasks that are well formed, when other problems keep the file
        from being used: reported with them, not after they are fixed."""
        known = {
            t: replace(task, depends_on=tuple(d for d in task.depends_on if d in tasks and d != t))
            for t, task in tasks.items()
        }
        try:
            build_graph(Cascade(self.path, "", Settings(), known))
        except CascadeError as exc:
            return exc.problems
        return []

    def _sections_without_tasks(self, by_id: dict[str, _Row]) -> None:
        """Warn for a branch or group with no tasks that starts with a task ID (`### A2:
        Second` was meant as A2's instructions, which then reach no agent) or has settings
        (`## Settings` was meant for the project, and its settings apply to no task)."""
        holding = {id(r.branch) for r in self.rows} | {id(r.group) for r in self.rows}
        for part in self.structure:
            if part.level == 1 or id(part) in holding:
                continue
            named = task_named(part.title)
            kind = "branch" if part.level == 2 else "group"
            if named not in by_id:
                if part.settings:
                    self.warnings.append(
                        Problem(self.path, part.line, self._settings_for_nothing(part, kind))
                    )
                continue
            self.warnings.append(
                Problem(
                    self.path,
                    part.line,
                    f"heading '{part.raw}' starts with the task ID '{named}', but a "
                    f"'{'#' * part.level}' heading is a {kind}, and this {kind} has no tasks, so "
                    f"its text and settings reach no agent. Use '#### {part.title}' for a task's "
                    "instructions.",
                )
            )

    def _settings_for_nothing(self, part: _Section, kind: str) -> str:
        keys = ", ".join(key_of(name) for name in part.settings)
        project = (
            f"the '# {self.project.title}' heading (line {self.project.line})"
            if self.project
            else "a '# <project>' heading at the top of the file"
        )
        return (
            f"heading '{part.raw}' is a {kind}, and this {kind} has no tasks, so its settings "
            f"({keys}) apply to no task. Settings for the whole project go in a list under "
            f"{project}, before the first '##' heading; a branch's or a group's go in a list "
            "under its own heading, above its task table."
        )

    def _take(self, reading: Reading) -> dict[str, object]:
        """Record a section's problems and warnings; its settings."""
        for line, message in reading.problems:
            self.error(line, message)
        self.warnings.extend(Problem(self.path, line, text) for line, text in reading.warnings)
        return reading.settings

    def _details(
        self, by_id: dict[str, _Row]
    ) -> tuple[dict[str, str], dict[str, dict[str, object]]]:
        """Instructions and settings from `#### <ID>: ...` sections, keyed by task ID.

        A task's instructions are everything under its heading, deeper headings included, up
        to the next heading of its level or higher.
        """
        bodies: dict[str, list[tuple[int, str, int]]] = {}
        heads: dict[str, _Section] = {}
        for section in self.details:
            owner = section.parent.task if section.parent else None
            if owner is not None:
                section.task = owner
                task_id = task_named(owner.title)
                named = task_named(section.title)
                if named in by_id and named != task_id:
                    self.warnings.append(
                        Problem(
                            self.path,
                            section.line,
                            f"heading '{section.raw}' is inside the instructions of task "
                            f"'{task_id}' (line {owner.line}), so '{named}' gets none of its text. "
                            f"To give '{named}' its own instructions, make it "
                            f"'{'#' * owner.level} {section.title}'.",
                        )
                    )
                bodies[task_id].append((section.line, section.raw, SUBHEADING))
                bodies[task_id].extend(section.body)
                continue
            first = task_named(section.title)
            if first not in by_id and first in self.rejected:
                continue  # its row is reported already; a second error would only mislead
            if first not in by_id:
                # Its text goes to no agent, so only a setting it would hold is worth a word.
                if read_body(section.body, section.line, task=True).meant_settings:
                    self.error(
                        section.line,
                        f"heading '{section.title}' has settings but names no task."
                        f"{self._suggest(first, by_id)} Start the heading with the task ID, "
                        "like '#### F4: Validation Utils'.",
                    )
                    continue
                hint = self._suggest(first, by_id) if TASK_ID.match(first) else ""
                if hint:
                    self.warnings.append(
                        Problem(
                            self.path,
                            section.line,
                            f"heading '{section.title}' names no task, so its text goes to no "
                            f"agent.{hint}",
                        )
                    )
                continue
            if first in heads:
                self.error(
                    section.line,
                    f"task '{first}' has a second instructions heading. Merge them into one.",
                )
                continue
            section.task = section
            heads[first] = section
            bodies[first] = list(section.body)
        instructions: dict[str, str] = {}
        settings: dict[str, dict[str, object]] = {}
        for task_id, head in heads.items():
            reading = read_body(bodies[task_id], head.line, task=True)
            settings[task_id] = self._take(reading)
            instructions[task_id] = "\n".join(reading.text).strip()
        return instructions, settings


def parse_cascade(text: str, path: str = "CASCADE.md") -> Cascade:
    """Parse CASCADE.md text; raise CascadeError listing every problem with its line."""
    parser = _Parser(text, path)
    parser.parse()
    return parser.build()


def decode_cascade(data: bytes, path: str) -> str:
    """The text of a CASCADE.md file, or CascadeError if it is not a markdown text file."""
    if len(data) > MAX_BYTES:
        raise CascadeError(
            [
                Problem(
                    path,
                    0,
                    f"is {len(data) // (1024 * 1024)} MiB; nova reads task files of "
                    f"at most {MAX_BYTES // (1024 * 1024)} MiB. Split the plan into several "
                    "files.",
                )
            ]
        )
    if b"\x00" in data[:8192]:
        raise CascadeError(
            [Problem(path, 0, "is a binary file, not markdown. Point nova at your CASCADE.md.")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CascadeError(
            [
                Problem(
                    path,
                    line,
                    f"is not valid UTF-8 (byte 0x{data[exc.start]:02x}). Save the file as UTF-8.",
                )
            ]
        ) from None
    return text
