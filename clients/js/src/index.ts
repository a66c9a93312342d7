// @context-bot/client: the context-bot protocol (PROTOCOL.md) for TypeScript.
// `forNode(room)` (`@context-bot/client/node`) or `forBrowser(room)`
// (`@context-bot/client/browser`) make a `ContextClient`; this module is what both share.

export * from './client.js';
export * from './errors.js';
export type * from './types.js';
export type { Transport } from './transport.js';
