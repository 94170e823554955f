"""Inputs for nova's benchmarks: task graphs, and the same graphs as CASCADE.md, Makefile and
doit file; a large nova state; Claude-style stream-json output. Every generator is seeded, so a
rerun measures the same inputs.

Usable as a module (`bench/run.py` imports it) or from the command line to look at an input:

    python bench/generate.py cascade layered 1000 > CASCADE.md
    python bench/generate.py makefile chain 50 > graph.mk
    python bench/generate.py stream 5000000 > out.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

SEED = 20261122
LAYER = 50  # tasks per layer of the layered shape, and per table in a CASCADE.md
GROUPS_PER_BRANCH = 20
SHAPES = ("wide", "chain", "layered")
# The trivial agent of the dispatch benchmark: nova runs it directly (no shell of its own).
ECHO_AGENT = "sh -c 'echo line; echo line'"

Graph = list[tuple[str, tuple[str, ...]]]  # (task id, its dependencies), in file order


def task_ids(n: int) -> list[str]:
    width = len(str(n))
    return [f"T{i:0{width}d}" for i in range(1, n + 1)]


def graph(shape: str, n: int, seed: int = SEED) -> Graph:
    """N tasks: `wide` (independent), `chain` (each after the one before), `layered` (layers
    of 50, each task after 2 random tasks of the layer before)."""
    ids = task_ids(n)
    if shape == "wide":
        return [(t, ()) for t in ids]
    if shape == "chain":
        return [(t, (ids[i - 1],) if i else ()) for i, t in enumerate(ids)]
    if shape == "layered":
        rng = random.Random(seed)
        out: Graph = []
        for i, t in enumerate(ids):
            layer = i // LAYER
            if layer == 0:
                out.append((t, ()))
                continue
            before = ids[(layer - 1) * LAYER : layer * LAYER]
            out.append((t, tuple(sorted(rng.sample(before, 2)))))
        return out
    raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")


def cascade_md(g: Graph, project: str = "Benchmark") -> str:
    """The graph as a CASCADE.md: tables of 50 tasks, 20 tables (groups) per branch."""
    lines = [f"# {project}", ""]
    for start in range(0, len(g), LAYER):
        table = start // LAYER
        if table % GROUPS_PER_BRANCH == 0:
            lines += [f"## L1: Branch {table // GROUPS_PER_BRANCH + 1}", ""]
        lines += [
            f"### L2: Group {table + 1}",
            "| Task ID | Task Name | What Changes | Depends On |",
            "|---------|-----------|--------------|------------|",
        ]
        for task_id, deps in g[start : start + LAYER]:
            lines.append(
                f"| {task_id} | Task {task_id} | Benchmark work for {task_id} | "
                f"{', '.join(deps) or '-'} |"
            )
        lines.append("")
    return "\n".join(lines)


def makefile(g: Graph, command: str = ECHO_AGENT) -> str:
    """The graph for `make -j`: each task a phony target whose recipe runs `command` with its
    output in logs/<id>.log, the same work nova does for a task."""
    ids = [t for t, _ in g]
    lines = [".PHONY: all " + " ".join(ids), "all: " + " ".join(ids), ""]
    for task_id, deps in g:
        lines.append(f"{task_id}: {' '.join(deps)}".rstrip())
        lines.append(f"\t@{command} > logs/{task_id}.log")
    return "\n".join(lines) + "\n"


def dodo(g: Graph, command: str = ECHO_AGENT) -> str:
    """The graph as a doit `dodo.py`: one sub-task per task, `task_dep` for dependencies."""
    return (
        "GRAPH = " + json.dumps(g) + "\n"
        f"COMMAND = {command!r}\n"
        "DOIT_CONFIG = {'verbosity': 0}\n\n"
        "def task_t():\n"
        "    for task_id, deps in GRAPH:\n"
        "        yield {'name': task_id,\n"
        "               'actions': [COMMAND + ' > logs/' + task_id + '.log'],\n"
        "               'task_dep': ['t:' + d for d in deps],\n"
        "               'verbosity': 0}\n"
    )


def state_doc(n: int, now: float, seed: int = SEED) -> dict[str, object]:
    """A finished run's state of `n` tasks as `engine.observe.state` writes it: mostly done
    with tokens for two or three models, some failed, blocked and pending; 20 groups of 50 per
    branch."""
    from engine.observe.state import RunState, State, TaskState
    from engine.observe.usage import Tokens
    from engine.outcome import TaskStatus

    rng = random.Random(seed)
    models = ("claude-sonnet-5", "claude-opus-4-8", "claude-haiku-4-5-20251001")
    state = State(project="Benchmark", cascade="/bench/CASCADE.md")
    state.run = RunState(
        id="0123456789ab",
        pid=1,
        pid_started=now - 7200,
        started=now - 7200,
        heartbeat=now - 60,
        ended=now - 60,
        running=False,
        exit_code=1,
        jobs=8,
        nova_version="0.1.0",
    )
    g = graph("layered", n, seed)
    for i, (task_id, deps) in enumerate(g):
        table = i // LAYER
        roll = rng.random()
        status = (
            TaskStatus.DONE
            if roll < 0.9
            else TaskStatus.FAILED
            if roll < 0.93
            else TaskStatus.BLOCKED
            if roll < 0.97
            else TaskStatus.PENDING
        )
        ts = TaskState(
            id=task_id,
            name=f"Task {task_id}",
            branch=f"Branch {table // GROUPS_PER_BRANCH + 1}",
            group=f"Group {table + 1}",
            depends_on=deps,
            status=status,
            log=f"logs/{task_id}.log",
            agent="claude",
            model="sonnet",
            permission_mode="acceptEdits",
            workdir="/bench",
        )
        if status in (TaskStatus.DONE, TaskStatus.FAILED):
            ts.attempts = 1 if status == TaskStatus.DONE else 3
            ts.started = now - 7000 + i * 0.5
            ts.ended = ts.started + rng.uniform(30, 900)
            ts.exit_code = 0 if status == TaskStatus.DONE else 1
            ts.session_id = f"{rng.getrandbits(128):032x}"
            ts.last_output = ts.ended
            used = rng.sample(models, rng.choice((1, 2, 3)))
            ts.prior_tokens = {
                m: Tokens(
                    rng.randint(10, 5000),
                    rng.randint(500, 40000),
                    rng.randint(10_000, 2_000_000),
                    rng.randint(1000, 80_000),
                )
                for m in used
            }
            ts.prior_cost = round(rng.uniform(0.01, 3.0), 6)
            ts.result = "Done. " + "Changed the files the task names and ran the tests. " * 4
            if status == TaskStatus.FAILED:
                ts.reason, ts.failure = "exit 1: error_max_turns", "permanent"
        elif status == TaskStatus.BLOCKED:
            ts.reason = f"dependency {deps[0] if deps else task_id} failed"
        state.tasks[task_id] = ts
    return state.to_json()


# ---- Claude-style stream-json ---------------------------------------------------------------

_WORDS = [
    "the",
    "file",
    "module",
    "test",
    "function",
    "update",
    "parser",
    "graph",
    "state",
    "value",
    "error",
    "return",
    "import",
    "config",
    "task",
    "agent",
    "result",
    "output",
    "check",
    "build",
    "run",
    "line",
    "path",
    "data",
    "user",
    "should",
    "would",
    "change",
    "fix",
    "add",
    "remove",
    "read",
    "write",
    "call",
    "method",
    "class",
    "type",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _output(rng: random.Random, size: int) -> str:
    """Tool output of about `size` characters, in lines like a listing or a test log."""
    lines = []
    total = 0
    while total < size:
        line = f"{rng.choice(_WORDS)}/{rng.choice(_WORDS)}_{rng.randint(0, 999)}.py: " + _text(
            rng, rng.randint(3, 14)
        )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)


def stream_lines(
    total_bytes: int, big_every: int = 40_000_000, big_size: int = 4_000_000, seed: int = SEED
) -> Iterator[bytes]:
    """Lines (with newlines) of a long Claude Code `stream-json` session, about `total_bytes`.

    Per turn: an assistant text block, an assistant tool_use block (same message id and
    usage, as the CLI writes them), and the user tool_result with `tool_use_result`; every
    `big_every` bytes one tool result of half to all of `big_size` (a big file read back, several MB
    on one line). Ends with a `result` line carrying `modelUsage`.
    """
    rng = random.Random(seed)
    session = "5f0c1b2e-0000-4000-8000-00000000b3c4"
    model = "claude-sonnet-5"

    def dump(obj: object) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    written = 0
    line = dump(
        {
            "type": "system",
            "subtype": "init",
            "cwd": "/bench",
            "session_id": session,
            "tools": ["Bash", "Edit", "Read", "Write", "Glob", "Grep"],
            "model": model,
            "permissionMode": "acceptEdits",
            "claude_code_version": "2.1.197",
            "apiKeySource": "ANTHROPIC_API_KEY",
            "uuid": "00000000-0000-4000-8000-0",
        }
    )
    written += len(line)
    yield line
    turn = 0
    next_big = big_every // 2
    while written < total_bytes:
        turn += 1
        msg_id = f"msg_{turn:012d}{rng.getrandbits(40):010x}"
        tool_id = f"toolu_{turn:012d}{rng.getrandbits(40):010x}"
        usage = {
            "input_tokens": rng.randint(1, 50),
            "cache_creation_input_tokens": rng.randint(0, 3000),
            "cache_read_input_tokens": 10_000 + turn * 40,
            "output_tokens": 1,
            "service_tier": "standard",
        }
        base = {
            "model": model,
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        big = written >= next_big
        size = (
            rng.randint(big_size // 2, big_size)
            if big
            else rng.choice((120, 300, 600, 1200, 2500, 5000))
        )
        if big:
            next_big += big_every
        command = (
            f"cat {rng.choice(_WORDS)}/{rng.choice(_WORDS)}.py"
            if big
            else (f"grep -rn {rng.choice(_WORDS)} src/ | head -{rng.randint(5, 80)}")
        )
        output = _output(rng, size)
        for obj in (
            {
                "type": "assistant",
                "message": base
                | {"content": [{"type": "text", "text": _text(rng, rng.randint(10, 80))}]},
                "parent_tool_use_id": None,
                "session_id": session,
                "uuid": f"a-{turn}-1",
            },
            {
                "type": "assistant",
                "message": base
                | {
                    "content": [
                        {
                            "type": "tool_use",
                            "id": tool_id,
                            "name": "Bash",
                            "input": {"command": command, "description": _text(rng, 5)},
                        }
                    ]
                },
                "parent_tool_use_id": None,
                "session_id": session,
                "uuid": f"a-{turn}-2",
            },
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": tool_id,
                            "type": "tool_result",
                            "content": output,
                            "is_error": False,
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": session,
                "uuid": f"u-{turn}",
                "tool_use_result": {
                    "stdout": output,
                    "stderr": "",
                    "interrupted": False,
                    "isImage": False,
                },
            },
        ):
            line = dump(obj)
            written += len(line)
            yield line
    yield dump(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": 3_600_000,
            "num_turns": turn,
            "result": "Done.",
            "stop_reason": "end_turn",
            "session_id": session,
            "total_cost_usd": 12.5,
            "usage": {"input_tokens": turn * 20, "output_tokens": turn * 300},
            "modelUsage": {
                model: {
                    "inputTokens": turn * 20,
                    "outputTokens": turn * 300,
                    "cacheReadInputTokens": turn * 20000,
                    "cacheCreationInputTokens": turn * 1500,
                    "webSearchRequests": 0,
                    "costUSD": 12.5,
                    "contextWindow": 200000,
                    "maxOutputTokens": 64000,
                }
            },
            "permission_denials": [],
            "terminal_reason": "completed",
        }
    )


def write_stream(path: Path, total_bytes: int, **kwargs: int) -> int:
    """Write `stream_lines` to `path`; return its size in bytes."""
    size = 0
    with open(path, "wb", buffering=1 << 20) as handle:
        for line in stream_lines(total_bytes, **kwargs):
            handle.write(line)
            size += len(line)
    return size


def _main(argv: list[str], out: IO[bytes]) -> int:
    usage = (
        "usage: generate.py cascade|makefile|dodo SHAPE N  |  generate.py state N  |  "
        "generate.py stream BYTES"
    )
    if len(argv) == 3 and argv[0] in ("cascade", "makefile", "dodo"):
        g = graph(argv[1], int(argv[2]))
        text = {"cascade": cascade_md, "makefile": makefile, "dodo": dodo}[argv[0]](g)
        out.write(text.encode())
        return 0
    if len(argv) == 2 and argv[0] == "state":
        import time

        out.write(json.dumps(state_doc(int(argv[1]), time.time())).encode())
        return 0
    if len(argv) == 2 and argv[0] == "stream":
        for line in stream_lines(int(argv[1])):
            out.write(line)
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:], sys.stdout.buffer))
