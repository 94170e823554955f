"""Agent whose stdout is hostile to a line-based reader; it records what it wrote.

Usage: hostile.py KIND SUMFILE. Writes the KIND of output to stdout, then `SHA256 SIZE` of
exactly those bytes to SUMFILE, so a test can compare nova's raw log byte for byte. Kind
`forms` writes every shape of line that once stopped nova's reading, each followed by a
normal line and a good `Token usage: input=1, output=1` line; `failing` writes terminal
escapes to stderr and exits 1.
"""

import hashlib
import os
import sys
from collections.abc import Iterator


def long_line() -> Iterator[bytes]:
    chunk = b"x" * (1 << 20)
    for _ in range(20):
        yield chunk
    yield b"\nToken usage: input=1, output=1\n"


def binary() -> Iterator[bytes]:
    yield b"plain line\n"
    yield b"\xff\xfe\xfd invalid utf-8 \xc3\x28 and \x00NUL\x00 bytes\n"
    yield bytes(range(256)) * 4 + b"\n"
    yield b"\x00" * 1000 + b"\n"
    yield b'{"type":"assistant","message":\x00\xff}\n'
    yield b"Token usage: input=2, output=3\n"


def no_newline() -> Iterator[bytes]:
    yield b"first line\n"
    yield b"Token usage: input=7, output=1, cache_read=0, cache_creation=0"


def non_objects() -> Iterator[bytes]:
    yield b'[1,2]\n"str"\n42\nnull\ntrue\n[{"type":"result"}]\n'
    yield b'{"type": 5}\n{"type": null}\n{}\n{"message": []}\n'
    yield b'{"type":"assistant","message":"not a dict"}\n'
    yield b'{"type":"assistant","message":{"id":1,"usage":[],"content":7}}\n'
    yield b'{"type":"user","message":{"content":{"a":1}}}\n'
    yield b'{"type":"result","modelUsage":[1],"total_cost_usd":"much"}\n'
    yield b"Token usage: input=4, output=4\n"


def unknown_events() -> Iterator[bytes]:
    for kind in ("stream_event", "telemetry", "system", "x" * 5000, "rate_limit_event"):
        yield b'{"type":"' + kind.encode() + b'","subtype":"???","data":[1]}\n'
    yield b'{"type":"rate_limit_event","rate_limit_info":"nope"}\n'
    yield b'{"type":"system","subtype":"api_retry","attempt":"a"}\n'
    yield b"Token usage: input=5, output=5\n"


def flood() -> Iterator[bytes]:
    line = b"flood line " + b"." * 88 + b"\n"  # 100 bytes
    block = line * 10_000  # 1 MB
    for _ in range(100):
        yield block
    yield b"Token usage: input=9, output=9\n"


ESC_TEXT = b"title \x1b]0;owned\x07 clip \x1b]52;c;ZXZpbA==\x07 clear \x1b[2J\x1b[H back\x08\x08"
# Each form, as written; after each the agent writes `after NAME` and a good usage line.
HOSTILE_FORMS: dict[str, bytes] = {
    "huge_number": b"Token usage: input=" + b"9" * 5000 + b"\n",
    "huge_tokens": b"Token usage: input=1" + b"0" * 40 + b", output=-3\n",
    "absurd_costs": b"Token usage: cost=nan\nToken usage: cost=inf\nToken usage: cost=-2\n",
    "long_model": b"Token usage: model=" + b"m" * 5000 + b", input=0\n",
    "escape_model": b"Token usage: model=\x1b]0;owned\x07, input=2, output=2\n",
    "deep_json": b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n",
    "deep_array": b'{"type":"result","usage":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
    "invalid_utf8": b"\xff\xfe bad \xc3\x28 utf-8\n",
    "nul": b"nul\x00byte\n" + b'{"type":"assistant"\x00}\n',
    "json_array": b"[1, 2, 3]\n",
    "json_number": b"42\n",
    "json_string": b'"a string"\n',
    "huge_delay": b'{"type":"system","subtype":"api_retry","retry_delay_ms":1'
    + b"0" * 400
    + b"}\n",
    "wrong_result": (
        b'{"type":"result","subtype":{"a":1},"is_error":null,"stop_reason":7,'
        b'"num_turns":1' + b"0" * 4000 + b',"session_id":["../x"],"total_cost_usd":NaN,'
        b'"usage":"u","modelUsage":{"m":"lots"},"errors":5,"result":{"x":1},'
        b'"api_error_status":"500"}\n'
    ),
    "escapes": ESC_TEXT + b"\n",
    "escape_events": (
        b'{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,'
        b'"error":"\\u001b]0;owned\\u0007"}\n'
        b'{"type":"assistant","message":{"id":"m1","model":"\\u001b]0;x\\u0007",'
        b'"usage":{"input_tokens":3,"output_tokens":1},'
        b'"content":[{"type":"text","text":"hi \\u001b[2J"}]}}\n'
    ),
}
GOOD_USAGE = b"Token usage: input=1, output=1\n"


def forms() -> Iterator[bytes]:
    yield b"before\n" + GOOD_USAGE
    for name, form in HOSTILE_FORMS.items():
        yield form
        yield b"after " + name.encode() + b"\n" + GOOD_USAGE
    yield (
        b'{"type":"result","subtype":"success","is_error":false,"stop_reason":"end_turn",'
        b'"total_cost_usd":0.5,"result":"done \\u001b]0;owned\\u0007"}\n'
    )
    yield b"last line\n"
    chunk = b"z" * (1 << 20)  # 100 MiB without a newline, to the end of the output
    for _ in range(100):
        yield chunk


def failing() -> Iterator[bytes]:
    yield b"working\n"
    sys.stderr.buffer.write(b"error: " + ESC_TEXT + b"\n")
    sys.stderr.buffer.flush()


def main(kind: str, sumfile: str) -> int:
    digest, size = hashlib.sha256(), 0
    for data in {
        "long_line": long_line,
        "binary": binary,
        "no_newline": no_newline,
        "non_objects": non_objects,
        "unknown_events": unknown_events,
        "flood": flood,
        "forms": forms,
        "failing": failing,
    }[kind]():
        view = memoryview(data)
        while view:
            n = os.write(1, view)
            view = view[n:]
        digest.update(data)
        size += len(data)
    with open(sumfile, "w") as handle:
        handle.write(f"{digest.hexdigest()} {size}\n")
    return 1 if kind == "failing" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
