// Drives Debian's Chromium for tests/integration/test_page.py, one command per stdin line.
//
// pytest keeps the assertions and the app; this script only does what Playwright does:
// each line is `{"id": n, "op": "...", ...}` and gets one answer line
// `{"id": n, "ok": true, "value": ...}` or `{"id": n, "ok": false, "error": "..."}`.
// playwright-core comes from web/node_modules (scripts/setup-browser); it never downloads
// a browser: the executable is /usr/bin/chromium, started with the flags this machine's
// closed network needs (no background networking, no component updates, no QUIC).

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const TIMEOUT_MS = 15000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const context = await browser.newContext({
  viewport: { width: 1280, height: 860 },
  colorScheme: 'light',
});
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT_MS);
page.on('console', (line) => process.stderr.write(`[page ${line.type()}] ${line.text()}\n`));
page.on('pageerror', (error) => process.stderr.write(`[page error] ${error.stack ?? error}\n`));

// `POST /token` answers held back until the test lets them through.
const held = [];

// The signal WebSockets to LiveKit, routed through Playwright so a test can cut them.
const sockets = new Set();
let refuseUntil = 0;

const cut = (ws, server) =>
  Promise.all([ws.close({ code: 4000, reason: 'test: network down' }), server.close()]);

const ops = {
  goto: ({ url }) => page.goto(url).then(() => null),
  fill: ({ selector, value }) => page.fill(selector, value),
  click: ({ selector }) => page.click(selector),
  press: ({ key, selector }) => (selector ? page.press(selector, key) : page.keyboard.press(key)),
  type: ({ text }) => page.keyboard.type(text),
  /** Waits for the first match (with `text` in it, if given) to be visible; its text. */
  wait: async ({ selector, text, timeout }) => {
    let locator = page.locator(selector);
    if (text !== undefined) locator = locator.filter({ hasText: text });
    await locator.first().waitFor({ state: 'visible', timeout: timeout ?? TIMEOUT_MS });
    return locator.first().innerText();
  },
  text: ({ selector }) => page.locator(selector).first().innerText(),
  count: ({ selector }) => page.locator(selector).count(),
  eval: ({ expression }) => page.evaluate(expression),
  screenshot: ({ path }) => page.screenshot({ path, animations: 'disabled' }).then(() => path),
  viewport: ({ width, height }) => page.setViewportSize({ width, height }),
  /** From now on the page's token requests reach the endpoint, but not their answers. */
  holdTokens: () =>
    page.route('**/token', async (route) => {
      held.push({ route, response: await route.fetch() });
    }),
  heldTokens: () => held.length,
  releaseTokens: async () => {
    for (const { route, response } of held.splice(0)) await route.fulfill({ response });
    await page.unroute('**/token');
  },
  routeSignal: () =>
    page.routeWebSocket(/\/rtc/, (ws) => {
      const server = ws.connectToServer();
      if (Date.now() < refuseUntil) setTimeout(() => cut(ws, server), 50);
      else sockets.add([ws, server]);
    }),
  /** Closes every signal socket, both ways, and cuts new ones for `ms`: the network drops. */
  dropSignal: async ({ ms }) => {
    refuseUntil = Date.now() + ms;
    const open = [...sockets];
    sockets.clear();
    await Promise.all(open.map(([ws, server]) => cut(ws, server)));
    return open.length;
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { id, op, ...args } = JSON.parse(line);
  if (op === 'close') break;
  let answer;
  try {
    if (!(op in ops)) throw new Error(`unknown op ${op}`);
    answer = { id, ok: true, value: (await ops[op](args)) ?? null };
  } catch (error) {
    answer = { id, ok: false, error: String(error?.message ?? error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await browser.close();
process.exit(0); // stdin may still be open; the caller is done with us
