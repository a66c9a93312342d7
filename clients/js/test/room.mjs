// Joining the real room of tests/integration/test_js_client.py, which starts livekit-server
// and the bot and hands over, in the environment:
//   CONTEXT_BOT_TEST_URL     the LiveKit URL
//   CONTEXT_BOT_TEST_TOKENS  {"identity": "join token", ...}, tokens from the bot's POST /token
//   CONTEXT_BOT_TEST_REPO    the repository the bot serves (a copy the tests may edit)
import { Room, dispose } from '@livekit/rtc-node';
import { quietSdkLog } from '../dist/node.js';
import { after } from 'node:test';

const url = process.env.CONTEXT_BOT_TEST_URL;
const tokens = JSON.parse(process.env.CONTEXT_BOT_TEST_TOKENS ?? '{}');
export const repo = process.env.CONTEXT_BOT_TEST_REPO;
if (!url || !repo || Object.keys(tokens).length === 0) {
  throw new Error('run by tests/integration/test_js_client.py, which sets CONTEXT_BOT_TEST_*');
}

quietSdkLog(); // before the first connect, which logs too

const rooms = [];
const unused = Object.keys(tokens);

/** A connected `Room` under an identity no other test used. */
export async function join() {
  const identity = unused.shift();
  if (identity === undefined) throw new Error('no token left: ask test_js_client.py for more');
  const room = new Room();
  await room.connect(url, tokens[identity], { autoSubscribe: false, dynacast: false });
  rooms.push(room);
  return room;
}

after(async () => {
  await Promise.all(rooms.map((room) => room.disconnect()));
  await dispose();
});
