"""The rule for which lists under a heading are settings (engine.sections), line by line."""

from __future__ import annotations

import pytest

from engine.sections import CODE, TASKS, TEXT, bullet_setting, read_body


def body(text: str, first_line: int = 2) -> list[tuple[int, str, int]]:
    """Lines of `text` as a section body starting on `first_line`; `<tasks>` marks a task table
    and `<code>` a fenced block."""
    kinds = {"<tasks>": (TASKS, ""), "<code>": (CODE, "```")}
    out = []
    for n, line in enumerate(text.splitlines(), first_line):
        kind, raw = kinds.get(line, (TEXT, line))
        out.append((n, raw, kind))
    return out


@pytest.mark.parametrize(
    ("line", "pair"),
    [
        ("- model: opus", ("model", "opus")),
        ("- **Model:** opus", ("Model", "opus")),
        ("- **Model**: opus", ("Model", "opus")),
        ("* __max turns:__ 40", ("max turns", "40")),
        ("- `model`: `opus`", ("model", "`opus`")),
        ("- model: **bold value**", ("model", "**bold value**")),
        ("- Keep it small", None),
    ],
)
def test_bullet_setting_reads_the_key_without_its_emphasis_on_either_side_of_the_colon(
    line: str, pair: tuple[str, str] | None
) -> None:
    """Emphasis closed before or after the colon is not part of the key or the value."""
    assert bullet_setting(line) == pair


@pytest.mark.parametrize(
    ("text", "task", "settings"),
    [
        ("- model: opus\n- retries: 3", True, {"model": "opus", "retries": 3}),
        ("\n- model: opus", True, {"model": "opus"}),
        ("A plan.\n\n- model: opus", False, {"model": "opus"}),
        ("A plan.\n\n- model: opus", True, {}),  # under a task heading only blank lines first
        ("Goals:\n- model: opus", False, {}),  # directly below text: notes
        ("<tasks>\n\n- model: opus", False, {}),  # below a task table
        ("<code>\n<code>\n\n- model: opus", False, {}),  # below a code block
        ("- model: opus\n- Owner: Ana", False, {}),  # an item that is no setting
        ("- model: opus\n\n- retries: 3", False, {"model": "opus", "retries": 3}),  # loose list
        ("- Model: a tiny data model", False, {}),  # no item is a setting
        ("- retries: 1\n\nText.\n\n- model: opus", False, {"retries": 1}),  # first list only
    ],
)
def test_which_list_holds_settings(text: str, task: bool, settings: dict[str, object]) -> None:
    """Each condition of the rule, alone: first list, position, not below text, all settings."""
    reading = read_body(body(text), 1, task=task)
    assert reading.settings == settings
    assert reading.problems == []


def test_a_list_of_notes_gives_no_warning_but_a_misplaced_setting_list_does() -> None:
    """Notes (below `Goals:`) are quiet; the same list below a task table gets a warning."""
    assert read_body(body("Goals:\n- model: opus"), 1, task=False).warnings == []
    warnings = read_body(body("<tasks>\n\n- model: opus"), 1, task=False).warnings
    assert [line for line, _ in warnings] == [4]
