"""Agent that prints the secret in $NOVA_TEST_API_KEY in every encoded or broken form.

Usage: secret_forms.py. Each form goes to stdout on its own line (a line wrap of the key in
two writes, with indentation), one to stderr coloured, and a stream-json result line holds
the JSON-escaped form. Writes `Token usage` and exits 0.
"""

import base64
import json
import os
import sys
import time
from urllib.parse import quote_plus

key = os.environ["NOVA_TEST_API_KEY"]
raw = key.encode()


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


out("json: " + "".join(f"\\u{ord(c):04x}" for c in key) + "\n")
out("url: https://example.com/?token=" + quote_plus(key) + "&x=1\n")
for offset in range(3):
    blob = b"Q" * offset + raw + b" trailing bytes"
    out(f"base64 {offset}: {base64.b64encode(blob).decode()}\n")
    out(f"urlsafe {offset}: {base64.urlsafe_b64encode(blob).decode()}\n")
out("coloured: " + key[:10] + "\x1b[31m" + key[10:] + "\x1b[0m\n")
out("wrapped: " + key[:14] + "\n")
time.sleep(0.1)
out("         " + key[14:] + "\n")
sys.stderr.write("stderr: \x1b[1m" + key[:20] + "\x1b[22m" + key[20:] + "\n")
out(json.dumps({"type": "result", "result": "".join(f"\\u{ord(c):04x}" for c in key)}) + "\n")
out("Token usage: input=1, output=1\n")
