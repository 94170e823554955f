"""The task graph: cycles reported as a path with a line, waves, critical-path priority,
downstream sets, and DOT / Mermaid drawings that contain every task and dependency."""

from __future__ import annotations

import re

import pytest

from engine.errors import CascadeError
from engine.plan.cascade import parse_cascade
from engine.plan.graph import build_graph, render_dot, render_mermaid
from engine.plan.model import Cascade

HEADER = "| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"


def cascade_of(rows: list[tuple[str, str]], group: str = "G") -> Cascade:
    """A cascade with one branch and group, from (id, depends-on cell) pairs."""
    body = "".join(f"| {tid} | Task {tid} | x | {deps} |\n" for tid, deps in rows)
    return parse_cascade(f"# P\n## L1: B\n### L2: {group}\n{HEADER}{body}")


# Line numbers in cascade_of: the first row is on line 6.
DIAMOND = [("A", "-"), ("B", "A"), ("C", "A"), ("D", "B, C"), ("E", "-")]


def test_cycle_is_reported_as_a_path_at_the_line_of_its_first_task() -> None:
    """A → B → C → A is printed as a path that starts and ends at the earliest task in the file."""
    cascade = cascade_of([("X", "-"), ("A", "C"), ("B", "A"), ("C", "B")])
    with pytest.raises(CascadeError) as info:
        build_graph(cascade)
    assert str(info.value) == (
        "CASCADE.md:7: tasks depend on each other in a cycle: A → B → C → A. "
        "Remove one of these dependencies."
    )


def test_two_separate_cycles_are_both_reported() -> None:
    """Every cycle is reported, each at its own first task's line."""
    cascade = cascade_of([("A", "B"), ("B", "A"), ("OK", "-"), ("P", "Q"), ("Q", "P")])
    with pytest.raises(CascadeError) as info:
        build_graph(cascade)
    messages = str(info.value).splitlines()
    assert len(messages) == 2
    assert messages[0].startswith("CASCADE.md:6: tasks depend on each other in a cycle: A → B → A")
    assert messages[1].startswith("CASCADE.md:9: tasks depend on each other in a cycle: P → Q → P")


def test_waves_group_tasks_by_the_longest_path_to_them() -> None:
    """Each wave only depends on earlier waves; independent tasks are in wave one."""
    graph = build_graph(cascade_of(DIAMOND))
    assert graph.waves() == [["A", "E"], ["B", "C"], ["D"]]


def test_order_is_topological_with_file_order_breaking_ties() -> None:
    """A task comes after all its dependencies; otherwise the file's order is kept."""
    graph = build_graph(cascade_of([("Z", "Y"), ("Y", "-"), ("X", "-")]))
    assert graph.order == ("Y", "Z", "X")


def test_priority_is_the_length_of_the_longest_chain_a_task_starts() -> None:
    """Priority counts the task itself plus the longest chain of work waiting on it."""
    graph = build_graph(cascade_of(DIAMOND))
    assert graph.priority == {"A": 3, "B": 2, "C": 2, "D": 1, "E": 1}


def test_deps_and_dependents_are_inverse() -> None:
    """`deps` lists what a task waits for and `dependents` what waits for it."""
    graph = build_graph(cascade_of(DIAMOND))
    assert graph.deps["D"] == ("B", "C")
    assert sorted(graph.dependents["A"]) == ["B", "C"]
    assert graph.dependents["E"] == ()
    for task_id, deps in graph.deps.items():
        for dep in deps:
            assert task_id in graph.dependents[dep]


def test_downstream_is_every_transitive_dependent_once() -> None:
    """downstream(A) holds B, C and D (D once, though two paths lead to it), not E."""
    graph = build_graph(cascade_of(DIAMOND))
    assert sorted(graph.downstream("A")) == ["B", "C", "D"]
    assert graph.downstream("D") == []
    assert graph.downstream("B") == ["D"]


