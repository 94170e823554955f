"""What the text under a CASCADE.md heading holds: the settings list that opens it, and text.

Settings are written as a markdown list of `key: value` lines, so plain notes can look like
settings (`- Model: a tiny data model`). The rule that tells them apart lives here (see
`read_body`); a line nova reads as text that would be a valid setting gets a warning, unless
the user said the list is notes by writing it right below a line of text and not every line
of it is a setting. Pure: lines in, a `Reading` out.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field

from engine.plan.settings import SETTING_KEYS, SettingError, normalize_key, parse_setting

# Every line of a plan passes through here, and a plan is outside text: a line of 40,000
# spaces must cost no more than 40,000 steps. So no pattern here has two quantifiers that can
# take the same characters (`\s*[*_]*\s*`, `(.*?)\s*$`): those retry every split of a run of
# spaces, quadratic in its length. Lines are cut with str methods, and the one pattern left
# is a single class repeated.
_KEY = re.compile(r"[A-Za-z][A-Za-z _-]*")
_EMPHASIS = "*_`"
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])(?:\s|$)")

# What a line kept in a section's body is: text, part of a code block or non-task table (never
# settings), the place of a task table, or a sub-heading inside a task's instructions.
TEXT, CODE, TASKS, SUBHEADING = range(4)

Body = list[tuple[int, str, int]]  # (line number, text, kind)
# A list item that is a `key: value` line: (key, value, (setting, exact)), the last None when
# the key resembles no setting.
Item = tuple[str, str, tuple[str, bool] | None]


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


def is_settings_label(line: str) -> bool:
    """Whether a line only says "settings" (`Settings:`, `**Settings**`, `_Settings:_`): a
    label for the list below it, not a line of text that makes the list notes."""
    text = line.strip().lstrip("*_").lstrip()
    if text[:8].lower() != "settings":
        return False
    rest = text[8:].lstrip()
    rest = rest[1:].lstrip() if rest.startswith(":") else rest  # `Settings:**`
    return rest.lstrip("*_").strip() in ("", ":")  # `**Settings**:`


def bullet_setting(line: str) -> tuple[str, str] | None:
    """(key, value) of a `- key: value` line, without the emphasis around the key (which may
    close before the colon, `**Model**:`, or after it, `**Model:**`)."""
    item = line.lstrip()
    if item[:1] not in ("-", "*", "+") or not item[1:2].isspace():
        return None
    head, colon, value = item[1:].partition(":")  # a key holds no colon: the first one ends it
    head = head.strip()
    inner = head.lstrip(_EMPHASIS)
    key = inner.rstrip(_EMPHASIS)
    if not colon or not _KEY.fullmatch(key):
        return None
    opened, closed, value = head[: len(head) - len(inner)], inner[len(key) :], value.strip()
    if opened and not closed and value.startswith(opened[::-1]):
        value = value[len(opened) :].lstrip()  # `- **Model:** opus`
    return key, value


def _item(line: str) -> Item | None:
    pair = bullet_setting(line)
    if not pair:
        return None
    like = _setting_like(pair[0])
    if like and not like[1] and not _accepts(like[0], pair[1]):
        # Only close to a setting's name, with a value that setting would reject
        # (`- Context: see docs/proxy.md`): prose, not a misspelt setting.
        like = None
    return pair[0], pair[1], like


def _valid(item: Item | None) -> bool:
    """A setting nova would take: the key is (nearly) a setting's name, the value it accepts."""
    return bool(item and item[2] and _accepts(item[2][0], item[1]))


