// The TypeScript client against the real bot and livekit-server, over @livekit/rtc-node:
// the scenarios the Python client's integration tests cover.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { describe, test } from 'node:test';
import {
  ContextClient, InvalidPath, NotFound, PathDenied, RequestError, UnknownMethod, forNode,
  nodeTransport,
} from '../dist/node.js';
import { join, repo } from './room.mjs';

const onDisk = (path) => readFileSync(joinPath(repo, path), 'utf8');

test('the overview arrives on joining, with its knowledge version', async () => {
  const client = forNode(await join());
  const overview = await client.overview();
  assert.match(overview, /context-bot/i);
  assert.equal(typeof client.knowledgeVersion, 'string');
  assert.ok(client.knowledgeVersion.length > 0);
  client.close();
});

test('file: the document, the whole file, and a range with the whole file\'s size', async () => {
  const client = forNode(await join(), { prefetch: false });
  const whole = await client.file('context_bot/client.py');
  assert.equal(whole.content.text, onDisk('context_bot/client.py'));
  assert.equal(whole.knowledge.kind, 'file');
  assert.equal(whole.knowledge.source, 'context_bot/client.py.md');
  const range = await client.file('context_bot/client.py', { lines: [2, 4], knowledge: false });
  assert.equal(range.content.text, onDisk('context_bot/client.py').split('\n').slice(1, 4).join('\n') + '\n');
  assert.deepEqual(range.content.lines, [2, 4]);
  assert.equal(range.content.size, statSync(joinPath(repo, 'context_bot/client.py')).size);
  assert.equal(range.knowledge, null);
  client.close();
});

test('search, list (folders first), grep and symbols', async () => {
  const client = forNode(await join(), { prefetch: false });
  const hits = await client.search('text stream handler');
  assert.ok(hits.length > 0);
  assert.ok(hits.every((hit) => hit.score > 0 && hit.score <= 1));

  const listing = await client.list('', { depth: 1 });
  const kinds = listing.entries.map((entry) => entry.kind);
  assert.ok(kinds.includes('dir') && kinds.includes('file'));
  assert.equal(kinds.lastIndexOf('dir') < kinds.indexOf('file'), true, 'folders come first');

  const grep = await client.grep('class ContextClient', { glob: '*.py' });
  assert.deepEqual(grep.matches.map((m) => m.path), ['context_bot/client.py']);
  const line = onDisk('context_bot/client.py').split('\n').indexOf(grep.matches[0].text) + 1;
  assert.equal(grep.matches[0].line, line);

  const symbols = await client.symbols('ContextClient', { kind: 'class' });
  assert.equal(symbols[0].name, 'ContextClient');
  assert.equal(symbols[0].path, 'context_bot/client.py');
  assert.equal(symbols[0].line, line);
  const outline = await client.outline('context_bot/client.py');
  assert.ok(outline.symbols.some((s) => s.name === 'ContextClient'));
  const references = await client.references('ContextClient');
  assert.ok(references.total > 0);
  client.close();
});

test('errors are typed, with the protocol\'s codes', async () => {
  const client = forNode(await join(), { prefetch: false });
  await assert.rejects(client.file('no/such/file.py'), (error) => {
    assert.ok(error instanceof NotFound && error instanceof RequestError);
    assert.equal(error.code, 4104);
    assert.equal(error.codeName, 'not_found');
    return true;
  });
  await assert.rejects(client.file('../outside'), (e) => e instanceof InvalidPath && e.code === 4100);
  await assert.rejects(client.file('.env'), (e) => e instanceof PathDenied && e.code === 4103);
  await assert.rejects(client.request('no_such_method'), (e) => e instanceof UnknownMethod && e.code === 4004);
  client.close();
});

