"""The task graph: dependency checks, waves, priorities, and DOT / Mermaid drawings.

Built once from a parsed `Cascade`; pure (no I/O). A graph without cycles is sorted here, in
one pass; networkx is imported only to find and describe cycles (importing it costs more than
sorting 10,000 tasks).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from engine.errors import CascadeError, Problem
from engine.plan.model import Cascade
from engine.text import visible_line


@dataclass(frozen=True)
class TaskGraph:
    """Dependencies as `deps[id]` (what a task waits for) and `dependents[id]` (what waits)."""

    order: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]]
    priority: dict[str, int]

    def waves(self) -> list[list[str]]:
        """Tasks grouped so that each wave only depends on earlier waves."""
        level: dict[str, int] = {}
        for task_id in self.order:
            level[task_id] = max((level[d] + 1 for d in self.deps[task_id]), default=0)
        waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for task_id in self.order:
            waves[level[task_id]].append(task_id)
        return waves

    def downstream(self, task_id: str) -> list[str]:
        """Every task that depends on `task_id`, directly or not."""
        seen: dict[str, None] = {}
        stack = list(self.dependents[task_id])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen[current] = None
                stack.extend(self.dependents[current])
        return list(seen)


def build_graph(cascade: Cascade) -> TaskGraph:
    """The graph of a cascade; CascadeError naming each dependency cycle if there is one."""
    tasks = cascade.tasks
    # File order breaks ties, so waves and dispatch read the way the file does.
    position = {task_id: i for i, task_id in enumerate(tasks)}
    successors: dict[str, list[str]] = {task_id: [] for task_id in tasks}
    missing: dict[str, int] = {}
    for task in tasks.values():
        for dep in dict.fromkeys(task.depends_on):
            successors[dep].append(task.id)
        missing[task.id] = len(set(task.depends_on))
    # Kahn's algorithm, smallest file position first: networkx's lexicographical sort.
    ready = [(position[t], t) for t in tasks if not missing[t]]
    order: list[str] = []
    while ready:
        _, task_id = heapq.heappop(ready)
        order.append(task_id)
        for dependent in successors[task_id]:
            missing[dependent] -= 1
            if not missing[dependent]:
                heapq.heappush(ready, (position[dependent], dependent))
    if len(order) < len(tasks):  # some tasks wait on each other: describe the cycles
        return _build_graph_with_cycles(cascade)
    return _finish(cascade, tuple(order), {t: tuple(successors[t]) for t in order})


def _finish(
    cascade: Cascade, order: tuple[str, ...], dependents: dict[str, tuple[str, ...]]
) -> TaskGraph:
    deps = {t: cascade.tasks[t].depends_on for t in order}
    # Longest chain of work still waiting on a task: start the critical path first.
    priority: dict[str, int] = {}
    for task_id in reversed(order):
        priority[task_id] = 1 + max((priority[s] for s in dependents[task_id]), default=0)
    return TaskGraph(order=order, deps=deps, dependents=dependents, priority=priority)


def _build_graph_with_cycles(cascade: Cascade) -> TaskGraph:
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(cascade.tasks)
    for task in cascade.tasks.values():
        graph.add_edges_from((dep, task.id) for dep in task.depends_on)
    problems = []
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        # A subgraph view would walk the component's set, whose order changes from run to run
        # with string hashing; a graph built in file order reports the same cycle every time.
        members = [t for t in cascade.tasks if t in component]
        sub: nx.DiGraph[str] = nx.DiGraph()
        sub.add_nodes_from(members)
        sub.add_edges_from((u, v) for u in members for v in graph.successors(u) if v in component)
        cycle = [edge[0] for edge in nx.find_cycle(sub)]
        first = min(cycle, key=lambda t: cascade.tasks[t].line)
        at = cycle.index(first)
        cycle = cycle[at:] + cycle[:at]
        path = " → ".join([*cycle, cycle[0]])
        problems.append(
            Problem(
                cascade.path,
                cascade.tasks[first].line,
                f"tasks depend on each other in a cycle: {path}. Remove one of these dependencies.",
            )
        )
    if problems:
        raise CascadeError(problems)
    position = {task_id: i for i, task_id in enumerate(cascade.tasks)}
    order = tuple(nx.lexicographical_topological_sort(graph, key=position.__getitem__))
    return _finish(cascade, order, {t: tuple(graph.successors(t)) for t in order})


def _quote(text: str) -> str:
    """A DOT string of plan text: its control characters shown as escapes (that DOT then
    prints as they are), backslashes and quotes escaped for DOT."""
    return '"' + visible_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


# What Mermaid would read as markup in a label (an entity, a quote, HTML, a markdown string)
# written as its own entity codes, after control characters are made visible.
_MERMAID_LABEL = str.maketrans({"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;"})


def _mermaid_label(text: str) -> str:
    return visible_line(text).translate(_MERMAID_LABEL)


def render_dot(cascade: Cascade) -> str:
    """Graphviz DOT, one cluster per branch and group."""
    lines = [
        f"digraph {_quote(cascade.project or 'cascade')} {{",
        "  rankdir=LR;",
        "  node [shape=box, style=rounded];",
    ]
    for n, (branch, group) in enumerate(cascade.sections()):
        label = f"{branch} / {group}" if group else branch
        lines.append(f"  subgraph cluster_{n} {{")
        lines.append(f"    label={_quote(label)};")
        for task in cascade.tasks.values():
            if (task.branch, task.group) == (branch, group):
                lines.append(f"    {_quote(task.id)} [label={_quote(task.id + ': ' + task.name)}];")
        lines.append("  }")
    for task in cascade.tasks.values():
        for dep in task.depends_on:
            lines.append(f"  {_quote(dep)} -> {_quote(task.id)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# Mermaid node IDs are safest as word characters. Each of '_', '-' and '.' (all a task ID may
# hold besides letters and digits) gets its own escape, so distinct IDs never share a node
# (F1_1, F1-1 and F1.1 would all be F1_1 otherwise) and an ID's node is the same in every file.
_MERMAID_ESCAPES = str.maketrans({"_": "__", "-": "_h", ".": "_d"})


def _mermaid_id(task_id: str) -> str:
    return "t_" + task_id.translate(_MERMAID_ESCAPES)


def render_mermaid(cascade: Cascade) -> str:
    """A Mermaid flowchart, one subgraph per branch and group."""
    lines = ["flowchart LR"]
    for n, (branch, group) in enumerate(cascade.sections()):
        label = f"{branch} / {group}" if group else branch
        lines.append(f'  subgraph s{n}["{_mermaid_label(label)}"]')
        for task in cascade.tasks.values():
            if (task.branch, task.group) == (branch, group):
                text = _mermaid_label(f"{task.id}: {task.name}")
                lines.append(f'    {_mermaid_id(task.id)}["{text}"]')
        lines.append("  end")
    for task in cascade.tasks.values():
        for dep in task.depends_on:
            lines.append(f"  {_mermaid_id(dep)} --> {_mermaid_id(task.id)}")
    return "\n".join(lines) + "\n"
