"""A loopback double of the Anthropic Messages API, for running the real
Claude Code CLI offline in tests.  Standard library only.

Usage::

    script = {"t1": ok(tool_calls=1), "t2": http_error(400), "*": ok(tool_calls=0)}
    with MessagesDouble(script) as api:
        env = claude_env(home, api.base_url)
        ...run claude...
        api.requests            # every request served (list of Served, a copy)
        api.usage_by_model()    # {model: {input, output, cache_read, cache_creation}}

How a reply is chosen
---------------------
nova puts a line ``nova-task: <TASK_ID>`` into the prompt of each agent.  For
every ``POST /v1/messages`` the double searches all text of the request
(system prompt and every message, tool results included) for
``nova-task: (\\S+)`` (first match wins) and plays ``script[task_id]``,
falling back to ``script["*"]``, then to ``ok()``.

The *turn* of a request is the number of assistant messages already in its
``messages`` list (0 for the first call of a session, 1 after one tool round
trip, ...).  The reply therefore depends only on the request, so a retried
request gets the same reply; only ``fail_then_ok`` and ``usage_limit`` keep a
counter (per task id).

Scenarios (build them with the functions below):

``ok(tool_calls=1, text=None, command=None, usage=DEFAULT_USAGE, headers=None)``
    Turns ``0 .. tool_calls-1``: a text block plus a ``tool_use`` block calling
    ``Bash`` with ``{"command": command, "description": "say hello"}``
    (stop_reason ``tool_use``).  ``command`` defaults to
    ``"echo hello from {task}"``; ``{task}`` and ``{turn}`` are substituted.
    Turn ``tool_calls`` and later: one text block ``text`` (default
    ``"Finished {task}."``), stop_reason ``end_turn``.
    A request that offers no ``Bash`` tool (a side request of the CLI) always
    gets the final text reply.  With ``hang_from_turn=k``, requests from turn
    ``k`` on hang as ``hang(600)`` does (an API call in flight when the agent is
    stopped: the CLI then ends without a ``result``).
``http_error(status=400, error_type="invalid_request_error", message=..., headers=None)``
    Every request answers ``status`` with the API's JSON error body.
``cut_stream(how="eof")``
    ``message_start`` and one complete text block ("Partial answer for
    <task>"), then no ``message_delta``/``message_stop``.  ``how="eof"`` ends
    the chunked HTTP body cleanly (only the SSE stream is incomplete);
    ``how="close"`` drops the TCP connection (FIN, after ``cut_delay`` seconds)
    without the terminating chunk.  A non-streaming request (the CLI's
    fallback after a broken stream) gets headers and a partial body, then the
    same drop.  The recorded usage has ``output_tokens`` 1 (all that was sent).
``hang(seconds, then=None)``
    Sends nothing for ``seconds`` (or until the double is closed), then plays
    ``then`` (default: close the connection without a reply).  Its record's
    kind is ``"hang"`` while waiting, ``"hang:closed"`` after a close.
``fail_then_ok(status=500, times=1, error_type=None, then=None, message=None, headers=None)``
    The first ``times`` requests for this scenario's task id answer an HTTP
    error, later ones play ``then`` (default ``ok()``).
``usage_limit(resets_in=5.0, claim="five_hour", times=1, then=None)``
    The first ``times`` requests for the task id answer 429
    ``rate_limit_error`` with ``rate_limit_headers("rejected", <arrival +
    resets_in>, claim)`` (the reset is computed when the request arrives);
    later ones play ``then`` (default ``ok()``).  Kind ``"usage_limit:429"``.
    The CLI turns these headers into a ``rate_limit_event`` only when it runs
    with ``CLAUDE_CODE_OAUTH_TOKEN`` (no ``ANTHROPIC_API_KEY``): see
    CLAUDE_FINDINGS.md.

``headers`` (a mapping) adds response headers to a scenario's replies: the
error response of ``http_error``/``fail_then_ok``, the SSE or JSON reply of
``ok``.  ``rate_limit_headers(status, resets_at, claim, utilization,
threshold)`` builds the unified rate-limit headers
(``anthropic-ratelimit-unified-status``, ``-reset``,
``-representative-claim``, and ``-5h-*``/``-7d-*`` for those claims); e.g.
``ok(headers=rate_limit_headers("allowed_warning", t, "five_hour", 0.92,
0.9))``.  Each record keeps the extra headers sent in ``reply_headers``.

Requests without ``"stream": true`` get the same reply as one JSON message.
``POST /v1/messages/count_tokens`` answers ``{"input_tokens": n}``; ``HEAD``
and other ``GET`` paths answer 200 ``{}``; other ``POST`` paths answer 404 with
an API error body.  Every request is recorded in ``api.requests``.

Usage numbers
-------------
Each scenario has ``usage=(input, output, cache_read, cache_creation)``,
default ``(1200, 80, 300, 50)``.  A reply at turn ``k`` reports::

    input_tokens                = input + 10*k
    output_tokens               = output + k        (message_delta; message_start says 1)
    cache_read_input_tokens     = cache_read + 100*k
    cache_creation_input_tokens = cache_creation

and that usage is stored on the request's record.  ``usage_by_model`` sums the
records whose stream completed (``kind`` starting with ``"ok"``).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_USAGE",
    "MessagesDouble",
    "Scenario",
    "Served",
    "cut_stream",
    "fail_then_ok",
    "hang",
    "http_error",
    "ok",
    "rate_limit_headers",
    "usage_limit",
]

TASK_RE = re.compile(r"nova-task: (\S+)")
_CLAIM_ABBREV = {"five_hour": "5h", "seven_day": "7d"}
DEFAULT_USAGE = (1200, 80, 300, 50)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Scenario:
    """What the double does for one task. Build with ok(), http_error(), ..."""

    kind: str  # "ok" | "http_error" | "cut_stream" | "hang" | "fail_then_ok"
    tool_calls: int = 1
    text: str | None = None
    command: str | None = None
    status: int = 400
    error_type: str | None = None
    message: str | None = None
    seconds: float = 0.0
    times: int = 0
    how: str = "eof"
    then: Scenario | None = None
    usage: tuple[int, int, int, int] = DEFAULT_USAGE
    headers: tuple[tuple[str, str], ...] = ()  # extra response headers
    resets_in: float = 0.0  # usage_limit: reset this many seconds after the request
    claim: str | None = None  # usage_limit: the representative claim (five_hour, ...)
    hang_from_turn: int | None = None  # ok: requests from this turn on hang (see `ok`)

    def usage_for_turn(self, turn: int) -> dict[str, int]:
        inp, out, cread, ccreate = self.usage
        return {
            "input_tokens": inp + 10 * turn,
            "output_tokens": out + turn,
            "cache_read_input_tokens": cread + 100 * turn,
            "cache_creation_input_tokens": ccreate,
        }


def _header_items(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in (headers or {}).items())


def ok(
    tool_calls: int = 1,
    text: str | None = None,
    command: str | None = None,
    usage: tuple[int, int, int, int] = DEFAULT_USAGE,
    headers: Mapping[str, str] | None = None,
    hang_from_turn: int | None = None,
) -> Scenario:
    return Scenario(
        "ok",
        tool_calls=tool_calls,
        text=text,
        command=command,
        usage=usage,
        headers=_header_items(headers),
        hang_from_turn=hang_from_turn,
        seconds=600.0,
    )


def http_error(
    status: int = 400,
    error_type: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Scenario:
    return Scenario(
        "http_error",
        status=status,
        error_type=error_type,
        message=message,
        headers=_header_items(headers),
    )


def cut_stream(how: str = "eof", usage: tuple[int, int, int, int] = DEFAULT_USAGE) -> Scenario:
    if how not in ("eof", "close"):
        raise ValueError("how must be 'eof' or 'close'")
    return Scenario("cut_stream", how=how, usage=usage)


def hang(seconds: float, then: Scenario | None = None) -> Scenario:
    return Scenario("hang", seconds=seconds, then=then)


def rate_limit_headers(
    status: str = "rejected",
    resets_at: float | None = None,
    claim: str | None = "five_hour",
    utilization: float | None = None,
    threshold: float | None = None,
) -> dict[str, str]:
    """The unified rate-limit headers the API sends to subscription (OAuth) clients.

    The CLI reports ``allowed_warning`` only when ``threshold`` (the window's
    ``-surpassed-threshold`` header) is sent, whatever ``status`` says.
    """
    out = {"anthropic-ratelimit-unified-status": status}
    if resets_at is not None:
        out["anthropic-ratelimit-unified-reset"] = str(int(resets_at))
    if claim is not None:
        out["anthropic-ratelimit-unified-representative-claim"] = claim
        abbrev = _CLAIM_ABBREV.get(claim)
        if abbrev:
            out[f"anthropic-ratelimit-unified-{abbrev}-status"] = status
            if resets_at is not None:
                out[f"anthropic-ratelimit-unified-{abbrev}-reset"] = str(int(resets_at))
            if utilization is not None:
                out[f"anthropic-ratelimit-unified-{abbrev}-utilization"] = str(utilization)
            if threshold is not None:
                out[f"anthropic-ratelimit-unified-{abbrev}-surpassed-threshold"] = str(threshold)
    return out


def usage_limit(
    resets_in: float = 5.0,
    claim: str | None = "five_hour",
    times: int = 1,
    then: Scenario | None = None,
) -> Scenario:
    return Scenario("usage_limit", resets_in=resets_in, claim=claim, times=times, then=then)


def fail_then_ok(
    status: int = 500,
    times: int = 1,
    error_type: str | None = None,
    then: Scenario | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Scenario:
    return Scenario(
        "fail_then_ok",
        status=status,
        times=times,
        error_type=error_type,
        then=then or ok(),
        message=message,
        headers=_header_items(headers),
    )


@dataclass
class Served:
    """One request the double received (whatever the path)."""

    method: str
    path: str  # full request target, query included
    body: Any  # parsed JSON body, or None (raw text kept in raw_body when not JSON)
    model: str | None = None
    task_id: str | None = None
    turn: int | None = None
    kind: str = "unknown"  # e.g. "ok:tool_use", "ok:end_turn", "http_error:400", ...
    status: int = 0
    usage: dict[str, int] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None
    request_id: str | None = None  # the request-id header sent back (the CLI's requestId)
    reply_headers: dict[str, str] = field(default_factory=dict)  # extra headers sent back
    at: float = 0.0  # time.monotonic() when it arrived

    @property
    def completed(self) -> bool:
        """True when a full message stream was served."""
        return self.kind.startswith("ok")


def _text_of(obj: Any) -> list[str]:
    """All strings found in a request body's system and messages."""
    out: list[str] = []
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, list):
        for item in obj:
            out.extend(_text_of(item))
    elif isinstance(obj, dict):
        for key, val in obj.items():
            if key in ("text", "content", "system", "messages", "input") or isinstance(
                val, (list, dict)
            ):
                out.extend(_text_of(val))
    return out


