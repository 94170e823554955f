"""Plans written to hurt the parser: every line of a plan is read in time linear in its length,
and no mutation of a real plan makes parsing raise anything but CascadeError.

The inputs are big enough that a quadratic expression would take minutes on them, so a
regression fails by pytest-timeout (the "thread" method: a regular expression stuck in C never
returns to let the usual alarm raise). The speed itself is measured in bench/ (validate-scaling),
never asserted here.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from engine.errors import CascadeError
from engine.plan.cascade import parse_cascade
from engine.plan.markdown import heading
from engine.plan.model import Cascade
from engine.plan.sections import bullet_setting, is_settings_label
from engine.plan.settings import SettingError, parse_duration

PLAN = (Path(__file__).resolve().parents[1] / "CASCADE.md").read_text(encoding="utf-8")
# 200,000 spaces and a letter: at 40,000 the settings-label rule alone took 10 s.
SPACES = " " * 200_000
HOSTILE = SPACES + "x"
LINEAR = pytest.mark.timeout(20, method="thread")


def parse(text: str) -> Cascade | CascadeError:
    """The plan, or the error that lists its problems: both are answers, a traceback is not."""
    try:
        return parse_cascade(text)
    except CascadeError as exc:
        return exc


def _before_first_branch(line: str) -> str:
    return PLAN.replace("\n## ", f"\n{line}\n\n## ", 1)


# Every place a line can be: (what it is, the plan with the line there).
PLACES = {
    "project text": lambda line: _before_first_branch(line),
    "project settings item": lambda line: _before_first_branch(f"- model: a{line}"),
    "settings key": lambda line: _before_first_branch(f"- a{line}: opus"),
    "settings value": lambda line: _before_first_branch(f"- timeout: 1{line}"),
    "settings label": lambda line: _before_first_branch(f"**settings{line}"),
    "emphasis label": lambda line: _before_first_branch(f"*{line}"),
    "task heading": lambda line: f"{PLAN}\n#### S3{line}\n",
    "heading title": lambda line: f"{PLAN}\n## a{line}#\n",
    "heading after hashes": lambda line: f"{PLAN}\n####{line}\n",
    "instructions": lambda line: f"{PLAN}\n{line}\n- retries: 1{line}\n",
    "table cell": lambda line: PLAN.replace("| - |", f"| a{line} |", 1),
    "dependencies cell": lambda line: PLAN.replace("| - |", f"| F1,{line} |", 1),
    "setting column cell": lambda line: PLAN.replace("| opus |", f"| o{line} |", 1),
    "row without outer bars": lambda line: f"{PLAN}\nTask ID |{line}\n---|---\n",
    "separator row": lambda line: f"{PLAN}\n| a |\n|{line.replace(' ', '-')}|\n",
    "fence": lambda line: f"{PLAN}\n{line}```\n",
}


@LINEAR
@pytest.mark.parametrize("place", list(PLACES))
def test_a_line_of_200000_spaces_and_a_letter_is_read_in_linear_time(place: str) -> None:
    """The line that took `nova validate` 19.5 s at 40,000 spaces, five times longer, in
    every place a line of a plan can be: parsing ends (with a plan or its problems)."""
    parse(PLACES[place](HOSTILE))


@LINEAR
def test_60000_unknown_dependencies_are_reported_in_linear_time() -> None:
    """A task naming 60,000 tasks that do not exist gets one error each; only the first few
    get a "Did you mean" (each compares with every ID)."""
    deps = ", ".join(f"X{i}" for i in range(60_000))
    result = parse(
        f"# P\n\n## L1: A\n| Task ID | Task Name | What Changes | Depends On |\n"
        f"|---|---|---|---|\n| A1 | a | b | {deps} |\n| X | x | x | - |\n"
    )
    assert isinstance(result, CascadeError)
    assert len(result.problems) == 60_000
    assert sum("Did you mean" in p.message for p in result.problems) <= 50


@LINEAR
def test_a_plan_of_100000_tasks_parses_in_linear_time() -> None:
    """Many rows, each depending on the one before, with repeated dependencies."""
    rows = "".join(f"| T{i} | t | c | T{i - 1}, T{i - 1} |\n" for i in range(1, 100_000))
    result = parse(
        f"# P\n\n## L1: A\n| Task ID | Task Name | What Changes | Depends On |\n"
        f"|---|---|---|---|\n| T0 | t | c | - |\n{rows}"
    )
    assert isinstance(result, Cascade)
    assert result.tasks["T9"].depends_on == ("T8",)


# The patterns the string methods replaced, as oracles on short lines (where they are fast).
OLD_LABEL = re.compile(r"^\s*[*_]*\s*settings\s*:?\s*[*_]*\s*:?\s*$", re.IGNORECASE)
OLD_BULLET = re.compile(r"^\s*[-*+]\s+([*_`]*)([A-Za-z][A-Za-z _-]*?)([*_`]*)\s*:\s*(.*?)\s*$")
LABELS = [
    "Settings:",
    "settings",
    "**Settings**",
    "**Settings:**",
    "**Settings**:",
    "_Settings:_",
    "  __SETTINGS__ :  ",
    "* Settings",
    "Settings: model",
    "My settings:",
    "Settings::",
    "Settings : ** :",
    "* _Settings",
    "Settingsx",
    "",
]
BULLETS = [
    "- model: opus",
    "- **Model:** opus",
    "* __max turns:__ 40",
    "- max turns  : 4",
    "- **max turns **: 4",
    "- my_key_: x",
    "+\tmodel:opus  ",
    "- max\tturns: 4",
    "- *  model: x",
    "- 1model: x",
    "-model: x",
    "- model",
    "- : x",
    "- **: x",
    "- a: b: c",
    "  -   `key`  :  `v` ",
]


@pytest.mark.parametrize("line", LABELS)
def test_settings_label_says_what_its_old_pattern_said(line: str) -> None:
    assert is_settings_label(line) is bool(OLD_LABEL.match(line))


@pytest.mark.parametrize("line", BULLETS)
def test_bullet_setting_says_what_its_old_pattern_said(line: str) -> None:
    """Where a key may have spaces, tabs, underscores and emphasis, as the old pattern read it."""
    old = OLD_BULLET.match(line)
    expected = None
    if old:
        opened, key, closed, value = old.groups()
        if opened and not closed and value.startswith(opened[::-1]):
            value = value[len(opened) :].lstrip()
        expected = (key, value)
    assert bullet_setting(line) == expected


@LINEAR
def test_label_and_bullet_rules_answer_long_lines_at_once() -> None:
    assert not is_settings_label(f"{SPACES}settings{SPACES}:{SPACES}**{SPACES}x")
    assert bullet_setting(f"- model: {SPACES}x{SPACES}") == ("model", "x")
    assert bullet_setting(f"- a{SPACES}b") is None


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("# Title", (1, "Title")),
        ("## L1: App ##", (2, "L1: App")),
        ("###### Six", (6, "Six")),
        ("####### Seven", None),
        ("#NoSpace", None),
        ("#", None),
        ("#   ", (1, "")),
        ("# #", (1, "")),
        ("#\tA # B #  ", (1, "A # B")),
        ("## a" + SPACES + "b", (2, "a" + SPACES + "b")),
    ],
)
def test_heading_reads_level_and_title(line: str, found: tuple[int, str] | None) -> None:
    """ATX headings as before: 1-6 hashes, whitespace, the title without closing hashes."""
    assert heading(line) == found


@LINEAR
@pytest.mark.parametrize("text", ["1" + HOSTILE, "1h," + HOSTILE, "1h and" + HOSTILE])
def test_a_duration_with_a_long_run_of_spaces_is_refused_in_linear_time(text: str) -> None:
    with pytest.raises(SettingError):
        parse_duration(text)


RUNS = " |`#-*_:\\"


def _mutated(rng: random.Random) -> str:
    """CASCADE.md with a few long runs of one markdown character (or a mix) put in at random
    places, and maybe a line cut or doubled."""
    text = PLAN
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        if rng.random() < 0.7:
            run = rng.choice(RUNS) * rng.randint(1, 3000)
        else:
            run = "".join(rng.choice(RUNS + "aZ9\n") for _ in range(rng.randint(1, 500)))
        text = text[:at] + run + text[at:]
    lines = text.split("\n")
    if rng.random() < 0.3:
        k = rng.randrange(len(lines))
        lines.insert(k, lines[k])
    if rng.random() < 0.3:
        del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


@LINEAR
@pytest.mark.parametrize("seed", range(4))
def test_mutated_plans_parse_without_a_traceback(seed: int) -> None:
    """100 seeded mutations per seed (400 in all) of the example plan: each gives a plan or
    its problems, never another exception."""
    rng = random.Random(seed)
    for _ in range(100):
        parse(_mutated(rng))