/** The real transport, with every send recorded and the first `drop` sends lost. */
function lossy(room, drop) {
  const real = nodeTransport(room);
  const sent = [];
  const kinds = []; // 'stream' or 'packet', one per send
  return {
    sent,
    kinds,
    get identity() { return real.identity; },
    sendText(text, options) {
      sent.push(JSON.parse(text));
      kinds.push('stream');
      return sent.length <= drop ? Promise.resolve() : real.sendText(text, options);
    },
    publishData(payload, options) {
      sent.push(JSON.parse(new TextDecoder().decode(payload)));
      kinds.push('packet');
      return sent.length <= drop ? Promise.resolve() : real.publishData(payload, options);
    },
    onText: real.onText,
    onData: real.onData,
  };
}

test('a lost request is sent again under the same id', async () => {
  const transport = lossy(await join(), 1);
  const client = new ContextClient(transport, { prefetch: false, attemptMs: 300 });
  const answer = await client.list('context_bot', { depth: 1 });
  assert.equal(answer.prefix, 'context_bot');
  assert.ok(transport.sent.length >= 2);
  assert.equal(new Set(transport.sent.map((body) => body.id)).size, 1);
  client.close();
});

// These three wait, each on its own identity: for the server's participant tick (up to
// 3 s) or for a refused request's `retry_after_ms`. Run side by side, the waits overlap
// instead of adding up (about 7 s in a row); nothing one does reaches another's identity.
describe('waiting on the server or a limit', { concurrency: true }, () => {
  test('once the bot names us, requests go as one data packet, answered as a stream', async () => {
    const transport = lossy(await join(), 0);
    const client = new ContextClient(transport, { prefetch: false });
    const expected = onDisk('README.md');
    // The bot names a newcomer on the server's next participant tick (within about 3 s);
    // until an answer says so (`named`), requests go as text streams.
    for (let n = 0; n < 80 && transport.kinds.at(-1) !== 'packet'; n += 1) {
      const answer = await client.file('README.md', { knowledge: false });
      assert.equal(answer.content.text, expected);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(transport.kinds[0], 'stream');
    const first = transport.kinds.indexOf('packet');
    assert.ok(first > 0, `never sent a packet: ${transport.kinds}`);
    assert.equal(transport.sent[first].answer_as, 'stream');
    assert.equal(transport.sent[first].reply_to, transport.identity);
    const answer = await client.file('README.md', { knowledge: false });
    assert.equal(answer.content.text, expected);
    assert.deepEqual(transport.kinds.slice(first), ['packet', 'packet']);
    client.close();
  });

  test('a rate-limited request is waited out and sent again', async () => {
    const transport = lossy(await join(), 0);
    const refusals = [];
    const onText = transport.onText;
    transport.onText = (topic, handler) => onText(topic, (text, sender, attributes) => {
      const answer = JSON.parse(text);
      if (answer.error?.code === 4029) refusals.push(answer);
      handler(text, sender, attributes);
    });
    const client = new ContextClient(transport, { prefetch: false });
    // Requests of about 5 KiB (5 tokens each) sent past the client, their answers not
    // waited for, spend the burst of 40 tokens and run the bucket into its debt (-40,
    // two seconds of refill): the client's request sent then is refused (4029) with
    // `retry_after_ms`, waited out, and sent again. They are sent one by one, each whole
    // (one reliable, ordered data channel), until one of them is refused: then the
    // bucket is in debt, and the client's request is sent, more of them after it until
    // it is refused. Sent side by side with the client's, one could reach the bot after
    // it (fresh-clone CI, once); sixteen sent first were all served on a busy machine,
    // which read them over more than two seconds while the bucket refilled.
    const globs = Array.from({ length: 16 }, (_, g) => `no-such-${g}/${'x'.repeat(240)}`);
    const big = (id) => JSON.stringify({ v: 1, id, method: 'grep', params: { pattern: 'y'.repeat(1000), glob: globs } });
    let drained = 0;
    const drainUntil = async (done) => {
      for (const until = Date.now() + 15_000; !done() && Date.now() < until; drained += 1) {
        await transport.sendText(big(`drain-${drained}`), {
          topic: 'context-bot/request', destination: client.botIdentity,
          attributes: { id: `drain-${drained}`, method: 'grep' },
        });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await drainUntil(() => refusals.length > 0);
    const asked = client.grep('anything', { glob: globs });
    await drainUntil(() => refusals.some((r) => !r.id.startsWith('drain-')));
    const answer = await asked;
    assert.equal(answer.files_total, 0);
    const ours = transport.sent.filter((body) => !body.id.startsWith('drain-'));
    const refused = refusals.filter((r) => r.id === ours[0].id);
    assert.ok(refused.length > 0, `the client's request was refused at first (${drained} sent past it)`);
    assert.ok(refused.every((r) => Number.isInteger(r.error.retry_after_ms) && r.error.retry_after_ms >= 1));
    assert.equal(new Set(ours.map((body) => body.id)).size, 1, 'sent again under the same id');
    assert.ok(ours.length > refused.length);
    client.close();
  });

  test('two data-packet answers in flight at once are both reassembled', async () => {
    const room = await join();
    const client = forNode(room, { prefetch: false, dataPackets: true });
    const [protocol, readme] = await Promise.all([
      client.file('PROTOCOL.md', { knowledge: false }),
      client.file('README.md', { knowledge: false }),
    ]);
    // Both answers are several parts of 6,000 bytes, in flight at once: interleaved.
    assert.ok(protocol.content.text.length > 18_000 && readme.content.text.length > 18_000);
    assert.equal(protocol.content.text, onDisk('PROTOCOL.md'));
    assert.equal(readme.content.text, onDisk('README.md'));
    client.close();
  });
});

test('a knowledge change arrives as events: knowledge_changed, then the new overview', async () => {
  const client = forNode(await join());
  const before = (await client.overviewAnswer()).knowledge_version;
  const changed = new Promise((resolve) => client.on('knowledge_changed', resolve));
  const document = joinPath(repo, 'knowledge', 'context_bot', 'client.py.md');
  writeFileSync(document, `${readFileSync(document, 'utf8')}\n## Seen from Node\n\nEdited.\n`);
  const update = await changed;
  assert.equal(update.previous_version, before);
  assert.ok(update.changed.includes('context_bot/client.py'), JSON.stringify(update));
  const overview = await new Promise((resolve) => {
    if (client.knowledgeVersion === update.knowledge_version) resolve(client.knowledgeVersion);
    client.on('overview', (o) => o.knowledge_version === update.knowledge_version && resolve(o.knowledge_version));
  });
  assert.equal(overview, update.knowledge_version);
  assert.notEqual(update.knowledge_version, before);
  client.close();
});

test('two clients can share one rtc-node room', async () => {
  const room = await join();
  const first = forNode(room, { prefetch: false });
  const second = forNode(room, { prefetch: false });
  const [a, b] = await Promise.all([first.list('', { depth: 1 }), second.overviewAnswer()]);
  assert.equal(a.prefix, '');
  assert.equal(typeof b.text, 'string');
  first.close();
  assert.equal((await second.list('', { depth: 1 })).prefix, '');
  second.close();
});

test('a push from a named participant is ignored: only the hidden bot sends blank', async () => {
  const room = await join();
  const client = forNode(room, { prefetch: false });
  const pushes = [];
  client.on('push', (push) => pushes.push(push));
  const forger = await join();
  const forged = JSON.stringify({ v: 1, event: 'overview', data: { knowledge_version: 'forged', text: 'FORGED' } });
  await forger.localParticipant.sendText(forged, {
    topic: 'context-bot/push', destinationIdentities: [room.localParticipant.identity],
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  // The bot's own push may come meanwhile (we did not ask): only the forgery must not.
  assert.deepEqual(pushes.filter((push) => push.data.text === 'FORGED'), []);
  assert.notEqual(client.knowledgeVersion, 'forged');
  const overview = await client.overview();
  assert.notEqual(overview, 'FORGED');
  assert.match(overview, /context-bot/);
  client.close();
});
