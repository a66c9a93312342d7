// What the client needs from a LiveKit SDK: the seam between the protocol (client.ts) and
// `livekit-client` (browser.ts) or `@livekit/rtc-node` (node.ts). An adapter reads text
// streams whole and names the sender as the SDK reports it, with the hidden bot's blank
// identity as `''` whatever the SDK gives for it (rtc-node: no participant at all).

export interface Transport {
  /** This participant's identity: the `reply_to` of a data-packet request. */
  readonly identity: string;
  sendText(
    text: string,
    options: { topic: string; destination: string; attributes: Record<string, string> },
  ): Promise<void>;
  /** A reliable data packet to one participant. */
  publishData(payload: Uint8Array, options: { topic: string; destination: string }): Promise<void>;
  /** Every text stream on `topic`, read whole, with its attributes; returns what stops it. */
  onText(topic: string, handler: TextHandler): () => void;
  /** Every data packet on `topic`; returns what stops it. */
  onData(topic: string, handler: (payload: Uint8Array, sender: string) => void): () => void;
}

interface TextReader {
  readonly info?: { attributes?: Record<string, string> };
  readAll(): Promise<string>;
}

/** The part of both SDKs' `Room` that text-stream handlers use. */
export interface StreamRoom {
  registerTextStreamHandler(
    topic: string,
    handler: (reader: TextReader, sender: { identity: string }) => void,
  ): void;
  unregisterTextStreamHandler(topic: string): void;
}

export type TextHandler = (
  text: string, sender: string, attributes: Readonly<Record<string, string>>,
) => void;

const registries = new WeakMap<StreamRoom, Map<string, Set<TextHandler>>>();

/** One SDK registration per topic and room, shared by every client in that room: both SDKs
 * throw on a second `registerTextStreamHandler` for a topic, and unregistering one client's
 * handler would silence the others. */
export function sharedTextHandler(room: StreamRoom, topic: string, handler: TextHandler): () => void {
  let topics = registries.get(room);
  if (topics === undefined) registries.set(room, (topics = new Map()));
  let handlers = topics.get(topic);
  if (handlers === undefined) {
    const set = (handlers = new Set());
    topics.set(topic, set);
    room.registerTextStreamHandler(topic, (reader, sender) => {
      const attributes = reader.info?.attributes ?? {};
      reader.readAll().then(
        (text) => set.forEach((each) => each(text, sender?.identity ?? '', attributes)),
        () => {}, // cut off (the sender left, the room reconnected): a resend follows
      );
    });
  }
  handlers.add(handler);
  return () => {
    handlers.delete(handler);
    if (handlers.size === 0 && topics.get(topic) === handlers) {
      topics.delete(topic);
      room.unregisterTextStreamHandler(topic);
    }
  };
}
