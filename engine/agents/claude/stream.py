"""Read Claude Code's `--output-format stream-json` one line at a time.

Pure: a line (bytes) goes in; events come out (`engine.agents.base`: the log lines a person
should see, notices, what was ignored, the session named), and the parser keeps what nova must
know: session id, live and final tokens per model, cost, the final
`result`, API retries and usage-limit events. The rules follow observed CLI behaviour
(`shared/claude-code.md`): count each assistant `message.id` once, trust `result.modelUsage`
once it exists, and never crash on a line or event type we do not know.

Every value nova keeps from an event is checked for the type and range the CLI writes (a
count from 0 to 10^15, a finite cost, a model name of at most 200 characters); one that is not
is ignored and said as an `Ignored` event, for the task log, so that no agent can make a total
infinite or a state file invalid JSON.
"""

from __future__ import annotations

import json
from typing import Any

from engine.agents.base import Event, Ignored, Notice, SessionStarted, Text
from engine.agents.claude.values import (
    LAST_TIME,
    MAX_SMALL,
    RESULT_FIELDS,
    content_text,
    count_newlines,
    count_text,
    describe_tool_call,
    first_nonblank,
    http_status,
    number_or_none,
    session_or_none,
    text_or_none,
    word_or_none,
)
from engine.observe.usage import (
    MODEL_CHARS,
    Tokens,
    cost_value,
    describe,
    model_key,
    sum_by_model,
    tokens_from_api_usage,
    tokens_from_model_usage,
)
from engine.outcome import RateLimit
from engine.text import short, visible

# Lines whose type nova does not need are skipped without a JSON parse: tool results can be
# megabytes, and the type key comes first in every line the CLI writes.
_SKIP_PREFIXES = (b'{"type":"stream_event"',)


_DECODER = json.JSONDecoder()


def _loads(line: bytes) -> Any:
    """`json.loads(line)`, with less overhead for what the CLI writes: one UTF-8 JSON object."""
    if line[:1] == b"{" and line[1:2] != b"\x00":  # what json.detect_encoding calls UTF-8
        text = line.decode("utf-8", "surrogatepass")
        event, end = _DECODER.raw_decode(text)
        if end == len(text):
            return event
    return json.loads(line)  # anything else, with json's own errors and rules


