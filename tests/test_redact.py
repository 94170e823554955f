"""Masking secrets from nova's environment (engine.redact) in what nova writes for people."""

from __future__ import annotations

import json

from engine.redact import Redactor, secret_values


def test_only_long_values_of_secret_looking_names_are_secrets() -> None:
    """API keys and tokens count; short values and ordinary variables do not."""
    env = {
        "ANTHROPIC_API_KEY": "sk-ant-0123456789",
        "GITHUB_TOKEN": "ghp_abcdefgh",
        "SHORT_KEY": "abc",
        "HOME": "/home/someone-with-a-long-path",
    }
    assert set(secret_values(env)) == {"sk-ant-0123456789", "ghp_abcdefgh"}


def test_a_secret_is_masked_in_text_and_in_bytes_longest_first() -> None:
    """Overlapping secrets mask whole: the longer one first."""
    redact = Redactor(secret_values({"A_KEY": "secret-123456", "B_KEY": "secret-123456-extra"}))
    assert redact("x secret-123456-extra y secret-123456") == "x *** y ***"
    assert redact.bytes(b"x secret-123456-extra y") == b"x *** y"


def test_a_secret_with_quotes_is_masked_inside_a_json_line() -> None:
    """A secret holding `"` or `\\` is escaped in stream-json: that form is masked too, before
    the line is parsed, so no summary of the decoded text can show part of it."""
    secret = 'Zq"7\\pass-word-99'
    redact = Redactor(secret_values({"DB_PASSWORD": secret}))
    line = json.dumps({"type": "user", "text": f"password={secret}"}).encode()
    masked = redact.bytes(line)
    assert secret.encode() not in masked and b"Zq" not in masked
    assert json.loads(masked)["text"] == "password=***"
