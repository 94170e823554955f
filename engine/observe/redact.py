"""Keep secrets from the environment out of what nova writes for people.

Agents can print their environment (`env` in a Bash tool call is enough). nova replaces the
values of secret-looking variables with `***` in task logs, the state file and status output.
The raw output files are byte-for-byte copies of what the agent printed and are not changed.

A value is found as printed and in the forms an agent's output turns it into: JSON-escaped
(`\\u0073`, `\\"`: every character or some), URL-encoded (`%2F`, `+` for a space), base64
(standard and URL-safe, at any offset inside a longer blob), and broken by colour codes or by
line breaks (a wrapped line, with the log's `[12:00:01] ` prefix or indentation on the next
one). Finding those forms costs a regular expression, so it only runs on text that holds a
cue: a secret's first or last quarter (at least 4 characters), the first quarter of one of
its base64 encodings, a `\\u00` (a JSON escape of one of its characters) or a `%`. Text
without any (nearly all of it) costs a few substring searches; with no secret in the
environment, nothing. An agent's raw line, masked before it is parsed (so that a summary cut
inside a secret cannot show part of it), is searched only for each secret whole, the
cheapest search there is on hundreds of megabytes; the other forms are masked in the text
parsed from it, where a summary cut inside one (`…`) is masked too.

Values shorter than `MIN_SECRET_LENGTH` are not masked: masking `true` or `1234` wherever it
appears would wreck the log; `short_secret_names` names them so the run can say so.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
MIN_SECRET_LENGTH = 8
MASK = "***"
CUT = "…"  # what ends a summary nova cut short (engine.text.short)
CUE_LENGTH = 4  # characters of a secret that must be whole for its broken forms to be found

# What may come between two characters of a secret and still be it: colour codes (raw, as
# JSON writes them, as `engine.text.visible` shows them) and a line break, with the log's
# time stamp and stream prefix or indentation after it (raw or JSON-escaped).
_ESC = r"(?:\x1b|\x9b|\\e|\\x1b|\\x9b|\\033|\\u001[bB]|\\u009[bB])"
_SGR = _ESC + r"\[?[0-9;:]*m"
_SPACE = r"(?:[ \t]|\\t)*"
_BREAK = _SPACE + r"(?:\r?\n|\\r\\n|\\n|\\r)" + r"(?:\[\d\d:\d\d:\d\d\] (?:[a-z]+: )?)?" + _SPACE
_GAP = f"(?:{_SGR}|{_BREAK}){{0,4}}"
_URL_CUE = "%"  # a URL-encoded byte, or (below) a JSON escape, can hide every other cue
_BREAKS = re.compile(_BREAK)
_BREAKS_BYTES = re.compile(_BREAK.encode())


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of variables whose names look secret, longest first (so overlaps mask fully)."""
    values = {
        value
        for name, value in env.items()
        if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    }
    return tuple(sorted(values, key=len, reverse=True))


def short_secret_names(env: Mapping[str, str]) -> list[str]:
    """Names of secret-looking variables whose values are too short to mask (not empty)."""
    return sorted(
        name
        for name, value in env.items()
        if _SECRET_NAME.search(name) and 0 < len(value) < MIN_SECRET_LENGTH
    )


