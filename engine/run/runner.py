"""The supervisor: one asyncio loop that runs the graph, task by task, as slots free up.

Event-driven: the loop sleeps until something happens (an attempt ends, a retry or usage-limit
timer fires, a signal arrives) and then launches whatever became ready, so a dependent starts
within milliseconds of its last dependency. It applies the failure policy (`engine.run.policy`),
keeps the state (written through a debounced, atomic writer) and the logs, and on Ctrl-C stops
every agent in order before saving and exiting 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import shlex
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine import __version__, agents, interrupt
from engine.agents import capabilities
from engine.agents.base import OutputParser, Request, agent_env
from engine.agents.template import command_argv, placeholder_values
from engine.errors import ExitCode, StateError
from engine.executors import procs
from engine.executors.base import Executor, Launch, Limits, Sink, SpawnError, StopRequest
from engine.executors.local import LocalExecutor
from engine.observe.journal import Decoded, Journal, read_journal
from engine.observe.logs import TaskLog, format_footer, format_header
from engine.observe.progress import Reporter
from engine.observe.redact import MIN_SECRET_LENGTH, Redactor, secret_values, short_secret_names
from engine.observe.state import RESULT_CHARS, RunState, State, StateEncoder, TaskState
from engine.observe.store import StateStore, lock_dir
from engine.observe.writer import StateWriter
from engine.outcome import (
    Exit,
    Failure,
    StopCause,
    TaskStatus,
    Verdict,
    check_outcome,
    check_verdict,
)
from engine.plan.cascade import Cascade, Task
from engine.plan.graph import TaskGraph
from engine.plan.prompt import build_check_prompt, build_prompt, build_resume_prompt, check_feedback
from engine.plan.settings import Settings, describe
from engine.run import policy, worktree
from engine.run.attempt import Attempt, CheckOutput, Collected
from engine.run.preflight import (
    Places,
    check_agents,
    check_logs_dir,
    check_own_dirs,
    find_repo,
    resolve_settings,
)
from engine.run.resume import carry_over, last_run
from engine.run.scheduler import Phase, Scheduler
from engine.run.worktree_steps import WorktreeSteps


def _env_seconds(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:  # a bad value must not stop nova; the default is safe
        return default


# Wait this long past a usage limit's reset before launching again (NOVA_RATE_LIMIT_MARGIN),
# and never less than this from now (NOVA_RATE_LIMIT_MIN_WAIT; see engine.run.policy).
RATE_LIMIT_MARGIN = _env_seconds("NOVA_RATE_LIMIT_MARGIN", 60.0)
RATE_LIMIT_MIN_WAIT = _env_seconds("NOVA_RATE_LIMIT_MIN_WAIT", policy.LIMIT_MIN_WAIT)
MAX_STARVED = policy.MAX_STARVED  # starts in a row that found no resources, none running
HEARTBEAT = 5.0
LOGS_LOCK = ".run.lock"  # in the logs directory: one run writes there at a time
GIT_TIMEOUT = 600.0  # for one git command of a worktree (a merge in a large repository)
# A closed terminal or SSH session (SIGHUP) stops the run like Ctrl-C: agents report usage.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class RunOptions:
    """What `nova run` was asked: the files and directories, jobs, overrides and grace."""

    cascade_path: Path
    state_dir: Path
    logs_dir: Path
    jobs: int = 4
    overrides: Settings = field(default_factory=Settings)
    # The program of an agent kind, as the user named it (`--claude PATH`): kind -> program.
    programs: Mapping[str, str] = field(default_factory=dict)
    grace: float = 10.0
    rerun: frozenset[str] = frozenset()  # done tasks to run again (dependents included)


class Runner:
    """Runs a cascade's tasks under one event loop, from the first launch to the last reap."""

    def __init__(
        self,
        cascade: Cascade,
        graph: TaskGraph,
        options: RunOptions,
        reporter: Reporter,
        executor: Executor | None = None,
    ) -> None:
        self.cascade = cascade
        self.graph = graph
        self.options = options
        self.reporter = reporter
        self.executor = executor or LocalExecutor(options.state_dir)
        self.store = StateStore(options.state_dir)
        self.run_id = os.urandom(6).hex()
        self.state = State(project=cascade.project, cascade=str(options.cascade_path))
        self.settings = resolve_settings(cascade, options.overrides)
        self.places = Places(options.cascade_path, options.state_dir)
        self._described: dict[int, dict[str, str]] = {}
        self.programs: dict[str, str] = dict(options.programs)  # kind -> its program, found
        self.base_env = agent_env(os.environ, {})
        self.attempts: dict[str, Attempt] = {}
        self.stops: dict[str, StopRequest] = {}
        self.resume_sessions: dict[str, str] = {}
        self.failures: dict[str, int] = {}  # retryable failures this run: the retry budget
        self.continued: dict[str, int] = {}  # incomplete sessions continued this run
        self.feedback: dict[str, str] = {}  # what a failed check said, for the next attempt
        self.worktrees_dir = str((options.state_dir / "worktrees").resolve())
        self.worktrees: WorktreeSteps | None = None  # if tasks use worktrees
        self._logs_lock: int | None = None
        # git commands of one repository run one at a time: two `git worktree add` at once
        # read each other's half-written metadata ("failed to read .git/worktrees/A/...").
        self._git_lock = asyncio.Lock()
        self.starving = 0  # starts in a row that failed for want of resources, none running
        self.holding = False  # launches held while resources are short and nothing runs
        self.cap = options.jobs  # agents at once: -j, or fewer while resources are short
        self._ended_at_cap = 0
        self.running: dict[str, asyncio.Task[None]] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.paused_until: float | None = None
        self.usage_limit = policy.LimitMemory()  # when the last wait ended, repeats since
        self.halted: str | None = None
        self.interrupts = 0
        self._wake: asyncio.Event | None = None
        self._heartbeat_handle: asyncio.TimerHandle | None = None
        encoder = StateEncoder()  # a task's end is encoded once, for the journal and the state
        self.journal = Journal(options.state_dir, self._journal_failed, encoder.task_text)
        self.writer = StateWriter(
            self.store,
            self.state,
            self._refresh_live,
            self._state_write_failed,
            self.journal,
            encoder,
        )
        self.redact = Redactor(secret_values(os.environ))

    # ---- preparing ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check everything that can be checked before a process starts; take the lock; carry
        over what the last run did, ending what it left running."""
        self.programs = check_agents(
            self.cascade, self.settings, self.places, self.options.programs, self.base_env
        )
        check_logs_dir(self.options.logs_dir, self.cascade.tasks)
        # A link at one of these would make prompts, worktrees and commits land elsewhere.
        trees = self.options.state_dir / "worktrees"
        mine = [trees / t for t, s in self.settings.items() if s.worktree]
        check_own_dirs(self.options.state_dir / "prompts", trees, *mine)
        self.store.acquire()
        try:
            # Two runs writing one logs directory would append to the same logs and raw files.
            self._logs_lock = lock_dir(
                self.options.logs_dir,
                LOGS_LOCK,
                "is writing its logs to",
                "--logs-dir",
                "logs directory",
            )
            repo = find_repo(self.settings, self.places, Path(self.worktrees_dir))
            if repo is not None:
                self.worktrees = WorktreeSteps(
                    repo, self.worktrees_dir, self._git, lambda: bool(self.interrupts)
                )
            previous = self.store.load()  # the snapshot, and the journal's records after it
            journaled = self._open_journal(previous)
            # Room for the state's last writes when agents' logs fill the disk: twice what
            # it is likely to grow to (a task takes about 1 KB of it).
            self.store.reserve(max(1 << 20, 2048 * len(self.cascade.tasks)))
            for message in self.executor.end_survivors(last_run(previous)):
                self.reporter.note(None, message)
            self.resume_sessions = carry_over(
                previous,
                self.state,
                self.cascade,
                self.settings,
                self.options.logs_dir,
                self.store.path,
                self.options.rerun,
                lambda message: self.reporter.note(None, message),
                journaled.given(),
            )
        except BaseException:
            self.store.unreserve()
            self._release()
            raise

    def _open_journal(self, previous: State | None) -> Decoded:
        """Open the journal to go on after the last record it or the snapshot holds; what it
        held (StateError if it cannot be opened)."""
        journaled = read_journal(self.options.state_dir)
        if journaled.bad:
            self.reporter.note(
                None,
                f"{self.journal.path} has {len(journaled.bad)} damaged line(s) (line "
                f"{journaled.bad[0]} first); they were skipped, so the tasks they were about "
                "may run again.",
            )
        seq = max(previous.run.journal_seq if previous else 0, journaled.last_seq)
        try:
            self.journal.open(seq, journaled.end)
        except OSError as exc:
            raise StateError(
                f"cannot open {self.journal.path} ({exc.strerror or exc}). It must be a "
                f"file nova can write, not a link: move it aside, or use another "
                "--state-dir."
            ) from None
        return journaled

    # ---- running -----------------------------------------------------------------------------

    def run(self) -> ExitCode:
        try:
            return asyncio.run(self._main())
        finally:
            self._release()

    def _release(self) -> None:
        self.journal.close()
        if self._logs_lock is not None:
            os.close(self._logs_lock)
            self._logs_lock = None
        self.store.release()

    async def _main(self) -> ExitCode:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        done = [t for t, ts in self.state.tasks.items() if ts.status == TaskStatus.DONE]
        self.scheduler = Scheduler(self.graph, done, self.state.tasks)
        self._start_run()
        problem = self.executor.begin(self.run_id)
        if problem:
            self.reporter.note(None, problem)
        # Under nohup SIGHUP is ignored on purpose: the run must then outlive its terminal.
        # SIGINT and SIGTERM are always nova's (a script's `nova run &` starts with SIGINT
        # ignored): handled, they also reach agents at their default, so a stop is gentle.
        stop_signals = [
            s
            for s in STOP_SIGNALS
            if s != signal.SIGHUP or signal.getsignal(s) is not signal.SIG_IGN
        ]
        # asyncio restores SIGINT to Python's default when its handler goes: put back what
        # was there (nova's `interrupt` handler), so a late Ctrl-C is no traceback either.
        previous = {sig: signal.getsignal(sig) for sig in stop_signals}
        for sig in stop_signals:
            loop.add_signal_handler(sig, self._interrupt, sig)
        if interrupt.requested():  # Ctrl-C before the loop could hear it: stop at once
            self._interrupt(signal.SIGINT)
        self.writer.flush()
        self.reporter.run_started(self.state, len(done))
        for name in short_secret_names(os.environ):
            self.reporter.note(
                None,
                f"the value of {name} is shorter than {MIN_SECRET_LENGTH} characters and is "
                "not masked in logs and state (see 'Secrets' in the README).",
            )
        self._heartbeat_handle = loop.call_later(HEARTBEAT, self._heartbeat)
        try:
            await self._loop()
        finally:
            if self._heartbeat_handle is not None:
                self._heartbeat_handle.cancel()
            for sig in stop_signals:
                loop.remove_signal_handler(sig)
                handler = previous[sig]
                if handler is not None:
                    signal.signal(sig, handler)
        return await self._finish()

    def _start_run(self) -> None:
        """The run's own record in the state, as it starts."""
        now = time.time()
        self.state.run = RunState(
            id=self.run_id,
            pid=os.getpid(),
            pid_started=procs.create_time(os.getpid()),
            started=now,
            heartbeat=now,
            running=True,
            jobs=self.options.jobs,
            nova_version=__version__,
        )

    async def _finish(self) -> ExitCode:
        """Once no agent runs: end what agents left, settle the state, write it the last
        time, and say how the run ended."""
        code = self._exit_code()
        ended = await self.executor.end_strays(Limits(grace=self.options.grace))
        if ended:
            self.reporter.note(
                None,
                f"{ended} process(es) that agents left running without nova's marker were ended.",
            )
        self._settle_unstarted()
        self._tell_branches()
        self.state.run.running = False
        self.state.run.ended = time.time()
        self.state.run.exit_code = int(code)
        self.writer.flush(last=True)
        if self.writer.error is not None:  # even the reserved space did not do
            self.reporter.note(
                None,
                f"could not save the final state to {self.store.path} "
                f"({self.writer.error.strerror}): it holds an earlier state, so the next "
                "'nova run' may run some done tasks again. Free some space first.",
            )
        self.store.unreserve()
        self.executor.end()
        self.reporter.run_finished(self.state, code, self.halted)
        return code

    def _tell_branches(self) -> None:
        """Where the work of worktree tasks is: the branches that hold all of it."""
        done = [
            t
            for t, ts in self.state.tasks.items()
            if ts.status is TaskStatus.DONE and self.settings[t].worktree
        ]
        if not done:
            return
        tips = worktree.leaves(done, self.graph.dependents)
        shown = " ".join(tips[:10]) + (" …" if len(tips) > 10 else "")
        self.reporter.note(
            None,
            f"the work of {len(done)} task(s) is on their nova/<ID> branches; {shown} hold(s) "
            f"all of it (git merge {shown}).",
        )

    def _settle_unstarted(self) -> None:
        """What the state says of tasks the run leaves behind: no pause or retry time is
        pending once the run is over, and a task that never started says why."""
        self.state.run.paused_until = self.state.run.pause_reason = None
        for ts in self.state.tasks.values():
            if ts.status is not TaskStatus.PENDING:
                continue
            if self.halted and not ts.reason:
                ts.reason = "not started: the run stopped (see the run's warning)"
            elif self.interrupts and (not ts.reason or ts.next_attempt_at is not None):
                # A retry or a wait it was promised will not come in this run.
                ts.reason = "interrupted; runs on the next 'nova run'"
            ts.next_attempt_at = None

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            self._launch_ready()
            if not self.running and (
                self.scheduler.finished or self.interrupts or self.halted or not self._waiting()
            ):
                break
            await self._wake.wait()
            self._wake.clear()
        if self.halted or self.interrupts:
            for timer in self.timers.values():
                timer.cancel()
            self.timers.clear()

    def _waiting(self) -> bool:
        """Something will make progress later: a retry, usage-limit or resources timer."""
        return bool(self.timers) or self.paused_until is not None or self.holding

    def _launch_ready(self) -> None:
        if self.interrupts or self.halted or self.paused_until is not None or self.holding:
            return
        while len(self.running) < min(self.options.jobs, self.cap):
            task_id = self.scheduler.pop_ready()
            if task_id is None:
                return
            self.running[task_id] = asyncio.create_task(self._run_task(task_id))

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run_task(self, task_id: str) -> None:
        try:
            await self._attempt(task_id)
        except Exception as exc:  # a bug in nova must fail one task loudly, not hang the run
            with contextlib.suppress(OSError):
                print(f"nova: internal error in task {task_id}: {exc!r}", file=sys.stderr)
            ts = self.state.tasks[task_id]
            if self.scheduler.phase[task_id] is Phase.RUNNING:  # no verdict was applied yet
                ts.ended = time.time()
                ts.reason, ts.failure = f"nova error: {exc!r}", Failure.PERMANENT.value
                blocked = self.scheduler.fail(task_id)
                self.journal.task(ts)
                self._blocked(task_id, blocked)
            with contextlib.suppress(Exception):
                self.reporter.task_finished(ts, None)
        finally:
            self.running.pop(task_id, None)
            self.writer.touch()
            self._wake_up()

    def _hold(self, delay: float) -> None:
        """Start nothing for `delay` seconds."""
        self.holding = True

        def release() -> None:
            self.holding = False
            self._wake_up()

        asyncio.get_running_loop().call_later(delay, release)

    def _widen(self) -> None:
        """After a shortage of resources lowered `cap`, double it every time `cap` agents have
        ended without another shortage: back to -j in a few rounds, not one agent at a time."""
        if self.cap >= self.options.jobs:
            return
        self._ended_at_cap += 1
        if self._ended_at_cap >= self.cap:
            self.cap, self._ended_at_cap = min(self.options.jobs, 2 * self.cap), 0

    async def _attempt(self, task_id: str) -> None:
        task = self.cascade.tasks[task_id]
        s = self.settings[task_id]
        ts = self.state.tasks[task_id]
        cwd = self._begin(task_id, ts, s)
        resume = self.resume_sessions.pop(task_id, None)
        # Nothing of the attempt runs (git, the agent) before this record, and so every
        # transition before it, is safe in the journal: a number is never given out twice
        # (the next run starts above it), and no task starts before the done of the tasks it
        # builds on is safe (written before this), so a crash never makes those run again.
        # With NOVA_JOURNAL_FSYNC=1 `durable` also waits for the disk sync, which runs while
        # the attempt is prepared.
        started = self.journal.task(ts, "start")
        if s.worktree:
            await self.journal.durable(started)
            assert self.worktrees is not None  # prepare() made them: a task uses worktrees
            uses = {d: bool(self.settings[d].worktree) for d in task.depends_on}
            cwd, failed = await self.worktrees.prepare(task, ts, uses, cwd)
            ts.workdir = cwd
            if failed is not None:
                self._not_attempted(task_id, ts, s, resume, failed)
                return
        try:
            launch, parser = self._launch(task, s, ts, resume, cwd)
            log = self._open_log(task, ts, s, launch, resume)
        except OSError as exc:  # the log could not be written
            verdict = _os_verdict(exc, "could not prepare the attempt")
            self._not_attempted(task_id, ts, s, resume, verdict)
            return
        attempt = Attempt(
            ts,
            parser,
            log,
            self.writer.touch,
            self.reporter.note,
            self.redact,
            on_started=lambda: self.reporter.task_started(ts),
        )
        try:
            self.attempts[task_id] = attempt
            await self.journal.durable(started)
            verdict, exit = await self._supervise(task_id, ts, s, launch, attempt)
            if exit.returncode is None and verdict.failure is Failure.RESOURCES:
                log.discard()  # the agent never started: no log of an attempt
                self._not_attempted(task_id, ts, s, resume, verdict)
                return
            self._widen()
            self.starving = 0
            verdict = await self._after_agent(task, ts, s, launch, log, verdict)
            outcome = self._apply(task_id, ts, s, verdict, resumed=resume is not None)
            self.journal.task(ts)
            log.write(
                format_footer(
                    outcome,
                    verdict.reason,
                    exit.returncode,
                    exit.duration,
                    attempt.tokens,
                    attempt.cost,
                    ts.ended or time.time(),
                )
            )
        finally:
            self.attempts.pop(task_id, None)
            log.close()
        if log.error is not None:
            self._log_failed(task_id, log.error)
        self.reporter.task_finished(ts, verdict)

    def _begin(self, task_id: str, ts: TaskState, s: Settings) -> str:
        """The task's state as an attempt begins: its number, running, what runs it; where
        it works."""
        ts.attempts += 1
        self.scheduler.begin(task_id)
        ts.started, ts.ended = time.time(), None
        ts.exit_code = ts.reason = ts.failure = ts.next_attempt_at = None
        ts.agent, ts.model, ts.workdir = s.agent, s.model, self.places.workdir(s)
        ts.permission_mode = (
            (s.permission_mode or "default") if capabilities(s.agent).permission_modes else None
        )
        return ts.workdir

    def _open_log(
        self, task: Task, ts: TaskState, s: Settings, launch: Launch, resume: str | None
    ) -> TaskLog:
        """The attempt's log, opened (OSError if it cannot be), with its header written."""
        log = TaskLog(self.options.logs_dir, task.id, ts.attempts, self.redact)
        log.open()
        shown = self._described.get(id(s))
        if shown is None:
            shown = self._described[id(s)] = describe(s, agents.get(s.agent).settings)
        log.write(
            format_header(
                task.id,
                task.name,
                ts.attempts,
                launch.argv,
                launch.cwd,
                ts.started or time.time(),  # set by `_begin`
                shown | ({"resume": resume} if resume else {}),
            )
        )
        return log

    async def _after_agent(
        self, task: Task, ts: TaskState, s: Settings, launch: Launch, log: TaskLog, verdict: Verdict
    ) -> Verdict:
        """What follows an agent that said done: its worktree's commit, then its check."""
        if verdict.ok and s.worktree and not self.interrupts:
            assert self.worktrees is not None
            verdict = await self.worktrees.commit(task, ts, log)
        if verdict.ok and s.check and not self.interrupts:
            verdict = await self._check(task, ts, s, launch, log)
        return verdict

    def _not_attempted(
        self, task_id: str, ts: TaskState, s: Settings, resume: str | None, verdict: Verdict
    ) -> None:
        """Settle an attempt whose agent never ran: it counts as none, and the session it was
        to continue is kept for the next one. Its number is given again in this run (nothing
        wrote under it: its raw log is empty or absent), never in a later one (the journal
        keeps the highest number given, see `carry_over`)."""
        if resume:
            self.resume_sessions[task_id] = resume
        ts.attempts -= 1
        ts.ended = time.time()
        self._apply(task_id, ts, s, verdict)
        self.journal.task(ts)
        self.reporter.task_finished(ts, verdict)

    async def _run_process(
        self, task_id: str, ts: TaskState, launch: Launch, sink: Sink, limits: Limits
    ) -> Exit:
        """Run one process of a task's attempt (its agent, its check, a git command) through
        the executor, marked as the attempt's, and stopped by Ctrl-C like any agent, even one
        that came before it started. SpawnError if it could not be started."""
        stop = self.stops[task_id] = StopRequest()
        if self.interrupts:
            stop.request(StopCause.CANCEL)
        try:
            return await self.executor.run(launch, self._token(task_id, ts), sink, limits, stop)
        finally:
            self.stops.pop(task_id, None)
            ts.pid = ts.pid_started = None

    def _token(self, task_id: str, ts: TaskState) -> str:
        """The marker value of an attempt's processes (procs.TOKEN_VAR)."""
        return f"{self.run_id}/{task_id}/{ts.attempts}"

    def _markers(self, task_id: str, ts: TaskState) -> dict[str, str]:
        """What the environment of an attempt's processes says they are."""
        return {
            procs.RUN_VAR: self.run_id,
            procs.TOKEN_VAR: self._token(task_id, ts),
            "NOVA_TASK_ID": task_id,
            "NOVA_ATTEMPT": str(ts.attempts),
        }

    async def _supervise(
        self, task_id: str, ts: TaskState, s: Settings, launch: Launch, attempt: Attempt
    ) -> tuple[Verdict, Exit]:
        """Run one attempt to its end and judge it; the task state then holds its results."""
        self.writer.touch()
        limits = Limits(timeout=s.timeout, stall_timeout=s.stall_timeout, grace=self.options.grace)
        spawned: Verdict | None = None
        try:
            exit = await self._run_process(task_id, ts, launch, attempt, limits)
        except SpawnError as exc:
            exit = Exit(None)
            spawned = _os_verdict(exc, "could not start the agent")
            if spawned.failure is not Failure.RESOURCES:  # that one is only a wait
                attempt.note(spawned.reason)
        attempt.finish_lines()
        attempt.refresh()
        now = time.time()
        limit_values = {
            k: v for k, v in (("timeout", s.timeout), ("stall_timeout", s.stall_timeout)) if v
        }
        parser = attempt.parser
        verdict = spawned or parser.verdict(exit, attempt.stderr_tail, now, limit_values)
        # A transcript is a file where the agent ran: readable only on a shared file system.
        recovered = (
            agents.get(s.agent).recover_usage(parser, launch, ts.session_id, ts.started or now)
            if self.executor.capabilities.shared_fs
            else None
        )
        if recovered is not None:
            ts.live_tokens = recovered.tokens
            attempt.log.lines(now, [recovered.how], "nova: ")
        ts.exit_code = exit.returncode
        ts.ended = now
        text = parser.result_text()
        if text:
            ts.result = self.redact(text)[:RESULT_CHARS]  # masked whole, then cut
        attempt.close_usage()
        return Verdict(verdict.failure, self.redact(verdict.reason), verdict.rate_limit), exit

    async def _check(
        self, task: Task, ts: TaskState, s: Settings, agent: Launch, log: TaskLog
    ) -> Verdict:
        """Run the task's check command after its agent said done: exit 0 or the task is
        not done. It runs where the agent worked, marked as the attempt's (contained alike)."""
        assert s.check is not None
        values = placeholder_values(
            task.id,
            self.places.prompt_file(task.id),
            task.name,
            self.places.cascade_dir,
            ts.attempts,
        )
        argv = command_argv(s.check, values, "check command")
        log.lines(time.time(), [f"running the check: {shlex.join(argv)}"], "nova: ")
        ts.reason = f"checking: {s.check}"
        output = CheckOutput(ts, log, self.writer.touch, self.reporter.note, self.redact)
        limits = Limits(timeout=s.timeout, grace=self.options.grace)
        try:
            exit = await self._run_process(
                task.id, ts, Launch(argv, agent.cwd, agent.env, None), output, limits
            )
        except SpawnError as exc:
            failed = _os_verdict(exc, "could not start the check")
            return Verdict(Failure.TRANSIENT, failed.reason)  # the agent's work needs a check
        finally:
            ts.reason = None
        output.finish()
        ts.ended = time.time()
        verdict = check_verdict(exit, output.tail(), s.timeout)
        log.lines(ts.ended, [verdict.reason or "the check passed"], "nova: ")
        if verdict.failure is Failure.CHECK:
            how = check_outcome(exit, s.timeout)
            self.feedback[task.id] = check_feedback(s.check, how, output.tail())
        return Verdict(verdict.failure, self.redact(verdict.reason))

    async def _git(self, task_id: str, ts: TaskState, argv: list[str]) -> tuple[int | None, str]:
        """Run one git command for a task, supervised like its agent: (exit code, output);
        the code is None when git could not start or was stopped."""
        env = {**self.base_env, **self._markers(task_id, ts)}
        out = Collected()
        limits = Limits(timeout=GIT_TIMEOUT, grace=self.options.grace)
        async with self._git_lock:
            try:
                launch = Launch(tuple(argv), self.places.cwd, env, None)
                exit = await self._run_process(task_id, ts, launch, out, limits)
            except SpawnError as exc:
                return None, f"could not start git: {exc.strerror or exc}"
        return (exit.returncode if exit.stopped_by is None else None), out.text()

    def _launch(
        self, task: Task, s: Settings, ts: TaskState, resume: str | None, cwd: str
    ) -> tuple[Launch, OutputParser]:
        agent = agents.get(s.agent)

        def prompt() -> str:
            feedback = self.feedback.get(task.id)
            if resume and feedback:
                return build_check_prompt(task, feedback)
            if resume:
                return build_resume_prompt(task)
            # Said after the task's own prompt: where the agent works, what the last check said.
            after = ""
            if s.worktree:
                after += (
                    f"\nYou work in a git worktree of your own, on branch "
                    f"{worktree.branch(task.id)}, that holds the work of the tasks above; nova "
                    "commits your changes when you are done. Do not switch branches.\n"
                )
            if feedback:
                after += f"\n{feedback}"
            dep_results = {d: self.state.tasks[d].result or "" for d in task.depends_on}
            return build_prompt(self.cascade, task, dep_results) + after

        request = Request(
            task_id=task.id,
            name=task.name,
            attempt=ts.attempts,
            settings=s,
            cwd=cwd,
            env={**self.base_env, **self._markers(task.id, ts)},
            cascade_dir=self.places.cascade_dir,
            prompt_file=self.places.prompt_file(task.id),
            resume=resume,
            prompt=prompt,
        )
        # Its files (a prompt file) travel in the launch: the executor puts them in place.
        launch = agent.launch(request, self.programs.get(agent.kind, agent.kind))
        return launch, agent.parser(s)

    def _apply(
        self, task_id: str, ts: TaskState, s: Settings, verdict: Verdict, resumed: bool = False
    ) -> str:
        """Decide what follows an attempt's verdict (`policy.decide`) and do it; return the
        footer's word."""
        now = time.time()
        history = policy.History(
            task_id,
            self.failures.get(task_id, 0),
            self.continued.get(task_id, 0),
            resumed,
            ts.session_id,
            ts.started,
        )
        context = policy.Context(
            others=len(self.running) - 1,  # agents running besides this one
            cap=self.cap,
            starving=self.starving,
            interrupted=self.interrupts > 0,
            halted=self.halted is not None,
            paused_until=self.paused_until,
            limit=self.usage_limit,
            margin=RATE_LIMIT_MARGIN,
            min_wait=RATE_LIMIT_MIN_WAIT,
            max_starved=MAX_STARVED,
        )
        jitter = random.uniform(0.8, 1.2)
        decision = policy.decide(verdict, history, s, capabilities(s.agent), context, now, jitter)
        self._enact(task_id, ts, decision)
        return decision.action.value

    def _enact(self, task_id: str, ts: TaskState, d: policy.Decision) -> None:
        """Carry out a decision: the run's counters, what it says, the task's state, then
        the scheduler's move (which sets the task's status) and its timer."""
        self.failures[task_id], self.continued[task_id] = d.spent, d.continued
        self.starving, self.usage_limit = d.starving, d.limit
        if d.note:
            self.reporter.note(task_id, d.note)
        if d.run_note:
            self.reporter.note(None, d.run_note)
        if d.pause is not None:
            self._pause(d.pause.until, d.pause.kind)
        if d.cap is not None:
            self.cap, self._ended_at_cap = d.cap, 0
        if d.hold is not None:
            self._hold(d.hold)
        if d.halt is not None:
            self.halted = self.state.run.warning = d.halt
        if d.resume:
            self.resume_sessions[task_id] = d.resume
        if d.forget_session:
            ts.session_id = None
        ts.reason, ts.next_attempt_at = d.reason, d.next_attempt_at
        ts.failure = d.failure.value if d.failure else None
        if d.action is policy.Action.DONE:
            self.feedback.pop(task_id, None)
            self.scheduler.done(task_id)
        elif d.action is policy.Action.CANCEL:
            self.scheduler.fail(task_id, Phase.CANCELLED)
        elif d.action is policy.Action.FAIL:
            self._block_dependents(task_id)
        elif d.again_in is None:  # ready at once: the cap or the hold says when it starts
            self.scheduler.requeue(task_id)
        else:
            self.scheduler.delay(task_id)
            self._schedule(task_id, d.again_in)

    def _block_dependents(self, task_id: str) -> None:
        """Settle a failed task in the scheduler; everything downstream of it is blocked."""
        self._blocked(task_id, self.scheduler.fail(task_id))

    def _blocked(self, task_id: str, blocked: list[str]) -> None:
        """Say why the tasks below a failed one are blocked (the scheduler set their status)."""
        for other_id in blocked:
            other = self.state.tasks[other_id]
            other.reason = f"dependency {task_id} failed"
            self.journal.task(other)

    def _schedule(self, task_id: str, delay: float) -> None:
        def fire() -> None:
            self.timers.pop(task_id, None)
            self.scheduler.requeue(task_id)
            self._wake_up()

        self.timers[task_id] = asyncio.get_running_loop().call_later(max(0.0, delay), fire)

    def _pause(self, until: float, kind: str) -> None:
        if self.paused_until is not None and until <= self.paused_until:
            return
        first = self.paused_until is None
        self.paused_until = until
        self.state.run.paused_until = until
        self.state.run.pause_reason = kind
        self.reporter.paused(until, kind)

        def resume() -> None:
            if self.paused_until is not None and time.time() >= self.paused_until - 0.01:
                self.paused_until = None
                self.usage_limit = policy.LimitMemory(time.time(), self.usage_limit.repeats)
                self.state.run.paused_until = None
                self.state.run.pause_reason = None
                self.writer.touch()
                self._wake_up()

        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, until - time.time()), resume)
        if first:
            self.writer.touch()

    def _interrupt(self, sig: int) -> None:
        self.interrupts += 1
        # Stop first, speak after: telling the user must never be what keeps agents running.
        for stop in self.stops.values():
            stop.request(StopCause.CANCEL, grace=0.0 if self.interrupts > 1 else None)
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        self._wake_up()
        name = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}.get(
            signal.Signals(sig), signal.Signals(sig).name
        )
        if self.interrupts == 1 and not self.stops:
            self.reporter.note(None, f"{name}: stopping the run (no agent is running).")
        elif self.interrupts == 1:
            self.reporter.note(
                None,
                f"{name}: stopping {len(self.stops)} running agent(s) "
                f"(up to {self.options.grace:g} s; press Ctrl-C again to stop them now).",
            )
        else:
            self.reporter.note(None, f"{name} again: stopping every agent now.")

    def _state_write_failed(self, exc: OSError) -> None:
        if exc.errno == 0:
            self.reporter.note(None, f"the state is written to {self.store.path} again.")
            return
        self.reporter.note(
            None,
            f"cannot write {self.store.path} ({exc.strerror or exc}); it keeps the last "
            "state written, the run goes on, and nova tries again at every change.",
        )

    def _journal_failed(self, exc: OSError) -> None:
        if exc.errno == 0:
            self.reporter.note(None, f"{self.journal.path} is written again.")
            return
        self.reporter.note(
            None,
            f"cannot write {self.journal.path} ({exc.strerror or exc}): the run goes on, but "
            "if nova is killed now the next run may redo tasks that are done. Free some space "
            f"under {self.options.state_dir}.",
        )

    def _log_failed(self, task_id: str, exc: OSError) -> None:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            fix = f"free some space under {self.options.logs_dir}"
        elif exc.errno in (errno.EMFILE, errno.ENFILE):
            fix = "raise the limit on open files (ulimit -n) or run fewer agents at once (-j)"
        else:
            fix = f"check that nova can write to {self.options.logs_dir}"
        warning = (
            f"logs could not be written ({exc.strerror or exc}; first in task {task_id}): {fix}."
        )
        if self.state.run.warning is None:
            self.state.run.warning = warning
        self.reporter.note(task_id, f"could not write all of its log: {exc.strerror or exc}.")

    def _heartbeat(self) -> None:
        self.state.run.heartbeat = time.time()
        self.writer.touch()
        self.reporter.tick(self.state)
        self._heartbeat_handle = asyncio.get_running_loop().call_later(HEARTBEAT, self._heartbeat)

    def _refresh_live(self) -> None:
        for attempt in self.attempts.values():
            attempt.refresh()
            attempt.log.flush()

    def _exit_code(self) -> ExitCode:
        if self.interrupts:
            return ExitCode.INTERRUPTED
        if all(t.status == TaskStatus.DONE for t in self.state.tasks.values()):
            return ExitCode.OK
        return ExitCode.TASKS_NOT_DONE


def _os_verdict(exc: OSError, what: str) -> Verdict:
    """Why an agent could not be started: for want of resources (wait and try again) or for
    good (a missing or unusable program, a directory nova may not write)."""
    reason = f"{what}: {exc.strerror or exc}"
    if exc.errno in _RESOURCE_ERRORS:
        return Verdict(Failure.RESOURCES, reason)
    return Verdict(Failure.PERMANENT, reason)


_RESOURCE_ERRORS = {
    errno.EMFILE,
    errno.ENFILE,
    errno.EAGAIN,
    errno.ENOMEM,
    errno.ENOSPC,
    errno.EDQUOT,
}
