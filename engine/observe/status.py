"""`nova status` rendering: the state as tables per section, and as the stable JSON document.

Pure functions of a `State` and the current time; reading the file and checking whether the run
is alive is the command's job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from engine.formats import format_duration
from engine.observe.state import COST_DIGITS, SCHEMA, State, TaskState, iso, sum_costs
from engine.observe.usage import TOKEN_KINDS, Tokens, count_by_model, format_cost, format_count
from engine.outcome import TaskStatus
from engine.text import visible_json, visible_line

QUIET_WARNING = 15 * 60.0
_MARK = {
    TaskStatus.PENDING: "·",
    TaskStatus.RUNNING: "▶",
    TaskStatus.DONE: "✓",
    TaskStatus.FAILED: "✗",
    TaskStatus.BLOCKED: "⊘",
    TaskStatus.CANCELLED: "■",
}
_COLOUR = {
    TaskStatus.RUNNING: "36",
    TaskStatus.DONE: "32",
    TaskStatus.FAILED: "31",
    TaskStatus.BLOCKED: "33",
    TaskStatus.CANCELLED: "33",
}


def clock_local(t: float) -> str:
    return time.strftime("%H:%M", time.localtime(t))


def summarize_tokens(tokens: Mapping[str, Tokens]) -> list[str]:
    return [
        f"{model}: {format_count(t.input)} in, {format_count(t.output)} out, "
        f"{format_count(t.cache_read)} cache read, {format_count(t.cache_creation)} cache write"
        for model, t in sorted(tokens.items())
    ]


def task_detail(task: TaskState, now: float, alive: bool = True) -> str:
    """What a person needs to know about a task beyond its status word."""
    if task.status == TaskStatus.RUNNING and not alive:
        return "interrupted: the run is gone; 'nova run' resumes it"
    if task.status == TaskStatus.RUNNING:
        parts = [f"attempt {task.attempts}", f"pid {task.pid}" if task.pid else ""]
        if task.last_output is not None and now - task.last_output > QUIET_WARNING:
            parts.append(f"stalled? no output for {format_duration(now - task.last_output)}")
        return ", ".join(p for p in parts if p)
    if task.status == TaskStatus.PENDING and task.next_attempt_at:
        return f"{task.reason or 'retry'} (next try {clock_local(task.next_attempt_at)})"
    return task.reason or ""


def agent_mode(task: TaskState) -> str:
    """Which agent ran the task, and the permission mode it ran in if its kind has them."""
    if task.agent is None:
        return "-"
    return f"{task.agent}:{task.permission_mode}" if task.permission_mode else task.agent


def run_line(state: State, alive: bool, now: float) -> str:
    run = state.run
    if run.running and alive:
        head = f"running (pid {run.pid}, started {clock_local(run.started or now)})"
    elif run.running:
        head = (
            f"not running: the run (pid {run.pid}) stopped without saying so. "
            "Run 'nova run' again to resume."
        )
    elif run.ended:
        head = f"finished {clock_local(run.ended)} with exit code {run.exit_code}"
    else:
        head = "not started"
    if run.paused_until and run.running and alive:
        head += (
            f" — waiting for rate limit until {clock_local(run.paused_until)} ({run.pause_reason})"
        )
    return head


def _table(rows: list[list[str]], widths: list[int]) -> list[str]:
    # One format per table: the same as ljust-ing each cell, without a call per cell.
    fmt = "  ".join(f"{{:<{width}}}" for width in widths)
    return ["  " + fmt.format(*row).rstrip() for row in rows]


# A task as the report shows it: the task, its tokens all told, its cost.
_Entry = tuple[TaskState, int, "float | None"]


class _Gathered:
    """What the rows and the rollups share, from one pass over the tasks: each task's tokens
    and cost (both computed properties), its section, the counts and the sums per model."""

    __slots__ = ("costs", "counts", "sections", "sums")

    def __init__(self, state: State) -> None:
        self.counts: dict[TaskStatus, int] = {}
        self.sections: dict[tuple[str, str], list[_Entry]] = {}
        self.sums: dict[str, list[int]] = {}  # see `count_by_model`
        self.costs: list[float | None] = []
        counts, sums, sections = self.counts, self.sums, self.sections
        for task in state.tasks.values():
            counts[task.status] = counts.get(task.status, 0) + 1
            used = count_by_model(sums, task.tokens)
            cost = task.cost_usd
            self.costs.append(cost)
            sections.setdefault((task.branch, task.group), []).append((task, used, cost))

    def by_branch(self) -> dict[str, list[tuple[str, list[_Entry]]]]:
        """The sections grouped by branch, in file order."""
        out: dict[str, list[tuple[str, list[_Entry]]]] = {}
        for (branch, group), entries in self.sections.items():
            out.setdefault(branch, []).append((group, entries))
        return out


_HEADER = ["", "ID", "STATUS", "TIME", "TOKENS", "COST", "AGENT", "NAME / DETAIL"]


class _Rows:
    """The task rows of the tables, for one report: what every row needs to know once."""

    __slots__ = ("alive", "last_seen", "modes", "now")

    def __init__(self, state: State, alive: bool, now: float) -> None:
        self.alive, self.now = alive, now
        # A task still marked running in a run that is gone stopped at the last sign of life.
        self.last_seen = None if alive else _last_seen(state)
        self.modes: dict[tuple[str | None, str | None], str] = {}

    def table(self, entries: list[_Entry], colour: bool) -> list[str]:
        """One section's table: a header and a row per task, columns as wide as their text."""
        rows = [_HEADER]
        rows.extend(self.row(task, used, cost) for task, used, cost in entries)
        widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
        rendered = _table(rows, widths)
        if colour:
            rendered = [rendered[0]] + [
                _paint(line, entry[0].status)
                for line, entry in zip(rendered[1:], entries, strict=False)
            ]
        return rendered

    def row(self, task: TaskState, used: int, cost: float | None) -> list[str]:
        status = task.status
        if status is TaskStatus.RUNNING and not self.alive:
            seen = [t for t in (task.last_output, self.last_seen) if t is not None]
            duration = task.duration(max(seen)) if seen else None
        else:
            duration = task.duration(self.now)
        detail = (
            task.reason if status is TaskStatus.DONE else task_detail(task, self.now, self.alive)
        )
        agent = self.modes.get((task.agent, task.permission_mode))
        if agent is None:
            agent = self.modes[task.agent, task.permission_mode] = agent_mode(task)
        return [
            _MARK[status],
            visible_line(task.id),
            status,
            format_duration(duration),
            format_count(used) if used else "-",
            format_cost(cost),
            agent,
            visible_line(task.name + " — " + detail if detail else task.name),
        ]


