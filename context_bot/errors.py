"""Every error context-bot raises on purpose, with the stable code it carries.

The hierarchy::

    ContextBotError                      base; never raised itself
    ├── ConfigError                      bad or missing settings (the CLI exits 2)
    ├── DevServerError                   no livekit-server could be found, built or started
    ├── ApiError                         an HTTP refusal of the endpoint: status and stable code
    ├── ContextTimeout                   the client got no answer from the bot in time
    ├── LiveKitUnavailable               the LiveKit server cannot be reached (HTTP 503)
    ├── LiveKitFailure                   LiveKit answered, but refused or failed (HTTP 500)
    ├── StoreUnavailable                 the shared ownership store (Redis) is unreachable (503)
    ├── DraftRefused                     `draft` will not write there (outside the folder)
    ├── ModelError                       the model endpoint of `draft --llm` failed: `code` says how
    └── RequestError                     a request we will not serve; goes back on the wire
        ├── BadRequest         4000      malformed JSON, wrong types, missing fields
        ├── UnsupportedVersion 4001      a protocol version this bot does not speak
        ├── UnknownMethod      4004      a method this bot does not have
        ├── IdReused           4009      another request under an id already used
        ├── PayloadTooLarge    4013      a request larger than the bot accepts
        ├── RateLimited        4029      too many requests from one participant
        ├── FileError                    reading from the repository failed
        │   ├── InvalidPath    4100      absolute, `..`, `~`, NUL, empty
        │   ├── PathDenied     4103      deny-listed (secrets, `.git/`, ignored files)
        │   ├── NotFound       4104      no such file or document
        │   ├── NotAFile       4105      a directory, FIFO, device...
        │   ├── FileTooLarge   4113      over the size cap
        │   └── BinaryFile     4115      not text
        ├── InternalError      5000      a bug on our side; the message says no more
        └── ShuttingDown       5003      the bot is leaving; ask again (another bot may come)

Wire codes live outside LiveKit's reserved 1001–1999 so a client can tell our refusals
from the SDK's own RPC errors. They are part of the protocol (PROTOCOL.md): never renumber.
Messages never carry a host path, a token or a secret: they go to remote participants.

This module imports nothing outside the standard library, so the client can use it.
"""

from __future__ import annotations


class ContextBotError(Exception):
    """Base of every error raised on purpose by context-bot."""


class ConfigError(ContextBotError):
    """A setting is missing or wrong; the message names the setting and the fix."""


class DevServerError(ContextBotError):
    """No livekit-server could be found, built or started; the message says what to do."""


class ApiError(ContextBotError):
    """A refusal of the HTTP endpoint: status, stable code and a message safe to send."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        """Sent with the error: `Retry-After` on 429, `WWW-Authenticate` on 401."""


class ContextTimeout(ContextBotError, TimeoutError):
    """No answer from the bot in time (the client's); it may not be in the room."""


class LiveKitUnavailable(ContextBotError):
    """The LiveKit server did not answer (connection refused, timeout)."""


class LiveKitFailure(ContextBotError):
    """The LiveKit server answered with an error."""


class StoreUnavailable(ContextBotError):
    """The shared ownership store did not answer."""


class DraftRefused(ContextBotError):
    """`draft` refused to write a document: its path would leave the knowledge folder (a
    `..`, a symlinked folder or document). Nothing outside the folder is ever written."""


class ModelError(ContextBotError):
    """The model endpoint (`draft --llm`) failed; the deterministic draft is written instead.

    `code` is stable: `timeout`, `unreachable`, `rate_limited`, `http_error`, `malformed`.
    The message never carries the API key."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RequestError(ContextBotError):
    """A request the bot refuses; `code` and `name` go back to the asker unchanged."""

    code: int = 5000
    name: str = "internal_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        """Extra JSON-ready fields for the wire, e.g. `retry_after_ms` on 4029."""

    def to_wire(self) -> dict[str, object]:
        return {**self.details, "code": self.code, "name": self.name, "message": self.message}


class BadRequest(RequestError):
    code = 4000
    name = "bad_request"


class UnsupportedVersion(RequestError):
    code = 4001
    name = "unsupported_version"


class UnknownMethod(RequestError):
    code = 4004
    name = "unknown_method"


class IdReused(RequestError):
    """A request under an id its sender used for a different request, still in flight or
    answered within the replay window. Answering it with that request's answer would be
    silently wrong (a client numbering its requests from 1 again after a reconnect);
    serving it would break the promise that a repeat is run once. So it is refused: the
    client picks a fresh id."""

    code = 4009
    name = "id_reused"


class PayloadTooLarge(RequestError):
    code = 4013
    name = "payload_too_large"


class RateLimited(RequestError):
    code = 4029
    name = "rate_limited"


class FileError(RequestError):
    """Reading a repository file or its knowledge failed."""


class InvalidPath(FileError):
    code = 4100
    name = "invalid_path"


class PathDenied(FileError):
    code = 4103
    name = "path_denied"


class NotFound(FileError):
    code = 4104
    name = "not_found"


class NotAFile(FileError):
    code = 4105
    name = "not_a_file"


class FileTooLarge(FileError):
    code = 4113
    name = "file_too_large"


class BinaryFile(FileError):
    code = 4115
    name = "binary_file"


class InternalError(RequestError):
    code = 5000
    name = "internal_error"


class ShuttingDown(RequestError):
    code = 5003
    name = "shutting_down"


def _all_request_errors() -> dict[int, type[RequestError]]:
    found: dict[int, type[RequestError]] = {}
    pending: list[type[RequestError]] = [RequestError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "code" in cls.__dict__:
            found[cls.code] = cls
    return found


#: Wire code → exception class, so the client raises the same types the bot refused with.
ERRORS_BY_CODE: dict[int, type[RequestError]] = _all_request_errors()


def error_from_wire(code: int, message: str, **details: object) -> RequestError:
    """Rebuild the exception a bot answered with; unknown codes become `RequestError`."""
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        err = RequestError(message, **details)
        err.code = code
        err.name = "unknown"
        return err
    return cls(message, **details)
