"""What the text under a CASCADE.md heading holds: the settings list that opens it, and text.

Settings are written as a markdown list of `key: value` lines, so plain notes can look like
settings (`- Model: a tiny data model`). The rule that tells them apart lives here: only the
first list under a heading can hold settings, and only when one of its keys is a setting's
name (or nearly, with a value that setting accepts); a line elsewhere that would be a valid
setting is a warning, never a silent drop. Pure: lines in, a `Reading` out.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field

from engine.settings import SETTING_KEYS, SettingError, normalize_key, parse_setting

BULLET_SETTING = re.compile(r"^\s*[-*+]\s+\**`?([A-Za-z][A-Za-z _-]*?)`?\**\s*:\s*(.*?)\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])(?:\s|$)")

# What a line kept in a section's body is: text, part of a code block or non-task table (never
# settings), the place of a task table, or a sub-heading inside a task's instructions.
TEXT, CODE, TASKS, SUBHEADING = range(4)

Body = list[tuple[int, str, int]]  # (line number, text, kind)


@dataclass
class Reading:
    """What a section's body says: its settings, its text, and what is wrong with them."""

    settings: dict[str, object] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    meant_settings: bool = False  # a line would be a valid setting, once a key typo is fixed
    problems: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)


@functools.lru_cache(maxsize=1024)  # prose repeats its keys; difflib is the slow part
def _setting_like(key: str) -> tuple[str, bool] | None:
    """(setting, exact) for a bullet's key that is a setting's name or close to one."""
    norm = normalize_key(key)
    if norm in SETTING_KEYS:
        return norm, True
    close = difflib.get_close_matches(norm, SETTING_KEYS, n=1, cutoff=0.6)
    return (close[0], False) if close else None


def _accepts(key: str, value: str) -> bool:
    try:
        parse_setting(key, value)
    except SettingError:
        return False
    return True


def _list_end(body: Body, start: int) -> int:
    """Index after the markdown list that starts at `body[start]`.

    A list goes on over its items and their continuation lines, and over blank lines when an
    item or an indented line follows them (a loose list); anything else ends it.
    """
    end = start + 1
    while end < len(body) and body[end][2] == TEXT:
        if body[end][1].strip():
            end += 1
            continue
        after = end
        while after < len(body) and body[after][2] == TEXT and not body[after][1].strip():
            after += 1
        if after == len(body) or body[after][2] != TEXT:
            break
        line = body[after][1]
        if not (LIST_ITEM.match(line) or line.startswith(("  ", "\t"))):
            break
        end = after + 1
    return end


def read_body(body: Body, heading: int, task: bool) -> Reading:
    """The settings and text of a section's body (the lines under the heading on `heading`).

    Only one list per heading can hold settings: the first list under it. Under a task's
    heading (`task`) nothing but blank lines may come before that list; under the project, a
    branch or a group, paragraphs and tables may, but a list that directly follows a line of
    text (`Goals:` above `- Model: ...`) is a list of notes. The list holds settings when one
    of its keys is a setting's name, or close to one and with a value that setting accepts;
    then every key that is or nearly is a setting's name must be a valid setting, and its
    other lines stay text. Every other list is text; a line in it that would be a valid setting
    gets a warning, so a misplaced setting is never dropped silently.
    """
    reading = Reading()
    first_list = 0
    fix = f"in a list right under the heading on line {heading}"
    i = 0
    while i < len(body):
        lineno, raw, kind = body[i]
        if kind != TEXT or not LIST_ITEM.match(raw):
            if kind != TASKS:
                reading.text.append(raw)
            i += 1
            continue
        end = _list_end(body, i)
        content_before = False
        if first_list:
            why = f"only the first list under a heading holds settings (here, line {first_list})"
        else:
            first_list = lineno
            content_before = any(k != TEXT or line.strip() for _, line, k in body[:i])
            before = body[i - 1] if i else (0, "", TEXT)
            if task and content_before:
                why = "a task's settings go in the list right under its heading, before any text"
            elif before[2] == TEXT and before[1].strip():
                why = f"its list follows the text on line {before[0]} directly, as a list of notes"
            else:
                why = ""
        items = []
        for at in range(i, end):
            match = BULLET_SETTING.match(body[at][1])
            like = _setting_like(match.group(1)) if match else None
            items.append((match, like))
        if not why and any(
            like and match and (like[1] or _accepts(like[0], match.group(2)))
            for match, like in items
        ):
            _read_settings(body[i:end], items, reading, heading, directly=not content_before)
            fix = f"in the settings list on line {lineno}"
        else:
            for (line_no, line, _), (match, like) in zip(body[i:end], items, strict=True):
                reading.text.append(line)
                # A list with no setting in its place cannot hold one that a user could mean.
                if why and match and like and _accepts(like[0], match.group(2)):
                    name = like[0]
                    typo = "" if like[1] else f" ('{match.group(1).strip()}' is not a setting)"
                    reading.warnings.append(
                        (
                            line_no,
                            f"this line looks like the setting '{name}'{typo}, but nova reads "
                            f"it as text: {why}. To set {name}, put '- {name}: "
                            f"{match.group(2)}' {fix}.",
                        )
                    )
        i = end
    return reading


def _read_settings(
    lines: Body,
    items: list[tuple[re.Match[str] | None, tuple[str, bool] | None]],
    reading: Reading,
    heading: int,
    directly: bool,
) -> None:
    """Take the settings of a settings list into `reading`; its other lines stay text."""
    # A list further down than right under its heading may be notes the user did not mean
    # as settings: say why it is read as settings, and how to make it text.
    hint = ""
    if not directly:
        hint = (
            " (This list is read as settings because it is the first list under the heading "
            f"on line {heading}; if it is notes, put a line of text directly above it.)"
        )
    first: dict[str, int] = {}
    for (lineno, raw, _), (match, like) in zip(lines, items, strict=True):
        if not match or not like:
            reading.text.append(raw)
            continue
        key, value = match.group(1), match.group(2)
        if not like[1]:
            reading.meant_settings = reading.meant_settings or _accepts(like[0], value)
            reading.problems.append(
                (lineno, f"unknown setting '{key.strip()}'. Did you mean '{like[0]}'?{hint}")
            )
            continue
        try:
            name, parsed = parse_setting(like[0], value)
        except SettingError as exc:
            reading.problems.append((lineno, f"{exc}{hint}"))
            continue
        reading.meant_settings = True
        if name in reading.settings:
            reading.problems.append(
                (
                    lineno,
                    f"setting '{like[0]}' is given twice in this list (first on line "
                    f"{first[name]}). Keep one of them.",
                )
            )
            continue
        reading.settings[name] = parsed
        first[name] = lineno
