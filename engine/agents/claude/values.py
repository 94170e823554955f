"""What Claude Code writes, checked: the type and range of each value nova keeps from its
events, and the one-line forms of what its messages hold.

Pure helpers of `engine.agents.claude.stream`: a value that is not of the type or range the
CLI writes reads as None, so that no agent can make a total infinite, a state file invalid
JSON, or a session id a path.
"""

from __future__ import annotations

import json
import re

from engine.text import short


def first_nonblank(text: str) -> str:
    """The first line of `text` that is not blank (as `str.splitlines` splits), or ""."""
    window = 256
    while True:
        lines = text[:window].splitlines()
        whole = window >= len(text)
        # The last line of a cut window may go on past it (or be a \r of a \r\n).
        for line in lines if whole else lines[:-1]:
            if line.strip():
                return line
        if whole:
            return ""
        window *= 4


def count_newlines(text: str) -> int:
    """`text.rstrip().count("\n")`, without copying a text of megabytes to strip a newline."""
    end = len(text)
    stop = max(0, end - 64)
    while end > stop and text[end - 1].isspace():
        end -= 1
    if end == stop and end > 0:  # a long run of trailing whitespace
        end = len(text.rstrip())
    return text.count("\n", 0, end)


def describe_tool_call(name: str, tool_input: object) -> str:
    """`Bash: ls -la`, `Edit: src/app.py` — the one-line form of a tool call."""
    if isinstance(tool_input, dict):
        for key in ("command", "file_path", "path", "pattern", "url", "description", "prompt"):
            value = tool_input.get(key)
            if isinstance(value, str) and value:
                return f"{name}: {short(value)}"
        return f"{name}: {short(json.dumps(tool_input, ensure_ascii=False))}"
    return name


def content_text(content: object) -> str:
    """The text of a message content: a string, or the text blocks of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [c.get("text", "") for c in content if isinstance(c, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def text_or_none(value: object) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


_SESSION = re.compile(r"[A-Za-z0-9._-]{1,200}")
_WORD = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_SMALL = 10**9
LAST_TIME = 253402300800.0  # 10000-01-01 UTC
RESULT_FIELDS: dict[str, type] = {
    "subtype": str,
    "is_error": bool,
    "stop_reason": str,
    "num_turns": int,
    "session_id": str,
    "result": str,
    "api_error_status": int,
    "terminal_reason": str,
}


def session_or_none(value: object) -> str | None:
    """A session id as the CLI writes them (a UUID); nova passes it to `--resume` and names a
    file after it, so anything else (a path, a control character) is no session id."""
    return value if isinstance(value, str) and _SESSION.fullmatch(value) else None


def word_or_none(value: object) -> str | None:
    """A name as the CLI writes them (five_hour, seven_day_opus), else None."""
    return value if isinstance(value, str) and _WORD.fullmatch(value) else None


def http_status(value: object) -> int | None:
    """An HTTP status code (100 to 599), else None."""
    return value if type(value) is int and 100 <= value <= 599 else None


def number_or_none(value: object) -> float | None:
    """A finite number from 0 to 10^15, as a float, else None."""
    if type(value) is int:
        return float(value) if 0 <= value <= 10**15 else None
    return value if type(value) is float and 0.0 <= value <= 1e15 else None  # NaN is not <=


def count_text(value: object) -> str:
    """A small count as text, or `?` for anything else."""
    return str(value) if type(value) is int and 0 <= value <= MAX_SMALL else "?"
