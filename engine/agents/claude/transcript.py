"""Claude Code's session transcripts: the usage of an attempt whose stream ended early.

An attempt stopped during an API call, or killed, leaves no `result` with its totals; its
stdout holds each reply's usage as it began (output 1). Claude Code records the final usage
of every reply in `$CLAUDE_CONFIG_DIR/projects/<slug of cwd>/<session>.jsonl`, on the machine
it ran on: read where the agent ran (a shared file system).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping

from engine import fsio
from engine.observe.state import iso
from engine.observe.usage import Tokens, model_key, sum_by_model, tokens_from_api_usage

_NOT_MODELS = ("", "<synthetic>")  # a synthetic message is an API error, no reply


def transcript_path(env: Mapping[str, str], cwd: str, session_id: str) -> str:
    """Where Claude Code, run with `env` in `cwd`, keeps the transcript of `session_id`."""
    home = env.get("HOME") or os.path.expanduser("~")
    config = env.get("CLAUDE_CONFIG_DIR") or os.path.join(home, ".claude")
    return os.path.join(config, "projects", transcript_slug(cwd), f"{session_id}.jsonl")


def transcript_usage(
    env: Mapping[str, str], cwd: str, session_id: str, since: float
) -> dict[str, Tokens]:
    """Final tokens per model of the replies the CLI recorded since `since`, or {}."""
    path = transcript_path(env, cwd, session_id)
    try:
        with fsio.open_regular(path, follow=True) as handle:
            return transcript_tokens(handle, iso(since) or "")
    except OSError:  # none (another config dir, the CLI never wrote one), or a FIFO
        return {}


def transcript_slug(cwd: str) -> str:
    """The directory name Claude Code keeps a working directory's sessions under."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


def transcript_tokens(lines: Iterable[bytes], since: str) -> dict[str, Tokens]:
    """Tokens per model of the replies a session transcript recorded at or after `since`.

    For an attempt that ended without a `result` (stopped during an API call, killed): its
    stdout holds each reply's usage as it began (output 1), the transcript the final usage.
    Each reply is counted once, keyed on (requestId, message.id); `since` is an ISO 8601 UTC
    time as the transcript writes them, so replies of earlier attempts of a resumed session
    are left out.
    """
    replies: dict[tuple[str, str], tuple[str, Tokens]] = {}
    for line in lines:
        if b'"assistant"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("type") != "assistant":
            continue
        message = entry.get("message")
        stamp = entry.get("timestamp")
        if not isinstance(message, dict) or not isinstance(stamp, str) or stamp < since:
            continue
        usage, model = message.get("usage"), message.get("model")
        key = (str(entry.get("requestId")), str(message.get("id")))
        if not isinstance(usage, dict) or not isinstance(model, str) or model in _NOT_MODELS:
            continue
        tokens = tokens_from_api_usage(usage)
        seen = replies.get(key)
        if seen is None or tokens.output > seen[1].output:
            replies[key] = (model_key(model), tokens)
    return sum_by_model([{m: t} for m, t in replies.values()])
