// The Node half of benchmarks/room_bench.py: file round trips with the TypeScript client
// on @livekit/rtc-node, beside a plain rtc-node echo of the same bytes (two participants
// of this process) and beside the Python benchmark's hidden answerer, placed as the bot is.
//
// Input (one JSON argument): {url, trials, paceMs, namedMs, sizes: {name: bytes},
// answererIdentity, hiddenIdentity, pythonIdentity, mimicIdentity, apartIdentity, tokens:
// {client, asker, answerer, hiddenAsker, pythonAsker, mimicClient, mimicAsker,
// apartAnswerer, apartAsker}}; the bot serves `bench/<name without spaces>.txt`, the
// answerers answer `<name>` with that many bytes. The plain echo is asked by a text stream (`floor`) and by one data packet
// (`byPacket`), as our client asks once the bot names it; everyone waits `namedMs` first.
// `python`: the Python benchmark's plain answerer (listed, the SDK's default options)
// asked by one data packet from here: what a Python SDK echo costs a Node asker.
// `apartStream` / `apartPacket`: the plain echo in a Node process of its own (echo.mjs),
// as the bot is, asked both ways; `mimic`: our client against room_bench.Mimic (a Python
// answerer placed as the bot, answering with the bot's bytes, none of its code), and
// `mimicPlain`: a plain packet carrying our client's request to it, read as plain text.
// Output: one JSON line, {name: {ours, floor, byPacket, python, hidden, mimic, mimicPlain,
// apartStream, apartPacket}}, lists of seconds.
import { Room, dispose } from '@livekit/rtc-node';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
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
async function asker(token, to, topics = { ask: 'ask', answer: 'answer' }) {
  const room = await connect(token);
  let received = null;
  room.registerTextStreamHandler(topics.answer, async (reader) => {
    const text = await reader.readAll();
    received?.(text);
  });
  const ask = (key, send) => new Promise((resolve) => {
    received = resolve;
    void send(key);
  });
  const local = room.localParticipant;
  return {
    byStream: (key) => ask(key, (k) => local.sendText(k, {
      topic: topics.ask, destinationIdentities: [to],
    })),
    byPacket: (key) => ask(key, (k) => local.publishData(new TextEncoder().encode(k), {
      reliable: true, topic: topics.ask, destination_identities: [to],
    })),
  };
}

const client = forNode(await connect(input.tokens.client));
await client.overview();

const answers = Object.fromEntries(
  Object.entries(input.sizes).map(([name, size]) => [name, textOf(size)]),
);
const answerer = await connect(input.tokens.answerer);
const answer = (key, identity) => answerer.localParticipant.sendText(answers[key], {
  topic: 'answer', destinationIdentities: [identity],
});
answerer.registerTextStreamHandler('ask', async (reader, { identity }) => {
  await answer(await reader.readAll(), identity);
});
answerer.on('dataReceived', (payload, participant, _kind, topic) => {
  if (topic === 'ask' && participant !== undefined) {
    void answer(new TextDecoder().decode(payload), participant.identity);
  }
});
const askPlain = await asker(input.tokens.asker, input.answererIdentity);
const askHidden = await asker(input.tokens.hiddenAsker, input.hiddenIdentity);
const askPython = await asker(input.tokens.pythonAsker, input.pythonIdentity);
// The same Node echo in a process of its own (bench/echo.mjs), as the bot is: how much of
// the floor's lead is its never leaving this process.
const apart = spawn(process.execPath, [
  new URL('echo.mjs', import.meta.url).pathname,
  JSON.stringify({ url: input.url, token: input.tokens.apartAnswerer, sizes: input.sizes }),
], { stdio: ['pipe', 'pipe', 'inherit'] });
await once(apart.stdout, 'data'); // `ready`
const askApart = await asker(input.tokens.apartAsker, input.apartIdentity);
// The Python answerer placed as the bot with the bot's bytes (room_bench.Mimic): asked by
// our client, and by a plain packet carrying the very request our client sends once named.
const mimicClient = forNode(await connect(input.tokens.mimicClient), {
  botIdentity: input.mimicIdentity, prefetch: false,
});
const askMimic = await asker(input.tokens.mimicAsker, input.mimicIdentity, {
  ask: 'context-bot/request', answer: 'context-bot/response',
});
let mimicIds = 0;
const mimicRequest = (path) => JSON.stringify({
  v: 1, id: `plain-${(mimicIds += 1)}`, method: 'file', params: { path, knowledge: false },
  reply_to: 'node-asker', answer_as: 'stream',
});
await sleep(input.namedMs); // the server's participant tick: everyone named to everyone

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
  await askPlain.byStream(name);
  await askPlain.byPacket(name);
  await askHidden.byStream(name);
  await askPython.byPacket(name);
  await askApart.byStream(name);
  await askApart.byPacket(name);
  const apartStream = [];
  const apartPacket = [];
  await mimicClient.file(path, { knowledge: false });
  await askMimic.byPacket(mimicRequest(path));
  const python = [];
  const mimic = [];
  const mimicPlain = [];
  const ours = [];
  const floor = [];
  const byPacket = [];
  const hidden = [];
  for (let n = 0; n < input.trials; n += 1) {
    // The same pause before each, so none starts warmer than the others.
    await sleep(input.paceMs);
    const answer = await timed(ours, () => client.file(path, { knowledge: false }));
    if (answer.content.text !== answers[name]) throw new Error(`${path}: not the bytes served`);
    await sleep(input.paceMs);
    await timed(floor, () => askPlain.byStream(name));
    await sleep(input.paceMs);
    await timed(byPacket, () => askPlain.byPacket(name));
    await sleep(input.paceMs);
    await timed(hidden, () => askHidden.byStream(name));
    await sleep(input.paceMs);
    await timed(python, () => askPython.byPacket(name));
    await sleep(input.paceMs);
    await timed(apartStream, () => askApart.byStream(name));
    await sleep(input.paceMs);
    await timed(apartPacket, () => askApart.byPacket(name));
    await sleep(input.paceMs);
    await timed(mimic, () => mimicClient.file(path, { knowledge: false }));
    const request = mimicRequest(path);
    await sleep(input.paceMs);
    await timed(mimicPlain, () => askMimic.byPacket(request));
  }
  results[name] = { ours, floor, byPacket, python, hidden, mimic, mimicPlain, apartStream, apartPacket };
}
console.log(JSON.stringify(results));
client.close();
mimicClient.close();
apart.stdin.end();
await once(apart, 'exit');
await Promise.all(rooms.map((room) => room.disconnect()));
await dispose();
