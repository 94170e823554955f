"""How nova writes a value for a person to read: a duration, or a text cut to fit a line.

One module, so that a setting in a log header, a timeout in a reason and a task's time in
`nova status` are written the same way wherever they are shown. It imports nothing of nova's:
every room may use it.
"""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters; else its first ones and an ellipsis, in
    `limit` characters at most (no space left before the ellipsis)."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""  # not text[:-1]: a used-up budget shows nothing
    return text[: limit - 1].rstrip() + ELLIPSIS


def format_seconds(value: float) -> str:
    """`90s`, `30m`, `1h30m`: a duration as a person writes it (in a setting)."""
    whole = int(value)
    if whole != value or whole < 60:
        return f"{value:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{seconds}s" if seconds else "",
    ]
    return "".join(parts)


def format_duration(seconds: float | None) -> str:
    """`4.2s`, `3m05s`, `1h02m`: how long something took, to the precision that matters."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
