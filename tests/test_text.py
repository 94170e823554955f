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