class ClaudeStream:
    """State of one agent attempt's stream-json output, fed line by line."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.model: str | None = None
        self.version: str | None = None
        self.permission_mode: str | None = None
        self.result: dict[str, Any] | None = None
        self.rate_limit: RateLimit | None = None
        self.api_error: str | None = None
        self.api_error_status: int | None = None
        self.lines = 0
        self.bad_lines = 0
        self.foreign = False  # the last line was JSON but no Claude Code event
        # Notices and what was ignored, said by the line being read, after its text.
        self._pending: list[Event] = []
        self._messages: dict[str, tuple[str, Tokens]] = {}
        self._keys: dict[str | None, str] = {}  # model_key of each model name seen
        self._live: dict[str, Tokens] | None = None

    # ---- reading -------------------------------------------------------------------------

    def feed(self, line: bytes) -> list[Event]:
        """Take one line of stdout; return what it says: its log lines, then the notices and
        what was ignored, then the session it named, if that is new."""
        before = self.session_id
        lines = self._read(line)
        events: list[Event] = [Text(lines)] if lines else []
        if not self._pending and self.session_id == before:  # most lines: text only
            return events
        if self._pending:
            events += self._pending
            self._pending = []
        if self.session_id != before and self.session_id is not None:
            events.append(SessionStarted(self.session_id))
        return events

    def _read(self, line: bytes) -> list[str]:
        """The log lines one line of stdout is worth, maybe none."""
        self.lines += 1
        self.foreign = False
        stripped = line.strip()
        if not stripped:
            return []
        if stripped.startswith(_SKIP_PREFIXES):
            return []
        try:
            event = _loads(stripped)
        except ValueError:
            self.bad_lines += 1
            return [short(stripped.decode("utf-8", "replace"))]
        except RecursionError:  # nested deeper than json can read
            self.bad_lines += 1
            self._pending.append(
                Ignored(
                    f"the line above ({len(stripped)} bytes) is JSON nested too deep to read; "
                    "it is logged as text and kept whole in the raw log"
                )
            )
            return [short(stripped.decode("utf-8", "replace"))]
        if not isinstance(event, dict):
            self.bad_lines += 1
            self.foreign = True
            return []
        kind = event.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            # Newer CLIs add event types; a line without a type is no event at all.
            self.foreign = not isinstance(kind, str)
            return []
        try:
            return handler(self, event)
        except Exception:  # a known type with a malformed body: this line is text, no event
            self.bad_lines += 1
            return [short(stripped.decode("utf-8", "replace"))]

    def _system(self, event: dict[str, Any]) -> list[str]:
        subtype = event.get("subtype")
        if subtype == "init":
            self.session_id = session_or_none(event.get("session_id")) or self.session_id
            self.model = text_or_none(event.get("model")) or self.model
            self.version = text_or_none(event.get("claude_code_version")) or self.version
            self.permission_mode = text_or_none(event.get("permissionMode")) or self.permission_mode
            return [
                f"session {self.session_id} · model {self.model} · "
                f"permission mode {self.permission_mode} · claude {self.version}"
            ]
        if subtype == "api_retry":
            status = http_status(event.get("error_status"))
            delay = number_or_none(event.get("retry_delay_ms"))
            self.api_error_status = status or self.api_error_status
            wait = f" in {delay / 1000:.1f}s" if delay is not None else ""
            error = status or short(text_or_none(event.get("error")) or "")
            tries = f"({count_text(event.get('attempt'))}/{count_text(event.get('max_retries'))})"
            self._pending.append(Notice(f"API error {error}; Claude Code retries {tries}"))
            return [f"! API error {error}: the CLI retries {tries}{wait}"]
        if subtype == "model_fallback":
            return [f"! model fallback: {short(json.dumps(event, ensure_ascii=False))}"]
        if subtype == "compact_boundary":
            return ["· context compacted"]
        return []

    def _assistant(self, event: dict[str, Any]) -> list[str]:
        message = event.get("message")
        if not isinstance(message, dict):
            return []
        model = text_or_none(message.get("model"))
        out: list[str] = []
        if model == "<synthetic>":
            error = event.get("error") or content_text(message.get("content"))
            self.api_error = short(str(error))
            return [f"! API error: {self.api_error}"]
        message_id = text_or_none(message.get("id"))
        usage = message.get("usage")
        if message_id and isinstance(usage, dict):
            ignored: list[str] = []
            tokens = tokens_from_api_usage(usage, ignored)
            if ignored:
                self._pending.append(
                    Ignored(
                        f"ignored {', '.join(ignored)} in the usage of message "
                        f"{short(message_id, 80)}: a token count is a whole number from 0 to 10^15"
                    )
                )
            seen = self._messages.get(message_id)
            if seen is None or tokens.output > seen[1].output:
                key = self._key(model or self.model)
                self._messages[message_id] = (key, tokens)
                if seen is None and self._live is not None:
                    # A new message adds to the totals (a new dict: the old one was handed out).
                    live = dict(self._live)
                    live[key] = live[key] + tokens if key in live else tokens
                    self._live = live
                else:
                    self._live = None
        for block in message.get("content") or ():
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                out.extend(line for line in block["text"].splitlines() if line.strip())
            elif kind == "tool_use":
                out.append(f"→ {describe_tool_call(str(block.get('name')), block.get('input'))}")
        return out

    def _user(self, event: dict[str, Any]) -> list[str]:
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        out: list[str] = []
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result":
                text = content_text(block.get("content"))
                first = first_nonblank(text)
                more = count_newlines(text)  # a trailing newline is not a line
                suffix = f" (+{more} lines)" if more > 1 else ""
                mark = "← error: " if block.get("is_error") else "← "
                out.append(f"{mark}{short(first)}{suffix}" if first else f"{mark}(no output)")
        return out

    def _rate_limit(self, event: dict[str, Any]) -> list[str]:
        info = event.get("rate_limit_info")
        if not isinstance(info, dict):
            return []
        status = text_or_none(info.get("status")) or "allowed"
        resets = number_or_none(info.get("resetsAt"))
        utilization = number_or_none(info.get("utilization"))
        limit = RateLimit(
            status=status,
            # A reset past year 9999 is no time nova can wait for, or write down.
            resets_at=resets if resets is not None and resets < LAST_TIME else None,
            # Shown as the run's pause reason: a name like five_hour, or none.
            limit_type=word_or_none(info.get("rateLimitType")),
            utilization=utilization if utilization is not None and utilization <= 100 else None,
        )
        if status == "allowed":
            return []
        self.rate_limit = limit
        if status == "rejected":
            return [f"! usage limit reached ({limit.limit_type or 'unknown window'})"]
        used = f" at {limit.utilization:.0%}" if limit.utilization is not None else ""
        self._pending.append(
            Notice(f"usage limit warning{used} ({limit.limit_type or 'unknown window'})")
        )
        return [f"! usage limit warning{used} ({limit.limit_type or 'unknown window'})"]

    def _result(self, event: dict[str, Any]) -> list[str]:
        event = self._checked_result(event)
        self.result = event
        self.session_id = event.get("session_id") or self.session_id
        status = event.get("api_error_status")
        if status is not None:
            self.api_error_status = status
        cost = event.get("total_cost_usd")
        cost_text = f" · ${cost:.4f}" if cost is not None else ""
        line = (
            f"result: {event.get('subtype')} · error {bool(event.get('is_error'))} · "
            f"stop {event.get('stop_reason')} · {event.get('num_turns')} turns{cost_text}"
        )
        out = [line]
        text = event.get("result")
        if event.get("is_error") and isinstance(text, str) and text:
            out.append(f"! {short(text)}")
        for error in event.get("errors") or ():
            out.append(f"! {short(error)}")
        return out

    def _checked_result(self, event: dict[str, Any]) -> dict[str, Any]:
        """The result event with each field nova reads of the type and range the CLI writes
        it in; any other is dropped (said in `warnings`). An `is_error` that is not a boolean
        reads as true: a success must be said plainly."""
        checked = dict(event)
        bad: list[str] = []

        def drop(key: str, value: object, instead: object = None) -> None:
            bad.append(f"{key}={describe(value)}")
            checked[key] = instead

        for key, kind in RESULT_FIELDS.items():
            value = checked.get(key)
            if value is not None and type(value) is not kind:
                drop(key, value, True if key == "is_error" else None)
        turns = checked.get("num_turns")
        if turns is not None and not 0 <= turns <= MAX_SMALL:
            drop("num_turns", turns)
        status = checked.get("api_error_status")
        if status is not None and http_status(status) is None:
            drop("api_error_status", status)
        session = checked.get("session_id")
        if session is not None and session_or_none(session) is None:
            drop("session_id", session)
        cost = checked.get("total_cost_usd")
        if cost is not None:
            checked["total_cost_usd"] = cost_value(cost)
            if checked["total_cost_usd"] is None:
                bad.append(f"total_cost_usd={describe(cost)}")
        errors = checked.get("errors")
        if errors is not None:
            if type(errors) is not list:
                drop("errors", errors)
            elif not all(type(e) is str for e in errors):
                bad.extend(f"errors[]={describe(e)}" for e in errors if type(e) is not str)
                checked["errors"] = [e for e in errors if type(e) is str]
        if checked.get("usage") is not None and type(checked["usage"]) is not dict:
            drop("usage", checked["usage"])
        models = checked.get("modelUsage")
        if models is not None:
            if type(models) is dict:
                checked["modelUsage"] = self._checked_model_usage(models, bad)
            else:
                drop("modelUsage", models)
        if bad:
            self._pending.append(
                Ignored(
                    f"ignored {', '.join(bad)} in the result event: not of the type or in the "
                    "range Claude Code writes"
                )
            )
        return checked

    def _checked_model_usage(self, models: dict[str, Any], bad: list[str]) -> dict[str, Any]:
        """`modelUsage` with only well-formed counts and costs (others are said in `bad`)."""
        checked: dict[str, Any] = {}
        for model, entry in models.items():
            if type(entry) is not dict:
                bad.append(f"modelUsage[{describe(model)}]={describe(entry)}")
                continue
            ignored: list[str] = []
            tokens = tokens_from_model_usage(entry, ignored)
            cost = entry.get("costUSD")
            if cost is not None and cost_value(cost) is None:
                ignored.append(f"costUSD={describe(cost)}")
            bad.extend(f"modelUsage[{describe(model)}].{what}" for what in ignored)
            self._key(model)
            checked[model] = {
                "inputTokens": tokens.input,
                "outputTokens": tokens.output,
                "cacheReadInputTokens": tokens.cache_read,
                "cacheCreationInputTokens": tokens.cache_creation,
                "costUSD": cost_value(cost),
            }
        return checked

    def _key(self, name: str | None) -> str:
        """`model_key(name)`, once per name; a name cut to `MODEL_CHARS` is said in warnings."""
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = model_key(name)
            if name is not None and len(name.strip()) > MODEL_CHARS:
                self._pending.append(
                    Ignored(
                        f"a model name of {len(name)} characters was cut to {MODEL_CHARS}: {key}"
                    )
                )
        return key

    # ---- what it adds up to -------------------------------------------------------------

    def live_tokens(self) -> dict[str, Tokens]:
        """Tokens so far: each message once; output is a lower bound until the result."""
        if self._live is None:
            self._live = sum_by_model([{m: t} for m, t in self._messages.values()])
        return self._live

    def final_tokens(self) -> dict[str, Tokens] | None:
        """The CLI's own per-model totals, when its result carries them."""
        usage = self.result.get("modelUsage") if self.result else None
        if not isinstance(usage, dict) or not usage:
            return None
        out: dict[str, Tokens] = {}
        for model, entry in usage.items():
            if isinstance(entry, dict):
                key = self._key(model)
                tokens = tokens_from_model_usage(entry)
                out[key] = out[key] + tokens if key in out else tokens
        return out or None

    def tokens(self) -> dict[str, Tokens]:
        return self.final_tokens() or self.live_tokens()

    def cost_usd(self) -> float | None:
        """`total_cost_usd`, else the sum of per-model `costUSD`, else None (unknown)."""
        if not self.result:
            return None
        total = cost_value(self.result.get("total_cost_usd"))
        if total is not None:
            return total
        usage = self.result.get("modelUsage")
        if isinstance(usage, dict):
            costs = [e.get("costUSD") for e in usage.values() if isinstance(e, dict)]
            numbers = [c for c in map(cost_value, costs) if c is not None]
            if numbers:
                return sum(numbers)
        return None

    def result_text(self) -> str:
        """The result's text, with control characters shown (it is kept in the state and
        shown by `nova status`)."""
        text = self.result.get("result") if self.result else None
        return visible(text) if isinstance(text, str) else ""


_HANDLERS = {
    "system": ClaudeStream._system,
    "assistant": ClaudeStream._assistant,
    "user": ClaudeStream._user,
    "rate_limit_event": ClaudeStream._rate_limit,
    "result": ClaudeStream._result,
}
