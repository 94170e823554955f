"""What can be known before any agent starts: each task's settings, where its agent works,
and whether the programs it needs exist and can run as configured.

A missing `claude`, an agent command that is not there, a workdir that does not exist, or a
permission mode Claude Code will refuse is bad input (exit 2, nothing started), not a failure
of every task one after the other. Tasks of one section share their `Settings` object, so
each distinct one is resolved and checked once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from engine import agents, fsio
from engine.agents.base import find_program
from engine.agents.template import command_argv, placeholder_values
from engine.errors import ConfigError
from engine.plan.cascade import Cascade, effective_settings
from engine.plan.settings import Settings
from engine.run import worktree
from engine.text import visible_line


def resolve_settings(cascade: Cascade, overrides: Settings) -> dict[str, Settings]:
    """Each task's settings: the file's, the command line's on top, the defaults beneath, and
    the default agent kind for a task that names none; ConfigError for a kind no adapter is
    registered for."""
    resolved: dict[int, Settings] = {}
    out: dict[str, Settings] = {}
    for task_id, task in cascade.tasks.items():
        key = id(task.settings)
        if key not in resolved:
            s = effective_settings(task, overrides)
            try:
                kind = agents.get(s.agent).kind
            except ConfigError as exc:
                raise ConfigError(f"{cascade.path}:{task.line}: task '{task_id}': {exc}") from None
            resolved[key] = s if s.agent == kind else dataclasses.replace(s, agent=kind)
        out[task_id] = resolved[key]
    return out


class Places:
    """The directories a run works with, resolved once."""

    def __init__(self, cascade_path: Path, state_dir: Path) -> None:
        self.cwd = os.getcwd()
        self.cascade_dir = str(cascade_path.parent.resolve())
        self.prompts_dir = str((state_dir / "prompts").resolve())
        self._workdirs: dict[str | None, str] = {}

    def workdir(self, s: Settings) -> str:
        """Where a task's agent works: its workdir (relative to CASCADE.md) or nova's cwd."""
        found = self._workdirs.get(s.workdir)
        if found is None:
            found = str((Path(self.cascade_dir) / s.workdir).resolve()) if s.workdir else self.cwd
            self._workdirs[s.workdir] = found
        return found

    def outside(self, workdir: str) -> bool:
        """Whether a workdir (resolved, symlinks and `..` followed) is outside the project,
        the folder of CASCADE.md."""
        return not Path(workdir).is_relative_to(self.cascade_dir)

    def prompt_file(self, task_id: str) -> str:
        return os.path.join(self.prompts_dir, f"{task_id}.md")


def check_agents(
    cascade: Cascade,
    settings: Mapping[str, Settings],
    places: Places,
    overrides: Mapping[str, str],
    env: Mapping[str, str],
) -> dict[str, str]:
    """ConfigError or AgentNotFoundError for the first thing that cannot work; else the path
    of each kind's program that is found once (`overrides`, kind -> program as the user named
    it, kept as given for a kind no task uses)."""
    check_workdirs(cascade, settings, places)
    checked: set[int] = set()  # tasks sharing settings share the answers
    programs: set[tuple[str, str]] = set()
    found = dict(overrides)
    once: set[str] = set()  # kinds whose program is found
    for task_id, s in settings.items():
        workdir = places.workdir(s)
        agent = agents.get(s.agent)
        values = placeholder_values(
            task_id, places.prompt_file(task_id), cascade.tasks[task_id].name, places.cascade_dir
        )
        wanted = []  # (program, where, how errors name it, the fix)
        if id(s) not in checked:
            checked.add(id(s))
            agent.check(task_id, s, env)
        # Asked per task: a command's program may hold a placeholder ({id}.sh).
        program = agent.program(s, values, overrides.get(agent.kind))
        if program is not None and program.per_task:
            wanted.append((program.name, workdir, program.what, program.fix))
        elif program is not None and agent.kind not in once:
            once.add(agent.kind)
            found[agent.kind] = find_program(program.name, places.cwd, program.what, program.fix)
        if s.check:
            fix = (
                f"Fix the check setting in CASCADE.md (check: {s.check}); if that line is a "
                "note, not a setting, reword it."
            )
            named = f"task '{task_id}': the check command"
            wanted.append((command_argv(s.check, values, "check command")[0], workdir, named, fix))
        for name, where, what, fix in wanted:
            if (name, where) not in programs:
                programs.add((name, where))
                find_program(name, where, what, fix)
    return found


def check_workdirs(cascade: Cascade, settings: Mapping[str, Settings], places: Places) -> None:
    """ConfigError for the first task whose workdir is outside the project without
    `workdir-outside: yes`, or does not exist (for `nova validate` too)."""
    seen: set[tuple[str, bool]] = set()
    for task_id, s in settings.items():
        workdir = places.workdir(s)
        if (workdir, bool(s.workdir_outside)) not in seen:
            seen.add((workdir, bool(s.workdir_outside)))
            if s.workdir and not s.workdir_outside and places.outside(workdir):
                raise ConfigError(
                    f"{cascade.path}:{cascade.tasks[task_id].line}: task '{task_id}' works in "
                    f"{visible_line(workdir)}, outside the project "
                    f"({visible_line(places.cascade_dir)}). Set 'workdir-outside: yes' in its "
                    "settings to allow it."
                )
            if not os.path.isdir(workdir):
                raise ConfigError(
                    f"{cascade.path}:{cascade.tasks[task_id].line}: task '{task_id}': workdir "
                    f"'{workdir}' does not exist. Create it or fix the task's workdir setting."
                )


def check_logs_dir(logs_dir: Path, task_ids: Collection[str] = ()) -> None:
    """Make `logs_dir` and its `raw/` (a run makes them anyway), or ConfigError saying why it
    cannot hold logs: found now, not as every task failing to start. A log of one of
    `task_ids` that is a link (planted to make the run append to a file elsewhere) or not a
    regular file is refused too."""
    raw = logs_dir / "raw"
    try:
        fsio.make_private_dir(logs_dir, link_ok=True)  # a link the user chose: see cli.run
        fsio.make_private_dir(raw)
    except fsio.UnsafeFileError as exc:
        raise ConfigError(f"{exc}. Remove it (rm {raw}); nova makes its own.") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot write task logs to {logs_dir} ({exc.strerror or exc}). Point --logs-dir "
            "at a directory nova can create and write."
        ) from None
    for where in (logs_dir, raw):
        if not os.access(where, os.W_OK | os.X_OK):
            raise ConfigError(
                f"cannot write task logs to {where} (permission denied). Make it writable, "
                "or point --logs-dir at a directory nova can write."
            )
    if task_ids:
        _check_own_files(logs_dir, lambda name: name.endswith(".log") and name[:-4] in task_ids)
        _check_own_files(raw, lambda name: name.rpartition("-")[0] in task_ids)


def _check_own_files(directory: Path, own: Callable[[str], bool]) -> None:
    """ConfigError for the first entry of `directory` that nova writes (`own(name)`) and
    would refuse to open; one scan, whose entries say their type without a stat each."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return  # said by the access check above, or by the first write
    for entry in entries:
        if not entry.is_file(follow_symlinks=False) and own(entry.name):
            try:
                fsio.check_own_file(entry.path)
            except fsio.UnsafeFileError as exc:
                raise ConfigError(
                    f"{exc}. Remove it (rm {entry.path}) and run again; nova makes its own."
                ) from None


