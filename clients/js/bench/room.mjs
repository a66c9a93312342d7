// The Node half of benchmarks/room_bench.py: file round trips with the TypeScript client
// on @livekit/rtc-node, beside a plain rtc-node echo of the same bytes (two participants
// of this process) and beside the Python benchmark's hidden answerer, placed as the bot is.
//
// Input (one JSON argument): {url, trials, paceMs, sizes: {name: bytes}, answererIdentity,
// hiddenIdentity, tokens: {client, asker, answerer, hiddenAsker}}; the bot serves
// `bench/<name without spaces>.txt`, the answerers answer `<name>` with that many bytes.
// Output: one JSON line, {name: {ours, floor, hidden}}, each a list of seconds.
import { Room, dispose } from '@livekit/rtc-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { forNode, quietSdkLog } from '../dist/node.js';

quietSdkLog();
const input = JSON.parse(process.argv[2]);
const line = 'def handler(request):  # a line of plausible source text\n';
const textOf = (size) => line.repeat(Math.ceil(size / line.length) + 1).slice(0, size);
const rooms = [];

async function connect(token) {
  const room = new Room();
  await room.connect(input.url, token, { autoSubscribe: false, dynacast: false });
  rooms.push(room);
  return room;
}

/** A participant that asks `to` with a short key and waits for the bytes. */
async function asker(token, to) {
  const room = await connect(token);
  let received = null;
  room.registerTextStreamHandler('answer', async (reader) => {
    const text = await reader.readAll();
    received?.(text);
  });
  return (key) => new Promise((resolve) => {
    received = resolve;
    void room.localParticipant.sendText(key, { topic: 'ask', destinationIdentities: [to] });
  });
}

const client = forNode(await connect(input.tokens.client));
await client.overview();

const answers = Object.fromEntries(
  Object.entries(input.sizes).map(([name, size]) => [name, textOf(size)]),
);
const answerer = await connect(input.tokens.answerer);
answerer.registerTextStreamHandler('ask', async (reader, { identity }) => {
  const key = await reader.readAll();
  await answerer.localParticipant.sendText(answers[key], {
    topic: 'answer', destinationIdentities: [identity],
  });
});
const askPlain = await asker(input.tokens.asker, input.answererIdentity);
const askHidden = await asker(input.tokens.hiddenAsker, input.hiddenIdentity);

async function timed(list, run) {
  const started = performance.now();
  const value = await run();
  list.push((performance.now() - started) / 1000);
  return value;
}

const results = {};
for (const name of Object.keys(input.sizes)) {
  const path = `bench/${name.replace(' ', '')}.txt`;
  await client.file(path, { knowledge: false }); // warm
  await askPlain(name);
  await askHidden(name);
  const ours = [];
  const floor = [];
  const hidden = [];
  for (let n = 0; n < input.trials; n += 1) {
    // The same pause before each, so none starts warmer than the others.
    await sleep(input.paceMs);
    const answer = await timed(ours, () => client.file(path, { knowledge: false }));
    if (answer.content.text !== answers[name]) throw new Error(`${path}: not the bytes served`);
    await sleep(input.paceMs);
    await timed(floor, () => askPlain(name));
    await sleep(input.paceMs);
    await timed(hidden, () => askHidden(name));
  }
  results[name] = { ours, floor, hidden };
}
console.log(JSON.stringify(results));
client.close();
await Promise.all(rooms.map((room) => room.disconnect()));
await dispose();