def find_task_id(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for part in _text_of({"system": body.get("system"), "messages": body.get("messages")}):
        m = TASK_RE.search(part)
        if m:
            return m.group(1)
    return None


def _turn_of(body: dict) -> int:
    msgs = body.get("messages") or []
    return sum(1 for m in msgs if isinstance(m, dict) and m.get("role") == "assistant")


def _offers_bash(body: dict) -> bool:
    return any(isinstance(t, dict) and t.get("name") == "Bash" for t in body.get("tools") or [])


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "messages-double/1"
    double: MessagesDouble  # set on the subclass made per double

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- plumbing -------------------------------------------------------
    def _read_body(self) -> tuple[Any, str | None]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, None
        text = raw.decode("utf-8", "replace")
        try:
            return json.loads(text), None
        except ValueError:
            return None, text

    def _record(self, body: Any, raw: str | None) -> Served:
        rec = Served(
            method=self.command,
            path=self.path,
            body=body,
            raw_body=raw,
            headers={
                k.lower(): v
                for k, v in self.headers.items()
                if k.lower() not in ("x-api-key", "authorization")
            },
            at=time.monotonic(),
        )
        if isinstance(body, dict):
            rec.model = body.get("model") if isinstance(body.get("model"), str) else None
            rec.task_id = find_task_id(body)
        self.double._add(rec)
        self._rec = rec
        return rec

    def _request_id(self) -> str:
        rid = "req_" + uuid.uuid4().hex[:24]
        rec = getattr(self, "_rec", None)
        if rec is not None:
            rec.request_id = rid
        return rid

    def _send_json(self, status: int, obj: Any, extra: Mapping[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", self._request_id())
        self.send_header("Connection", "close")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self._note_reply_headers(extra or {})
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def _start_sse(self, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", self._request_id())
        self.send_header("Connection", "close")
        for k, v in headers:
            self.send_header(k, v)
        self._note_reply_headers(dict(headers))
        self.end_headers()
        self.close_connection = True

    def _note_reply_headers(self, headers: Mapping[str, str]) -> None:
        rec = getattr(self, "_rec", None)
        if rec is not None:
            rec.reply_headers.update(headers)

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:  # client went away
            raise _ClientGone() from exc

    def _event(self, name: str, data: dict) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _drop_connection(self) -> None:
        """End the TCP connection mid-body with a FIN (never an RST: that races)."""
        sock = self.connection
        self.close_connection = True
        try:
            self.wfile.flush()
            time.sleep(self.double.cut_delay)
            sock.shutdown(socket.SHUT_WR)
            # Wait for the client to close its side, so our close sends no RST.
            sock.settimeout(5)
            while sock.recv(65536):
                pass
        except OSError:
            pass

    def _end_chunks(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass

    # --- verbs ------------------------------------------------------------
    def do_HEAD(self) -> None:
        rec = self._record(None, None)
        rec.kind, rec.status = "head", 200
        self._send_json(200, {})

    def do_GET(self) -> None:
        rec = self._record(None, None)
        path = urlsplit(self.path).path
        if path.rstrip("/") == "/v1/models":
            rec.kind, rec.status = "models", 200
            self._send_json(200, {"data": [], "has_more": False, "first_id": None, "last_id": None})
        else:
            rec.kind, rec.status = "other", 200
            self._send_json(200, {})

    def do_POST(self) -> None:
        body, raw = self._read_body()
        rec = self._record(body, raw)
        path = urlsplit(self.path).path.rstrip("/")
        try:
            if path == "/v1/messages" and isinstance(body, dict):
                self._messages(rec, body)
            elif path == "/v1/messages/count_tokens":
                n = len(json.dumps(body or {})) // 4
                rec.kind, rec.status = "count_tokens", 200
                self._send_json(200, {"input_tokens": n})
            else:
                rec.kind, rec.status = "unknown", 404
                self._error(404, "not_found_error", f"double: no handler for {self.path}")
        except _ClientGone:
            rec.kind += ":client_gone"

    def do_PUT(self) -> None:
        self.do_POST()

    def do_DELETE(self) -> None:
        self.do_POST()

    # --- messages -----------------------------------------------------------
    def _error(
        self,
        status: int,
        error_type: str | None,
        message: str | None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        etype = error_type or _ERROR_TYPES.get(status, "api_error")
        extra = {
            "x-should-retry": "true" if status in (408, 409, 429) or status >= 500 else "false"
        }
        extra.update(headers)
        self._send_json(
            status,
            {"type": "error", "error": {"type": etype, "message": message or f"double: {etype}"}},
            extra,
        )

    def _messages(self, rec: Served, body: dict) -> None:
        d = self.double
        scen = d._scenario_for(rec.task_id)
        rec.turn = _turn_of(body)
        while True:
            if scen.kind == "http_error":
                rec.kind, rec.status = f"http_error:{scen.status}", scen.status
                self._error(scen.status, scen.error_type, scen.message, scen.headers)
                return
            if scen.kind == "fail_then_ok":
                if d._count_failure(rec.task_id, scen.times):
                    rec.kind, rec.status = f"http_error:{scen.status}", scen.status
                    self._error(scen.status, scen.error_type, scen.message, scen.headers)
                    return
                scen = scen.then or ok()
                continue
            if scen.kind == "usage_limit":
                if d._count_failure(rec.task_id, scen.times):
                    rec.kind, rec.status = "usage_limit:429", 429
                    headers = rate_limit_headers(
                        "rejected", time.time() + scen.resets_in, scen.claim
                    )
                    self._error(429, "rate_limit_error", None, tuple(headers.items()))
                    return
                scen = scen.then or ok()
                continue
            if (
                scen.kind == "ok"
                and scen.hang_from_turn is not None
                and (rec.turn >= scen.hang_from_turn)
            ):
                scen = hang(scen.seconds)
                continue
            if scen.kind == "hang":
                rec.kind = "hang"
                d._stop.wait(scen.seconds)
                if scen.then is None or d._stop.is_set():
                    rec.kind = "hang:closed"
                    self._drop_connection()
                    return
                scen = scen.then
                continue
            break

        task = rec.task_id or "unknown-task"
        model = rec.model or "claude-sonnet-4-5"
        usage = scen.usage_for_turn(rec.turn)
        rec.usage = usage
        msg_id = "msg_" + uuid.uuid4().hex[:24]

        blocks: list[dict]
        if scen.kind == "cut_stream":
            blocks = [{"type": "text", "text": f"Partial answer for {task}"}]
            stop_reason = None
            rec.usage = dict(usage, output_tokens=1)  # only message_start is sent
        elif rec.turn < scen.tool_calls and _offers_bash(body):
            cmd = (scen.command or "echo hello from {task}").format(task=task, turn=rec.turn)
            blocks = [
                {"type": "text", "text": f"Running step {rec.turn + 1} for {task}."},
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:24],
                    "name": "Bash",
                    "input": {"command": cmd, "description": "say hello"},
                },
            ]
            stop_reason = "tool_use"
        else:
            text = (scen.text or "Finished {task}.").format(task=task, turn=rec.turn)
            blocks = [{"type": "text", "text": text}]
            stop_reason = "end_turn"

        if not body.get("stream"):
            # The CLI falls back to a non-streaming request after a broken stream.
            self._plain_reply(rec, scen, msg_id, model, blocks, stop_reason, usage)
            return

        self._start_sse(scen.headers)
        self._event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": usage["input_tokens"],
                        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                        "cache_read_input_tokens": usage["cache_read_input_tokens"],
                        "output_tokens": 1,
                    },
                },
            },
        )
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                self._event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                t = block["text"]
                half = len(t) // 2
                for piece in (t[:half], t[half:]):
                    if piece:
                        self._event(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "text_delta", "text": piece},
                            },
                        )
            else:
                self._event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                js = json.dumps(block["input"])
                half = len(js) // 2
                for piece in (js[:half], js[half:]):
                    self._event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            self._event("content_block_stop", {"type": "content_block_stop", "index": i})

        if scen.kind == "cut_stream":
            rec.kind, rec.status = f"cut_stream:{scen.how}", 200
            if scen.how == "eof":
                self._end_chunks()
            else:
                self._drop_connection()
            return

        self._event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        self._event("message_stop", {"type": "message_stop"})
        # Recorded before the last chunk: once it is sent, the client (a test) may look.
        rec.kind, rec.status = f"ok:{stop_reason}", 200
        self._end_chunks()

    def _plain_reply(
        self,
        rec: Served,
        scen: Scenario,
        msg_id: str,
        model: str,
        blocks: list[dict],
        stop_reason: str | None,
        usage: dict[str, int],
    ) -> None:
        """Answer a request without `"stream": true` with one JSON message."""
        if scen.kind == "cut_stream":
            # Headers, then the connection drops before the body.
            rec.kind, rec.status = "cut_stream:plain", 200
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("request-id", self._request_id())
            self.send_header("Content-Length", "100000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b'{"id": "' + msg_id.encode())
            self._drop_connection()
            return
        message = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": dict(usage),
        }
        rec.kind, rec.status = f"ok:{stop_reason}:plain", 200
        self._send_json(200, message, dict(scen.headers))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class MessagesDouble:
    """Loopback Messages API double; use as a context manager."""

    def __init__(
        self,
        script: Mapping[str, Scenario] | None = None,
        host: str = "127.0.0.1",
        cut_delay: float = 0.3,
    ):
        self.script: dict[str, Scenario] = dict(script or {})
        self._host = host
        self._lock = threading.Lock()
        self._requests: list[Served] = []
        self._failures: dict[str | None, int] = {}
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Pause between the last bytes sent and a dropped connection, so the client has
        # read them first (without it the CLI's reaction varies from run to run).
        self.cut_delay = cut_delay

    # --- lifecycle ----------------------------------------------------------
    def start(self) -> MessagesDouble:
        handler = type("Handler", (_Handler,), {"double": self})
        self._server = _Server((self._host, 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="messages-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MessagesDouble:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "double not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # --- records --------------------------------------------------------------
    @property
    def requests(self) -> list[Served]:
        """A snapshot (copy) of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def messages_requests(self, task_id: str | None = None) -> list[Served]:
        """Requests to /v1/messages (optionally only for one task id)."""
        return [
            r
            for r in self.requests
            if urlsplit(r.path).path.rstrip("/") == "/v1/messages"
            and (task_id is None or r.task_id == task_id)
        ]

    def usage_by_model(self, task_id: str | None = None) -> dict[str, dict[str, int]]:
        """Usage summed per model over completed replies (optionally one task)."""
        out: dict[str, dict[str, int]] = {}
        for r in self.requests:
            if not r.completed or r.usage is None:
                continue
            if task_id is not None and r.task_id != task_id:
                continue
            acc = out.setdefault(
                r.model or "", {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0}
            )
            acc["input"] += r.usage["input_tokens"]
            acc["output"] += r.usage["output_tokens"]
            acc["cache_read"] += r.usage["cache_read_input_tokens"]
            acc["cache_creation"] += r.usage["cache_creation_input_tokens"]
        return out

    # --- internals --------------------------------------------------------------
    def _add(self, rec: Served) -> None:
        with self._lock:
            self._requests.append(rec)

    def _scenario_for(self, task_id: str | None) -> Scenario:
        if task_id is not None and task_id in self.script:
            return self.script[task_id]
        return self.script.get("*") or ok()

    def _count_failure(self, task_id: str | None, times: int) -> bool:
        """True (and count it) while fewer than `times` failures were served."""
        with self._lock:
            n = self._failures.get(task_id, 0)
            if n < times:
                self._failures[task_id] = n + 1
                return True
            return False
