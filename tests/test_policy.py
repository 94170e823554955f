"""The failure policy's pure decisions (engine.run.policy), as tables: no clock, no runner."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

import engine.run.policy
from engine.agents import capabilities
from engine.agents.base import Capabilities
from engine.outcome import Failure, RateLimit, Verdict
from engine.plan.settings import Settings
from engine.run.policy import (
    LIMIT_UNKNOWN_WAIT,
    MAX_BACKOFF,
    Action,
    Context,
    Decision,
    History,
    LimitMemory,
    decide,
    limit_wait,
)

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("resets_at", "repeats", "until", "says"),
    [
        # A reset well ahead: the reset plus the margin, nothing to explain.
        (NOW + 600, 0, NOW + 610, ""),
        # A reset already past (stale, or another clock): the minimum from now.
        (NOW - 3600, 0, NOW + 60, "its reset time is past or near"),
        # A reset a moment ahead, closer than the minimum: still the minimum.
        (NOW + 5, 0, NOW + 60, "its reset time is past or near"),
        # No reset known: the unknown wait.
        (None, 0, NOW + LIMIT_UNKNOWN_WAIT, ""),
        # Came back once, twice, three times right after its wait: 2x, 4x, 8x the minimum.
        (NOW - 10, 1, NOW + 120, "came back right after its wait (once)"),
        (NOW - 10, 2, NOW + 240, "(2 times in a row)"),
        (NOW - 10, 3, NOW + 480, "(3 times in a row)"),
        # However often it comes back, never more than the ceiling...
        (NOW - 10, 30, NOW + 3600, "up to 60 min"),
        # ...unless the reset itself is later still.
        (NOW + 7200, 30, NOW + 7210, "came back"),
    ],
)
def test_a_usage_limit_waits_at_least_the_minimum_and_doubles_when_it_comes_back(
    resets_at: float | None, repeats: int, until: float, says: str
) -> None:
    wait = limit_wait(resets_at, NOW, repeats, margin=10.0, minimum=60.0, ceiling=3600.0)
    assert wait.until == pytest.approx(until)
    assert wait.repeats == repeats
    assert says in wait.why
    if not says:
        assert wait.why == ""


def test_a_zero_minimum_still_never_waits_for_a_time_already_past() -> None:
    """With the minimum set to 0 (tests), a past reset waits until now, not before it."""
    wait = limit_wait(NOW - 100, NOW, 0, margin=0.0, minimum=0.0)
    assert wait.until == NOW


RESUMES = Capabilities(resume=True)
NO_RESUME = Capabilities()


def verdict_of(failure: Failure | None) -> Verdict:
    if failure is Failure.RATE_LIMIT:
        return Verdict(failure, "usage limit reached", RateLimit("rejected", NOW + 600, None))
    if failure is Failure.RESOURCES:
        return Verdict(failure, "could not start the agent: Too many open files")
    return Verdict(failure, f"it went {failure.value}" if failure else "")


def policy(
    failure: Failure | None,
    *,
    spent: int = 0,
    continued: int = 0,
    resumed: bool = False,
    session: str | None = "s1",
    can: Capabilities = RESUMES,
    jitter: float = 1.0,
    **settings_and_context: object,
) -> Decision:
    """`decide` for task T with one verdict of class `failure`; keywords name a Settings
    field (retries, retry_delay, continues) or a Context field."""
    fields = set(Settings.__dataclass_fields__)
    settings = Settings(**{k: v for k, v in settings_and_context.items() if k in fields})  # type: ignore[arg-type]
    context = Context(**{k: v for k, v in settings_and_context.items() if k not in fields})  # type: ignore[arg-type]
    history = History("T", spent, continued, resumed, session, NOW - 5)
    return decide(verdict_of(failure), history, settings, can, context, NOW, jitter)


# Every failure class: (the action with retries left, with none left, whether the next attempt
# continues the session when the agent can). Incomplete is with no `continues` set, session
# lost is of an attempt that did not resume, resources are with nothing else running.
EXPECTED: dict[Failure | None, tuple[Action, Action, bool]] = {
    None: (Action.DONE, Action.DONE, False),
    Failure.TRANSIENT: (Action.RETRY, Action.FAIL, False),
    Failure.STALLED: (Action.RETRY, Action.FAIL, False),
    Failure.CHECK: (Action.RETRY, Action.FAIL, True),
    Failure.PERMANENT: (Action.FAIL, Action.FAIL, False),
    Failure.TIMEOUT: (Action.FAIL, Action.FAIL, False),
    Failure.AUTH: (Action.FAIL, Action.FAIL, False),
    Failure.SETUP: (Action.FAIL, Action.FAIL, False),
    Failure.INCOMPLETE: (Action.FAIL, Action.FAIL, False),
    Failure.SESSION_LOST: (Action.FAIL, Action.FAIL, False),
    Failure.RATE_LIMIT: (Action.WAIT_LIMIT, Action.WAIT_LIMIT, True),
    Failure.CANCELLED: (Action.CANCEL, Action.CANCEL, False),
    Failure.RESOURCES: (Action.HOLD, Action.HOLD, False),
}
# (retries set, retries spent): none at all, some left, all spent.
BUDGETS = {"no retries": (0, 0), "some left": (3, 1), "none left": (2, 2)}


def test_the_table_names_every_failure_class() -> None:
    """A new failure class must say here what the policy does with it."""
    assert set(EXPECTED) == {None, *Failure}


@pytest.mark.parametrize("can", [RESUMES, NO_RESUME], ids=["resumes", "no resume"])
@pytest.mark.parametrize("budget", list(BUDGETS))
@pytest.mark.parametrize("failure", list(EXPECTED), ids=lambda f: f.value if f else "done")
def test_every_failure_class_by_retries_left_and_capability(
    failure: Failure | None, budget: str, can: Capabilities
) -> None:
    """What each class does, with no, some or no more retries, for an agent that can or
    cannot continue a session: only a retry spends one, only the halting classes halt, and
    only a failed check and a usage limit continue the session (if the agent can)."""
    retries, spent = BUDGETS[budget]
    d = policy(failure, retries=retries, spent=spent, can=can)
    left, none_left, continues_session = EXPECTED[failure]
    assert d.action is (left if spent < retries else none_left)
    assert d.spent == spent + (d.action is Action.RETRY)
    assert d.resume == (
        "s1" if continues_session and can.resume and d.action is not Action.FAIL else None
    )
    assert (d.halt is not None) == (failure is not None and failure.halts)
    assert d.failure is failure
    assert d.continued == 0
    assert d.forget_session is False
    if d.action in (Action.DONE, Action.CANCEL, Action.FAIL):
        assert (d.again_in, d.next_attempt_at) == (None, None)


@pytest.mark.parametrize(
    ("failure", "retry_delay", "spent", "jitter", "again_in", "says"),
    [
        (Failure.TRANSIENT, None, 0, 1.0, 10.0, "it went transient; retry 1/5 in 10.0s"),
        (Failure.TRANSIENT, None, 1, 1.0, 20.0, "retry 2/5 in 20.0s"),
        (Failure.STALLED, 2.0, 2, 1.0, 8.0, "it went stalled; retry 3/5 in 8.0s"),
        (Failure.TRANSIENT, 2.0, 0, 1.2, 2.4, "retry 1/5 in 2.4s"),
        (Failure.TRANSIENT, 2.0, 0, 0.8, 1.6, "retry 1/5 in 1.6s"),
        # The backoff stops at its ceiling (the jitter still spreads it).
        (Failure.TRANSIENT, 100.0, 4, 1.0, MAX_BACKOFF, "retry 5/5 in 600.0s"),
        (Failure.TRANSIENT, 100.0, 4, 1.1, MAX_BACKOFF * 1.1, "retry 5/5 in 660.0s"),
        # A failed check is retried at once: the agent has a problem to fix.
        (Failure.CHECK, 10.0, 1, 1.2, 0.0, "it went check; retry 2/5 now"),
    ],
)
def test_a_retry_backs_off_doubling_with_jitter_and_a_failed_check_retries_now(
    failure: Failure,
    retry_delay: float | None,
    spent: int,
    jitter: float,
    again_in: float,
    says: str,
) -> None:
    d = policy(failure, retries=5, retry_delay=retry_delay, spent=spent, jitter=jitter)
    assert d.action is Action.RETRY
    assert d.again_in == pytest.approx(again_in)
    assert d.next_attempt_at == pytest.approx(NOW + again_in)
    assert d.reason is not None
    assert d.reason.endswith(says)


@pytest.mark.parametrize("failure", [f for f in Failure if f is not Failure.CANCELLED])
def test_after_an_interrupt_every_failure_is_a_cancel_and_runs_again_next_time(
    failure: Failure,
) -> None:
    """Whatever the class (a usage limit, a retry left, a halting one), an interrupted run
    retries nothing, waits for nothing and halts nothing: the task runs on the next run."""
    d = policy(failure, retries=3, interrupted=True, others=2)
    assert d.action is Action.CANCEL
    assert d.reason == "interrupted; runs again on the next 'nova run'"
    assert (d.spent, d.pause, d.halt, d.hold, d.cap, d.resume) == (0, None, None, None, None, None)
    assert d.failure is failure  # what ended it is kept


def test_an_interrupt_does_not_undo_a_task_that_got_done() -> None:
    assert policy(None, interrupted=True).action is Action.DONE


LOGS_IN = Capabilities(resume=True, login="Log in with 'agent login'")


@pytest.mark.parametrize(
    ("failure", "can", "halted", "says"),
    [
        (Failure.AUTH, LOGS_IN, False, "task T could not authenticate (it went auth). No more"),
        # How to log in is the agent's to say (its capabilities), never the policy's.
        (Failure.AUTH, LOGS_IN, False, "fail the same way. Log in with 'agent login', then run"),
        (Failure.AUTH, NO_RESUME, False, "Log in to the agent's command line tool, then run"),
        (Failure.SETUP, LOGS_IN, False, "task T failed: it went setup No more tasks were started"),
        # One halt says why: a second halting failure does not replace it.
        (Failure.AUTH, LOGS_IN, True, None),
        (Failure.SETUP, LOGS_IN, True, None),
    ],
)
def test_the_halting_classes_fail_the_task_and_halt_once(
    failure: Failure, can: Capabilities, halted: bool, says: str | None
) -> None:
    d = policy(failure, retries=3, halted=halted, can=can)
    assert d.action is Action.FAIL
    assert d.spent == 0
    if says is None:
        assert d.halt is None
    else:
        assert d.halt is not None
        assert says in d.halt


@pytest.mark.parametrize(
    ("others", "cap", "new_cap", "run_note"),
    [
        (2, 4, 2, "only 2 agent(s) fit (Too many open files): running 2 at once until more do."),
        (1, 4, 1, "only 1 agent(s) fit (Too many open files): running 1 at once until more do."),
        # Already at most that many at once: nothing new to say.
        (3, 3, 3, None),
        (3, 2, 3, None),
    ],
)
def test_no_resources_with_others_running_narrows_the_cap_and_waits_for_one_to_end(
    others: int, cap: int, new_cap: int, run_note: str | None
) -> None:
    d = policy(Failure.RESOURCES, others=others, cap=cap, starving=4)
    assert d.action is Action.WAIT_RESOURCES
    assert (d.cap, d.run_note, d.hold, d.again_in) == (new_cap, run_note, None, None)
    assert (
        d.reason
        == "could not start the agent: Too many open files; starts when a running agent ends"
    )
    assert (d.spent, d.starving, d.halt) == (0, 4, None)  # no retry, no starving start


@pytest.mark.parametrize(
    ("starving", "jitter", "hold"),
    [(0, 1.0, 0.5), (1, 1.0, 1.0), (2, 1.2, 2.4), (5, 1.0, 16.0), (6, 1.0, 30.0), (9, 0.8, 24.0)],
)
def test_no_resources_with_nothing_running_holds_every_launch_doubling(
    starving: int, jitter: float, hold: float
) -> None:
    d = policy(Failure.RESOURCES, retries=0, starving=starving, jitter=jitter)
    assert d.action is Action.HOLD
    assert (d.starving, d.cap, d.again_in) == (starving + 1, None, None)
    assert d.hold == pytest.approx(hold)
    assert d.next_attempt_at == pytest.approx(NOW + hold)
    assert (
        d.reason == f"could not start the agent: Too many open files; trying again in {hold:.1f}s"
    )


@pytest.mark.parametrize("halted", [False, True])
def test_the_starved_launch_halts_after_max_starved_holds_in_a_row(halted: bool) -> None:
    """The start after MAX_STARVED holds fails the task and halts the run, saying what ran
    out and what to raise, even over an earlier halt (nothing at all can start now)."""
    d = policy(Failure.RESOURCES, retries=3, starving=3, max_starved=3, halted=halted)
    assert d.action is Action.FAIL
    assert (d.starving, d.spent, d.hold) == (4, 0, None)
    assert d.halt is not None
    assert d.halt.startswith(
        "no agent could be started (Too many open files) although none was running, "
        "3 times in a row. Raise the limit that ran out (ulimit -n"
    )


@pytest.mark.parametrize(
    ("continued", "continues", "session", "can", "action", "says"),
    [
        (0, 3, "s1", RESUMES, Action.CONTINUE, "it went incomplete; continuing the session (1/3)"),
        (2, 3, "s1", RESUMES, Action.CONTINUE, "continuing the session (3/3)"),
        # All continuations spent, none allowed, no session, an agent that cannot: it fails.
        (3, 3, "s1", RESUMES, Action.FAIL, "it went incomplete"),
        (0, 0, "s1", RESUMES, Action.FAIL, "it went incomplete"),
        (0, 3, None, RESUMES, Action.FAIL, "it went incomplete"),
        (0, 3, "s1", NO_RESUME, Action.FAIL, "it went incomplete"),
    ],
)
def test_an_incomplete_session_continues_up_to_continues_times(
    continued: int,
    continues: int,
    session: str | None,
    can: Capabilities,
    action: Action,
    says: str,
) -> None:
    """`continues` goes on in the same session, at once and without spending a retry; an
    incomplete attempt is not retryable, so past that it fails."""
    d = policy(
        Failure.INCOMPLETE,
        retries=5,
        continues=continues,
        continued=continued,
        session=session,
        can=can,
    )
    assert d.action is action
    assert d.reason is not None
    assert d.reason.endswith(says)
    assert d.spent == 0
    if action is Action.CONTINUE:
        assert (d.again_in, d.resume, d.continued) == (0.0, "s1", continued + 1)
    else:
        assert (d.resume, d.continued) == (None, continued)


@pytest.mark.parametrize("retries", [0, 2])
def test_a_session_lost_after_a_resume_starts_afresh_at_once_without_a_retry(retries: int) -> None:
    d = policy(Failure.SESSION_LOST, resumed=True, retries=retries)
    assert d.action is Action.AFRESH
    assert (d.again_in, d.forget_session, d.resume, d.spent) == (0.0, True, None, 0)
    assert d.reason == "it went session_lost; starting the task afresh"


@pytest.mark.parametrize(
    ("failure", "lifted", "repeats", "memory", "until"),
    [
        # A limit that came straight back after the wait (started after it ended): counted.
        # It waits 2**2 times the minimum, past the reset (NOW + 610).
        (Failure.RATE_LIMIT, NOW - 10, 1, LimitMemory(None, 2), NOW + 1200),
        # One from an attempt started before the wait ended: not counted again.
        (Failure.RATE_LIMIT, NOW - 1, 1, LimitMemory(NOW - 1, 1), NOW + 610),
        (Failure.RATE_LIMIT, None, 0, LimitMemory(None, 0), NOW + 610),
        # An attempt started after the wait that got past the limit: the count starts over.
        (Failure.TRANSIENT, NOW - 10, 3, LimitMemory(NOW - 10, 0), None),
        (None, NOW - 10, 3, LimitMemory(NOW - 10, 0), None),
        (Failure.TRANSIENT, NOW - 1, 3, LimitMemory(NOW - 1, 3), None),
    ],
)
def test_the_usage_limit_memory_counts_limits_that_come_straight_back(
    failure: Failure | None,
    lifted: float | None,
    repeats: int,
    memory: LimitMemory,
    until: float | None,
) -> None:
    """The attempt started at NOW - 5; the limit (if any) resets at NOW + 600, waited past by
    the margin (10 s), and at least the minimum (300 s) times 2**repeats from now."""
    d = policy(failure, retries=1, limit=LimitMemory(lifted, repeats), margin=10.0, min_wait=300.0)
    assert d.limit == memory
    if until is not None:
        reset = d.pause
        assert reset is not None
        assert reset.until == pytest.approx(until)
        assert d.again_in == pytest.approx(until - NOW)
        assert d.next_attempt_at == pytest.approx(until)


@pytest.mark.parametrize(
    ("paused_until", "noted"), [(None, True), (NOW + 100, True), (NOW + 10_000, False)]
)
def test_a_usage_limit_says_why_its_wait_is_long_only_when_it_waits_longer(
    paused_until: float | None, noted: bool
) -> None:
    d = policy(
        Failure.RATE_LIMIT, limit=LimitMemory(NOW - 10, 0), min_wait=60.0, paused_until=paused_until
    )
    assert d.pause is not None
    assert d.pause.kind == "usage limit"
    assert (d.note is not None) == noted
    if d.note:
        assert d.note.startswith("the usage limit came back right after its wait (once)")


def test_a_usage_limit_costs_no_retry_and_waits_with_no_retries_at_all() -> None:
    d = policy(Failure.RATE_LIMIT, retries=0, spent=0)
    assert (d.action, d.spent, d.reason) == (Action.WAIT_LIMIT, 0, "usage limit reached")


def test_decide_is_a_pure_function() -> None:
    """The same inputs give the same decision; the policy module draws no random number and
    reads no clock (the runner passes both in)."""
    one = policy(Failure.TRANSIENT, retries=2, jitter=1.1)
    assert one == policy(Failure.TRANSIENT, retries=2, jitter=1.1)
    assert one != policy(Failure.TRANSIENT, retries=2, jitter=0.9)
    tree = ast.parse(Path(engine.run.policy.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert not imported & {"random", "time", "asyncio", "os", "secrets"}


def test_a_decision_changes_only_what_it_names() -> None:
    """A done task resets nothing of the run's counters: its history goes on as it was."""
    d = policy(None, spent=2, continued=1, starving=3, limit=LimitMemory(None, 2))
    assert d == replace(
        Decision(Action.DONE), spent=2, continued=1, starving=3, limit=LimitMemory(None, 2)
    )


def test_the_auth_halt_of_claude_code_says_how_to_log_in_word_for_word() -> None:
    d = policy(Failure.AUTH, can=capabilities("claude"))
    assert d.halt == (
        "task T could not authenticate (it went auth). No more tasks were started: they would "
        "fail the same way. Log in with 'claude /login' or set ANTHROPIC_API_KEY, then run "
        "nova again."
    )
