"""The scheduler's state machine: what becomes ready, blocked or cancelled, and in what order,
without processes or a clock."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import engine
from engine.outcome import TaskStatus
from engine.plan.graph import TaskGraph
from engine.run.scheduler import Phase, Scheduler


def graph_of(deps: dict[str, tuple[str, ...]]) -> TaskGraph:
    """A TaskGraph from a dependency map given in topological order."""
    order = tuple(deps)
    dependents: dict[str, list[str]] = {t: [] for t in order}
    for task_id, ds in deps.items():
        for d in ds:
            dependents[d].append(task_id)
    priority: dict[str, int] = {}
    for task_id in reversed(order):
        priority[task_id] = 1 + max((priority[s] for s in dependents[task_id]), default=0)
    return TaskGraph(
        order=order,
        deps=dict(deps),
        dependents={t: tuple(v) for t, v in dependents.items()},
        priority=priority,
    )


DIAMOND = graph_of({"A": (), "B": ("A",), "C": ("A",), "D": ("B", "C"), "E": ()})


def drain(s: Scheduler) -> list[str]:
    """Pop every ready task (marking each running)."""
    out = []
    while (task_id := s.pop_ready()) is not None:
        out.append(task_id)
    return out


def test_ready_tasks_come_out_longest_chain_first() -> None:
    """A task that starts a long chain runs before a lone task listed earlier in the file."""
    graph = graph_of({"solo": (), "x1": (), "x2": ("x1",), "x3": ("x2",), "y1": (), "y2": ("y1",)})
    s = Scheduler(graph)
    assert drain(s) == ["x1", "y1", "solo"]


def test_equal_priority_keeps_file_order() -> None:
    """Ties in priority are broken by the order tasks appear in."""
    s = Scheduler(graph_of({"c": (), "a": (), "b": ()}))
    assert drain(s) == ["c", "a", "b"]


def test_only_tasks_without_dependencies_start_ready() -> None:
    """At the start, dependents wait; roots are ready."""
    s = Scheduler(DIAMOND)
    assert s.phase == {
        "A": Phase.READY,
        "B": Phase.WAITING,
        "C": Phase.WAITING,
        "D": Phase.WAITING,
        "E": Phase.READY,
    }
    assert s.pop_ready() == "A"
    assert s.phase["A"] is Phase.RUNNING


def test_done_unlocks_a_dependent_only_when_all_its_dependencies_are_done() -> None:
    """D waits for both B and C; finishing B alone does not make it ready."""
    s = Scheduler(DIAMOND)
    assert drain(s) == ["A", "E"]
    assert sorted(s.done("A")) == ["B", "C"]
    assert drain(s) == ["B", "C"]
    assert s.done("B") == []
    assert s.phase["D"] is Phase.WAITING
    assert s.pop_ready() is None
    assert s.done("C") == ["D"]
    assert s.pop_ready() == "D"


def test_fail_blocks_every_transitive_dependent_but_not_independent_tasks() -> None:
    """A failure blocks B, C and D (through B and C) and leaves E alone."""
    s = Scheduler(DIAMOND)
    drain(s)
    assert sorted(s.fail("A")) == ["B", "C", "D"]
    assert s.phase["A"] is Phase.FAILED
    assert {s.phase[t] for t in "BCD"} == {Phase.BLOCKED}
    assert s.phase["E"] is Phase.RUNNING
    assert not s.finished
    s.done("E")
    assert s.finished


def test_fail_after_a_sibling_is_done_blocks_only_what_is_unsettled() -> None:
    """When B is done and C fails, D is blocked; B stays done."""
    s = Scheduler(DIAMOND)
    drain(s)
    s.done("A")
    s.done("E")
    drain(s)
    s.done("B")
    assert s.fail("C") == ["D"]
    assert s.phase["B"] is Phase.DONE
    assert s.count(Phase.BLOCKED) == 1
    assert s.finished


def test_fail_as_cancelled_records_the_given_phase() -> None:
    """fail(task, CANCELLED) settles the task as cancelled and still blocks its dependents."""
    s = Scheduler(DIAMOND)
    drain(s)
    s.fail("A", Phase.CANCELLED)
    assert s.phase["A"] is Phase.CANCELLED
    assert s.phase["D"] is Phase.BLOCKED


def test_delay_then_requeue_makes_a_task_ready_again() -> None:
    """A delayed task is not handed out until it is requeued."""
    s = Scheduler(DIAMOND)
    assert s.pop_ready() == "A"
    s.delay("A")
    assert s.phase["A"] is Phase.DELAYED
    assert drain(s) == ["E"]
    s.requeue("A")
    assert s.phase["A"] is Phase.READY
    assert s.pop_ready() == "A"
    assert not s.finished


def test_requeue_of_a_running_task_is_allowed_and_of_a_settled_one_ignored() -> None:
    """requeue works for running tasks (immediate retry) and never revives a done task."""
    s = Scheduler(DIAMOND)
    assert s.pop_ready() == "A"
    s.requeue("A")
    assert s.pop_ready() == "A"
    s.done("A")
    s.requeue("A")
    assert s.phase["A"] is Phase.DONE
    assert "A" not in drain(s)


def test_cancel_open_cancels_waiting_ready_and_delayed_but_not_running() -> None:
    """Ctrl-C: nothing new starts; running tasks are left for the supervisor to stop."""
    s = Scheduler(DIAMOND)
    assert s.pop_ready() == "A"  # running
    s.pop_ready()  # E running
    s.delay("E")
    cancelled = s.cancel_open()
    assert sorted(cancelled) == ["B", "C", "D", "E"]
    assert s.phase["A"] is Phase.RUNNING
    assert s.pop_ready() is None
    assert not s.finished
    s.fail("A", Phase.CANCELLED)
    assert s.finished


def test_finished_only_when_every_task_is_settled() -> None:
    """finished turns true after the last task is done, not before."""
    s = Scheduler(graph_of({"a": (), "b": ("a",)}))
    assert not s.finished
    s.pop_ready()
    s.done("a")
    assert not s.finished
    s.pop_ready()
    s.done("b")
    assert s.finished
    assert s.count(Phase.DONE) == 2


def test_resume_with_done_set_starts_where_the_last_run_stopped() -> None:
    """Tasks done before are not run again; their dependents are ready at once."""
    s = Scheduler(DIAMOND, done={"A", "B"})
    assert s.phase["A"] is Phase.DONE
    assert drain(s) == ["C", "E"]
    assert s.done("C") == ["D"]


def test_resume_with_everything_done_is_finished_at_once() -> None:
    """A rerun of a completed plan has nothing to do."""
    s = Scheduler(DIAMOND, done=set("ABCDE"))
    assert s.finished
    assert s.pop_ready() is None


def test_empty_graph_is_finished() -> None:
    """No tasks, nothing to wait for."""
    assert Scheduler(graph_of({})).finished


def test_5000_task_chain_runs_in_order() -> None:
    """A 5,000-long chain hands out exactly one task at a time, in chain order."""
    n = 5000
    graph = graph_of({f"t{i}": ((f"t{i - 1}",) if i else ()) for i in range(n)})
    s = Scheduler(graph)
    seen = []
    while (task_id := s.pop_ready()) is not None:
        seen.append(task_id)
        assert s.pop_ready() is None
        s.done(task_id)
    assert seen == [f"t{i}" for i in range(n)]
    assert s.finished


def test_5000_wide_graph_releases_every_leaf_after_the_root_and_blocks_all_on_failure() -> None:
    """A root with 5,000 dependents unlocks all of them at once, or blocks all of them."""
    n = 5000
    deps = {"root": ()} | {f"leaf{i}": ("root",) for i in range(n)} | {"other": ()}
    s = Scheduler(graph_of(deps))
    assert drain(s) == ["root", "other"]
    released = s.done("root")
    assert len(released) == n
    assert drain(s) == [f"leaf{i}" for i in range(n)]
    for i in range(n):
        s.done(f"leaf{i}")
    s.done("other")
    assert s.finished
    assert s.count(Phase.DONE) == n + 2

    s = Scheduler(graph_of(deps))
    drain(s)
    assert len(s.fail("root")) == n
    assert s.count(Phase.BLOCKED) == n
    assert s.phase["other"] is Phase.RUNNING


def test_5000_task_layered_graph_respects_every_dependency() -> None:
    """In 50 layers of 100, each task waiting on three of the layer before, none runs early."""
    layers, width = 50, 100
    deps: dict[str, tuple[str, ...]] = {}
    for layer in range(layers):
        for i in range(width):
            picks = sorted({i, (i + 1) % width, (i * 7 + 3) % width}) if layer else []
            deps[f"L{layer}.{i}"] = tuple(f"L{layer - 1}.{j}" for j in picks)
    s = Scheduler(graph_of(deps))
    finished: set[str] = set()
    while not s.finished:
        batch = drain(s)
        assert batch, "nothing ready although the graph is not finished"
        for task_id in batch:
            assert all(d in finished for d in deps[task_id])
        for task_id in batch:
            s.done(task_id)
            finished.add(task_id)
    assert len(finished) == layers * width
    assert s.count(Phase.DONE) == layers * width


@dataclass
class Record:
    status: TaskStatus = TaskStatus.PENDING


def statuses(records: dict[str, Record]) -> str:
    return " ".join(f"{t}={r.status.value}" for t, r in records.items())


def test_each_move_sets_the_task_status_with_the_phase() -> None:
    """The scheduler is the one writer of a task's status: every transition of a run sets it
    with the phase, so the state and the scheduler cannot disagree."""
    records = {t: Record() for t in DIAMOND.order}
    records["E"].status = TaskStatus.DONE  # as carried over from the last run
    s = Scheduler(DIAMOND, done=["E"], tasks=records)
    assert statuses(records) == "A=pending B=pending C=pending D=pending E=done"
    assert s.pop_ready() == "A"
    # Picked is not running: the attempt's start (with its number and record) makes it so.
    assert records["A"].status is TaskStatus.PENDING
    s.begin("A")
    assert records["A"].status is TaskStatus.RUNNING
    s.delay("A")  # a retry later
    assert records["A"].status is TaskStatus.PENDING
    s.requeue("A")
    assert s.pop_ready() == "A"
    s.begin("A")
    s.done("A")
    assert statuses(records) == "A=done B=pending C=pending D=pending E=done"
    assert drain(s) == ["B", "C"]
    s.begin("B")
    s.begin("C")
    s.fail("B")
    assert statuses(records) == "A=done B=failed C=running D=blocked E=done"
    s.requeue("C")  # running, ready again at once (a shortage of resources)
    assert records["C"].status is TaskStatus.PENDING


def test_the_dependents_of_a_cancelled_task_stay_pending() -> None:
    """Below a cancelled task nothing failed: its dependents cannot run in this run, but
    they run on the next one, so their status stays pending (not blocked)."""
    records = {t: Record() for t in DIAMOND.order}
    s = Scheduler(DIAMOND, tasks=records)
    assert s.pop_ready() == "A"
    s.begin("A")
    assert sorted(s.fail("A", Phase.CANCELLED)) == ["B", "C", "D"]
    assert statuses(records) == "A=cancelled B=pending C=pending D=pending E=pending"
    assert {s.phase[t] for t in "BCD"} == {Phase.BLOCKED}


# The statuses a run starts from are set while the last run's state is read, before the run's
# scheduler exists (a done task asked to run again, anything not done: pending).
_STATUS_WRITERS = {"engine/run/scheduler.py", "engine/run/resume.py"}


def test_no_code_but_the_scheduler_assigns_a_task_status() -> None:
    """Two state machines kept in step by hand drift: no other module writes `.status`."""
    root = Path(engine.__file__).parent
    writers = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            while targets:
                target = targets.pop()
                if isinstance(target, ast.Tuple | ast.List):
                    targets.extend(target.elts)
                elif isinstance(target, ast.Attribute) and target.attr == "status":
                    writers.add(f"engine/{path.relative_to(root).as_posix()}:{node.lineno}")
    assert {w.rsplit(":", 1)[0] for w in writers} <= _STATUS_WRITERS, sorted(writers)
    assert any(w.startswith("engine/run/scheduler.py") for w in writers)
