"""Token counts and cost per model: adding them up, reading both of Claude Code's usage shapes,
model names without suffixes, and the short forms people read."""

from __future__ import annotations

import pytest

from engine.observe.usage import (
    MAX_TOKENS,
    Tokens,
    add_by_model,
    add_tokens,
    cost_value,
    count_by_model,
    describe,
    format_cost,
    format_count,
    model_key,
    parse_cost,
    parse_count,
    sum_by_model,
    tokens_from_api_usage,
    tokens_from_model_usage,
)


def test_tokens_add_field_by_field_and_total() -> None:
    """Tokens + Tokens adds each kind; total is their sum."""
    assert Tokens(1, 2, 3, 4) + Tokens(10, 20, 30, 40) == Tokens(11, 22, 33, 44)
    assert Tokens(1, 2, 3, 4).total == 10


def test_tokens_dict_round_trip_and_junk_values_read_as_zero() -> None:
    """as_dict/from_dict round trip; non-integers become 0 rather than crashing."""
    t = Tokens(5, 6, 7, 8)
    assert Tokens.from_dict(t.as_dict()) == t
    assert Tokens.from_dict({"input": "5", "output": 2.5, "cache_read": None}) == Tokens(0, 0, 0, 0)


def test_booleans_and_negative_counts_read_as_zero() -> None:
    """true is an int to Python but not a count, and no count is negative: both read as 0, so
    a hand-edited state never writes `true` back as a token count."""
    assert Tokens.from_dict({"input": True, "output": -5, "cache_read": 3}) == Tokens(0, 0, 3, 0)
    assert tokens_from_api_usage({"input_tokens": True, "output_tokens": 2}) == Tokens(0, 2, 0, 0)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("claude-opus-4-8[1m]", "claude-opus-4-8"),
        ("claude-sonnet-5", "claude-sonnet-5"),
        (" claude-haiku-4-5-20251001 ", "claude-haiku-4-5-20251001"),
        ("", "unknown"),
        (None, "unknown"),
        ("[1m]", "unknown"),
    ],
)
def test_model_key_strips_context_suffix(raw: str | None, key: str) -> None:
    """`[1m]` and similar suffixes do not split a model's usage in two."""
    assert model_key(raw) == key


def test_a_model_key_is_at_most_200_characters_with_control_characters_shown() -> None:
    """A model name comes from the agent and is shown everywhere: bounded and inert. A long
    name of brackets is cut before the suffix regex, which would take quadratic time on it."""
    assert model_key("m" * 5000) == "m" * 199 + "…"
    assert model_key("[" * 1_000_000) == "[" * 199 + "…"
    assert model_key("x\x1b]0;t\x07[1m]") == "x\\e]0;t\\x07"


@pytest.mark.parametrize(
    ("text", "count"),
    [
        (b"0", 0),
        (b"12", 12),
        (b"000000000000000000000000042", 42),
        (str(MAX_TOKENS).encode(), MAX_TOKENS),
        (str(MAX_TOKENS + 1).encode(), None),
        (b"9" * 5000, None),  # int() would raise ValueError
        (b"-1", None),
        (b"1e40", None),
        (b"\xd9\xa3", None),  # an Arabic-Indic digit: digits to str.isdigit, not to nova
        (b"", None),
    ],
)
def test_a_token_count_from_a_line_is_whole_and_bounded(text: bytes, count: int | None) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize(
    ("text", "cost"),
    [
        (b"0.25", 0.25),
        (b"$1.5", 1.5),
        (b"0", 0.0),
        (b"nan", None),
        (b"inf", None),
        (b"-inf", None),
        (b"1e400", None),  # float() makes it inf
        (b"-0.01", None),
        (b"2e6", None),
        (b"1" * 100, None),
        (b"\xff", None),
    ],
)
def test_a_cost_from_a_line_is_finite_and_not_negative(text: bytes, cost: float | None) -> None:
    assert parse_cost(text) == cost


def test_costs_from_json_are_finite_numbers_not_booleans() -> None:
    assert [cost_value(v) for v in (1, 0.5, True, float("nan"), -1, 10**400, "1")] == [
        1.0,
        0.5,
        None,
        None,
        None,
        None,
        None,
    ]


