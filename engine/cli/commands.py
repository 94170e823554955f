"""The `nova` command line: one function per command, and the one place errors become exit codes.

Exit codes: 0 every task done (or the command succeeded), 1 some task did not finish,
2 nova could not start (bad input, missing agent, unusable state), 130 interrupted.
Heavy modules are imported inside the commands that use them, so `nova --help` and
`nova status` start fast.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine import __version__, interrupt
from engine.cli.snapshot import read_snapshot, unknown_task
from engine.errors import ExitCode, NovaError
from engine.text import visible_line

if TYPE_CHECKING:
    from engine.plan.graph import TaskGraph
    from engine.plan.model import Cascade

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _plan_in(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """A directory given for a plan means the CASCADE.md in it."""
    return value / "CASCADE.md" if value.is_dir() else value


CASCADE_ARG = click.argument(
    "cascade", default="CASCADE.md", type=click.Path(path_type=Path), callback=_plan_in
)
STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("state"),
    envvar="NOVA_STATE_DIR",
    show_default=True,
    help="Where the run's state JSON lives.",
)
LOGS_DIR = click.option(
    "--logs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("logs"),
    envvar="NOVA_LOGS_DIR",
    show_default=True,
    help="Where task logs are written.",
)


PLAN_LIMIT = 256 << 20  # bytes of CASCADE.md read at most; 20,000 tasks take a few MB


def load(path: Path) -> tuple[Cascade, TaskGraph]:
    """Parse and check a CASCADE.md; NovaError (exit 2) with every problem if it is bad."""
    from engine.errors import CascadeError, Problem
    from engine.fsio import UnsafeFileError, read_regular
    from engine.plan.cascade import decode_cascade, parse_cascade
    from engine.plan.graph import build_graph

    try:
        data = read_regular(path, PLAN_LIMIT, follow=True)
    except FileNotFoundError:
        raise CascadeError(
            [
                Problem(
                    str(path),
                    0,
                    "not found. Create one with 'nova init', "
                    "or pass the path: nova run path/to/CASCADE.md.",
                )
            ]
        ) from None
    except UnsafeFileError as exc:  # a FIFO or /dev/zero would hang the read, or fill memory
        fix = "Pass the path of a CASCADE.md file."
        raise CascadeError([Problem(str(path), 0, f"cannot be read: {exc}. {fix}")]) from None
    except OSError as exc:
        raise CascadeError([Problem(str(path), 0, f"cannot be read: {exc.strerror}.")]) from None
    try:
        cascade = parse_cascade(decode_cascade(data, str(path)), str(path))
    except CascadeError as exc:
        for warning in exc.warnings:
            click.echo(f"Warning: {visible_line(str(warning))}", err=True)
        raise
    for warning in cascade.warnings:
        click.echo(f"Warning: {visible_line(str(warning))}", err=True)
    return cascade, build_graph(cascade)


# The line each command gets in `nova --help`. Without one, click cuts the first sentence of
# the command's help to fit the terminal and ends it with "...".
SHORT_HELP = {
    "graph": "Print the task graph as DOT or Mermaid.",
    "init": "Write a starter CASCADE.md to edit.",
    "logs": "Print or follow (-f) one task's log.",
    "plan": "Show the waves tasks will run in.",
    "run": "Run the tasks, each once its deps are done.",
    "status": "Show every task's status, tokens and cost.",
    "validate": "Check a CASCADE.md without running it.",
}


class _Nova(click.Group):
    """The `nova` command group; its command list shows SHORT_HELP."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.short_help = cmd.short_help or SHORT_HELP.get(name or cmd.name or "")
        super().add_command(cmd, name)


