"""Text that came from outside nova (an agent's output, a plan's names), made safe to show.

An agent or a CASCADE.md can hold terminal control sequences: a window-title or clipboard
write (OSC 0, OSC 52), a clear-screen, backspaces that hide what came before. Printed as they
are, they act on the user's terminal; written to the human log, they act on whoever `cat`s it.
`visible` turns every control character into a visible escape, so the text reads as what it
is and does nothing. The raw logs keep the bytes.
"""

from __future__ import annotations

import re

from engine.formats import clip

# C0 controls but tab and newline, DEL, the C1 controls (U+0080-U+009F: 8-bit CSI and OSC),
# and the bidirectional overrides and isolates, which reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMES = {"\x1b": "\\e", "\r": "\\r", "\n": "\\n", "\t": "\\t", "\b": "\\b"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with its control characters shown as escapes (`\\e`, `\\x07`); tab and newline
    are kept."""
    if text.isprintable() or (text[-1] == "\n" and text[:-1].isprintable()):
        return text  # the common cases (a line of a log, with its newline) without the pattern
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape, text)


def visible_line(text: str) -> str:
    """`visible`, for text that must stay on one line (a name, a reason): newlines and tabs
    are shown as escapes too."""
    if text.isprintable():
        return text
    return _CONTROL_LINE.sub(_escape, text)


# What JSON text still holds raw when written with ensure_ascii=False: json.dumps escapes
# U+0000-U+001F only, so DEL, the C1 controls (an 8-bit CSI) and the bidi controls pass.
_JSON_RAW = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_JSON_RAW_UTF8 = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible_json(text: str) -> str:
    """JSON text with the control characters json.dumps leaves raw written as `\\u` escapes:
    the same document, and nothing in it acts on a terminal. (They can only be inside
    strings, where the escape means the same character.)"""
    if text.isascii() and "\x7f" not in text:
        return text
    return _JSON_RAW.sub(_json_escape, text)


def visible_json_utf8(data: memoryview) -> memoryview:
    """`visible_json` for the UTF-8 bytes of a JSON document (state.json as it is on disk)."""
    # Substring searches first (on bytes: a memoryview has no fast `in`), far faster than the
    # pattern over a 10,000-task state.
    raw = data.tobytes()
    if not any(lead in raw for lead in (b"\x7f", b"\xc2", b"\xe2\x80", b"\xe2\x81")):
        return data
    if _JSON_RAW_UTF8.search(data) is None:
        return data
    text = raw.decode("utf-8", "surrogateescape")
    return memoryview(visible_json(text).encode("utf-8", "surrogateescape"))


SUMMARY_CHARS = 240


def short(text: str, limit: int = SUMMARY_CHARS) -> str:
    """One line of at most `limit` characters."""
    if len(text) > 8 * limit:
        # A tool can print megabytes on one line: flatten a prefix. Its words but the last
        # (which may be cut) are the text's first words; enough of them decide the result.
        words = text[: 8 * limit].split()[:-1]
        if len(" ".join(words)) >= limit:
            return clip(" ".join(words), limit)
    flat = " ".join(text.split())
    return clip(flat, limit)
