"""Task settings: the knobs a CASCADE.md or the command line can set, and how they inherit.

A setting can be given for the whole project, a `## L1` branch, a `### L2` group, or one task
(most specific wins), and on the command line (which wins over the file). Every value is parsed
here, once, so that a typo is reported with its line before anything runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import Any

from engine.formats import format_seconds

PERMISSION_MODES = ("default", "acceptEdits", "bypassPermissions", "plan", "dontAsk")
DEFAULT_ALLOWED_TOOLS = "Bash Edit Write Read Glob Grep"

# A number and its unit, then maybe `,` or `and` before the next one: `1h30m`, `1h 30m`,
# `2 hours 30 minutes`, `1 hour and 30 minutes`.
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:(?:,|\band\b)\s*(?=\d))?", re.IGNORECASE)
_UNIT_WORDS = {
    0.001: ("ms", "msec", "msecs", "millisecond", "milliseconds"),
    1.0: ("", "s", "sec", "secs", "second", "seconds"),
    60.0: ("m", "min", "mins", "minute", "minutes"),
    3600.0: ("h", "hr", "hrs", "hour", "hours"),
    86400.0: ("d", "day", "days"),
}
_UNIT_SECONDS = {word: seconds for seconds, words in _UNIT_WORDS.items() for word in words}


class SettingError(ValueError):
    """A setting's key or value is not usable; the message says why and what would be."""


@dataclass(frozen=True)
class Settings:
    """Settings as written; None means "not set here, inherit"."""

    agent: str | None = None
    command: str | None = None
    check: str | None = None  # a command whose exit 0 the task must pass to be done
    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    allowed_tools: str | None = None
    permission_mode: str | None = None
    timeout: float | None = None
    stall_timeout: float | None = None
    retries: int | None = None
    continues: int | None = None
    retry_delay: float | None = None
    workdir: str | None = None
    # A workdir outside the plan's folder is refused unless this says the plan means it.
    workdir_outside: bool | None = None
    worktree: bool | None = None  # work in a git worktree of its own, on branch nova/<ID>

    def over(self, base: Settings) -> Settings:
        """These settings, with anything unset taken from `base`."""
        changes = {f.name: getattr(self, f.name) for f in fields(self)}
        return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """The settings that are set, keyed as written in CASCADE.md."""
        return {
            key_of(f.name): getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not None
        }


# The settings only some agent kinds read (each adapter says which it takes).
AGENT_FIELDS = frozenset(
    {"command", "model", "max_turns", "max_budget_usd", "allowed_tools", "permission_mode"}
)
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_DURATIONS = ("timeout", "stall_timeout", "retry_delay")


def describe(settings: Settings, takes: Collection[str] | None = None) -> dict[str, str]:
    """The settings that matter for a task's agent, formatted for a log header: of the
    agent-specific ones, only those it `takes` (all when not said); never its command."""
    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is None or f.name == "command":
            continue
        if takes is not None and f.name in AGENT_FIELDS and f.name not in takes:
            continue
        if isinstance(value, bool):
            out[key_of(f.name)] = "on" if value else "off"
        else:
            out[key_of(f.name)] = format_seconds(value) if f.name in _DURATIONS else str(value)
    return out


def key_of(field_name: str) -> str:
    return field_name.replace("_", "-")


SETTING_KEYS = tuple(key_of(f.name) for f in fields(Settings))

# No agent kind: a task that names none gets the registry's default (`engine.agents`).
DEFAULTS = Settings(
    allowed_tools=DEFAULT_ALLOWED_TOOLS,
    permission_mode="acceptEdits",
    timeout=3600.0,
    retries=2,
    continues=0,
    retry_delay=10.0,
)


def normalize_key(text: str) -> str:
    """`Max Turns`, `max_turns` and `max-turns` are the same key."""
    return re.sub(r"[\s_]+", "-", text.strip().strip("*`").strip().lower())


