// A plain @livekit/rtc-node echo in a process of its own, for benchmarks/room_bench.py:
// the floor's answerer of bench/room.mjs, but where the bot is, outside the asker's
// process. Input (one JSON argument): {url, token, sizes: {name: bytes}}; it answers a
// key (a text stream or a data packet on topic `ask`) with that many bytes as a text
// stream on `answer`, prints `ready` once connected, and leaves when stdin closes.
import { Room, dispose } from '@livekit/rtc-node';
import { quietSdkLog } from '../dist/node.js';

quietSdkLog();
const input = JSON.parse(process.argv[2]);
const line = 'def handler(request):  # a line of plausible source text\n';
const textOf = (size) => line.repeat(Math.ceil(size / line.length) + 1).slice(0, size);
const answers = Object.fromEntries(
  Object.entries(input.sizes).map(([name, size]) => [name, textOf(size)]),
);
const room = new Room();
const answer = (key, identity) => room.localParticipant.sendText(answers[key], {
  topic: 'answer', destinationIdentities: [identity],
});
room.registerTextStreamHandler('ask', async (reader, { identity }) => {
  await answer(await reader.readAll(), identity);
});
room.on('dataReceived', (payload, participant, _kind, topic) => {
  if (topic === 'ask' && participant !== undefined) {
    void answer(new TextDecoder().decode(payload), participant.identity);
  }
});
await room.connect(input.url, input.token, { autoSubscribe: false, dynacast: false });
console.log('ready');
process.stdin.resume();
await new Promise((done) => process.stdin.on('end', done));
await room.disconnect();
await dispose();
