"""The failure policy: what follows an attempt, as a pure function of its verdict, the task's
history, the run's context and the time.

No clock is read, no random number drawn and nothing is scheduled here: the runner passes `now`
and the jitter in, and carries out the `Decision` (state, scheduler, timers, pause, hold, halt),
so every case is tested as a table. Agent kinds are known only by their `Capabilities`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from engine.agents.base import Capabilities
from engine.outcome import Failure, Verdict
from engine.plan.settings import Settings

# A usage limit always waits at least this long from now: a `resetsAt` already past (a stale
# value, a clock that differs from the API's, a limit that holds a moment after its reset)
# must not relaunch at once, again and again, against a rejecting account.
LIMIT_MIN_WAIT = 60.0
# Without a reset time the limit's window is unknown; five-hour windows are common.
LIMIT_UNKNOWN_WAIT = 15 * 60.0
# A limit that comes back right after its wait waits twice as long each time, up to this.
LIMIT_MAX_WAIT = 60 * 60.0
MAX_BACKOFF = 600.0  # the longest wait before a retry (before jitter)
DEFAULT_RETRY_DELAY = 10.0  # the first retry's wait when the plan sets no retry-delay
MAX_STARVED = 10  # starts in a row, with no agent running, that found no resources
HOLD_FIRST = 0.5  # the first hold of every launch when nothing can start; doubled each time
HOLD_MAX = 30.0


@dataclass(frozen=True, slots=True)
class LimitWait:
    """How long a usage limit holds launches: until `until`; `repeats` is how many times in a
    row it came back right after its wait (0 the first time); `why` says so, or is empty."""

    until: float
    repeats: int
    why: str = ""


def limit_wait(
    resets_at: float | None,
    now: float,
    repeats: int,
    margin: float,
    minimum: float = LIMIT_MIN_WAIT,
    ceiling: float = LIMIT_MAX_WAIT,
) -> LimitWait:
    """When to launch again after a usage limit rejected an attempt.

    `repeats` counts the limits in a row that rejected an attempt started after the last wait
    ended (the limit came straight back). The wait is the reset plus `margin`, never less than
    `minimum` from now, and from the first repeat on at least `minimum` * 2**repeats from now,
    capped at `ceiling` (or the reset plus margin, if that is later still).
    """
    minimum = max(0.0, minimum)
    floor = minimum
    if repeats > 0:
        floor = min(max(ceiling, minimum), minimum * 2.0**repeats)
    planned = resets_at + margin if resets_at is not None else now + LIMIT_UNKNOWN_WAIT
    until = max(planned, now + floor)
    why = ""
    if repeats > 0:
        times = "once" if repeats == 1 else f"{repeats} times in a row"
        why = (
            f"the usage limit came back right after its wait ({times}): waiting "
            f"{_span(until - now)} this time, twice as long each time it comes back, up to "
            f"{_span(max(ceiling, minimum))}"
        )
    elif resets_at is not None and resets_at + margin < now + minimum:
        why = (
            f"its reset time is past or near; waiting at least {_span(minimum)} before trying again"
        )
    return LimitWait(until, repeats, why)


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


class Action(StrEnum):
    """What becomes of a task after an attempt; the value is the word of the attempt's footer."""

    DONE = "done"
    CANCEL = "cancelled"  # interrupted: it runs again on the next run
    WAIT_LIMIT = "waiting for usage limit"  # every launch waits for the account's limit
    CONTINUE = "will continue"  # an incomplete session goes on, at once
    WAIT_RESOURCES = "waiting for resources"  # ready again; fewer agents run at once
    HOLD = "will try again"  # ready again; every launch is held a while
    AFRESH = "will start afresh"  # its session is gone: a new one, at once, no retry spent
    RETRY = "will retry"
    FAIL = "failed"  # for good: its dependents are blocked


@dataclass(frozen=True, slots=True)
class History:
    """What a task did in this run, as far as the policy is concerned."""

    task_id: str = ""
    spent: int = 0  # retries spent: retryable failures so far
    continued: int = 0  # incomplete sessions continued so far
    resumed: bool = False  # this attempt continued a session
    session_id: str | None = None  # the session this attempt ran in, if the agent has one
    started: float | None = None  # when this attempt started


@dataclass(frozen=True, slots=True)
class LimitMemory:
    """What the run remembers of usage limits: when the last wait ended (None once a limit
    came back after it), and how many limits in a row came back right after their wait."""

    lifted: float | None = None
    repeats: int = 0