def test_a_reported_value_is_described_short_and_inert() -> None:
    """What a warning quotes of an agent's value: never str() of a 5,000-digit int (which
    raises), never a megabyte, never a control character."""
    assert describe(10**5000) == "a number of about 5001 digits"
    assert describe(float("nan")) == "nan"
    assert describe("x" * 5000) == "x" * 40 + "… (5000 characters)"
    assert describe(b"\x1b]0;t\x07") == "\\e]0;t\\x07"
    assert (describe({"a": 1}), describe([1]), describe(None)) == (
        "a JSON object",
        "a JSON array",
        "None",
    )


def test_counts_from_json_past_the_bound_are_ignored_and_said() -> None:
    ignored: list[str] = []
    usage = {"input_tokens": 10**16, "output_tokens": 3, "cache_read_input_tokens": "9"}
    assert tokens_from_api_usage(usage, ignored) == Tokens(0, 3, 0, 0)
    assert ignored == ["input_tokens=10000000000000000", "cache_read_input_tokens=9"]


def test_add_and_sum_by_model_merge_per_model() -> None:
    """Usage maps add per model, keeping models only one side has; inputs are not changed."""
    a = {"sonnet": Tokens(1, 1, 0, 0)}
    b = {"sonnet": Tokens(2, 0, 0, 0), "opus": Tokens(0, 3, 0, 0)}
    assert add_by_model(a, b) == {"sonnet": Tokens(3, 1, 0, 0), "opus": Tokens(0, 3, 0, 0)}
    assert a == {"sonnet": Tokens(1, 1, 0, 0)}
    assert sum_by_model([a, b, {}, b]) == {"sonnet": Tokens(5, 1, 0, 0), "opus": Tokens(0, 6, 0, 0)}
    assert sum_by_model([]) == {}


def test_api_usage_and_model_usage_shapes_are_both_read() -> None:
    """snake_case Messages API usage and camelCase modelUsage give the same Tokens."""
    api = {
        "input_tokens": 3,
        "output_tokens": 4,
        "cache_read_input_tokens": 5,
        "cache_creation_input_tokens": 6,
        "service_tier": "standard",
    }
    cli = {
        "inputTokens": 3,
        "outputTokens": 4,
        "cacheReadInputTokens": 5,
        "cacheCreationInputTokens": 6,
        "costUSD": 0.1,
        "contextWindow": 200000,
    }
    assert tokens_from_api_usage(api) == tokens_from_model_usage(cli) == Tokens(3, 4, 5, 6)


def test_negative_or_missing_counts_read_as_zero() -> None:
    """A negative or absent count never subtracts from a total."""
    assert tokens_from_api_usage({"input_tokens": -5}) == Tokens()
    assert tokens_from_model_usage({}) == Tokens()


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (950, "950"), (1000, "1.0k"), (12345, "12.3k"), (4_560_000, "4.56M")],
)
def test_counts_read_like_people_say_them(n: int, text: str) -> None:
    """950, 12.3k, 4.56M."""
    assert format_count(n) == text


@pytest.mark.parametrize(
    ("cost", "text"),
    [(None, "-"), (0.0, "$0.0000"), (0.01416, "$0.0142"), (12.345, "$12.35")],
)
def test_cost_has_cents_or_four_decimals_and_unknown_is_a_dash(
    cost: float | None, text: str
) -> None:
    """Small costs keep four decimals; unknown cost is '-', not $0."""
    assert format_cost(cost) == text


def test_add_tokens_adds_in_place_and_count_by_model_keeps_integer_sums() -> None:
    """The in-place forms: `add_tokens` for a map of `Tokens`, `count_by_model` for the
    [in, out, read, write] lists `nova status` adds up, which also says the total."""
    into = {"opus": Tokens(1, 1, 1, 1)}
    add_tokens(into, "opus", Tokens(1, 2, 3, 4))
    add_tokens(into, "haiku", Tokens(5, 0, 0, 0))
    assert into == {"opus": Tokens(2, 3, 4, 5), "haiku": Tokens(5, 0, 0, 0)}
    sums: dict[str, list[int]] = {}
    assert count_by_model(sums, into) == 14 + 5
    assert count_by_model(sums, {"opus": Tokens(1, 0, 0, 0)}) == 1
    assert sums == {"opus": [3, 3, 4, 5], "haiku": [5, 0, 0, 0]}
