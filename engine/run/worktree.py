"""Per-task git worktrees: with `worktree: on`, a task's agent works in a checkout of its own.

Parallel agents in one directory trample each other's files. With worktrees each task gets
`STATE_DIR/worktrees/<ID>`, on branch `nova/<ID>`, made from the branches of the tasks it
depends on (merged, when there are several) or, for a task without such dependencies, from the
commit the repository's HEAD was on when the run began. When its agent has succeeded, nova
commits what it changed there, so the branch holds the task's work and everything before it;
the branches of the last tasks hold the whole plan's work, to merge when the user wants.

Pure: the rules and the git command lines. The runner runs them (through the executor, so
they are supervised like agents).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BRANCH_PREFIX = "nova/"
# Committer used only when the repository has no user.name / user.email of its own.
IDENTITY = ("-c", "user.name=nova", "-c", "user.email=nova@localhost")


@dataclass(frozen=True)
class Repo:
    """The git repository a plan's worktree tasks come from."""

    root: str  # its top-level directory
    base: str  # the commit HEAD was on when the run began
    identity: tuple[str, ...] = ()  # IDENTITY when the repository configures none


def git(where: str, *args: str, identity: Sequence[str] = ()) -> list[str]:
    """The command line of one git command run in `where` (`identity`: the committer's
    `-c` options, for a command that commits)."""
    return ["git", *identity, "-C", where, *args]


def branch(task_id: str) -> str:
    return BRANCH_PREFIX + task_id


def branch_problem(task_id: str) -> str | None:
    """Why `nova/<ID>` cannot be a git branch name, or None. Task IDs are already ASCII
    letters, digits, '.', '_' and '-'; git also refuses '..', a trailing '.' and '.lock'."""
    if ".." in task_id or task_id.endswith((".", ".lock")):
        return (
            f"task ID '{task_id}' cannot name its git branch ({branch(task_id)}): git refuses "
            "'..', a trailing '.' and '.lock'. Rename the task, or turn worktree off for it."
        )
    return None


def path(worktrees_dir: str, task_id: str) -> str:
    return os.path.join(worktrees_dir, task_id)


def workdir_in(repo: Repo, worktree: str, workdir: str) -> str:
    """Where the agent works inside its worktree: the task's workdir, at the same place
    relative to the repository's top level."""
    relative = os.path.relpath(workdir, repo.root)
    return worktree if relative == "." else os.path.normpath(os.path.join(worktree, relative))


def sources(task_deps: Sequence[str], uses_worktree: Mapping[str, bool]) -> list[str]:
    """The branches a task's worktree is made from: those of its dependencies that have one,
    in the plan's order. Empty means the run's base commit."""
    return [branch(d) for d in task_deps if uses_worktree.get(d)]


def add_command(repo: Repo, task_id: str, where: str, branch_exists: bool, start: str) -> list[str]:
    """`git worktree add`: on the task's branch if it exists (an earlier run's work), else a
    new branch from `start`."""
    if branch_exists:
        return git(repo.root, "worktree", "add", "--quiet", where, branch(task_id))
    return git(repo.root, "worktree", "add", "--quiet", "-b", branch(task_id), where, start)


def merge_command(repo: Repo, where: str, others: Sequence[str]) -> list[str]:
    return git(where, "merge", "--quiet", "--no-edit", *others, identity=repo.identity)


def commit_message(task_id: str, name: str, attempt: int) -> str:
    return f"nova: {task_id} {name}\n\nDone by nova's agent for task {task_id} (attempt {attempt})."


def leaves(done_with_worktree: Sequence[str], dependents: Mapping[str, Sequence[str]]) -> list[str]:
    """Branches that hold work no other branch of the run builds on: the ones to merge."""
    done = set(done_with_worktree)
    return [
        branch(t) for t in done_with_worktree if not any(d in done for d in dependents.get(t, ()))
    ]