def _count(n: int, noun: str) -> str:
    """`1 task`, `4 tasks`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@click.group(cls=_Nova, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="nova")
def cli() -> None:
    """Run a plan of work (CASCADE.md) with one AI coding agent per task.

    \b
    Quick start:
      nova init                 write a CASCADE.md to start from
      nova validate             check it
      nova plan                 show the order tasks will run in
      nova run -j 4             run it, 4 agents at once (Ctrl-C stops; run again resumes)
      nova status               see what every task did, tokens and cost
      nova logs F1 -f           follow one task's log

    Exit codes: 0 all done, 1 a task did not finish, 2 bad input, 130 interrupted.
    """


@cli.command(context_settings=CONTEXT)
@CASCADE_ARG
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 1000),
    default=4,
    show_default=True,
    help="How many agents run at once.",
)
@click.option(
    "--agent-cmd",
    metavar="TEMPLATE",
    help="Run TEMPLATE for every task instead of Claude Code. It is split into words "
    "like a shell would (never run by one); {id}, {name}, {prompt_file}, "
    "{cascade_dir} and {attempt} are filled in per task.",
)
@click.option("--model", help="Model for every task (overrides CASCADE.md), e.g. sonnet or opus.")
@click.option("--timeout", metavar="DURATION", help="Wall-clock limit per attempt, e.g. 30m.")
@click.option(
    "--stall-timeout",
    metavar="DURATION",
    help="End and retry an attempt with no output for this long, e.g. 20m.",
)
@click.option(
    "--retries", type=click.IntRange(0, 100), help="Retries of a task after a transient failure."
)
@click.option(
    "--retry-delay", metavar="DURATION", help="Backoff before the first retry (doubles each time)."
)
@click.option("--max-turns", type=click.IntRange(1), help="Claude Code --max-turns per task.")
@click.option(
    "--permission-mode",
    type=click.Choice(["default", "acceptEdits", "bypassPermissions", "plan", "dontAsk"]),
    help="Claude Code permission mode for every task. bypassPermissions is never "
    "the default; choose it here or in CASCADE.md.",
)
@click.option("--allowed-tools", metavar="TOOLS", help='Claude Code tools, e.g. "Bash Edit Read".')
@click.option(
    "--claude",
    "claude_bin",
    default="claude",
    envvar="NOVA_CLAUDE",
    show_default=True,
    help="The Claude Code program.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds an agent gets to stop after Ctrl-C before it is terminated.",
)
@click.option(
    "--rerun",
    "rerun_ids",
    metavar="ID",
    multiple=True,
    help="Run task ID again even if it is done, and every task that depends on it (repeatable).",
)
@click.option("--fresh", is_flag=True, help="Run every task again, done or not.")
@click.option("--dry-run", is_flag=True, help="Show the plan (waves) and exit without running.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures and the summary.")
@STATE_DIR
@LOGS_DIR
def run(
    cascade: Path,
    jobs: int,
    claude_bin: str,
    grace: float,
    rerun_ids: tuple[str, ...],
    fresh: bool,
    dry_run: bool,
    quiet: bool,
    state_dir: Path,
    logs_dir: Path,
    **settings: Any,  # --agent-cmd, --model, --timeout, ...: see `_overrides`
) -> None:
    """Run the tasks of CASCADE (default ./CASCADE.md), each as soon as its dependencies are done.

    Running it again resumes: done tasks are kept, everything else runs again (--rerun ID or
    --fresh runs done tasks again). Logs go to LOGS_DIR/<ID>.log, state to
    STATE_DIR/state.json (read it with 'nova status').
    """
    from engine.agents.claude import KIND as CLAUDE
    from engine.observe.progress import LineReporter
    from engine.run.preflight import check_default_dir
    from engine.run.runner import Runner, RunOptions

    parsed, graph = load(cascade)
    overrides = _overrides(**settings)
    rerun = frozenset(parsed.tasks) if fresh else _rerun_set(parsed, graph, rerun_ids)
    if dry_run:
        click.echo(_render_plan(parsed, graph, overrides, _outside(parsed, cascade)), nl=False)
        return
    context = click.get_current_context()
    for name, where, option, what in (
        ("state_dir", state_dir, "--state-dir", "state"),
        ("logs_dir", logs_dir, "--logs-dir", "logs"),
    ):  # a directory named on purpose (option or environment) may be a link anywhere
        if context.get_parameter_source(name) is click.core.ParameterSource.DEFAULT:
            check_default_dir(where, option, what)
    options = RunOptions(
        cascade_path=cascade.resolve(),
        state_dir=state_dir,
        logs_dir=logs_dir,
        jobs=jobs,
        overrides=overrides,
        programs={CLAUDE: claude_bin},  # the --claude option is Claude Code's program
        grace=grace,
        rerun=rerun,
    )
    runner = Runner(parsed, graph, options, LineReporter(quiet=quiet))
    with interrupt.deferred():  # from here on, a Ctrl-C is the runner's to handle: it stops cleanly
        runner.prepare()
        code = runner.run()
    sys.exit(int(code))


def _rerun_set(parsed: Any, graph: Any, ids: tuple[str, ...]) -> frozenset[str]:
    """The tasks `--rerun` names and every task that depends on them (their input changes)."""
    chosen: set[str] = set()
    for task_id in ids:
        if task_id not in parsed.tasks:
            raise unknown_task(
                task_id, list(parsed.tasks), "in the plan", "--rerun: there is no task", "plan"
            )
        chosen.add(task_id)
        chosen.update(graph.downstream(task_id))
    return frozenset(chosen)


def _overrides(
    agent_cmd: str | None = None,
    model: str | None = None,
    timeout: str | None = None,
    stall_timeout: str | None = None,
    retries: int | None = None,
    retry_delay: str | None = None,
    max_turns: int | None = None,
    permission_mode: str | None = None,
    allowed_tools: str | None = None,
) -> Any:
    from engine.errors import ConfigError
    from engine.plan.settings import SettingError, Settings, parse_duration

    def duration(name: str, value: str | None) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except SettingError as exc:
            raise ConfigError(f"--{name}: {exc}") from None

    kind: str | None = None
    if agent_cmd:
        from engine.agents.command import KIND as kind  # --agent-cmd is that agent's template
        from engine.agents.template import split_command

        split_command(agent_cmd)  # a bad template is an error now, --dry-run included
    return Settings(
        agent=kind,
        command=agent_cmd,
        model=model,
        timeout=duration("timeout", timeout),
        stall_timeout=duration("stall-timeout", stall_timeout),
        retries=retries,
        retry_delay=duration("retry-delay", retry_delay),
        max_turns=max_turns,
        permission_mode=permission_mode,
        allowed_tools=allowed_tools,
    )


def _outside(parsed: Cascade, path: Path) -> dict[str, str]:
    """The resolved workdir of each task whose workdir is outside the project."""
    from engine.plan.settings import Settings
    from engine.run.preflight import Places, resolve_settings

    places = Places(path.resolve(), Path("state"))
    return {
        task_id: places.workdir(s)
        for task_id, s in resolve_settings(parsed, Settings()).items()
        if s.workdir and places.outside(places.workdir(s))
    }


def _render_plan(
    cascade: Cascade, graph: TaskGraph, overrides: Any, outside: dict[str, str] | None = None
) -> str:
    """The waves, and per task its agent, model and every other setting that is not nova's
    default (`[claude opus · timeout 5s · retries 3]`), so no setting is a surprise at run time;
    a workdir `outside` the project is shown resolved, and says so."""
    from engine import agents
    from engine.plan.model import effective_settings
    from engine.plan.settings import DEFAULTS, describe

    defaults = describe(DEFAULTS)
    lines = [
        f"{cascade.project or cascade.path}: {_count(len(cascade.tasks), 'task')} in "
        f"{_count(len(graph.waves()), 'wave')}"
    ]
    for n, wave in enumerate(graph.waves(), 1):
        lines.append(f"wave {n}:")
        for task_id in wave:
            task = cascade.tasks[task_id]
            s = effective_settings(task, overrides)
            agent = agents.get(s.agent)
            how = agent.label(s)
            shown = describe(s, agent.settings)
            if outside and task_id in outside:
                shown["workdir"] = f"{outside[task_id]} (outside the project)"
                shown.pop("workdir-outside", None)  # the note says it
            how += "".join(
                f" · {key} {value}"
                for key, value in shown.items()
                if key not in ("agent", "model") and defaults.get(key) != value
            )
            after = f" after {', '.join(task.depends_on)}" if task.depends_on else ""
            lines.append(f"  {task_id:<10} {task.name}  [{how}]{after}")
    # Every line holds names and settings from the plan: none may act on the terminal.
    return "\n".join(map(visible_line, lines)) + "\n"


@cli.command(context_settings=CONTEXT)
@CASCADE_ARG
def validate(cascade: Path) -> None:
    """Check CASCADE for errors without running anything (exit 2 if it has any)."""
    from engine.plan.settings import Settings
    from engine.run.preflight import Places, check_workdirs, resolve_settings

    parsed, graph = load(cascade)
    places = Places(cascade.resolve(), Path("state"))
    check_workdirs(parsed, resolve_settings(parsed, Settings()), places)
    click.echo(
        f"{cascade}: OK — {_count(len(parsed.tasks), 'task')} in "
        f"{_count(len(parsed.sections()), 'section')}, "
        f"{_count(len(graph.waves()), 'wave')}."
    )


@cli.command(context_settings=CONTEXT)
@CASCADE_ARG
@click.option("--agent-cmd", metavar="TEMPLATE", help="Show the plan as if run with --agent-cmd.")
def plan(cascade: Path, agent_cmd: str | None) -> None:
    """Show the waves tasks will run in, without running them."""
    parsed, graph = load(cascade)
    overrides = _overrides(agent_cmd)
    click.echo(_render_plan(parsed, graph, overrides, _outside(parsed, cascade)), nl=False)


@cli.command(context_settings=CONTEXT)
@CASCADE_ARG
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["dot", "mermaid"]),
    default="mermaid",
    show_default=True,
    help="Graphviz DOT or a Mermaid flowchart.",
)
def graph(cascade: Path, fmt: str) -> None:
    """Print the task graph as DOT or Mermaid."""
    from engine.plan.graph import render_dot, render_mermaid

    parsed, _ = load(cascade)
    click.echo(render_dot(parsed) if fmt == "dot" else render_mermaid(parsed), nl=False)


@cli.command(context_settings=CONTEXT)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the state as JSON (stable schema); indented on a terminal, else compact.",
)
@click.option("-w", "--watch", is_flag=True, help="Redraw every second until the run ends.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between redraws with --watch.",
)
@STATE_DIR
def status(as_json: bool, watch: bool, interval: float, state_dir: Path) -> None:
    """Show what every task is doing or did, per section, with tokens and cost per model."""
    import gc

    colour = sys.stdout.isatty()
    # A big state is half a million objects, all alive until the report is out and none in a
    # cycle: the collector's passes over them (a tenth of the command) would free nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            alive = _show_status(state_dir, as_json, colour, clear=watch and colour)
            if not watch or not alive:
                return
            gc.enable()
            time.sleep(interval)
            gc.disable()
    finally:
        if enabled:
            gc.enable()


def _show_status(state_dir: Path, as_json: bool, colour: bool, clear: bool) -> bool:
    """Print one status report; whether the run is alive."""
    from engine.observe.status import render_status, status_json_frame, status_json_text

    snapshot, alive = read_snapshot(state_dir, tasks_json=as_json)
    state, now = snapshot.state, time.time()
    parts: list[str | memoryview] = ["\x1b[H\x1b[2J"] if clear else []
    if not as_json:
        parts.append(render_status(state, alive, now, colour))
    elif colour or snapshot.tasks_json is None or not _stdout_is_utf8():
        # Indented for a person at a terminal; compact (as state.json is) for a program.
        parts.append(
            status_json_text(state, alive, now, indent=2 if colour else None, tasks=snapshot.tasks)
        )
    else:  # the file's own bytes of the tasks, framed: no need to encode them again
        from engine.text import visible_json_utf8

        head, tail = status_json_frame(state, alive, now)
        parts += [head, visible_json_utf8(snapshot.tasks_json), tail]
    _print(*parts)
    return alive


def _stdout_is_utf8() -> bool:
    """Whether text printed is encoded as UTF-8, like the bytes of state.json."""
    import codecs

    try:
        return codecs.lookup(sys.stdout.encoding or "utf-8").name == "utf-8"
    except LookupError:
        return False


def _print(*parts: str | memoryview) -> None:
    """Write text (and bytes) to stdout; a character it cannot encode (a lone surrogate from a
    hand-edited state) becomes '?' instead of an exception."""
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        click.echo(
            "".join(p if isinstance(p, str) else p.tobytes().decode() for p in parts), nl=False
        )
        return
    out.flush()
    for part in parts:
        buffer.write(
            part.encode(out.encoding or "utf-8", "replace") if isinstance(part, str) else part
        )
    buffer.flush()


@cli.command(context_settings=CONTEXT)
@click.argument("task_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines while the task runs.")
@click.option("--raw", is_flag=True, help="Print the agent's raw stdout of the last attempt.")
@click.option("--stderr", is_flag=True, help="With --raw: its raw stderr instead.")
@LOGS_DIR
@STATE_DIR
def logs(
    task_id: str, follow: bool, raw: bool, stderr: bool, logs_dir: Path, state_dir: Path
) -> None:
    """Print the log of TASK_ID (what its agent said and did), or follow it with -f."""
    from engine.cli.follow import (
        LogShown,
        TaskWatch,
        check_known,
        log_from_state,
        print_log,
        raw_log,
    )
    from engine.errors import ConfigError
    from engine.observe.logs import log_path
    from engine.plan.cascade import TASK_ID

    if not TASK_ID.match(task_id):
        raise ConfigError(f"'{task_id}' is not a task ID.")
    if follow:
        check_known(state_dir, task_id)
    path = log_path(logs_dir, task_id)
    if raw or stderr:
        path, attempt = raw_log(logs_dir, task_id, stderr)
        if not path.exists() and not follow:  # nothing to print is no error
            stream = "stderr" if stderr else "stdout"
            click.echo(f"(attempt {attempt} of '{task_id}' wrote nothing to {stream})", err=True)
            return
    if not path.exists() and not follow:
        path = log_from_state(state_dir, task_id, logs_dir)
    show = LogShown(sys.stdout.buffer, keep=(raw or stderr) and not sys.stdout.isatty())
    print_log(path, show, TaskWatch(state_dir, task_id) if follow else None)


TEMPLATE = """\
# {project}

