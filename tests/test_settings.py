"""Task settings: parsing each key and value once, with a message that names the rule, and
layering (most specific wins)."""

from __future__ import annotations

import pytest

from engine.formats import format_seconds
from engine.plan.settings import (
    DEFAULTS,
    SETTING_KEYS,
    SettingError,
    Settings,
    describe,
    normalize_key,
    parse_duration,
    parse_setting,
    suggest,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        (" 1h 30m ", 5400.0),
        ("2H", 7200.0),
        ("45 minutes", 2700.0),
        ("1 hour", 3600.0),
        ("2 hours 30 minutes", 9000.0),
        ("90 sec", 90.0),
        ("1 hour and 30 minutes", 5400.0),
        ("2 hrs, 15 mins", 8100.0),
        ("3 Days", 259200.0),
    ],
)
def test_durations_in_every_written_form(text: str, seconds: float) -> None:
    """Plain seconds, units, compound and fractional durations all parse."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "soon",
        "",
        "0",
        "0s",
        "-5m",
        "5x",
        "m",
        "1h-30m",
        "1 30",
        "1 hourly",
        "1h and",
        "30s for a call",
    ],
)
def test_bad_durations_are_refused(text: str) -> None:
    """Words, zero, negatives and unknown units are SettingErrors with an example."""
    with pytest.raises(SettingError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (90, "1m30s"),
        (45, "45s"),
        (2700, "45m"),
        (5400, "1h30m"),
        (3600, "1h"),
        (0.5, "0.5s"),
        (90.5, "90.5s"),
    ],
)
def test_format_seconds_writes_durations_back(seconds: float, text: str) -> None:
    """A duration prints the way it would be written in CASCADE.md."""
    assert format_seconds(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "key", ["Max Turns", "max_turns", "max-turns", "**max-turns**", "`Max_Turns`"]
)
def test_key_spellings_normalize_to_one(key: str) -> None:
    """Column headers and bullet keys match however they are spelt."""
    assert normalize_key(key) == "max-turns"


@pytest.mark.parametrize(
    ("key", "value", "parsed"),
    [
        ("agent", "Claude", ("agent", "claude")),
        ("command", "python3 a.py {id}", ("command", "python3 a.py {id}")),
        ("model", "`opus`", ("model", "opus")),
        ("Max Turns", "40", ("max_turns", 40)),
        ("max-budget-usd", "$2.50", ("max_budget_usd", 2.5)),
        ("permission-mode", "acceptedits", ("permission_mode", "acceptEdits")),
        ("timeout", "45m", ("timeout", 2700.0)),
        ("stall-timeout", "10m", ("stall_timeout", 600.0)),
        ("retries", "0", ("retries", 0)),
        ("continues", "2", ("continues", 2)),
        ("retry-delay", "30s", ("retry_delay", 30.0)),
        ("workdir", "services/api", ("workdir", "services/api")),
        ("workdir-outside", "yes", ("workdir_outside", True)),
        ("Workdir Outside", "off", ("workdir_outside", False)),
        ("allowed-tools", "Bash Edit", ("allowed_tools", "Bash Edit")),
    ],
)
def test_every_setting_parses_to_its_field(
    key: str, value: str, parsed: tuple[str, object]
) -> None:
    """Each key gives its dataclass field and a typed value."""
    assert parse_setting(key, value) == parsed


def test_an_agent_kind_is_any_one_word_lowercased_for_the_registry_to_check() -> None:
    """plan/ knows no kinds: it reads a name (`Claude` as `claude`); which names exist is
    the registry's to say (tests/test_agents.py: an unknown kind is refused before a run)."""
    assert parse_setting("agent", "Claude") == ("agent", "claude")
    assert parse_setting("agent", "echo") == ("agent", "echo")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("modle", "opus", "unknown setting 'modle'. Did you mean 'model'?"),
        ("retries", "-1", "retries must be at least 0, not -1."),
        ("max-turns", "lots", "max-turns must be a whole number, not 'lots'."),
        ("agent", "gpt 4", "agent 'gpt 4' is not an agent kind's name; a kind is one word"),
        ("max-budget-usd", "cheap", "max-budget-usd must be a number, not 'cheap'."),
        ("model", "  ", "setting 'model' has no value."),
    ],
)
def test_bad_settings_say_what_is_wrong(key: str, value: str, message: str) -> None:
    """Every refusal names the value and the rule."""
    with pytest.raises(SettingError) as info:
        parse_setting(key, value)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("key", ["timeout", "stall-timeout", "retry-delay"])
def test_a_rejected_duration_names_its_setting(key: str) -> None:
    """`timeout 'soon' is not a duration`: the message says which setting it was for."""
    with pytest.raises(SettingError) as info:
        parse_setting(key, "soon")
    assert (
        str(info.value) == f"{key} 'soon' is not a duration; write it like 90s, 30m, 2h or 1h30m."
    )


def test_model_with_spaces_is_not_a_model_name() -> None:
    """`a tiny SQLite data model` cannot be a model; a model ID is one word."""
    with pytest.raises(SettingError) as info:
        parse_setting("Model", "a tiny SQLite data model")
    assert str(info.value) == (
        "model 'a tiny SQLite data model' is not a model name; a model is one word, like "
        "sonnet, opus or claude-sonnet-4-5."
    )
    assert parse_setting("model", "sonnet[1m]") == ("model", "sonnet[1m]")


def test_unknown_setting_lists_the_known_ones() -> None:
    """Even without a close match, the message lists every setting there is."""
    with pytest.raises(SettingError) as info:
        parse_setting("colour", "red")
    assert str(info.value).endswith(f"Known settings: {', '.join(SETTING_KEYS)}.")


def test_suggest_finds_close_matches_only() -> None:
    """A typo gets a suggestion; an unrelated word gets none."""
    assert suggest("timout", SETTING_KEYS) == " Did you mean 'timeout'?"
    assert suggest("banana", SETTING_KEYS) == ""


def test_over_takes_unset_values_from_the_base() -> None:
    """Settings.over keeps what is set here and inherits the rest."""
    task = Settings(model="opus", retries=0)
    merged = task.over(DEFAULTS)
    assert merged.model == "opus"
    assert merged.retries == 0  # 0 is a value, not "unset"
    assert merged.timeout == DEFAULTS.timeout
    # No kind here: the registry's default is filled in when a run resolves the settings
    # (tests/test_agents.py: a task that names no agent gets the default kind).
    assert merged.agent is None


def test_defaults_never_bypass_permissions() -> None:
    """Unattended runs get acceptEdits and an allowed tool list, never bypassPermissions."""
    assert DEFAULTS.permission_mode == "acceptEdits"
    assert DEFAULTS.allowed_tools


def test_as_dict_uses_written_keys() -> None:
    """as_dict lists set values under the keys a user writes."""
    assert Settings(max_turns=3, model="opus").as_dict() == {"model": "opus", "max-turns": 3}


def test_describe_formats_durations_and_hides_agent_keys_the_agent_does_not_take() -> None:
    """A log header shows only the agent-specific settings its kind takes (a command agent's:
    no model or permission mode), never the command; durations read well."""
    claude = describe(Settings(agent="claude", model="opus", timeout=5400.0, command="x"))
    assert claude == {"agent": "claude", "model": "opus", "timeout": "1h30m"}
    s = Settings(agent="command", model="opus", permission_mode="plan", retries=1)
    assert describe(s, {"command"}) == {"agent": "command", "retries": "1"}
    assert describe(s, {"model"}) == {"agent": "command", "model": "opus", "retries": "1"}