def render_status(state: State, alive: bool, now: float, colour: bool = False) -> str:
    """The human status report: run line, one table per section, totals per model.

    Names, reasons and headings came from a plan or an agent: each is shown with its control
    characters made visible (`visible_line`) before it is measured for the table."""
    lines = [visible_line(f"{state.project or 'nova'} — {run_line(state, alive, now)}")]
    gathered = _Gathered(state)
    lines.append("  " + ", ".join(f"{n} {s.value}" for s, n in sorted(gathered.counts.items())))
    if state.run.warning:  # what stopped new launches, or a file nova could not write
        lines.append(f"  ! {visible_line(state.run.warning)}")
    rows = _Rows(state, alive, now)
    for branch, groups in gathered.by_branch().items():
        lines.append("")
        shown = visible_line(branch or "(no branch)")
        lines.append(f"{shown}  {_rollup([e for _, es in groups for e in es])}")
        for group, entries in groups:
            if group:
                lines.append(f" {visible_line(group)}  {_rollup(entries)}")
            lines.extend(rows.table(entries, colour))
    lines.append("")
    lines.append(f"total cost {format_cost(sum_costs(gathered.costs))}")
    tokens = {model: Tokens(*acc) for model, acc in gathered.sums.items()}
    lines.extend("  " + line for line in summarize_tokens(tokens))
    return "\n".join(lines) + "\n"


def _last_seen(state: State) -> float | None:
    """The last time a run that is gone was known to be alive: its last heartbeat (or end)."""
    known = [t for t in (state.run.heartbeat, state.run.ended) if t is not None]
    return max(known) if known else None