def check_own_dirs(*directories: Path) -> None:
    """ConfigError if one of `directories` (made by nova inside its state directory) is a
    symbolic link: one planted there would make the run write prompts or worktrees elsewhere."""
    for directory in directories:
        if directory.is_symlink():
            raise ConfigError(
                f"{directory} is a symbolic link (to {os.readlink(directory)}), and nova makes "
                f"that directory itself. Remove the link (rm {directory}) and run again."
            )


def check_default_dir(directory: Path, option: str, what: str) -> None:
    """ConfigError if `directory`, nova's default for its `what` (not a place the user named),
    is a symbolic link out of the current directory: one planted in a project (a cloned
    repository can hold one) would make the run write its files there."""
    if not directory.is_symlink():
        return
    target = directory.resolve()
    here = Path.cwd().resolve()
    if target == here or here in target.parents:
        return
    raise ConfigError(
        f"{directory} is a symbolic link to {target}, outside this project ({here}), and nova "
        f"writes its {what} through no link it was not given: a link planted in a project "
        f"would make a run write there. Remove the link (rm {directory}), or, if you meant "
        f"it, name the directory: {option} {target}."
    )


def find_repo(
    settings: Mapping[str, Settings], places: Places, worktrees_dir: Path
) -> worktree.Repo | None:
    """The git repository the tasks with `worktree: on` come from (None if no task uses
    one), or ConfigError saying what is missing: git, a repository, a first commit."""
    users = [task_id for task_id, s in settings.items() if s.worktree]
    if not users:
        return None
    if shutil.which("git") is None:
        raise ConfigError(
            f"task '{users[0]}' has worktree: on, but git is not on PATH. Install git, or "
            "turn worktree off."
        )
    for task_id in users:
        problem = worktree.branch_problem(task_id)
        if problem:
            raise ConfigError(problem)
    roots: dict[str, str] = {}
    for task_id in users:
        workdir = places.workdir(settings[task_id])
        if workdir not in roots:
            code, out = _git(workdir, "rev-parse", "--show-toplevel")
            if code != 0:
                raise ConfigError(
                    f"task '{task_id}' has worktree: on, but its workdir {workdir} is not in a "
                    "git repository. Run 'git init' and commit there, or turn worktree off."
                )
            roots[workdir] = out
    if len(set(roots.values())) > 1:
        raise ConfigError(
            "tasks with worktree: on work in more than one git repository "
            f"({', '.join(sorted(set(roots.values())))}); nova makes worktrees of one."
        )
    root = next(iter(roots.values()))
    code, base = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if code != 0:
        raise ConfigError(
            f"the git repository {root} has no commit yet, and worktrees start from one. "
            "Commit something first (git commit --allow-empty -m start)."
        )
    named = _git(root, "config", "user.email")[0] == 0
    try:
        fsio.make_private_dir(worktrees_dir)
        # The main checkout does not list the worktrees as new files. Anything already there,
        # a link included, is kept as it is.
        with contextlib.suppress(FileExistsError):
            fd = fsio.create_new(worktrees_dir / ".gitignore")
            with os.fdopen(fd, "w", encoding="utf-8") as ignore:
                ignore.write("*\n")
    except OSError as exc:
        raise ConfigError(f"cannot make {worktrees_dir} for worktrees ({exc.strerror}).") from None
    return worktree.Repo(root, base, () if named else worktree.IDENTITY)


def _git(where: str, *args: str) -> tuple[int, str]:
    """Run git in `where` before the run starts (no agent runs yet, so nothing to supervise
    it with): (exit code, stripped output)."""
    proc = subprocess.run(
        worktree.git(where, *args),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return proc.returncode, proc.stdout.strip()
