"""Agent whose stdout is hostile to a line-based reader; it records what it wrote.

Usage: hostile.py KIND SUMFILE. Writes the KIND of output to stdout, then `SHA256 SIZE` of
exactly those bytes to SUMFILE, so a test can compare nova's raw log byte for byte.
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


def main(kind: str, sumfile: str) -> int:
    digest, size = hashlib.sha256(), 0
    for data in {
        "long_line": long_line,
        "binary": binary,
        "no_newline": no_newline,
        "non_objects": non_objects,
        "unknown_events": unknown_events,
        "flood": flood,
    }[kind]():
        view = memoryview(data)
        while view:
            n = os.write(1, view)
            view = view[n:]
        digest.update(data)
        size += len(data)
    with open(sumfile, "w") as handle:
        handle.write(f"{digest.hexdigest()} {size}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
