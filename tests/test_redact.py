"""Masking secrets from nova's environment (engine.observe.redact) in what nova writes for
people."""

from __future__ import annotations

import json

from engine.observe.redact import Redactor, secret_values


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
    assert secret.encode() not in masked
    assert b"Zq" not in masked
    assert json.loads(masked)["text"] == "password=***"


KEY = "sk-ant-api03-S3cr/t+Va lue_0123456789"


def _hidden(text: str) -> bool:
    """No 8 characters of KEY in a row are left in `text`, and it says it masked something."""
    return "***" in text and not any(KEY[i : i + 8] in text for i in range(len(KEY) - 7))


def test_a_secret_escaped_as_json_unicode_is_masked_whole_or_in_part() -> None:
    """`\\u0073\\u006b…` (every character escaped, either hex case) or a few characters
    escaped among plain ones: both are the secret."""
    redact = Redactor((KEY,))
    every = "".join(f"\\u{ord(c):04x}" for c in KEY)
    some = KEY[:3] + f"\\u{ord(KEY[3]):04X}" + KEY[4:20] + f"\\u{ord(KEY[20]):04x}" + KEY[21:]
    for form in (every, some):
        assert _hidden(redact(f'"text": "key={form}!"')), form


def test_a_url_encoded_secret_is_masked() -> None:
    """quote_plus (reserved characters as %XX, space as +) and every byte as %XX."""
    from urllib.parse import quote, quote_plus

    redact = Redactor((KEY,))
    every = "".join(f"%{b:02X}" for b in KEY.encode())
    for form in (quote_plus(KEY), quote(KEY, safe=""), every, every.lower()):
        assert redact(f"GET /?token={form}&x=1") == "GET /?token=***&x=1", form


def test_a_base64_encoded_secret_is_masked_at_every_offset_in_a_blob() -> None:
    """Inside a longer base64 blob the secret can start at byte offset 0, 1 or 2 (mod 3);
    the characters that encode it are masked in each case, standard and URL-safe."""
    import base64

    redact = Redactor((KEY,))
    for offset in range(3):
        blob = b"P" * offset + KEY.encode() + b" and after"
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(blob).decode()
            masked = redact(f"data: {encoded}")
            assert "***" in masked, (offset, encode)
            middle = encoded[3:-6]  # what only the secret's bits make, wherever it starts
            assert middle not in masked


def test_a_secret_split_by_colour_codes_is_masked() -> None:
    """An SGR code inside the value (raw, JSON-escaped, or shown by `visible`) hides nothing."""
    from engine.text import visible

    redact = Redactor((KEY,))
    coloured = KEY[:10] + "\x1b[1;31m" + KEY[10:25] + "\x1b[0m" + KEY[25:]
    assert _hidden(redact(f"key {coloured} end"))
    assert _hidden(redact(f"key {visible(coloured)} end"))
    assert _hidden(redact(json.dumps({"t": coloured})))  # `\u001b[1;31m` as JSON writes it


def test_a_secret_broken_across_lines_is_masked_and_the_lines_stay() -> None:
    """A wrapped value (the next line with the log's time stamp, a stream prefix and
    indentation) is masked piece by piece; the line break and the prefix are kept."""
    redact = Redactor((KEY,))
    text = f"[10:00:00] stderr: key={KEY[:15]}\n[10:00:00] stderr:     {KEY[15:]} end\n"
    assert redact(text) == "[10:00:00] stderr: key=***\n[10:00:00] stderr:     *** end\n"
    assert redact(f"result: {KEY[:30]}\n{KEY[30:]}") == "result: ***\n***"
    line = json.dumps({"text": f"{KEY[:9]}\n  {KEY[9:]}"})
    assert json.loads(redact(line))["text"] == "***\n  ***"