def _meant(item: Item | None) -> bool:
    """A valid setting, or a setting's exact name with a one-word value (`- timeout: soon`):
    a mistyped value, not prose like `- Model: a tiny data model`."""
    if not item or not item[2]:
        return False
    return _valid(item) or (item[2][1] and len(item[1].split()) == 1)


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

    A list holds settings when (1) it is the first list under the heading; (2) under a task's
    heading (`task`) only blank lines come before it, and under the project, a branch or a
    group only paragraphs and blank lines (no task table, other table or code block); (3) it
    does not directly follow a line of text (`Goals:` above it says it is notes); and (4) every
    item in it is `key: value` with a key that is a setting's name, or close to one with a
    value that setting accepts, and one item at least is a setting: valid, or a setting's exact
    name with a one-word value. A line that only says "settings" (`Settings:`, `**Settings**`)
    is a label: it counts as neither text nor content for (2) and (3), and is dropped once the
    list below it is read as settings. In a settings list a key close to a setting's name, a
    bad value or a setting given twice is an error. Every other list is text. A line in it that
    would be a valid setting gets a warning when its list failed (1), (2) or (4), or when every
    item of the list is a valid setting; not when the user wrote the list as notes (3) and
    some item is not a setting, but a line that a blank line separates from the notes above it,
    in one loose list, gets one.
    """
    reading = Reading()
    place = _Place(heading, task)
    label_at: int | None = None  # where in `reading.text` a `Settings:` label above a list is
    i = 0
    while i < len(body):
        lineno, raw, kind = body[i]
        if kind != TEXT or not LIST_ITEM.match(raw):
            label_at = _read_line(body[i], reading, place, label_at)
            i += 1
            continue
        end = _list_end(body, i)
        lines = body[i:end]
        items = [_item(line) if LIST_ITEM.match(line) else None for _, line, _ in lines]
        before = body[i - 1] if i else None
        directly = not place.content
        verdict = place.as_text(before, lines, items)
        place.first_list = place.first_list or lineno
        for entry in lines:
            place.passed(entry)
        if verdict is None:
            if label_at is not None:
                del reading.text[label_at]  # the label says what the list is: no instruction
            _read_settings(lines, items, reading, heading, directly=directly)
            place.settings_list = lineno
            label_at = None
            i = end
            continue
        label_at = None
        _read_text_list(lines, items, verdict, reading)
        i = end
    return reading


def _read_line(
    line: tuple[int, str, int], reading: Reading, place: _Place, label_at: int | None
) -> int | None:
    """A line that is not in a list: kept as text (a task table's rows are not); where a
    `Settings:` label above the next list is, as it is now."""
    _, raw, kind = line
    if kind == TEXT and is_settings_label(raw):
        label_at = len(reading.text)
    elif kind != TEXT or raw.strip():
        label_at = None
    if kind != TASKS:
        reading.text.append(raw)
    place.passed(line)
    return label_at


def _read_text_list(
    lines: Body, items: list[Item | None], verdict: tuple[str, str, str, int], reading: Reading
) -> None:
    """A list read as text: its lines, and a warning for each that would be a setting."""
    why, fix, quiet, notes = verdict
    for n, ((line_no, line, _), item) in enumerate(zip(lines, items, strict=True)):
        reading.text.append(line)
        if n < notes or not _valid(item):
            continue
        assert item is not None
        assert item[2] is not None
        name = item[2][0]
        typo = "" if item[2][1] else f" ('{item[0].strip()}' is not a setting)"
        reading.warnings.append(
            (
                line_no,
                f"this line looks like the setting '{name}'{typo}, but nova reads it as "
                f"text: {why}. To set {name}, {fix.format(name=name, value=item[1])}. "
                f"{quiet}".rstrip(),
            )
        )


@dataclass
class _Place:
    """Where a list under a heading stands: what came before it, kept up line by line."""

    heading: int
    task: bool
    first_list: int = 0
    settings_list: int = 0
    content: bool = False  # anything but blank lines (and a `Settings:` label) so far
    blocker: tuple[int, str, int] | None = None  # the first table, code block or sub-heading
    last: tuple[int, str, int] | None = None  # the last line that is not blank (nor a label)
    label: tuple[int, str, int] | None = None  # a `Settings:` label, and only blanks since

    def passed(self, line: tuple[int, str, int]) -> None:
        if line[2] == TEXT and is_settings_label(line[1]):
            self.label = line
            return
        if line[2] != TEXT or line[1].strip():
            self.label = None
            self.content = True
            self.last = line
            if line[2] != TEXT and self.blocker is None:
                self.blocker = line

    def as_text(
        self, before: tuple[int, str, int] | None, lines: Body, items: list[Item | None]
    ) -> tuple[str, str, str, int] | None:
        """None if `lines` (a list) is a settings list; else why it is text, how to make a line
        of it a setting (a template of name and value), how to say it is notes, and how many
        of its lines the user wrote as notes (no warning for those)."""
        fix = (
            f"add '- {{name}}: {{value}}' to the settings list on line {self.settings_list}"
            if self.settings_list
            else "put '- {name}: {value}' in a list right under the heading on line "
            f"{self.heading}"
        )
        # The line of text right above the list, if there is one (then the list is notes).
        text_above = (
            before
            if before is not None
            and before[2] == TEXT
            and bool(before[1].strip())
            and not is_settings_label(before[1])
            else None
        )
        listed = [
            item for (_, line, _), item in zip(lines, items, strict=True) if LIST_ITEM.match(line)
        ]
        if text_above is not None and not all(_valid(item) for item in listed):
            return _notes_below(text_above, lines, fix)
        reason = self._why_text(text_above, lines, items, fix)
        if reason is not None:
            return reason[0], reason[1], self._quiet(text_above is not None), 0
        if not any(_meant(item) for item in items):
            return "", "", "", len(lines)  # no line in it is a setting: nothing to say
        return None

    def _quiet(self, below_text: bool) -> str:
        """How to say that a list read as text is notes (no warning then)."""
        if below_text:
            return (
                "If the list is notes, reword one of its lines so that not every line is a setting."
            )
        if self.label is not None:
            return ""  # the user labelled the list as settings: it is no note
        if self.last is not None and self.last[2] == TEXT:
            return (
                f"If it is a note, remove the blank line between the list and line {self.last[0]}."
            )
        return "If it is a note, put a line of text directly above the list."

    def _why_text(
        self,
        text_above: tuple[int, str, int] | None,
        lines: Body,
        items: list[Item | None],
        fix: str,
    ) -> tuple[str, str] | None:
        """Why a list whose every item is a setting is still text, and the fix; None if it
        is not, for where it stands."""
        if self.first_list:
            why = (
                f"only the first list under a heading holds settings (here, line {self.first_list})"
            )
            return why, fix
        if self.task and self.content:
            return "a task's settings go in the list right under its heading, before any text", fix
        if not self.task and self.blocker is not None:
            what = "task table" if self.blocker[2] == TASKS else "table or code block"
            return f"a list below a {what} (line {self.blocker[0]}) is not read for settings", fix
        if text_above is not None:
            why = f"a list directly below a line of text (line {text_above[0]}) is read as notes"
            return why, f"put a blank line between line {text_above[0]} and the list"
        other = next(
            (
                line_no
                for (line_no, line, _), item in zip(lines, items, strict=True)
                if LIST_ITEM.match(line) and not (item and item[2])
            ),
            None,
        )
        if other is not None:
            why = (
                f"the list also holds line {other}, which is not a setting; a settings list "
                "holds only settings"
            )
            return why, f"keep only settings in this list (move line {other} out of it)"
        return None


def _notes_below(
    text_above: tuple[int, str, int], lines: Body, fix: str
) -> tuple[str, str, str, int]:
    """A list of notes below a line of text: only the lines a blank line sets apart may be
    meant as settings."""
    notes = next((n for n, (_, line, _) in enumerate(lines) if not line.strip()), len(lines))
    why = (
        "a blank line does not end a markdown list, so it is part of the list of notes "
        f"below the text on line {text_above[0]}"
    )
    blanks = [line_no for line_no, line, _ in lines if not line.strip()]
    gap = (
        f"the blank line on line {blanks[0]}"
        if len(blanks) == 1
        else f"the blank lines on lines {', '.join(map(str, blanks))}"
    )
    return why, fix, f"If it is a note, remove {gap}.", notes


def _read_settings(
    lines: Body,
    items: list[Item | None],
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
            " (This list is read as settings: it is the first list under the heading on line "
            f"{heading}, and every item in it names a setting. If it is notes, put a line of "
            "text directly above it.)"
        )
    first: dict[str, int] = {}
    for (lineno, raw, _), item in zip(lines, items, strict=True):
        if not item or not item[2]:
            reading.text.append(raw)
            continue
        key, value, (setting, exact) = item[0], item[1], item[2]
        if not exact:  # its value is one the setting accepts (`_item`): a typo of its name
            reading.meant_settings = True
            reading.problems.append(
                (lineno, f"unknown setting '{key.strip()}'. Did you mean '{setting}'?{hint}")
            )
            continue
        try:
            name, parsed = parse_setting(setting, value)
        except SettingError as exc:
            reading.problems.append((lineno, f"{exc}{hint}"))
            continue
        reading.meant_settings = True
        if name in reading.settings:
            reading.problems.append(
                (
                    lineno,
                    f"setting '{setting}' is given twice in this list (first on line "
                    f"{first[name]}). Keep one of them.",
                )
            )
            continue
        reading.settings[name] = parsed
        first[name] = lineno
