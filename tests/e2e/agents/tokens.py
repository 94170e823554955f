"""Agent that reports token usage, either as `Token usage:` lines or as Claude stream-json.

Usage: tokens.py lines|stream|partial. `partial` is stream-json that ends without a result.
"""

import json
import sys


def lines() -> None:
    print("Working on it.")
    print("Token usage: input=10, output=5, cache_read=2, cache_creation=1")
    print("Token usage: input=10, output=5, cache_read=2, cache_creation=1")
    print("Token usage: input=10, output=5, cache_read=2, cache_creation=1, model=other")


def emit(event: dict) -> None:
    print(json.dumps(event))


def partial() -> None:
    # The CLI repeats an assistant message (same id) per content block; count it once.
    for text in ("first block", "second block"):
        emit(
            {
                "type": "assistant",
                "session_id": "sess-2",
                "message": {
                    "id": "msg_2",
                    "model": "claude-sonnet-4-5",
                    "role": "assistant",
                    "content": [{"type": "text", "text": text}],
                    "usage": {
                        "input_tokens": 3,
                        "output_tokens": 1,
                        "cache_read_input_tokens": 5,
                        "cache_creation_input_tokens": 2,
                    },
                },
            }
        )


def stream() -> None:
    emit(
        {
            "type": "system",
            "subtype": "init",
            "session_id": "sess-1",
            "model": "claude-sonnet-4-5",
            "permissionMode": "default",
        }
    )
    for text in ("first block", "second block"):
        emit(
            {
                "type": "assistant",
                "session_id": "sess-1",
                "message": {
                    "id": "msg_1",
                    "model": "claude-sonnet-4-5",
                    "role": "assistant",
                    "content": [{"type": "text", "text": text}],
                    "usage": {
                        "input_tokens": 3,
                        "output_tokens": 1,
                        "cache_read_input_tokens": 0,
                        "cache_creation_input_tokens": 0,
                    },
                },
            }
        )
    emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "session_id": "sess-1",
            "stop_reason": "end_turn",
            "num_turns": 1,
            "result": "all done",
            "total_cost_usd": 0.0123,
            "modelUsage": {
                "claude-sonnet-4-5": {
                    "inputTokens": 100,
                    "outputTokens": 40,
                    "cacheReadInputTokens": 7,
                    "cacheCreationInputTokens": 3,
                    "costUSD": 0.01,
                },
                "claude-haiku-4-5": {
                    "inputTokens": 20,
                    "outputTokens": 4,
                    "cacheReadInputTokens": 0,
                    "cacheCreationInputTokens": 0,
                    "costUSD": 0.0023,
                },
            },
        }
    )


if __name__ == "__main__":
    {"lines": lines, "stream": stream, "partial": partial}[sys.argv[1]]()
