// The client over `@livekit/rtc-node`, hiding what that SDK does differently:
// - one text-stream handler per topic and room (a second registration throws): handlers are
//   shared per room (transport.ts), so several clients may share a room;
// - `publishData` takes snake_case `destination_identities` (a camelCase name is ignored and
//   the packet goes to everyone), where `sendText` takes camelCase;
// - the hidden bot's data packets arrive with no participant, not a blank one;
// - its logger writes debug lines to stdout unless NODE_ENV=production: `forNode` sets it
//   to `warn` (`quietSdkLog: false` leaves it alone);
// - every send waits on one shared emitter, which warns past 10 listeners: at most
//   `MAX_SENDS` sends are under way at once, the rest queue (the bot answers a
//   participant's requests two at a time anyway).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Room } from '@livekit/rtc-node';
import { ContextClient, type ClientOptions } from './client.js';
import { sharedTextHandler, type StreamRoom, type Transport } from './transport.js';

export * from './index.js';

const MAX_SENDS = 6;

/** A client for a connected (or connecting) `Room` of `@livekit/rtc-node`. */
export function forNode(room: Room, options: ClientOptions & { quietSdkLog?: boolean } = {}): ContextClient {
  if (options.quietSdkLog ?? true) quietSdkLog();
  return new ContextClient(nodeTransport(room), options);
}

export function nodeTransport(room: Room): Transport {
  const local = () => {
    if (room.localParticipant === undefined) throw new Error('the room is not connected');
    return room.localParticipant;
  };
  const sends = new Limiter(MAX_SENDS);
  return {
    get identity() {
      return local().identity;
    },
    sendText: (text, { topic, destination, attributes }) => sends.run(async () => {
      await local().sendText(text, {
        topic, destinationIdentities: [destination], attributes, compress: false, // small JSON
      });
    }),
    publishData: (payload, { topic, destination }) => sends.run(() =>
      local().publishData(payload, { reliable: true, topic, destination_identities: [destination] })),
    onText: (topic, handler) => sharedTextHandler(room as unknown as StreamRoom, topic, handler),
    onData: (topic, handler) => {
      const listener = (payload: Uint8Array, participant?: { identity: string }, _kind?: unknown,
        packetTopic?: string) => {
        if (packetTopic === topic) handler(payload, participant?.identity ?? '');
      };
      room.on('dataReceived', listener);
      return () => void room.off('dataReceived', listener);
    },
  };
}

/** At most `limit` of the given tasks run at once; the rest wait their turn in order. */
class Limiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((go) => this.queue.push(go));
    this.running += 1;
    try {
      return await task();
    } finally {
      this.running -= 1;
      this.queue.shift()?.();
    }
  }
}

let quieted = false;

/** rtc-node logs at `debug` to stdout unless NODE_ENV=production, and does not export its
 * logger: reach it through the package's own file, and set it to `warn` (once, and only
 * when the application has not set NODE_ENV=production, which already quiets it). */
export function quietSdkLog(level = 'warn'): void {
  if (quieted || process.env.NODE_ENV === 'production') return;
  quieted = true;
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@livekit/rtc-node'); // .../dist/index.cjs
    const { log } = require(join(dirname(entry), 'log.cjs')) as { log?: { level: string } };
    if (log !== undefined) log.level = level;
  } catch {
    // another layout of the package: its log stays as it is
  }
}
