// The context-bot protocol, version 1 (PROTOCOL.md), over any LiveKit SDK: the methods,
// resends, refusals waited out, pushes as events. The SDK is behind a `Transport`
// (transport.ts); `forNode` (node.ts) and `forBrowser` (browser.ts) make one.
//
// Rules kept here, each from PROTOCOL.md:
// - Requests go as text streams (or, with `dataPackets`, reliable data packets carrying
//   `reply_to`) to the bot's identity, with the stream attributes `id` and `method`.
//   Once an answer says the bot names us (`named`), a small request goes first as one
//   data packet asking for a stream answer (`answer_as`): a stream to the hidden bot
//   costs three packets where a data packet is one. Resends always go as streams.
// - Answers and pushes count only from a blank sender: the bot is hidden, and a named
//   sender, even one named like the bot, is a participant the room lists, never the bot.
//   An answer counts only for an id this client is waiting for.
// - Unanswered after `attemptMs` (3 s; 5 s for a data packet sent in the first 4 s in the
//   room), the same body is sent again under the same id: the bot runs an id once and
//   repeats its answer. 4029 and 5003 are waited out (`retry_after_ms`, else a second) and
//   sent again under the same id (a refusal binds nothing); 4009 gets a fresh id.
// - Data-packet answers come in parts, grouped by `id`, interleaved between requests.
// - Versions are opaque: after a `knowledge_changed`, only an overview of its version is kept.

import {
  ContextTimeout, IdReused, RateLimited, RequestError, ShuttingDown, errorFromWire,
} from './errors.js';
import type { Transport } from './transport.js';
import type {
  FileAnswer, Feature, GrepAnswer, KnowledgeChanged, ListAnswer, OutlineAnswer, Overview,
  Push, ReferencesAnswer, SearchHit, SymbolHit, SymbolsAnswer,
} from './types.js';

export const TOPIC_REQUEST = 'context-bot/request';
export const TOPIC_RESPONSE = 'context-bot/response';
export const TOPIC_PUSH = 'context-bot/push';
export const DEFAULT_BOT_IDENTITY = 'context-bot';
/** Long enough to ride out a restart of the bot (PROTOCOL.md, Retries). */
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_ATTEMPT_MS = 3_000;
/** A data packet sent this early in the room may wait up to 4 s for the bot to learn who
 * we are: wait 5 s before resending it (PROTOCOL.md, "Resending data packets"). */
const DATA_EARLY_MS = 4_000;
const DATA_EARLY_ATTEMPT_MS = 5_000;
const SHUTDOWN_RETRY_MS = 1_000;
/** Largest request sent as one data packet (PROTOCOL.md, "Asking by data packet"). */
const MAX_PACKET_REQUEST_BYTES = 6_000;
export const DEFAULT_SLOW_MS = 4_500;

export interface ClientOptions {
  /** The bot's identity: from `POST /token`'s `bot_identity` or the room metadata. */
  botIdentity?: string;
  /** How long a request may take, resends and waits included (30 s). */
  timeoutMs?: number;
  /** How long one send waits for its answer before the same id is sent again (3 s). */
  attemptMs?: number;
  /** Ask for the overview at once (true): the bot would otherwise push it up to 3 s later. */
  prefetch?: boolean;
  /** Requests as data packets instead of text streams (for trying the fallback path). */
  dataPackets?: boolean;
  /** After how long without an answer a request is reported `slow` (4.5 s). */
  slowMs?: number;
}

interface Answer {
  id: string | null;
  ok: boolean;
  result?: unknown;
  error?: unknown;
}

interface Events {
  overview: Overview;
  knowledge_changed: KnowledgeChanged;
  push: Push;
  /** A request has had no answer for `slowMs` (once per request): is the bot there? */
  slow: { id: string; method: string };
  /** A message from the bot arrived (an answer of ours or a push): it is in the room. */
  heard: undefined;
}

type Listener<T> = (value: T) => void;

export interface FileOptions {
  /** `[first, last]`, 1-based and inclusive. */
  lines?: [number, number];
  knowledge?: boolean;
  content?: boolean;
  outline?: boolean;
}

export interface GrepOptions {
  regex?: boolean;
  caseSensitive?: boolean | null;
  glob?: string | string[];
  context?: number;
  limit?: number;
}