- model: sonnet
- timeout: 45m
- retries: 2

## L1: Application

### L2: Foundation
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| F1 | Core Types | Define the base types and interfaces in src/types.py | - |
| F2 | Error Handling | Add the error types the rest of the code raises | F1 |

### L2: Features
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| A1 | Validation | Build input validation on top of the core types | F1, F2 |

#### A1: Validation
Longer instructions for a task go under a heading that starts with its ID. Settings for just
this task go in a list right under the heading, like the project's settings above.
"""


def _new_plan(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """Where `nova init PATH` writes: PATH, or PATH/CASCADE.md when PATH is a directory or
    names none yet and has no suffix (`nova init newdir`, like `git init newdir`)."""
    if value.is_dir() or (not value.exists() and not value.suffix):
        return value / "CASCADE.md"
    return value


@cli.command(context_settings=CONTEXT)
@click.argument("path", default="CASCADE.md", type=click.Path(path_type=Path), callback=_new_plan)
@click.option("--project", default="My Project", show_default=True, help="The project's name.")
def init(path: Path, project: str) -> None:
    """Write a starter CASCADE.md to edit (never overwrites a file; creates missing folders)."""
    from engine.errors import ConfigError

    exists = ConfigError(
        f"{path} already exists; nova init never overwrites a file. Choose "
        "another path: nova init other/CASCADE.md."
    )
    if path.exists():
        raise exists
    if path.parent.exists() and not path.parent.is_dir():
        raise ConfigError(
            f"{path.parent} is a file, so {path} cannot be written. Choose another path."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the folder {path.parent} for {path.name}: "
            f"{exc.strerror}. Choose another path."
        ) from None
    try:
        with open(path, "x", encoding="utf-8") as out:  # "x": a file made meanwhile is kept
            out.write(TEMPLATE.format(project=project))
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}. Choose a path in a folder you can write to."
        ) from None
    click.echo(f"Wrote {path}. Edit it, then: nova validate {path} && nova run {path}")


def main() -> None:
    """Entry point: run the command, turning nova's errors into messages and exit codes."""
    # Started with stdout or stderr closed (`nova run >&-`), Python has no file for them.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 (for the process' life)
    try:
        cli.main(standalone_mode=False)
    except NovaError as exc:
        for line in map(visible_line, str(exc).splitlines()):  # they quote plan values
            click.echo(f"Error: {line}" if not line.startswith(" ") else line, err=True)
        sys.exit(int(exc.exit_code))
    except (click.exceptions.Abort, KeyboardInterrupt):
        # Ctrl-C outside a run (click makes it Abort): the user knows, 130 says it to scripts.
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.BAD_INPUT))
    except BrokenPipeError:
        # `nova status | head`: the reader left; that is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