def test_a_log_written_line_by_line_masks_a_secret_split_across_two_writes() -> None:
    """The masker holds back a last line that ends with the start of a secret until the next
    write, and masks the rest of a secret whose first few characters were already written."""
    from engine.observe.redact import LogMasker

    redact = Redactor((KEY,))
    for cut in (2, 4, 20, len(KEY) - 1):
        masker = LogMasker(redact)
        writes = [f"[10:00:00] key: {KEY[:cut]}\n", f"[10:00:00] {KEY[cut:]} end\n", "x\n"]
        out = "".join(masker.feed(w) for w in writes) + masker.finish()
        assert out.endswith("[10:00:00] *** end\nx\n"), (cut, out)
        shown = out.split("\n")[0].removeprefix("[10:00:00] key: ")
        assert shown == ("***" if cut >= 4 else KEY[:cut]), (cut, out)
    masker = LogMasker(redact)
    assert masker.feed(f"a {KEY[:10]}\n") == ""  # held: it may go on in the next write
    assert masker.finish() == f"a {KEY[:10]}\n"  # it did not: a start alone is no secret
    assert masker.feed("no secret here\n") == "no secret here\n"


def test_short_secret_looking_values_are_named_not_masked() -> None:
    """A value shorter than 8 characters is not masked (it would mask `true` everywhere);
    its variable is named so the run can say so. Empty values are not secrets at all."""
    from engine.observe.redact import short_secret_names

    env = {"FOO_TOKEN": "abc123", "EMPTY_KEY": "", "LONG_KEY": "long-enough-1", "HOME": "/x"}
    assert short_secret_names(env) == ["FOO_TOKEN"]
    assert secret_values(env) == ("long-enough-1",)
    assert Redactor(secret_values(env))("abc123 long-enough-1") == "abc123 ***"


def test_text_without_a_secret_is_returned_as_it_is() -> None:
    """The common case: nothing is changed, even text full of JSON escapes and percents."""
    redact = Redactor((KEY,))
    for text in ("plain", "a \\u00e9 and 50% done \\n", "aGVsbG8gd29ybGQ=", "sk-a sk-b 6789"):
        assert redact(text) == text
        assert redact.bytes(text.encode()) == text.encode()


def test_a_base64_form_wrapped_over_two_log_writes_is_masked_whole() -> None:
    """A base64 blob wrapped at 76 columns, printed a line at a time: both pieces of the
    characters that encode the secret are masked."""
    import base64

    from engine.observe.redact import LogMasker

    encoded = base64.b64encode(b"x" * 40 + KEY.encode() + b"y" * 40).decode()
    masker = LogMasker(Redactor((KEY,)))
    lines = [f"[10:00:00] {encoded[i : i + 76]}\n" for i in range(0, len(encoded), 76)]
    out = "".join(masker.feed(line) for line in lines) + masker.finish()
    assert out.count("***") == 2, out
    assert out.count("\n") == len(lines), out
    middle = encoded[55:105]  # within the secret's characters, across the wrap at 76
    assert not any(middle[i : i + 8] in out for i in range(len(middle) - 7)), out


def test_a_summary_cut_inside_an_encoded_secret_shows_none_of_it() -> None:
    """A one-line summary that ends (`…`) inside the base64 or URL form of a secret: the part
    before the cut is masked too."""
    import base64
    from urllib.parse import quote

    redact = Redactor((KEY,))
    encoded = base64.b64encode(KEY.encode()).decode()
    url = quote(KEY, safe="")
    for form in (encoded, url):
        cut = f"→ result: {form[: len(form) // 2]}…"
        assert redact(cut) == "→ result: ***…", cut


def test_an_agents_raw_line_is_masked_where_the_secret_is_whole() -> None:
    """A raw line is searched for each secret whole (and JSON-quoted), one search each;
    other forms are masked in the text parsed from it."""
    redact = Redactor((KEY,))
    assert redact.bytes(f'{{"t": "a {KEY} b"}}'.encode()) == b'{"t": "a *** b"}'
    every = "".join(f"\\u{ord(c):04x}" for c in KEY).encode()
    assert redact.bytes(every) == every
