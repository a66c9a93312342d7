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
  /** Clicks the middle of the first occurrence of `text` in the text under `selector`
   * (scrolled into view first), holding `modifier` (e.g. 'Control') if given: a click on
   * a word of the source, which has no element of its own. */
  clickText: async ({ selector, text, modifier }) => {
    const box = await page.evaluate(([sel, wanted]) => {
      const root = document.querySelector(sel);
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = node.textContent.indexOf(wanted);
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + wanted.length);
        // Bring the words themselves to the middle of their scrolling box (the element
        // around them can be a whole file, taller than the view), then of the window.
        const box = node.parentElement.closest('.code') ?? document.scrollingElement;
        const first = range.getBoundingClientRect();
        const frame = box.getBoundingClientRect();
        box.scrollTop += first.top - (frame.top + frame.height / 2);
        box.scrollLeft += first.left - (frame.left + frame.width / 2);
        box.scrollIntoView({ block: 'nearest' });
        const rect = range.getBoundingClientRect();
        return { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 };
      }
      return null;
    }, [selector, text]);
    if (box === null) throw new Error(`no "${text}" under ${selector}`);
    if (modifier) await page.keyboard.down(modifier);
    await page.mouse.click(box.x, box.y);
    if (modifier) await page.keyboard.up(modifier);
  },
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
