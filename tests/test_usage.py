"""Token counts and cost per model: adding them up, reading both of Claude Code's usage shapes,
model names without suffixes, and the short forms people read."""

from __future__ import annotations

import pytest

from engine.usage import (
    Tokens,
    add_by_model,
    format_cost,
    format_count,
    model_key,
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
