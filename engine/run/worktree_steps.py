"""A task's git worktree, as steps of its attempt: made (holding its dependencies' branches)
before its agent starts, and its changes committed to the task's branch once the agent is done.

Every git command goes through `git`, which the runner supervises like an agent (marked as the
attempt's, stopped by Ctrl-C, one at a time per repository). The pure parts (paths, branch
names, command lines) are in `engine.run.worktree`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping

from engine.observe.logs import TaskLog
from engine.observe.state import TaskState
from engine.outcome import Failure, Verdict
from engine.plan.model import Task
from engine.run import worktree

# Runs one git command for a task: (exit code, output), the code None if git could not
# start or was stopped.
Git = Callable[[str, TaskState, list[str]], Awaitable[tuple[int | None, str]]]


class WorktreeSteps:
    """Makes and commits the worktrees of a run's `worktree: on` tasks."""

    def __init__(
        self,
        repo: worktree.Repo,
        worktrees_dir: str,
        git: Git,
        interrupted: Callable[[], bool],
    ) -> None:
        self.repo = repo
        self.worktrees_dir = worktrees_dir
        self.git = git
        self.interrupted = interrupted

    async def prepare(
        self, task: Task, ts: TaskState, uses: Mapping[str, bool], workdir: str
    ) -> tuple[str, Verdict | None]:
        """Make (or reuse) the task's worktree holding all its dependencies' branches:
        (where its agent works, None) or (_, why it cannot)."""
        repo = self.repo
        where = worktree.path(self.worktrees_dir, task.id)
        cwd = worktree.workdir_in(repo, where, workdir)
        sources = worktree.sources(task.depends_on, uses)
        ts.reason = f"preparing its git worktree ({worktree.branch(task.id)})"
        try:
            # One stat of a local path: cheaper than a thread to do it in.
            if not os.path.exists(os.path.join(where, ".git")):  # noqa: ASYNC240
                ref = f"refs/heads/{worktree.branch(task.id)}"
                show = worktree.git(repo.root, "show-ref", "--verify", "--quiet", ref)
                exists = (await self.git(task.id, ts, show))[0] == 0
                start = sources[0] if sources else repo.base
                add = worktree.add_command(repo, task.id, where, exists, start)
                code, out = await self.git(task.id, ts, add)
                if code != 0:
                    return cwd, self._failed("could not make its git worktree", code, out)
            missing = []
            for source in sources:  # a dependency run again has new work to bring in
                ancestor = worktree.git(where, "merge-base", "--is-ancestor", source, "HEAD")
                code, out = await self.git(task.id, ts, ancestor)
                if code is None:
                    return cwd, self._failed("could not read its git worktree", code, out)
                if code != 0:
                    missing.append(source)
            if missing:
                code, out = await self.git(
                    task.id, ts, worktree.merge_command(repo, where, missing)
                )
                if code != 0:
                    return cwd, await self._merge_failed(task.id, ts, where, sources, code, out)
        finally:
            ts.reason = None
        return cwd, None

    async def commit(self, task: Task, ts: TaskState, log: TaskLog) -> Verdict:
        """Commit what the agent changed in its worktree to the task's branch."""
        repo = self.repo
        where = worktree.path(self.worktrees_dir, task.id)
        code, out = await self.git(task.id, ts, worktree.git(where, "add", "--all"))
        if code == 0:
            staged = worktree.git(where, "diff", "--cached", "--quiet")
            code, out = await self.git(task.id, ts, staged)
            if code == 0:
                log.lines(time.time(), ["nothing to commit in the worktree"], "nova: ")
                return Verdict(None, "")
            if code == 1:
                message = worktree.commit_message(task.id, task.name, ts.attempts)
                commit = worktree.git(
                    where, "commit", "--quiet", "-m", message, identity=repo.identity
                )
                code, out = await self.git(task.id, ts, commit)
        if code != 0:
            return self._failed(f"could not commit its work in {where}", code, out)
        ts.ended = time.time()
        log.lines(ts.ended, [f"committed the work to {worktree.branch(task.id)}"], "nova: ")
        return Verdict(None, "")

    async def _merge_failed(
        self,
        task_id: str,
        ts: TaskState,
        where: str,
        sources: list[str],
        code: int | None,
        output: str,
    ) -> Verdict:
        """Why the branches a task builds on did not merge: the files in conflict, if any
        (the merge is left for the user to resolve), else what git said."""
        unmerged = worktree.git(where, "diff", "--name-only", "--diff-filter=U")
        files = (await self.git(task_id, ts, unmerged))[1].split() if code is not None else []
        if not files:
            return self._failed(f"could not merge {', '.join(sources)}", code, output)
        shown = ", ".join(files[:5]) + (" …" if len(files) > 5 else "")
        return Verdict(
            Failure.PERMANENT,
            f"the branches it builds on ({', '.join(sources)}) conflict in {shown}. Resolve "
            f"that in {where} and commit there, then run nova again.",
        )

    def _failed(self, what: str, code: int | None, output: str) -> Verdict:
        if code is None and self.interrupted():
            return Verdict(Failure.CANCELLED, "stopped by the user")
        detail = " ".join(output.strip().splitlines()[-1:])[:300].rstrip(".")
        return Verdict(Failure.PERMANENT, what + (f": {detail}" if detail else "") + ".")
