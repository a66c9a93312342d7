// The bot's errors as typed exceptions, one class per protocol code (PROTOCOL.md, "Error
// codes"); the Python client's hierarchy, context_bot/errors.py, with the same names:
//
//   ContextError                      anything this client throws
//   ├── ContextTimeout                no answer within `timeout`
//   └── RequestError (code, name)     the bot answered with an error object
//       ├── BadRequest 4000, UnsupportedVersion 4001, UnknownMethod 4004,
//       │   IdReused 4009, PayloadTooLarge 4013, RateLimited 4029
//       ├── FileError: InvalidPath 4100, PathDenied 4103, NotFound 4104,
//       │   NotAFile 4105, FileTooLarge 4113, BinaryFile 4115
//       └── InternalError 5000, ShuttingDown 5003
//
// Branch on `code` (or `instanceof`): codes never change meaning; messages are for people.

/** The error object of an answer with `ok: false`. */
export interface WireError {
  code: number;
  name: string;
  message: string;
  retry_after_ms?: number;
  [extra: string]: unknown;
}

export class ContextError extends Error {
  override name = 'ContextError';
}

/** No answer came within the client's `timeout`: is the bot in the room? */
export class ContextTimeout extends ContextError {
  override name = 'ContextTimeout';
}

export class RequestError extends ContextError {
  static readonly code: number = 0;
  /** The protocol's code: stable, the thing to branch on. */
  readonly code: number;
  /** The protocol's name for the code (`not_found`). */
  readonly codeName: string;
  /** Further fields of the error object, such as `retry_after_ms`. */
  readonly details: Record<string, unknown>;

  constructor(wire: WireError) {
    super(`${wire.message} (${wire.code} ${wire.name})`);
    const { code, name, message: _message, ...details } = wire;
    this.code = code;
    this.codeName = name;
    this.details = details;
    this.name = new.target.name;
  }

  /** Milliseconds the bot asks to wait before asking again, when it names them. */
  get retryAfterMs(): number | undefined {
    const value = this.details.retry_after_ms;
    return typeof value === 'number' ? value : undefined;
  }
}

export class BadRequest extends RequestError { static override readonly code = 4000; }
export class UnsupportedVersion extends RequestError { static override readonly code = 4001; }
export class UnknownMethod extends RequestError { static override readonly code = 4004; }
/** The id was bound to another request of ours in the last two minutes. */
export class IdReused extends RequestError { static override readonly code = 4009; }
export class PayloadTooLarge extends RequestError { static override readonly code = 4013; }
export class RateLimited extends RequestError { static override readonly code = 4029; }
export class FileError extends RequestError {}
export class InvalidPath extends FileError { static override readonly code = 4100; }
export class PathDenied extends FileError { static override readonly code = 4103; }
export class NotFound extends FileError { static override readonly code = 4104; }
export class NotAFile extends FileError { static override readonly code = 4105; }
export class FileTooLarge extends FileError { static override readonly code = 4113; }
export class BinaryFile extends FileError { static override readonly code = 4115; }
export class InternalError extends RequestError { static override readonly code = 5000; }
/** The bot is leaving the room; another (or the same one, back) answers in seconds. */
export class ShuttingDown extends RequestError { static override readonly code = 5003; }

const BY_CODE = new Map<number, new (wire: WireError) => RequestError>(
  [
    BadRequest, UnsupportedVersion, UnknownMethod, IdReused, PayloadTooLarge, RateLimited,
    InvalidPath, PathDenied, NotFound, NotAFile, FileTooLarge, BinaryFile, InternalError,
    ShuttingDown,
  ].map((type) => [type.code, type]),
);

/** The typed error for an error object off the wire; an unknown code is a `RequestError`. */
export function errorFromWire(wire: unknown): RequestError {
  const object = typeof wire === 'object' && wire !== null ? (wire as Record<string, unknown>) : {};
  const code = typeof object.code === 'number' ? object.code : 5000;
  const normal: WireError = {
    ...object,
    code,
    name: typeof object.name === 'string' ? object.name : 'unknown',
    message: typeof object.message === 'string' ? object.message : '',
  };
  const type = BY_CODE.get(code) ?? RequestError;
  return new type(normal);
}
