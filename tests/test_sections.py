"""The rule for which lists under a heading are settings (engine.plan.sections), line by line."""

from __future__ import annotations

import pytest

from engine.plan.sections import CODE, TASKS, TEXT, bullet_setting, read_body


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
    """Notes (below `Goals:`, not all settings) are quiet; the same list below a task table
    gets a warning for its setting."""
    notes = "Goals:\n- model: opus\n- Ship by June"
    assert read_body(body(notes), 1, task=False).warnings == []
    warnings = read_body(body("<tasks>\n\n- model: opus\n- Ship by June"), 1, task=False).warnings
    assert [line for line, _ in warnings] == [4]


@pytest.mark.parametrize("label", ["Settings:", "**Settings**", "SETTINGS", "**Settings:**"])
def test_a_settings_label_directly_above_a_list_is_no_text_that_makes_it_notes(label: str) -> None:
    """A line that only says "settings" labels the list below it, under a task heading too, and
    is dropped from the text once the list is read as settings."""
    reading = read_body(body(f"{label}\n- model: opus\n\nDo it."), 1, task=True)
    assert reading.settings == {"model": "opus"}
    assert reading.text == ["", "Do it."]
    assert reading.warnings == reading.problems == []


def test_a_line_that_says_more_than_settings_above_a_list_still_makes_it_notes() -> None:
    """`Settings screen:` is text: the list below it is notes."""
    reading = read_body(body("Settings screen:\n- model: opus\n- Ship it"), 1, task=False)
    assert reading.settings == {}
    assert reading.warnings == []


def test_every_item_a_setting_warns_even_right_below_a_line_of_text() -> None:
    """A list below text is notes, but when every item is a valid setting each gets a warning."""
    reading = read_body(body("Backend work, all on sonnet:\n- model: sonnet"), 1, task=False)
    assert reading.settings == {}
    assert [line for line, _ in reading.warnings] == [3]
    assert "put a blank line between line 2 and the list" in reading.warnings[0][1]


def test_a_key_close_to_a_setting_with_a_value_it_rejects_is_not_setting_like() -> None:
    """`- Context: see docs` is no typo of `continues`: the list fails "every item is a setting"
    and is text, with no problem; `- retires: 3` is a typo and stays an error."""
    prose = read_body(body("- Retries: 3\n- Context: see docs/proxy.md"), 1, task=True)
    assert prose.settings == {}
    assert prose.problems == []
    assert [line for line, _ in prose.warnings] == [2]
    typo = read_body(body("- model: opus\n- retires: 3"), 1, task=True)
    assert typo.problems == [(3, "unknown setting 'retires'. Did you mean 'retries'?")]
