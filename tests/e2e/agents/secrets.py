"""Agent that prints the secret in $NOVA_TEST_API_KEY every way an agent could leak it.

Usage: secrets.py. The secret goes to stderr in two writes (a progress-style writer) and at
the end of a long line, to stdout in two writes, inside Claude-style stream-json (a tool
result whose summary would be cut right inside the secret, and the final result text), and
last on stderr, so that it is in the failure reason. Exits 3.
"""

import json
import os
import sys
import time

key = os.environ["NOVA_TEST_API_KEY"]


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


err("token=" + key[:12])
time.sleep(0.2)
err(key[12:] + "\n")
os.write(2, b"e" * (65536 - 10) + key.encode() + b"\n")
out("out=" + key[:12])
time.sleep(0.2)
out(key[12:] + "\n")
# A tool result whose one-line summary (240 characters) ends inside the secret.
tool_output = "x" * 230 + key + " and more"
out(
    json.dumps(
        {
            "type": "user",
            "message": {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": tool_output}],
            },
        }
    )
    + "\n"
)
out(
    json.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": True,
            "stop_reason": "end_turn",
            "num_turns": 1,
            "result": "y" * 3990 + key,
        }
    )
    + "\n"
)
err("failed: the server rejected " + key + "\n")
sys.exit(3)