export class ContextClient {
  readonly botIdentity: string;
  readonly timeoutMs: number;
  readonly attemptMs: number;
  readonly dataPackets: boolean;
  readonly slowMs: number;
  private readonly waiting = new Map<string, (answer: Answer) => void>();
  private readonly parts = new Map<string, string[]>();
  private readonly listeners: { [E in keyof Events]: Set<Listener<Events[E]>> } = {
    overview: new Set(), knowledge_changed: new Set(), push: new Set(), slow: new Set(),
    heard: new Set(),
  };
  private readonly stops: (() => void)[];
  private readonly started = Date.now();
  private held: Overview | null = null;
  /** The `knowledge_version` of the last `knowledge_changed`: the current one. */
  private announced: string | null = null;
  private prefetching: Promise<Overview> | null = null;
  private closed = false;
  /** The bot's last answer said it names us: our data packets reach it with our identity. */
  private named = false;

  constructor(private readonly transport: Transport, options: ClientOptions = {}) {
    this.botIdentity = options.botIdentity ?? DEFAULT_BOT_IDENTITY;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attemptMs = options.attemptMs ?? DEFAULT_ATTEMPT_MS;
    this.dataPackets = options.dataPackets ?? false;
    this.slowMs = options.slowMs ?? DEFAULT_SLOW_MS;
    this.stops = [
      transport.onText(TOPIC_RESPONSE, (text, sender, attributes) => {
        if (!fromBot(sender)) return;
        if (attributes.named === '1') this.named = true;
        this.onAnswer(parse(text) as Answer | null);
      }),
      transport.onText(TOPIC_PUSH, (text, sender) => {
        if (fromBot(sender)) this.onPush(parse(text) as Push | null);
      }),
      transport.onData(TOPIC_RESPONSE, (payload, sender) => {
        if (fromBot(sender)) this.onPart(payload);
      }),
    ];
    if (options.prefetch ?? true) this.prefetch().catch(() => {}); // overview() reports it
  }

  // -- events --------------------------------------------------------------------------

