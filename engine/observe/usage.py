"""Token counts and cost, per model, and how they add up.

Kept apart from the parsers so that state, status and logs share one notion of "usage".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.formats import clip
from engine.text import visible_line

_MODEL_SUFFIX = re.compile(r"\[[^\]]*\]$")
TOKEN_KINDS = ("input", "output", "cache_read", "cache_creation")
# Bounds on what one line of an agent's output may report. No run spends 10^15 tokens on one
# reply, nor a million dollars: a bigger number is garbage, and taken as it is it would make
# every total after it meaningless (or, as a float, infinite).
MAX_TOKENS = 10**15
MAX_COST_USD = 1e6
MODEL_CHARS = 200


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
    """The model name as nova reports it: `claude-opus-4-8[1m]` counts as `claude-opus-4-8`.

    The name comes from the agent: it is cut to `MODEL_CHARS` and its control characters are
    shown as escapes, as it ends up in the state, the logs and the terminal.
    """
    if not model:
        return "unknown"
    name = model.strip()
    # Cut before the regex, which takes quadratic time on a long `[[[[...`.
    name = clip(name, MODEL_CHARS) if len(name) > MODEL_CHARS else _MODEL_SUFFIX.sub("", name)
    return visible_line(name) or "unknown"


def token_count(value: object) -> int | None:
    """`value` as one reported token count: a whole number from 0 to `MAX_TOKENS`, else None."""
    return value if type(value) is int and 0 <= value <= MAX_TOKENS else None


def cost_value(value: object) -> float | None:
    """`value` as one reported cost in USD: a finite number from 0 to `MAX_COST_USD`, else
    None (NaN, infinity, a negative or absurd cost is no cost)."""
    if type(value) is int:
        return float(value) if 0 <= value <= MAX_COST_USD else None
    if type(value) is float and math.isfinite(value) and 0.0 <= value <= MAX_COST_USD:
        return value
    return None


def parse_count(text: bytes) -> int | None:
    """A token count written as decimal digits (`Token usage: input=N`), or None."""
    # Checked before int(): a 5,000-digit number raises ValueError, and a long one is slow.
    if not text.isdigit() or len(text.lstrip(b"0")) > 16:
        return None
    return token_count(int(text))


def parse_cost(text: bytes) -> float | None:
    """A cost written as a number (`cost=0.12`, `cost=$0.12`), or None."""
    if len(text) > 64:
        return None
    try:
        return cost_value(float(text.decode("ascii").lstrip("$")))
    except (UnicodeDecodeError, ValueError):
        return None


def describe(value: object) -> str:
    """A short, safe form of a value an agent reported, for a warning about it."""
    if type(value) is int and value.bit_length() > 64:
        # str() of an int over 4,300 digits raises, and a long one is no use in a message.
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = value if isinstance(value, str) else repr(value) if _scalar(value) else None
    if text is None:
        return f"a JSON {_JSON_NAMES.get(type(value), type(value).__name__)}"
    if len(text) > 60:
        text = f"{text[:40]}… ({len(text)} characters)"
    return visible_line(text)


def _scalar(value: object) -> bool:
    return value is None or type(value) in (bool, int, float)


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", str: "string"}


def add_by_model(total: Mapping[str, Tokens], more: Mapping[str, Tokens]) -> dict[str, Tokens]:
    """Per-model sum of two usage maps."""
    return sum_by_model((total, more))


def sum_by_model(maps: Iterable[Mapping[str, Tokens]]) -> dict[str, Tokens]:
    """Per-model sum of usage maps."""
    out: dict[str, Tokens] = {}
    for usage in maps:
        for model, tokens in usage.items():
            add_tokens(out, model, tokens)
    return out


def add_tokens(into: dict[str, Tokens], model: str, tokens: Tokens) -> None:
    """Add one model's tokens to a per-model map, in place."""
    into[model] = into[model] + tokens if model in into else tokens


def count_by_model(sums: dict[str, list[int]], usage: Mapping[str, Tokens]) -> int:
    """Add `usage` to per-model counts kept as [input, output, cache read, cache write]; the
    tokens it holds, all told. (Adding integers in place, not making a `Tokens` per addition:
    at 10,000 tasks that was a fifth of `nova status`'s time.)"""
    used = 0
    for model, t in usage.items():
        i, o, r, c = t.input, t.output, t.cache_read, t.cache_creation
        used += i + o + r + c
        acc = sums.get(model)
        if acc is None:
            sums[model] = [i, o, r, c]
        else:
            acc[0] += i
            acc[1] += o
            acc[2] += r
            acc[3] += c
    return used


def _int(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0  # not True, which is an int


_API_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_MODEL_USAGE_KEYS = (
    "inputTokens",
    "outputTokens",
    "cacheReadInputTokens",
    "cacheCreationInputTokens",
)


def tokens_from_api_usage(usage: Mapping[str, object], ignored: list[str] | None = None) -> Tokens:
    """Tokens from a Messages API `usage` object (snake_case keys).

    A count that is not a whole number from 0 to `MAX_TOKENS` reads as 0; when `ignored` is
    given, each such count that was there is added to it as `key=value`.
    """
    return _read_tokens(usage, _API_KEYS, ignored)


def tokens_from_model_usage(
    usage: Mapping[str, object], ignored: list[str] | None = None
) -> Tokens:
    """Tokens from one entry of Claude Code's `result.modelUsage` (camelCase keys); bad counts
    as in `tokens_from_api_usage`."""
    return _read_tokens(usage, _MODEL_USAGE_KEYS, ignored)


def _read_tokens(
    usage: Mapping[str, object], keys: tuple[str, str, str, str], ignored: list[str] | None
) -> Tokens:
    counts = [0, 0, 0, 0]
    for i, key in enumerate(keys):
        value = usage.get(key)
        count = token_count(value)
        if count is not None:
            counts[i] = count
        elif value is not None and ignored is not None:
            ignored.append(f"{key}={describe(value)}")
    return Tokens(*counts)


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
