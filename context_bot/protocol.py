"""The wire format between clients and the bot, version 1 (PROTOCOL.md is its prose).

Everything travels as LiveKit text streams, because answers can be any size and RPC into
or out of a hidden participant is capped at 15 KiB or fails outright (docs/design.md, facts 5
and 6). Three topics:

- `context-bot/request`: a client to the bot, addressed to the bot's identity;
- `context-bot/response`: the bot's answer, addressed only to the asker;
- `context-bot/push`: the bot's unsolicited messages (the overview for someone who did
  not ask), addressed only to their receiver.

Every message is one JSON object. The request id also rides in the stream's attributes so
the bot can still answer a request whose body it refused to read (too large). A request
may instead be one data packet on the request topic: from clients without text streams
(answered in packet parts), or answered as a stream (`ANSWER_AS_FIELD`), which is cheaper
than a stream to the hidden bot (docs/design.md, fact 11).
Pure: the standard library only, so the client imports it with only `livekit` installed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

try:  # the bot depends on orjson; a client with only `livekit` installed uses the stdlib
    import orjson

    def dumps(value: Any) -> str:
        return orjson.dumps(value).decode("utf-8")

    def loads(text: str | bytes) -> Any:
        return orjson.loads(text)

    def canonical(value: Any) -> bytes:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
except ImportError:  # pragma: no cover - exercised by clients without orjson

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def loads(text: str | bytes) -> Any:
        return json.loads(text)

    def canonical(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


from context_bot.errors import (
    BadRequest,
    RequestError,
    UnsupportedVersion,
    error_from_wire,
)

PROTOCOL_VERSION = 1
TOPIC_REQUEST = "context-bot/request"
TOPIC_RESPONSE = "context-bot/response"
TOPIC_PUSH = "context-bot/push"
DEFAULT_BOT_IDENTITY = "context-bot"

MAX_REQUEST_BYTES = 16 * 1024
"""Largest request body the bot reads; a larger one is answered with 4013, without reading
it when its stream's header says its size. The largest valid request (a 1,024-character
path and a 128-character id, every character escaped as JSON's `\\uXXXX` pairs) is under
14 KiB."""
MAX_ID_CHARS = 128
MAX_PATH_CHARS = 1024
"""Longest repository path a request may name; a longer one is 4100 `invalid_path`."""
MAX_PATH_DEPTH = 64
"""Most `/`-separated components in such a path (the same error). Both are checked before
anything else looks at the path, so a hostile one costs the bot nothing."""
MAX_QUERY_CHARS = 512
"""Longest `search` query; only its first MAX_QUERY_WORDS words are matched."""
MAX_QUERY_WORDS = 16
MAX_SEARCH_LIMIT = 50
"""Most hits one `search` answers."""
MAX_LIST_DEPTH = 16
"""Deepest `list` (levels below the prefix)."""
MAX_LIST_LIMIT = 5_000
"""Most entries one `list` answers (then `truncated`)."""
MAX_GREP_PATTERN_CHARS = 1_000
"""Longest `grep` pattern; a longer one is 4000 before anything compiles it."""
MAX_GREP_GLOBS = 16
"""Most path patterns one `grep` takes in `glob`."""
MAX_GREP_GLOB_CHARS = 256
"""Longest one of them."""
MAX_GREP_CONTEXT = 5
"""Most lines of context before and after each `grep` match."""
DEFAULT_GREP_LIMIT = 50
MAX_GREP_LIMIT = 500
"""Most matches one `grep` answers (then `truncated`, reason `limit`)."""
MAX_GREP_LINE_CHARS = 300
"""Longest line text a `grep` match carries; a longer line is cut around the match."""
GREP_DEADLINE_S = 2.0
"""Time one `grep` may take, waiting included; then it answers what it found, with
`truncated` and reason `deadline` (before a client's first resend, at 3 s)."""
MAX_SYMBOL_QUERY_CHARS = 128
"""Longest `symbols` query, and longest `references` name."""
DEFAULT_SYMBOLS_LIMIT = 20
MAX_SYMBOLS_LIMIT = 200
"""Most definitions one `symbols` answers."""
DEFAULT_REFERENCES_LIMIT = 100
MAX_REFERENCES_LIMIT = 1_000
"""Most uses one `references` answers (then `truncated`; `total` says how many)."""
MAX_RETRIEVE_TEXT_CHARS = 2_000
"""Longest `retrieve` text (a user's spoken turn, about two minutes of speech); only its
first MAX_QUERY_WORDS content words are matched."""
DEFAULT_RETRIEVE_BUDGET_TOKENS = 600
"""Size of a `retrieve` block (tokens of about four characters): a few files' purpose and
lines, small enough to ride along every turn of a voice conversation."""
MIN_RETRIEVE_BUDGET_TOKENS = 100
MAX_RETRIEVE_BUDGET_TOKENS = 4_000
MAX_OPEN_STREAMS_PER_PARTICIPANT = 8
"""Request streams one participant may have open (begun, not finished) at once; more: 4029."""
MAX_OPEN_STREAMS = 256
"""Request streams open at once in the whole process (at most 64 KiB each); more: 4029."""
MAX_SERVING_PER_PARTICIPANT = 2
"""Requests of one participant answered at once (worked on and sent); its other admitted
requests wait their turn, so another participant's request never queues behind all of
them on the bot's event loop and its one outgoing data channel."""
REQUEST_STREAM_TIMEOUT_S = 5.0
"""A request stream not finished this long after it began is dropped and answered with
4013: a 64 KiB request takes milliseconds, and a client resends a lost one after 3 s."""
UNNAMED_REQUESTS_BURST = 8
"""Data-packet requests whose sender the server has not named yet (answered to their
`reply_to`) per addressee: this many at once, refilled at `UNNAMED_REQUESTS_PER_S`; more
are dropped unanswered, so a forger cannot make the bot send more than this."""
UNNAMED_REQUESTS_PER_S = 1.0
UNNAMED_ANSWER_BYTES_BURST = 256 * 1024
"""Bytes of answers to unnamed senders per addressee, refilled at `UNNAMED_ANSWER_BYTES_PER_S`;
a larger answer is replaced by 4029 (ask again once the server has named you)."""
UNNAMED_ANSWER_BYTES_PER_S = 64 * 1024
UNNAMED_RETRY_MS = 3_000
"""The wait 4029 names for an unnamed sender: by then the server has named it (3 s tick)."""
REPLAY_WINDOW_S = 120.0
"""How long an answered request stays bound to its id, per sender identity (from any of
its connections): an identical repeat gets the same answer again, a different request
under the id is 4009 `id_reused`. After it (or once the bot saw the sender leave) the
id is free."""
MCP_MAX_REQUEST_BYTES = 64 * 1024
"""Largest body `/mcp` reads (endpoint/mcp.py): a tool call is as small as a room request,
and `initialize` carries the client's capabilities besides; larger is 413 unread."""
MCP_ANSWER_CHARS = 40_000
"""What one MCP tool answer holds by default (about 10,000 tokens): past it the answer is
cut and says how to read on. `read_file` takes `max_chars` up to MCP_MAX_ANSWER_CHARS."""
MCP_MAX_ANSWER_CHARS = 2_000_000
PACKET_PART_BYTES = 6_000
"""Body bytes per data-packet part: even fully escaped JSON stays under LiveKit's ~15 KiB."""
ID_ATTRIBUTE = "id"
METHOD_ATTRIBUTE = "method"
REPLY_TO_FIELD = "reply_to"
"""A data-packet request's own identity: whom to answer while the bot cannot name it."""
MAX_REPLY_TO_CHARS = 128
ANSWER_AS_FIELD = "answer_as"
"""`"answer_as": "stream"` in a data-packet request: answer it as a text stream, as a
stream request is (a client whose SDK has text streams and asks by packet because a
stream to the hidden bot costs three packets to one: docs/design.md, fact 11)."""
ANSWER_AS_STREAM = "stream"
NAMED_ATTRIBUTE = "named"
"""Set to "1" on a response stream when the bot knew its addressee as a participant of
the room: from then on that participant's data packets reach the bot with its identity,
so its requests may go as data packets (PROTOCOL.md, "Asking by data packet")."""
MAX_PACKET_REQUEST_BYTES = 6_000
"""Largest request a client sends as a data packet (well under LiveKit's ~15 KiB packet);
a larger one goes as a text stream."""


@dataclass(frozen=True)
class Request:
    id: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    id: str | None
    result: dict[str, Any] | None = None
    error: RequestError | None = None


@dataclass(frozen=True)
class Push:
    event: str
    data: dict[str, Any]


def _load_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = loads(text)
    except (ValueError, RecursionError):  # orjson's and json's decode errors are ValueErrors
        raise BadRequest(f"{what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return data


def request_id_of(text: str) -> str | None:
    """The id of a request we may be about to refuse, if one can be read at all."""
    try:
        data = loads(text)
    except (ValueError, RecursionError):  # orjson's and json's decode errors are ValueErrors
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS else None


def request_identity(text: str) -> tuple[str | None, str]:
    """A request's id (as `request_id_of`) and a digest of what it asks.

    The digest covers `v`, `method` and `params` (missing and null `params` are `{}`),
    canonically (keys sorted), and nothing else: a resend is the same request however its
    encoder ordered keys or spaced them, and a data packet's `reply_to` does not change
    what was asked. A body that is no JSON object is digested as its text. Repeats are
    matched on (sender, id, digest), so a different request under a used id is told apart
    (4009 `id_reused`) rather than answered with the other request's answer."""
    try:
        data = loads(text)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return None, hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
    value = data.get("id")
    request_id = value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS else None
    params = data.get("params")
    asked = {
        "v": data.get("v", PROTOCOL_VERSION),
        "method": data.get("method"),
        "params": {} if params is None else params,
    }
    try:
        digest_of = canonical(asked)
    except (TypeError, ValueError):  # pragma: no cover - parsed JSON always encodes
        digest_of = text.encode("utf-8")
    return request_id, hashlib.blake2b(digest_of, digest_size=16).hexdigest()


def parse_request(text: str) -> Request:
    """Validate a request body; raises `BadRequest` or `UnsupportedVersion` saying why."""
    data = _load_object(text, "request")
    version = data.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise UnsupportedVersion(
            f"protocol version {version!r} is not supported; this bot speaks {PROTOCOL_VERSION}"
        )
    request_id = data.get("id")
    if not isinstance(request_id, str) or not request_id:
        raise BadRequest("`id` must be a non-empty string")
    if len(request_id) > MAX_ID_CHARS:
        raise BadRequest(f"`id` must be at most {MAX_ID_CHARS} characters")
    method = data.get("method")
    if not isinstance(method, str) or not method:
        raise BadRequest("`method` must be a non-empty string")
    params = data.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadRequest("`params` must be a JSON object")
    return Request(id=request_id, method=method, params=params)


def encode_request(request: Request) -> str:
    body = {"v": PROTOCOL_VERSION, "id": request.id, "method": request.method}
    body["params"] = request.params
    return dumps(body)


def encode_packet_request(request: Request, reply_to: str) -> bytes:
    """A request as a data packet answered by a text stream (`ANSWER_AS_FIELD`), with
    `reply_to` for a bot that cannot name the sender yet."""
    body = {"v": PROTOCOL_VERSION, "id": request.id, "method": request.method}
    body["params"] = request.params
    body[REPLY_TO_FIELD] = reply_to
    body[ANSWER_AS_FIELD] = ANSWER_AS_STREAM
    return dumps(body).encode("utf-8")


def packet_request_fields(data: bytes) -> tuple[str | None, bool]:
    """From a data-packet request: its `reply_to` (None unless a 1–128-character string)
    and whether it asks to be answered as a text stream. Unreadable bodies: (None, False).
    A body over the request limit is read too (orjson: microseconds for LiveKit's largest
    packet), so its `reply_to` still gets its 4013."""
    try:
        fields = loads(data)
    except (ValueError, RecursionError):
        return None, False
    if not isinstance(fields, dict):
        return None, False
    reply_to = fields.get(REPLY_TO_FIELD)
    valid = isinstance(reply_to, str) and 0 < len(reply_to) <= MAX_REPLY_TO_CHARS
    return (reply_to if valid else None), fields.get(ANSWER_AS_FIELD) == ANSWER_AS_STREAM


def encode_result(request_id: str | None, result: dict[str, Any]) -> str:
    return dumps({"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result})


def encode_error(request_id: str | None, error: RequestError) -> str:
    return dumps({"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": error.to_wire()})


def decode_response(text: str) -> Response:
    """Parse the bot's answer; a malformed one raises `BadRequest` (the client drops it)."""
    data = _load_object(text, "response")
    request_id = data.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("response `id` must be a string or null")
    if data.get("ok") is True:
        result = data.get("result")
        if not isinstance(result, dict):
            raise BadRequest("response `result` must be an object")
        return Response(id=request_id, result=result)
    error = data.get("error")
    if not isinstance(error, dict):
        raise BadRequest("response `error` must be an object")
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, int) or not isinstance(message, str):
        raise BadRequest("response error needs an integer `code` and a string `message`")
    details = {k: v for k, v in error.items() if k not in ("code", "message", "name")}
    return Response(id=request_id, error=error_from_wire(code, message, **details))


def encode_push(event: str, data: dict[str, Any]) -> str:
    return dumps({"v": PROTOCOL_VERSION, "event": event, "data": data})


def decode_push(text: str) -> Push:
    data = _load_object(text, "push")
    event, body = data.get("event"), data.get("data")
    if not isinstance(event, str) or not isinstance(body, dict):
        raise BadRequest("push needs a string `event` and an object `data`")
    return Push(event=event, data=body)


def packet_parts(answer: str, request_id: str | None = None) -> list[bytes]:
    """An answer split for clients that only speak data packets, in numbered parts.

    Each part is `{"v": 1, "id": <request id>, "part": i, "parts": n, "body": "<slice>"}`;
    concatenating the `body` strings of one `id` in `part` order gives the answer. The id
    is in every part because answers to requests in flight at once arrive interleaved
    (a participant's requests are answered two at a time), and a part alone would not say
    which answer it belongs to. It is null when the request's id could not be read, as
    in the answer itself. Slices are cut on character boundaries of at most
    `PACKET_PART_BYTES` UTF-8 bytes.
    """
    data = answer.encode("utf-8")
    slices: list[str] = []
    start = 0
    while True:
        end = min(start + PACKET_PART_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a UTF-8 sequence
            end -= 1
        slices.append(data[start:end].decode("utf-8"))
        if end >= len(data):
            break
        start = end
    total = len(slices)
    return [
        json.dumps(
            {"v": PROTOCOL_VERSION, "id": request_id, "part": i, "parts": total, "body": body},
            ensure_ascii=False,
        ).encode("utf-8")
        for i, body in enumerate(slices)
    ]


def join_packet_parts(parts: list[bytes]) -> str:
    """The inverse of `packet_parts` for one answer's parts (all of one `id`), for tests
    and Python clients that need it."""
    decoded = sorted((json.loads(p) for p in parts), key=lambda d: int(d["part"]))
    if not decoded or len(decoded) != int(decoded[0]["parts"]):
        raise BadRequest("incomplete set of packet parts")
    if len({d.get("id") for d in decoded}) != 1:
        raise BadRequest("packet parts of different answers")
    return "".join(str(d["body"]) for d in decoded)


def line_range(value: object, *, name: str = "lines") -> tuple[int, int] | None:
    """A request's 1-based inclusive line range `[first, last]`, or None when absent.

    The one check of a line range, for requests on the wire and for the library's own
    callers alike; a range that starts past the end of the file is the reader's to refuse,
    since only it knows the file's length."""
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        raise BadRequest(f"`{name}` must be [first, last], two whole numbers")
    first, last = int(value[0]), int(value[1])
    if first < 1 or last < first:
        raise BadRequest(f"`{name}` must satisfy 1 <= first <= last")
    return first, last