@dataclass(frozen=True, slots=True)
class Context:
    """What the run knows when an attempt ends, and the knobs of its waits."""

    others: int = 0  # agents running besides this task's
    cap: int = 1  # agents allowed at once now
    starving: int = 0  # starts in a row that found no resources while none ran
    interrupted: bool = False  # the user stopped the run
    halted: bool = False  # launches were already halted
    paused_until: float | None = None  # a usage-limit pause already holds launches until then
    limit: LimitMemory = field(default_factory=LimitMemory)
    margin: float = 60.0  # waited past a usage limit's reset
    min_wait: float = LIMIT_MIN_WAIT  # the shortest usage-limit wait from now
    max_starved: int = MAX_STARVED


@dataclass(frozen=True, slots=True)
class Pause:
    """Every launch waits until `until`, for a usage limit of this kind."""

    until: float
    kind: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What the runner does after an attempt. The counters are their new values; `again_in`
    is when the task is ready again (None: at once, for the ready-again actions)."""

    action: Action
    reason: str | None = None  # the task's reason in the state
    failure: Failure | None = None
    again_in: float | None = None
    next_attempt_at: float | None = None
    resume: str | None = None  # the session the next attempt continues
    forget_session: bool = False  # the task's session is gone
    spent: int = 0
    continued: int = 0
    starving: int = 0
    limit: LimitMemory = field(default_factory=LimitMemory)
    cap: int | None = None  # agents allowed at once from now (None: unchanged)
    hold: float | None = None  # hold every launch this long
    pause: Pause | None = None
    halt: str | None = None  # no more launches, and why (the run's warning)
    note: str | None = None  # said of the task
    run_note: str | None = None  # said of the run


def decide(
    verdict: Verdict,
    history: History,
    settings: Settings,
    can: Capabilities,
    context: Context,
    now: float,
    jitter: float = 1.0,
) -> Decision:
    """What follows an attempt with this verdict. `jitter` (around 1) spreads the waits of
    tasks that failed together, so they do not all start again at once."""
    base = Decision(
        Action.FAIL,
        verdict.reason,
        verdict.failure,
        spent=history.spent,
        continued=history.continued,
        starving=context.starving,
        limit=_limit_memory(verdict, history, context.limit),
    )
    failure = verdict.failure
    if failure is None:
        return replace(base, action=Action.DONE, reason=None)
    if failure is Failure.CANCELLED or context.interrupted:
        return replace(
            base, action=Action.CANCEL, reason="interrupted; runs again on the next 'nova run'"
        )
    if failure is Failure.RATE_LIMIT:
        return _usage_limit(base, verdict, history, can, context, now)
    if (
        failure is Failure.INCOMPLETE
        and history.session_id
        and can.resume
        and history.continued < (settings.continues or 0)
    ):
        return _continue(base, verdict, history, settings)
    if failure is Failure.RESOURCES:
        waits = _resources(base, verdict, context, now, jitter)
        if waits.action is not Action.FAIL:
            return waits
        base = waits  # starved too long: it fails, and the run halts
    if failure is Failure.SESSION_LOST and history.resumed:
        # The CLI no longer has the session (another machine, a cleaned config): the work it
        # held is gone, so the task starts afresh, at once and without a retry.
        return replace(
            base,
            action=Action.AFRESH,
            reason=f"{verdict.reason}; starting the task afresh",
            again_in=0.0,
            forget_session=True,
        )
    retries = settings.retries if settings.retries is not None else 0
    if failure.retryable and history.spent < retries:
        return _retry(base, verdict, history, settings, can, now, jitter)
    return _fail(base, verdict, history, can, context)


def _limit_memory(verdict: Verdict, history: History, limit: LimitMemory) -> LimitMemory:
    """An attempt started after the last wait that got past the limit: the count of limits
    that came straight back starts over."""
    if (
        verdict.failure is not Failure.RATE_LIMIT
        and limit.lifted is not None
        and (history.started or 0) >= limit.lifted
    ):
        return replace(limit, repeats=0)
    return limit


def _continue(base: Decision, verdict: Verdict, history: History, settings: Settings) -> Decision:
    """An incomplete session (out of turns or budget) goes on where it stopped, at once and
    without spending a retry, up to `continues` times."""
    return replace(
        base,
        action=Action.CONTINUE,
        reason=f"{verdict.reason}; continuing the session "
        f"({history.continued + 1}/{settings.continues})",
        again_in=0.0,
        resume=history.session_id,
        continued=history.continued + 1,
    )


def _usage_limit(
    base: Decision,
    verdict: Verdict,
    history: History,
    can: Capabilities,
    context: Context,
    now: float,
) -> Decision:
    """The account's limit is not the task's fault: it costs no retry, and every launch waits."""
    limit = verdict.rate_limit
    resets = limit.resets_at if limit and limit.resets_at else None
    # Counted once per wait: the agents launched after it may all come back at once.
    lifted = base.limit.lifted
    came_back = lifted is not None and (history.started or 0) >= lifted
    wait = limit_wait(
        resets,
        now,
        base.limit.repeats + int(came_back),
        context.margin,
        context.min_wait,
    )
    kind = (limit.limit_type if limit else None) or "usage limit"
    news = context.paused_until is None or wait.until > context.paused_until
    return replace(
        base,
        action=Action.WAIT_LIMIT,
        again_in=wait.until - now,
        next_attempt_at=wait.until,
        # Picks up where it stopped, if the agent can.
        resume=history.session_id if history.session_id and can.resume else None,
        limit=LimitMemory(None if came_back else lifted, wait.repeats),
        pause=Pause(wait.until, kind),
        note=wait.why + "." if wait.why and news else None,
    )


def _resources(
    base: Decision, verdict: Verdict, context: Context, now: float, jitter: float
) -> Decision:
    """Out of processes, descriptors or disk: no fault of the task, no retry spent. A FAIL
    decision (with the halt) once nothing could start for too long."""
    short = verdict.reason.split(": ")[-1]
    if context.others > 0:
        # The machine runs `others` agents, not one more: run that many at once for now,
        # and start this task as soon as one of them ends.
        return replace(
            base,
            action=Action.WAIT_RESOURCES,
            reason=f"{verdict.reason}; starts when a running agent ends",
            cap=context.others,
            run_note=(
                f"only {context.others} agent(s) fit ({short}): running {context.others} at "
                "once until more do."
                if context.others < context.cap
                else None
            ),
        )
    # Nothing runs, yet nothing starts: hold every launch for a while (one timer for the run,
    # not one per task), and give up once that has gone on for long.
    starving = context.starving + 1
    if starving <= context.max_starved:
        delay = min(HOLD_MAX, HOLD_FIRST * 2 ** (starving - 1)) * jitter
        return replace(
            base,
            action=Action.HOLD,
            reason=f"{verdict.reason}; trying again in {delay:.1f}s",
            next_attempt_at=now + delay,
            starving=starving,
            hold=delay,
        )
    return replace(
        base,
        starving=starving,
        halt=(
            f"no agent could be started ({short}) although none was running, "
            f"{context.max_starved} times in a row. Raise the limit that ran out (ulimit -n "
            "for open files, ulimit -u for processes), free memory or disk space, or run "
            "fewer agents at once (-j), then run nova again."
        ),
    )


def _retry(
    base: Decision,
    verdict: Verdict,
    history: History,
    settings: Settings,
    can: Capabilities,
    now: float,
    jitter: float,
) -> Decision:
    """A retryable failure with retries left: again after a backoff; a failed check at once,
    in the same session if the agent can continue it (it has a problem to fix)."""
    check = verdict.failure is Failure.CHECK
    first = settings.retry_delay if settings.retry_delay is not None else DEFAULT_RETRY_DELAY
    delay = 0.0 if check else min(MAX_BACKOFF, first * 2**history.spent) * jitter
    when = f"in {delay:.1f}s" if delay else "now"
    return replace(
        base,
        action=Action.RETRY,
        reason=f"{verdict.reason}; retry {history.spent + 1}/{settings.retries or 0} {when}",
        again_in=delay,
        next_attempt_at=now + delay,
        resume=history.session_id if check and history.session_id and can.resume else None,
        spent=history.spent + 1,
    )


def _fail(
    base: Decision, verdict: Verdict, history: History, can: Capabilities, context: Context
) -> Decision:
    """Failed for good; an authentication or setup failure also halts every launch, since
    the tasks after it would fail the same way."""
    halt = base.halt
    failure = verdict.failure
    task = f"task {history.task_id}"
    if halt is None and not context.halted and failure is Failure.AUTH:
        login = can.login or "Log in to the agent's command line tool"
        halt = (
            f"{task} could not authenticate ({verdict.reason}). No more tasks were "
            f"started: they would fail the same way. {login}, then run nova again."
        )
    elif halt is None and not context.halted and failure is not None and failure.halts:
        halt = (
            f"{task} failed: {verdict.reason} No more tasks were started: they would fail "
            "the same way."
        )
    return replace(base, action=Action.FAIL, halt=halt)