def _hex(value: int, digits: int) -> str:
    """`value` in hex as a pattern that takes either case (`[aA]f` is not needed for digits)."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{digits}x}")


_JSON_SHORT = {'"': '"', "\\": "\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r"}
_JSON_SHORT["\t"] = "t"


def _unit(char: str) -> str:
    """A pattern for one character of a secret: itself, JSON-escaped, or URL-encoded."""
    forms = [re.escape(char)]
    code = ord(char)
    if code > 0xFFFF:  # JSON writes it as a surrogate pair
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(rf"\\u{_hex(high, 4)}\\u{_hex(low, 4)}")
    else:
        forms.append(rf"\\u{_hex(code, 4)}")
    if char in _JSON_SHORT:
        forms.append(r"\\" + re.escape(_JSON_SHORT[char]))
    forms.append("".join(f"%{_hex(b, 2)}" for b in char.encode("utf-8", "surrogateescape")))
    if char == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(forms) + ")"


def cue_length(secret: str) -> int:
    """How many of a secret's first (or last) characters are its cue: a quarter of it, and
    at least `CUE_LENGTH`."""
    return max(CUE_LENGTH, len(secret) // 4)


def _json_cues(secret: str) -> set[str]:
    """What any JSON `\\u` escape of one of the secret's characters starts with, in either
    hex case (`\\u00` for all of ASCII)."""
    cues = set()
    for char in secret:
        code = ord(char)
        if code > 0xFFFF:
            code = 0xD800 + ((code - 0x10000) >> 10)
        head = f"{code:04x}"[:2]
        cues |= {"\\u" + head, "\\u" + head.upper()}
    return cues


def _start(units: list[str]) -> str:
    """A pattern for the start of a form that the next piece of a log may finish: its first
    `CUE_LENGTH` units at least, then as many more as there are."""
    tail = ""
    for unit in reversed(units[CUE_LENGTH:]):
        tail = f"(?:{_GAP}{unit}{tail})?"
    return _GAP.join(units[:CUE_LENGTH]) + tail


def base64_middles(secret: str) -> list[str]:
    """The base64 text that encodes `secret` wherever it sits in a longer blob: for each of
    the 3 offsets (mod 3) it can start at, the characters made of its bits alone, in the
    standard and the URL-safe alphabet."""
    data = secret.encode("utf-8", "surrogateescape")
    middles: dict[str, None] = {}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        first = -(-8 * offset // 6)  # the first character with no bits of the padding
        last = 8 * (offset + len(data)) // 6  # past the last with all its bits from data
        middle = encoded[first:last]
        middles[middle] = None
        middles[middle.translate(str.maketrans("+/", "-_"))] = None
    return list(middles)


class Redactor:
    """Masks the secrets in text (`redactor(text)`) and in an agent's raw lines (`bytes`)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self._pattern: re.Pattern[str] | None = None
        self._pattern_bytes: re.Pattern[bytes] | None = None
        self._starts: re.Pattern[str] | None = None
        if not secrets:
            return
        forms: list[str] = []
        starts: list[str] = []
        cues: dict[str, None] = {_URL_CUE: None}
        start_cues: dict[str, None] = {_URL_CUE: None}
        for secret in secrets:
            units = [_unit(char) for char in secret]
            forms.append(_GAP.join(units))
            starts.append(_start(units))
            # Long cues scan faster (a substring search skips ahead by their length).
            size = cue_length(secret)
            cues[secret[:size]] = cues[secret[-size:]] = None
            quoted = json.dumps(secret, ensure_ascii=False)[1:-1]
            cues[quoted[:size]] = cues[quoted[-size:]] = None
            start_cues[secret[:CUE_LENGTH]] = start_cues[quoted[:CUE_LENGTH]] = None
            for escape in _json_cues(secret):
                cues[escape] = start_cues[escape] = None
            for middle in base64_middles(secret):
                forms.append(_GAP.join(re.escape(char) for char in middle))
                starts.append(_start([re.escape(char) for char in middle]))
                cues[middle[:size]] = None
                start_cues[middle[:CUE_LENGTH]] = None
        self._cues = tuple(cues)
        self._start_cues = tuple(start_cues)
        # An agent's raw line is only masked whole, before it is parsed, so that a summary
        # cut inside the secret cannot show part of it: one long substring search per form,
        # as the common case must be cheap on hundreds of megabytes. The other forms are
        # masked in the text parsed from it (a summary cut inside one, `…`, included).
        raw = {form: None for s in secrets for form in (s, json.dumps(s, ensure_ascii=False)[1:-1])}
        self._cues_bytes = tuple(form.encode("utf-8", "surrogateescape") for form in raw)
        self.join = max(map(len, cues)) - 1  # what a cue can have on each side of a join
        self.longest = max(len(s) for s in secrets)
        pattern = "|".join(forms)
        self._pattern_bytes = re.compile(pattern.encode("utf-8", "surrogateescape"))
        # In text, also the start of a form where a summary was cut (`…`).
        self._pattern = re.compile(f"{pattern}|(?:{'|'.join(starts)})(?={CUT})")
        self._starts = re.compile(f"(?:{'|'.join(starts)}){_SPACE}\\n?\\Z")

    def cued(self, text: str) -> bool:
        """Whether `text` holds anything that may be part of a secret (else it has none)."""
        # A loop, not any() over a generator: this runs on every line and is twice as fast.
        for cue in self._cues:
            if cue in text:
                return True
        return CUT in text and self.start_cued(text)

    def start_cued(self, text: str) -> bool:
        """Whether `text` holds anything that may begin a secret (its first 4 characters)."""
        for cue in self._start_cues:  # noqa: SIM110 (a loop: as in `cued`)
            if cue in text:
                return True
        return False

    def __call__(self, text: str) -> str:
        if self._pattern is None or not self.cued(text):
            return text
        return self._pattern.sub(_mask, text)

    def bytes(self, data: bytes) -> bytes:
        """`data` with each secret's UTF-8 bytes masked (an agent's line, before it is parsed)."""
        if self._pattern_bytes is None:
            return data
        for cue in self._cues_bytes:
            if cue in data:
                return self._pattern_bytes.sub(_mask_bytes, data)
        return data

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets are in `text`."""
        if self._pattern is None or not self.cued(text):
            return []
        return [m.span() for m in self._pattern.finditer(text)]

    def ends_in_a_start(self, line: str) -> bool:
        """Whether `line` ends with the first `CUE_LENGTH` or more characters of a secret."""
        return self._starts is not None and self._starts.search(line) is not None


def _mask(match: re.Match[str]) -> str:
    text = match.group()
    if "\n" not in text and "\\" not in text:
        return MASK
    return _masked(match.string, *match.span(), *match.span())


def _masked(text: str, start: int, end: int, lo: int, hi: int) -> str:
    """The part within [lo, hi) of the secret at text[start:end], masked: each piece of it
    becomes `***`, and the line breaks between pieces (with the next line's prefix) stay."""
    out: list[str] = []
    at = start
    for gap in _BREAKS.finditer(text, start, end):
        if max(at, lo) < min(gap.start(), hi):
            out.append(MASK)
        out.append(text[max(gap.start(), lo) : max(min(gap.end(), hi), lo)])
        at = gap.end()
    if max(at, lo) < min(end, hi):
        out.append(MASK)
    return "".join(out)


def _mask_bytes(match: re.Match[bytes]) -> bytes:
    text = match.group()
    if b"\\" not in text and b"\n" not in text:
        return MASK.encode()
    out: list[bytes] = []
    at = 0
    for gap in _BREAKS_BYTES.finditer(text):
        out.append(MASK.encode() if gap.start() > at else b"")
        out.append(gap.group())
        at = gap.end()
    out.append(MASK.encode() if at < len(text) else b"")
    return b"".join(out)


class LogMasker:
    """Masks a log that is written a line or a few at a time, including a secret broken
    across two writes (an agent that prints a wrapped key line by line).

    The end of what was written stays in view, so a secret whose start was already written
    has the rest masked. A last line that ends with the first `CUE_LENGTH` or more characters
    of a secret is held back until the next write (or the end), so the whole is masked; a
    break within the first `CUE_LENGTH` characters leaves those few characters in the log.
    """

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact
        self._seen = ""  # the end of the text already given out, as it came (unmasked)
        self._held = ""  # text not given out yet
        self._seen_cued = False  # whether `_seen` holds a cue (then every write is matched)
        self._keep = 6 * getattr(redact, "longest", 0) + 64

    def feed(self, text: str) -> str:
        """The part of `text` (with what was held) that can be written now, masked."""
        redact = self.redact
        if redact._pattern is None:
            return text
        text, self._held = self._held + text, ""
        seen = self._seen
        # Nearly every write: no cue in it, none across the join, none in what was seen,
        # and no start of a secret at its end.
        if (
            not self._seen_cued
            and not redact.cued(seen[-redact.join :] + text)
            and not redact.start_cued(text[-self._keep :])
        ):
            self._seen = text[-self._keep :] if len(text) >= self._keep else seen + text
            if len(self._seen) > 2 * self._keep:
                self._seen = self._seen[-self._keep :]
            return text
        context = seen + text
        end = len(text)
        body = text[:-1] if text.endswith("\n") else text
        last = body.rfind("\n") + 1
        if redact.ends_in_a_start(text[last:]):
            end, self._held = last, text[last:]
        return self._give(context, len(self._seen), len(self._seen) + end)

    def finish(self) -> str:
        """What is still held, masked: at the end of the log."""
        if not self._held:
            return ""
        context, self._held = self._seen + self._held, ""
        return self._give(context, len(self._seen), len(context))

    def _give(self, context: str, start: int, end: int) -> str:
        out, at = [], start
        for s, e in self.redact.spans(context):
            if e <= start or s >= end:
                continue
            out.append(context[at : max(s, start)])
            out.append(_masked(context, s, e, start, end))
            at = min(e, end)
        out.append(context[at:end])
        self._seen = context[:end][-self._keep :]
        self._seen_cued = self.redact.cued(self._seen)
        return "".join(out)