  /** `overview` (a newer overview is held), `knowledge_changed` (refresh those paths),
   * `push` (every push, as sent), `slow` and `heard` (for telling people whether the bot
   * is there). Returns what removes the listener. */
  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  private emit<E extends keyof Events>(event: E, value: Events[E]): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(value);
      } catch (error) {
        console.error('context-bot: a listener failed', error);
      }
    }
  }

  // -- the methods ---------------------------------------------------------------------

  /** The repository overview: the one pushed or prefetched, else asked for now. */
  async overview(): Promise<string> {
    return (await this.overviewAnswer()).text;
  }

  /** The overview with its `knowledge_version`. */
  async overviewAnswer(): Promise<Overview> {
    if (this.held !== null) return this.held;
    const pushed = new Promise<Overview>((resolve) => {
      const stop = this.on('overview', (overview) => {
        stop();
        resolve(overview);
      });
    });
    return Promise.race([pushed, this.prefetch()]);
  }

  /** The `knowledge_version` of the overview held, once one is. */
  get knowledgeVersion(): string | null {
    return this.held?.knowledge_version ?? null;
  }

  /** A file's knowledge document and contents (or `lines: [first, last]`). */
  file(path: string, options: FileOptions = {}): Promise<FileAnswer> {
    const params: Record<string, unknown> = { path };
    if (options.knowledge !== undefined) params.knowledge = options.knowledge;
    if (options.content !== undefined) params.content = options.content;
    if (options.lines !== undefined) params.lines = options.lines;
    if (options.outline) params.outline = true;
    return this.request('file', params);
  }

  /** Ranked hits, best first: documents, then files by path or contents. */
  async search(query: string, options: { limit?: number } = {}): Promise<SearchHit[]> {
    const params = { query, limit: options.limit ?? 10 };
    return (await this.request<{ hits: SearchHit[] }>('search', params)).hits;
  }

  /** Every file and folder under `prefix`, folders first. */
  list(prefix = '', options: { depth?: number; limit?: number } = {}): Promise<ListAnswer> {
    return this.request('list', { prefix, depth: options.depth ?? 2, limit: options.limit ?? 200 });
  }

  /** One feature by name; without a name, `{features: [...]}`. */
  feature(name: string): Promise<Feature>;
  feature(): Promise<{ features: Feature[] }>;
  feature(name?: string): Promise<Feature | { features: Feature[] }> {
    return this.request('feature', name === undefined ? {} : { name });
  }

  /** Lines matching a literal (or, with `regex`, an RE2 expression) in every text file. */
  grep(pattern: string, options: GrepOptions = {}): Promise<GrepAnswer> {
    const params: Record<string, unknown> = {
      pattern, regex: options.regex ?? false, context: options.context ?? 0,
      limit: options.limit ?? 50,
    };
    if (options.caseSensitive !== undefined && options.caseSensitive !== null) {
      params.case_sensitive = options.caseSensitive;
    }
    if (options.glob !== undefined) params.glob = options.glob;
    return this.request('grep', params);
  }

  /** Definitions whose name matches `query`, best first. */
  async symbols(
    query: string,
    options: { kind?: string; pathGlob?: string | string[]; limit?: number } = {},
  ): Promise<SymbolHit[]> {
    const params: Record<string, unknown> = { query, limit: options.limit ?? 20 };
    if (options.kind !== undefined) params.kind = options.kind;
    if (options.pathGlob !== undefined) params.path_glob = options.pathGlob;
    return (await this.request<SymbolsAnswer>('symbols', params)).symbols;
  }

  /** A file's definitions as a tree. */
  outline(path: string): Promise<OutlineAnswer> {
    return this.request('outline', { path });
  }

  /** Where the identifier `name` is used, by name (not type-resolved). */
  references(
    name: string,
    options: { pathGlob?: string | string[]; limit?: number } = {},
  ): Promise<ReferencesAnswer> {
    const params: Record<string, unknown> = { name, limit: options.limit ?? 100 };
    if (options.pathGlob !== undefined) params.path_glob = options.pathGlob;
    return this.request('references', params);
  }

  /** Stops listening; requests still waiting end with their timeout. */
  close(): void {
    this.closed = true;
    this.stops.forEach((stop) => stop());
    this.stops.length = 0;
  }

  // -- the wire ------------------------------------------------------------------------

  /** One request, answered: its `result`, or the bot's error as a typed `RequestError`. */
  async request<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    let id = newId();
    for (;;) {
      const answer = await this.exchange(id, method, params, deadline);
      if (answer.ok) return answer.result as T;
      const error = errorFromWire(answer.error);
      if (error instanceof IdReused) {
        id = newId(); // ours only by chance: the bot says this id named another request
        continue;
      }
      if (!(error instanceof RateLimited || error instanceof ShuttingDown)) throw error;
      const wait = error.retryAfterMs ?? SHUTDOWN_RETRY_MS;
      if (Date.now() + wait >= deadline) throw error;
      await sleep(wait);
    }
  }

  private exchange(
    id: string, method: string, params: Record<string, unknown>, deadline: number,
  ): Promise<Answer> {
    const request: Record<string, unknown> = { v: 1, id, method, params };
    if (this.dataPackets) request.reply_to = this.transport.identity;
    const body = JSON.stringify(request);
    const bytes = this.dataPackets ? new TextEncoder().encode(body) : null;
    // Named: the first attempt as one packet answered by a stream; resends as streams.
    let packet = !this.named || this.dataPackets ? null : new TextEncoder().encode(JSON.stringify(
      { ...request, reply_to: this.transport.identity, answer_as: 'stream' },
    ));
    if (packet !== null && packet.length > MAX_PACKET_REQUEST_BYTES) packet = null;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const slow = setTimeout(() => this.emit('slow', { id, method }), this.slowMs);
      const send = () => {
        const left = deadline - Date.now();
        if (left <= 0 || this.closed) {
          clearTimeout(slow);
          this.waiting.delete(id);
          this.parts.delete(id);
          reject(new ContextTimeout(
            `no answer to \`${method}\` from '${this.botIdentity}' within ${this.timeoutMs} ms;`
            + ' is the bot in the room?',
          ));
          return;
        }
        if (timer !== undefined && packet !== null) {
          // A packet unanswered: the bot may not name us any more (we reconnected).
          packet = null;
          this.named = false;
        }
        const early = this.dataPackets && Date.now() - this.started < DATA_EARLY_MS;
        const asPacket = bytes ?? packet;
        const sent = asPacket !== null
          ? this.transport.publishData(asPacket, { topic: TOPIC_REQUEST, destination: this.botIdentity })
          : this.transport.sendText(body, {
            topic: TOPIC_REQUEST, destination: this.botIdentity, attributes: { id, method },
          });
        // A send fails while the room reconnects: the next attempt sends it again.
        sent.catch(() => {});
        timer = setTimeout(send, Math.min(early ? DATA_EARLY_ATTEMPT_MS : this.attemptMs, left));
      };
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        clearTimeout(slow);
        this.waiting.delete(id);
        this.parts.delete(id);
        resolve(answer);
      });
      send();
    });
  }

  // -- incoming ------------------------------------------------------------------------

  private onAnswer(answer: Answer | null): void {
    if (answer === null || typeof answer.id !== 'string') return; // null id: never ours
    const settle = this.waiting.get(answer.id);
    if (settle === undefined) return; // a late duplicate, or not ours
    this.emit('heard', undefined);
    settle(answer);
  }

  /** One part of a data-packet answer: `{v, id, part, parts, body}`, grouped by `id`. */
  private onPart(payload: Uint8Array): void {
    const part = parse(new TextDecoder().decode(payload)) as
      { id?: unknown; part?: unknown; parts?: unknown; body?: unknown } | null;
    if (part === null || typeof part.part !== 'number' || typeof part.parts !== 'number'
      || typeof part.body !== 'string' || part.parts < 1 || part.part >= part.parts) return;
    // Bots before the id in parts: one data-packet request in flight, grouped under ''.
    const key = typeof part.id === 'string' ? part.id : '';
    if (key !== '' && !this.waiting.has(key)) return; // a late duplicate, or not ours
    if (part.parts === 1) return this.onAnswer(parse(part.body) as Answer | null);
    let group = this.parts.get(key);
    if (group === undefined || group.length !== part.parts) {
      group = new Array<string>(part.parts);
      this.parts.set(key, group);
    }
    group[part.part] = part.body;
    if (Object.keys(group).length < part.parts) return;
    this.parts.delete(key);
    this.onAnswer(parse(group.join('')) as Answer | null);
  }

  private onPush(push: Push | null): void {
    if (push === null || typeof push.event !== 'string' || typeof push.data !== 'object'
      || push.data === null) return;
    this.emit('heard', undefined);
    this.emit('push', push);
    if (push.event === 'overview' && typeof push.data.text === 'string') {
      this.remember(push.data as unknown as Overview);
    } else if (push.event === 'knowledge_changed') {
      const data = push.data as Partial<KnowledgeChanged>;
      this.announced = typeof data.knowledge_version === 'string' ? data.knowledge_version : null;
      this.emit('knowledge_changed', {
        knowledge_version: String(data.knowledge_version ?? ''),
        previous_version: data.previous_version ?? null,
        added: data.added ?? [], changed: data.changed ?? [], removed: data.removed ?? [],
        ...(data.counts !== undefined ? { counts: data.counts } : {}),
        truncated: data.truncated === true,
      });
    }
  }

  private prefetch(): Promise<Overview> {
    if (this.prefetching === null) {
      const asked = this.request<Overview>('overview');
      this.prefetching = asked;
      asked.then(
        (overview) => this.remember(overview),
        () => { if (this.prefetching === asked) this.prefetching = null; }, // ask again later
      );
    }
    return this.prefetching.then((asked) => this.held ?? asked);
  }

  /** Keep an overview unless it is older than one announced (PROTOCOL.md, Pushes). */
  private remember(overview: Overview): void {
    const stale = this.announced !== null && overview.knowledge_version !== this.announced;
    if (stale && this.held !== null) return;
    this.held = overview;
    this.emit('overview', overview);
  }
}

/** Only the hidden bot sends without an identity; anyone named is a listed participant. */
function fromBot(sender: string): boolean {
  return sender === '';
}

function parse(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A random id: `crypto.randomUUID` needs a secure context, `getRandomValues` does not. */
function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export { RequestError };
