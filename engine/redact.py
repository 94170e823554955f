"""Keep secrets from the environment out of what nova writes for people.

Agents can print their environment (`env` in a Bash tool call is enough). nova replaces the
values of secret-looking variables with `***` in task logs, the state file and status output.
The raw output files are byte-for-byte copies of what the agent printed and are not changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
MIN_SECRET_LENGTH = 8
MASK = "***"


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of variables whose names look secret, longest first (so overlaps mask fully)."""
    values = {
        value
        for name, value in env.items()
        if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    }
    return tuple(sorted(values, key=len, reverse=True))


class Redactor:
    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        # As printed, and as it appears inside a JSON string (a quote or backslash in it is
        # escaped there), so a secret in an agent's stream-json line is masked too.
        forms: dict[bytes, None] = {}
        for secret in secrets:
            forms[secret.encode("utf-8", "surrogateescape")] = None
            forms[
                json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8", "surrogateescape")
            ] = None
        self._encoded = tuple(sorted(forms, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def bytes(self, data: bytes) -> bytes:
        """`data` with each secret's UTF-8 bytes masked (an agent's line, before it is parsed)."""
        for secret in self._encoded:
            if secret in data:
                data = data.replace(secret, b"***")
        return data