def _paint(line: str, status: TaskStatus) -> str:
    code = _COLOUR.get(status)
    return f"\x1b[{code}m{line}\x1b[0m" if code else line


def _rollup(entries: list[_Entry]) -> str:
    done = sum(1 for t, _, _ in entries if t.status is TaskStatus.DONE)
    tokens = sum(used for _, used, _ in entries)
    cost = format_cost(sum_costs(c for _, _, c in entries))
    return f"[{done}/{len(entries)} done · {format_count(tokens)} tokens · {cost}]"


def status_json(
    state: State, alive: bool, now: float, tasks: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The documented `nova status --json` document: the state, plus liveness and totals.

    `tasks`, if given, are the state's tasks as state.json holds them, known to be in the form
    `TaskState.to_json` gives (`engine.observe.store.Snapshot`); they go in as they are.
    """
    doc = _json_head(state, alive)
    doc["tasks"] = (
        dict(tasks)
        if tasks is not None
        else {task_id: t.to_json() for task_id, t in state.tasks.items()}
    )
    doc.update(_json_tail(state, now))
    return doc


def status_json_text(
    state: State,
    alive: bool,
    now: float,
    indent: int | None = None,
    tasks: Mapping[str, Any] | None = None,
) -> str:
    """`status_json` as JSON text and a newline: compact (as state.json is), or indented."""
    doc = status_json(state, alive, now, tasks)
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(doc, indent=indent, separators=separators, ensure_ascii=False)
    return visible_json(text) + "\n"


def status_json_frame(state: State, alive: bool, now: float) -> tuple[str, str]:
    """The compact `status_json_text` before and after the JSON of the tasks, which go between.

    With state.json's own text of its tasks in the middle (`engine.observe.store.Snapshot`), this is
    the document without encoding 10,000 tasks again, which took longer than all the rest.
    """
    head = visible_json(_COMPACT.encode(_json_head(state, alive)))
    tail = visible_json(_COMPACT.encode(_json_tail(state, now)))
    return head[:-1] + ',"tasks":', "," + tail[1:] + "\n"


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _json_head(state: State, alive: bool) -> dict[str, Any]:
    """The keys of `State.to_json` before the tasks, with `run.alive`."""
    run = state.run.to_json()
    run["alive"] = alive
    return {"schema": SCHEMA, "project": state.project, "cascade": state.cascade, "run": run}


def _json_tail(state: State, now: float) -> dict[str, Any]:
    """What `nova status --json` adds after the tasks: totals, and the same per section."""
    by_status = {s.value: 0 for s in TaskStatus}
    # Per (branch, group): its task IDs, tokens per model as [in, out, read, write], costs.
    grouped: dict[tuple[str, str], tuple[list[str], dict[str, list[int]], list[float]]] = {}
    for task_id, task in state.tasks.items():
        by_status[task.status] += 1  # a StrEnum member hashes and compares as its value
        section = grouped.get((task.branch, task.group))
        if section is None:
            section = grouped[task.branch, task.group] = ([], {}, [])
        ids, sums, costs = section
        ids.append(task_id)
        count_by_model(sums, task.tokens)
        cost = task.cost_usd
        if cost is not None:
            costs.append(cost)
    totals: dict[str, list[int]] = {}
    sections = []
    for (branch, group), (ids, sums, costs) in grouped.items():
        for model, acc in sums.items():
            total = totals.setdefault(model, [0, 0, 0, 0])
            for i in range(4):
                total[i] += acc[i]
        sections.append(
            {
                "branch": branch,
                "group": group,
                "tasks": ids,
                "tokens": {
                    model: dict(zip(TOKEN_KINDS, acc, strict=True)) for model, acc in sums.items()
                },
                "cost_usd": _cost_json(costs),
            }
        )
    return {
        "totals": {
            "tokens": {
                model: dict(zip(TOKEN_KINDS, totals[model], strict=True))
                for model in sorted(totals)
            },
            "cost_usd": _cost_json([c for _, _, costs in grouped.values() for c in costs]),
            "by_status": by_status,
        },
        "sections": sections,
        "generated": iso(now),
    }


def _cost_json(costs: list[float]) -> float | None:
    total = sum_costs(costs)
    return round(total, COST_DIGITS) if total is not None else None
