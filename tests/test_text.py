"""Text from agents and plans is shown with its control characters made visible."""

from engine.text import visible, visible_line


def test_osc_title_and_clipboard_writes_are_shown_not_sent() -> None:
    hostile = "ok\x1b]0;owned\x07 \x1b]52;c;ZXZpbA==\x07"
    assert visible(hostile) == "ok\\e]0;owned\\x07 \\e]52;c;ZXZpbA==\\x07"
    assert "\x1b" not in visible(hostile)


def test_clear_screen_backspace_and_c1_controls_are_escaped() -> None:
    assert visible("a\x1b[2Jb\x08\x08c\x9b31m") == "a\\e[2Jb\\b\\bc\\x9b31m"


def test_bidi_overrides_are_escaped() -> None:
    assert visible("abc\u202edef") == "abc\\u202edef"


def test_tabs_and_newlines_stay_in_text_but_not_on_a_line() -> None:
    assert visible("a\tb\nc") == "a\tb\nc"
    assert visible_line("a\tb\nc\r") == "a\\tb\\nc\\r"


def test_plain_text_is_returned_unchanged() -> None:
    text = "Export from __init__ · café → ünïcode"
    assert visible(text) is text
    assert visible_line(text) is text


def test_json_text_keeps_its_value_but_shows_no_c1_del_or_bidi_control() -> None:
    """json.dumps escapes U+0000-U+001F only; `visible_json` escapes the rest that a terminal
    acts on, inside strings, so the document still reads back the same."""
    import json

    from engine.text import visible_json, visible_json_utf8

    value = {"name": "a\x9b2J\x7f\u202eb\x1b]0;t\x07 · café"}
    text = json.dumps(value, ensure_ascii=False)
    shown = visible_json(text)
    assert json.loads(shown) == value
    assert not any(c in shown for c in "\x1b\x07\x9b\x7f\u202e")
    assert "· café" in shown
    data = visible_json_utf8(memoryview(text.encode()))
    assert json.loads(data.tobytes()) == value
    assert b"\xc2\x9b" not in data.tobytes()
    plain = memoryview(b'{"name": "caf\xc3\xa9 \xc2\xb7"}')
    assert visible_json_utf8(plain) is plain