def suggest(value: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str:
    """` Did you mean 'x'?` for the closest choice, or nothing."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=cutoff)
    return f" Did you mean '{close[0]}'?" if close else ""


def parse_duration(text: str, key: str = "") -> float:
    """Seconds in `90`, `90s`, `30m`, `1h30m`, `1.5h`, `45 minutes` or `2 hours 30 minutes`;
    the error names `key`, the setting, when given."""
    what = f"{key} '{text}'" if key else f"'{text}'"
    written = text.strip()
    pos, total = 0, 0.0
    while pos < len(written):
        match = _DURATION.match(written, pos)
        unit = match.group(2).lower() if match else ""
        # A number without a unit is seconds, and only last: `1 30` is no duration.
        if not match or unit not in _UNIT_SECONDS or (not unit and match.end() < len(written)):
            raise SettingError(f"{what} is not a duration; write it like 90s, 30m, 2h or 1h30m.")
        total += float(match.group(1)) * _UNIT_SECONDS[unit]
        pos = match.end()
    if not written or total <= 0:
        raise SettingError(f"{what} is not a positive duration; write it like 90s or 30m.")
    return total


def _parse_int(text: str, key: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingError(f"{key} must be a whole number, not '{text}'.") from None
    if value < minimum:
        raise SettingError(f"{key} must be at least {minimum}, not {value}.")
    return value


_BOOLS = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def _parse_bool(text: str, key: str) -> bool:
    value = _BOOLS.get(text.strip().lower())
    if value is None:
        raise SettingError(f"{key} '{text.strip()}' is not on or off (yes/no, true/false).")
    return value


def _parse_choice(text: str, key: str, choices: tuple[str, ...]) -> str:
    value = text.strip()
    by_lower = {c.lower(): c for c in choices}
    if value.lower() in by_lower:
        return by_lower[value.lower()]
    raise SettingError(
        f"{key} '{value}' is not one of {', '.join(choices)}.{suggest(value, choices)}"
    )


def parse_setting(key: str, text: str) -> tuple[str, Any]:
    """(field name, parsed value) for one `key: value`; SettingError if either is bad."""
    norm = normalize_key(key)
    value = text.strip().strip("`").strip()
    if norm not in SETTING_KEYS:
        raise SettingError(
            f"unknown setting '{key.strip()}'.{suggest(norm, SETTING_KEYS)} "
            f"Known settings: {', '.join(SETTING_KEYS)}."
        )
    if not value:
        raise SettingError(f"setting '{norm}' has no value.")
    name = norm.replace("-", "_")
    parsed: Any
    if norm == "agent":
        # Any kind's name: which kinds exist is the agent registry's to say, when a run or
        # `nova validate` resolves the settings (engine.run.preflight.resolve_settings).
        parsed = value.lower()
        if not _KIND.fullmatch(parsed):
            raise SettingError(
                f"agent '{value}' is not an agent kind's name; a kind is one word, like "
                "claude or command."
            )
    elif norm == "permission-mode":
        parsed = _parse_choice(value, norm, PERMISSION_MODES)
    elif norm in ("timeout", "stall-timeout", "retry-delay"):
        parsed = parse_duration(value, norm)
    elif norm in ("max-turns",):
        parsed = _parse_int(value, norm, 1)
    elif norm in ("retries", "continues"):
        parsed = _parse_int(value, norm, 0)
    elif norm in ("worktree", "workdir-outside"):
        parsed = _parse_bool(value, norm)
    elif norm == "model" and len(value.split()) > 1:
        raise SettingError(
            f"model '{value}' is not a model name; a model is one word, like sonnet, opus or "
            "claude-sonnet-4-5."
        )
    elif norm == "max-budget-usd":
        try:
            parsed = float(value.lstrip("$"))
        except ValueError:
            raise SettingError(f"max-budget-usd must be a number, not '{value}'.") from None
    else:
        parsed = value
    return name, parsed