def test_dot_has_every_node_and_edge() -> None:
    """The DOT output declares every task and every dependency edge."""
    dot = render_dot(cascade_of(DIAMOND))
    assert dot.startswith('digraph "P" {')
    for tid in "ABCDE":
        assert f'"{tid}" [label="{tid}: Task {tid}"];' in dot
    edges = set(re.findall(r'^  "(\w+)" -> "(\w+)";$', dot, re.M))
    assert edges == {("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")}
    assert 'label="B / G";' in dot
    assert dot.rstrip().endswith("}")


def test_mermaid_has_every_node_and_edge() -> None:
    """The Mermaid flowchart declares every task and every dependency edge."""
    mermaid = render_mermaid(cascade_of(DIAMOND))
    assert mermaid.startswith("flowchart LR\n")
    for tid in "ABCDE":
        assert f't_{tid}["{tid}: Task {tid}"]' in mermaid
    edges = set(re.findall(r"^  t_(\w+) --> t_(\w+)$", mermaid, re.M))
    assert edges == {("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")}


ODD = """\
# My "Quoted" \\ Project
## L1: Back "end"
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| api.v1-x | Say "hi" \\| bye | x | - |
| b_2 | Two | x | api.v1-x |
"""


def test_dot_quotes_names_with_quotes_backslashes_and_dots() -> None:
    """Quotes and backslashes in names are escaped; dotted IDs are quoted, so DOT stays valid."""
    dot = render_dot(parse_cascade(ODD))
    assert dot.startswith('digraph "My \\"Quoted\\" \\\\ Project" {')
    assert '"api.v1-x" [label="api.v1-x: Say \\"hi\\" | bye"];' in dot
    assert 'label="Back \\"end\\"";' in dot
    assert '"api.v1-x" -> "b_2";' in dot


def test_mermaid_makes_safe_node_ids_and_escapes_quotes() -> None:
    """Mermaid node IDs keep only word characters; quotes in labels become #quot;."""
    mermaid = render_mermaid(parse_cascade(ODD))
    assert 't_api_dv1_hx["api.v1-x: Say #quot;hi#quot; | bye"]' in mermaid
    assert 'subgraph s0["Back #quot;end#quot;"]' in mermaid
    assert "  t_api_dv1_hx --> t_b__2" in mermaid


def test_mermaid_node_ids_of_ids_differing_only_in_punctuation_are_distinct() -> None:
    """F1.1, F1-1 and F1_1 get three nodes, so F1_1's dependency on F1.1 is no self-loop."""
    mermaid = render_mermaid(cascade_of([("F1.1", "-"), ("F1-1", "-"), ("F1_1", "F1.1")]))
    nodes = re.findall(r"^    (\w+)\[", mermaid, re.M)
    assert nodes == ["t_F1_d1", "t_F1_h1", "t_F1__1"]
    assert re.findall(r"^  (\w+) --> (\w+)$", mermaid, re.M) == [("t_F1_d1", "t_F1__1")]


def test_mermaid_node_id_of_a_task_does_not_depend_on_the_other_tasks() -> None:
    """A task keeps its node ID when other tasks are added, so diagrams diff cleanly."""
    alone = render_mermaid(cascade_of([("a-b", "-")]))
    crowded = render_mermaid(cascade_of([("a_b", "-"), ("a.b", "-"), ("a-b", "a_b")]))
    assert '    t_a_hb["a-b: Task a-b"]' in alone
    assert '    t_a_hb["a-b: Task a-b"]' in crowded


def test_graph_labels_show_control_characters_and_escape_each_formats_markup() -> None:
    """A name with a title write, a clear-screen and markup: DOT gets the escapes as text in
    a valid string, Mermaid its entity codes for `#`, `<`, `>` and backticks."""
    name = "Bad \x1b]0;t\x07 <b>#1</b> `x` \x9b2J"
    cascade = parse_cascade(f"# P\n## L1: B\n{HEADER}| A | {name} | x | - |\n")
    dot, mermaid = render_dot(cascade), render_mermaid(cascade)
    for text in (dot, mermaid):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), text
    assert '"A" [label="A: Bad \\\\e]0;t\\\\x07 <b>#1</b> `x` \\\\x9b2J"];' in dot
    assert 't_A["A: Bad \\e]0;t\\x07 #lt;b#gt;#35;1#lt;/b#gt; #96;x#96; \\x9b2J"]' in mermaid
