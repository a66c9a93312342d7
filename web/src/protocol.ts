// The context-bot protocol, version 1, as PROTOCOL.md describes it, over livekit-client.
//
// Requests are text streams to the bot's identity on `context-bot/request` with the
// attributes `id` and `method`; answers and pushes count only from an empty sender: the bot
// is hidden, and only a hidden participant sends without an identity. A sender with a name,
// even the bot's, is a participant the room lists (an impostor that put the bot out), never
// the bot. A request unanswered after ~3 s is sent
// again with the same id (the bot answers an id once and replays that answer); a 4029
// refusal is sent again after `retry_after_ms` under a new id, since the same id would only
// replay the refusal.

import type { Room, TextStreamReader } from 'livekit-client';

export const TOPIC_REQUEST = 'context-bot/request';
export const TOPIC_RESPONSE = 'context-bot/response';
export const TOPIC_PUSH = 'context-bot/push';
export const RETRY_MS = 3000;
export const SLOW_MS = 4500;
/** Sends of one id before giving up: about 30 s without any answer. */
export const MAX_SENDS = 10;
const RATE_LIMITED = 4029;

export interface WireError {
  code: number;
  name: string;
  message: string;
  retry_after_ms?: number;
}

interface Answer {
  v?: number;
  id: string | null;
  ok: boolean;
  result?: unknown;
  error?: WireError;
}

export interface Push {
  event: string;
  data: Record<string, unknown>;
}

/** The bot answered with an error object; `code` is the stable thing to branch on. */
export class BotError extends Error {
  constructor(readonly wire: WireError) {
    super(`${wire.message} (${wire.code} ${wire.name})`);
  }
}

/** Nothing came back for an id after every retry: the bot is not (or no longer) there. */
export class NoAnswer extends Error {}

export interface BotHooks {
  /** A message from the bot arrived: it is in the room. */
  answered(): void;
  /** A request has waited `SLOW_MS` without an answer (once per request). */
  slow(method: string): void;
  push(push: Push): void;
}

let counter = 0;
function newId(): string {
  counter += 1;
  const random = Math.random().toString(16).slice(2, 10);
  return `page-${Date.now().toString(36)}-${counter}-${random}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class BotClient {
  private readonly waiting = new Map<string, (answer: Answer) => void>();

  constructor(
    private readonly room: Room,
    readonly botIdentity: string,
    private readonly hooks: BotHooks,
  ) {
    // Registered before connecting, so a push sent the moment we arrive is not missed.
    room.registerTextStreamHandler(TOPIC_RESPONSE, (reader, from) => {
      if (this.fromBot(from.identity)) void this.read(reader, (text) => this.onAnswer(text));
    });
    room.registerTextStreamHandler(TOPIC_PUSH, (reader, from) => {
      if (this.fromBot(from.identity)) void this.read(reader, (text) => this.onPush(text));
    });
  }

  /** Only the hidden bot sends without an identity; anyone named is not the bot. */
  private fromBot(identity: string): boolean {
    return identity === '';
  }

  private async read(reader: TextStreamReader, use: (text: string) => void): Promise<void> {
    try {
      use(await reader.readAll());
    } catch (error) {
      console.warn('context-bot: unreadable stream', error);
    }
  }

  private onAnswer(text: string): void {
    const answer = parse(text) as Answer | null;
    if (answer === null || typeof answer.id !== 'string') return;
    const settle = this.waiting.get(answer.id);
    if (settle === undefined) return; // not ours, or a repeat of an answer already kept
    this.hooks.answered();
    settle(answer);
  }

  private onPush(text: string): void {
    const push = parse(text) as Push | null;
    if (push === null || typeof push.event !== 'string' || typeof push.data !== 'object') return;
    this.hooks.answered();
    this.hooks.push(push);
  }

  /** One method call; resolves with its `result`, rejects with `BotError` or `NoAnswer`. */
  async request<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    for (;;) {
      const answer = await this.exchange(newId(), method, params);
      if (answer.ok) return answer.result as T;
      const error = answer.error ?? { code: 5000, name: 'internal_error', message: 'no error' };
      if (error.code !== RATE_LIMITED) throw new BotError(error);
      await sleep(Math.max(50, error.retry_after_ms ?? 1000));
    }
  }

  private exchange(id: string, method: string, params: Record<string, unknown>): Promise<Answer> {
    const body = JSON.stringify({ v: 1, id, method, params });
    return new Promise((resolve, reject) => {
      let sends = 0;
      let retry: ReturnType<typeof setTimeout> | undefined;
      const slow = setTimeout(() => this.hooks.slow(method), SLOW_MS);
      const finish = () => {
        clearTimeout(retry);
        clearTimeout(slow);
        this.waiting.delete(id);
      };
      const send = () => {
        if (sends >= MAX_SENDS) {
          finish();
          const seconds = (RETRY_MS * MAX_SENDS) / 1000;
          reject(new NoAnswer(`no answer from the bot to \`${method}\` in ${seconds} s`));
          return;
        }
        sends += 1;
        // A send fails while the connection is down; the next retry sends it again.
        this.room.localParticipant
          .sendText(body, {
            topic: TOPIC_REQUEST,
            destinationIdentities: [this.botIdentity],
            attributes: { id, method },
            compress: false,
          })
          .catch((error: unknown) => console.warn('context-bot: send failed', error));
        retry = setTimeout(send, RETRY_MS);
      };
      this.waiting.set(id, (answer) => {
        finish();
        resolve(answer);
      });
      send();
    });
  }
}

function parse(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : null;
  } catch {
    return null;
  }
}
