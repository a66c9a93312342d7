// The client over `livekit-client` in a browser. The room is taken by the shape this
// module uses, not by livekit-client's class, so a page that bundles its own copy of the
// SDK passes its `Room` as it is.

import { ContextClient, type ClientOptions } from './client.js';
import { sharedTextHandler, type StreamRoom, type Transport } from './transport.js';

export * from './index.js';

/** Requests are small JSON: deflating them costs a round of the compression stream and
 * saves next to nothing. */
const COMPRESS = false;

/** What of livekit-client's `Room` the client uses. */
export interface BrowserRoom extends StreamRoom {
  localParticipant: {
    identity: string;
    sendText(text: string, options: {
      topic: string; destinationIdentities: string[]; attributes: Record<string, string>;
      compress: boolean;
    }): Promise<unknown>;
    publishData(payload: Uint8Array, options: {
      reliable: boolean; topic: string; destinationIdentities: string[];
    }): Promise<void>;
  };
  on(event: 'dataReceived', listener: DataListener): unknown;
  off(event: 'dataReceived', listener: DataListener): unknown;
}

type DataListener = (
  payload: Uint8Array, participant?: { identity: string }, kind?: unknown, topic?: string,
) => void;

/** A client for a `livekit-client` `Room`; create it before `connect` to catch every push. */
export function forBrowser(room: BrowserRoom, options: ClientOptions = {}): ContextClient {
  return new ContextClient(browserTransport(room), options);
}

export function browserTransport(room: BrowserRoom): Transport {
  return {
    get identity() {
      return room.localParticipant.identity;
    },
    sendText: async (text, { topic, destination, attributes }) => {
      await room.localParticipant.sendText(text, {
        topic, destinationIdentities: [destination], attributes, compress: COMPRESS,
      });
    },
    publishData: (payload, { topic, destination }) => room.localParticipant.publishData(
      payload, { reliable: true, topic, destinationIdentities: [destination] },
    ),
    onText: (topic, handler) => sharedTextHandler(room, topic, handler),
    onData: (topic, handler) => {
      const listener: DataListener = (payload, participant, _kind, packetTopic) => {
        if (packetTopic === topic) handler(payload, participant?.identity ?? '');
      };
      room.on('dataReceived', listener);
      return () => void room.off('dataReceived', listener);
    },
  };
}
