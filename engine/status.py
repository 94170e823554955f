"""`nova status` rendering: the state as tables per section, and as the stable JSON document.

Pure functions of a `State` and the current time; reading the file and checking whether the run
is alive is the command's job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from engine.outcome import TaskStatus
from engine.state import State, TaskState, iso
from engine.usage import Tokens, format_cost, format_count

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


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


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
    """Which agent ran the task, and for Claude Code the permission mode it ran in."""
    if task.agent == "command":
        return "command"
    if task.agent == "claude":
        return f"claude:{task.permission_mode or 'default'}"
    return "-"


def run_line(state: State, alive: bool, now: float) -> str:
    run = state.run
    if run.running and alive:
        head = f"running (pid {run.pid}, started {clock_local(run.started or now)})"
    elif run.running:
        head = (f"not running: the run (pid {run.pid}) stopped without saying so. "
                "Run 'nova run' again to resume.")
    elif run.ended:
        head = f"finished {clock_local(run.ended)} with exit code {run.exit_code}"
    else:
        head = "not started"
    if run.paused_until and run.running and alive:
        head += (f" — waiting for rate limit until {clock_local(run.paused_until)} "
                 f"({run.pause_reason})")
    return head


def _table(rows: list[list[str]], widths: list[int]) -> list[str]:
    # One format per table: the same as ljust-ing each cell, without a call per cell.
    fmt = "  ".join(f"{{:<{width}}}" for width in widths)
    return ["  " + fmt.format(*row).rstrip() for row in rows]


def render_status(state: State, alive: bool, now: float, colour: bool = False) -> str:
    """The human status report: run line, one table per section, totals per model."""
    lines = [f"{state.project or 'nova'} — {run_line(state, alive, now)}"]
    counts: dict[TaskStatus, int] = {}
    for task in state.tasks.values():
        counts[task.status] = counts.get(task.status, 0) + 1
    lines.append("  " + ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items())))
    sections: dict[tuple[str, str], list[TaskState]] = {}
    for task in state.tasks.values():
        sections.setdefault((task.branch, task.group), []).append(task)
    by_branch: dict[str, list[tuple[str, list[TaskState]]]] = {}
    for (branch, group), tasks in sections.items():
        by_branch.setdefault(branch, []).append((group, tasks))
    header = ["", "ID", "STATUS", "TIME", "TOKENS", "COST", "AGENT", "NAME / DETAIL"]
    # Each task's token total, once: rows and both rollups need it.
    totals = {id(t): sum(x.total for x in t.tokens.values()) for t in state.tasks.values()}
    for branch, groups in by_branch.items():
        branch_tasks = [t for _, ts in groups for t in ts]
        lines.append("")
        lines.append(f"{branch or '(no branch)'}  {_rollup(branch_tasks, totals)}")
        for group, tasks in groups:
            if group:
                lines.append(f" {group}  {_rollup(tasks, totals)}")
            rows = [header]
            for task in tasks:
                used = totals[id(task)]
                detail = task_detail(task, now, alive)
                name = task.name + (f" — {detail}" if detail else "")
                rows.append([
                    _MARK[task.status], task.id, task.status.value,
                    format_duration(task.duration(now)),
                    format_count(used) if used else "-", format_cost(task.cost_usd),
                    agent_mode(task), name,
                ])
            widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
            rendered = _table(rows, widths)
            if colour:
                rendered = [rendered[0]] + [
                    _paint(line, task.status) for line, task in zip(rendered[1:], tasks,
                                                                    strict=False)
                ]
            lines.extend(rendered)
    tokens, cost = _totals(state)
    lines.append("")
    lines.append(f"total cost {format_cost(cost)}")
    lines.extend("  " + line for line in summarize_tokens(tokens))
    return "\n".join(lines) + "\n"


def _sum_tokens(maps: Iterable[Mapping[str, Tokens]]) -> dict[str, Tokens]:
    """`sum_by_model`, adding integers instead of making a `Tokens` per addition (10,000 tasks
    made that a fifth of the report's time)."""
    sums: dict[str, list[int]] = {}
    for usage in maps:
        for model, t in usage.items():
            acc = sums.get(model)
            if acc is None:
                sums[model] = [t.input, t.output, t.cache_read, t.cache_creation]
            else:
                acc[0] += t.input
                acc[1] += t.output
                acc[2] += t.cache_read
                acc[3] += t.cache_creation
    return {model: Tokens(*acc) for model, acc in sums.items()}


def _totals(state: State) -> tuple[dict[str, Tokens], float | None]:
    """`State.totals`, with `_sum_tokens`."""
    tokens = _sum_tokens(t.tokens for t in state.tasks.values())
    costs = [c for c in (t.cost_usd for t in state.tasks.values()) if c is not None]
    return tokens, (sum(costs) if costs else None)


def _paint(line: str, status: TaskStatus) -> str:
    code = _COLOUR.get(status)
    return f"\x1b[{code}m{line}\x1b[0m" if code else line


def _rollup(tasks: list[TaskState], totals: dict[int, int]) -> str:
    done = sum(1 for t in tasks if t.status == TaskStatus.DONE)
    costs = [c for c in (t.cost_usd for t in tasks) if c is not None]
    tokens = sum(totals[id(t)] for t in tasks)
    cost = format_cost(sum(costs)) if costs else "-"
    return f"[{done}/{len(tasks)} done · {format_count(tokens)} tokens · {cost}]"


def status_json(state: State, alive: bool, now: float) -> dict[str, Any]:
    """The documented `nova status --json` document: the state, plus liveness and totals."""
    doc = state.to_json()
    doc["run"]["alive"] = alive
    tokens, cost = _totals(state)
    doc["totals"] = {
        "tokens": {m: t.as_dict() for m, t in sorted(tokens.items())},
        "cost_usd": round(cost, 6) if cost is not None else None,
        "by_status": _count_status(state),
    }
    doc["sections"] = _sections(state)
    doc["generated"] = iso(now)
    return doc


def _count_status(state: State) -> dict[str, int]:
    out = {s.value: 0 for s in TaskStatus}
    for task in state.tasks.values():
        out[task.status.value] += 1
    return out


def _sections(state: State) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[TaskState]] = {}
    for task in state.tasks.values():
        grouped.setdefault((task.branch, task.group), []).append(task)
    out = []
    for (branch, group), tasks in grouped.items():
        costs = [t.cost_usd for t in tasks if t.cost_usd is not None]
        out.append({
            "branch": branch,
            "group": group,
            "tasks": [t.id for t in tasks],
            "tokens": {m: t.as_dict() for m, t in _sum_tokens(x.tokens for x in tasks).items()},
            "cost_usd": round(sum(costs), 6) if costs else None,
        })
    return out
