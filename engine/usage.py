"""Token counts and cost, per model, and how they add up.

Kept apart from the parsers so that state, status and logs share one notion of "usage".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MODEL_SUFFIX = re.compile(r"\[[^\]]*\]$")
TOKEN_KINDS = ("input", "output", "cache_read", "cache_creation")


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts of one model."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_creation + other.cache_creation,
        )

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_creation

    def as_dict(self) -> dict[str, int]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_creation": self.cache_creation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Tokens:
        """Tokens from `as_dict`'s form; a count that is not a whole number >= 0 reads as 0."""
        get = data.get
        return cls(
            _int(get("input")),
            _int(get("output")),
            _int(get("cache_read")),
            _int(get("cache_creation")),
        )


def model_key(model: str | None) -> str:
    """The model name as nova reports it: `claude-opus-4-8[1m]` counts as `claude-opus-4-8`."""
    if not model:
        return "unknown"
    return _MODEL_SUFFIX.sub("", model.strip()) or "unknown"


def add_by_model(total: Mapping[str, Tokens], more: Mapping[str, Tokens]) -> dict[str, Tokens]:
    """Per-model sum of two usage maps."""
    out = dict(total)
    for model, tokens in more.items():
        out[model] = out[model] + tokens if model in out else tokens
    return out


def sum_by_model(maps: Iterable[Mapping[str, Tokens]]) -> dict[str, Tokens]:
    out: dict[str, Tokens] = {}
    for usage in maps:
        for model, tokens in usage.items():
            out[model] = out[model] + tokens if model in out else tokens
    return out


def _int(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0  # not True, which is an int


def tokens_from_api_usage(usage: Mapping[str, object]) -> Tokens:
    """Tokens from a Messages API `usage` object (snake_case keys)."""
    return Tokens(
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(usage.get("cache_read_input_tokens")),
        _int(usage.get("cache_creation_input_tokens")),
    )


def tokens_from_model_usage(usage: Mapping[str, object]) -> Tokens:
    """Tokens from one entry of Claude Code's `result.modelUsage` (camelCase keys)."""
    return Tokens(
        _int(usage.get("inputTokens")),
        _int(usage.get("outputTokens")),
        _int(usage.get("cacheReadInputTokens")),
        _int(usage.get("cacheCreationInputTokens")),
    )


def format_count(n: int) -> str:
    """Token counts the way people read them: 950, 12.3k, 4.56M."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "-"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"
