// The developer page: join a room through `POST /token`, then browse the bot's knowledge.
//
// State lives here; clients/js (the TypeScript client) speaks to the bot, tree.ts lists
// folders, files.ts lays
// out a file, render.ts turns Markdown and code into safe HTML. Every failure a developer
// can meet has a message of its own in `#alerts`, keyed by what failed (`token`, `bot`,
// `connection`), so one clearing never hides another.

import {
  ConnectionState, DisconnectReason, LogLevel, Room, RoomEvent, setLogLevel,
} from 'livekit-client';
import { byId, h, html } from './dom';
import { fileHead, fileView, showLine, type FileAnswer } from './files';
import { GREP_LIMIT, grepResults, type GrepAnswer } from './grep';
import {
  ContextTimeout, RequestError, forBrowser, type ContextClient, type KnowledgeChanged,
} from '../../clients/js/src/browser';
import type { SymbolsAnswer } from '../../clients/js/src/types';
import { fileHref, markdown, snippet, symbolHref } from './render';
import { FileTree, type Listing } from './tree';

interface TokenAnswer {
  token: string;
  room_name: string;
  participant_identity: string;
  livekit_url: string;
  bot_identity?: string;
}

interface Overview {
  knowledge_version: string;
  text: string;
}

interface Hit {
  path: string;
  kind: string;
  feature?: string | null;
  score: number;
  snippet: string;
}

setLogLevel(LogLevel.warn); // livekit-client's info lines would drown the page's own
const params = new URLSearchParams(location.search);
const NAME_KEY = 'context-bot.name';
const SEARCH_DELAY_MS = 250;

const ui = {
  join: byId<HTMLFormElement>('join'),
  room: byId<HTMLInputElement>('room'),
  name: byId<HTMLInputElement>('name'),
  session: byId('session'),
  where: byId('where'),
  status: byId('status'),
  leave: byId<HTMLButtonElement>('leave'),
  alerts: byId('alerts'),
  notices: byId('notices'),
  app: byId('app'),
  search: byId<HTMLInputElement>('search'),
  searchForm: byId<HTMLFormElement>('search-form'),
  grepMode: byId<HTMLInputElement>('grep-mode'),
  grepRegex: byId<HTMLInputElement>('grep-regex'),
  results: byId('results'),
  tree: byId('tree'),
  main: byId('main'),
  overview: byId('overview'),
  overviewView: byId('overview-view'),
  fileView: byId('file-view'),
};

let room: Room | null = null;
let bot: ContextClient | null = null;
let tree: FileTree | null = null;
let leaving = false;
let openPath: string | null = null;
const superseded = new Set<string>();

// -- messages --------------------------------------------------------------------------

type AlertKey = 'token' | 'bot' | 'connection';

type Action = [label: string, run: () => void];

/** Shows the message for `key`, replacing the previous one for the same key. */
function showAlert(
  key: AlertKey, level: 'error' | 'warning', title: string, detail: string, action?: Action,
): void {
  clearAlert(key);
  const button = action ? h('button', { type: 'button', onclick: action[1] }, action[0]) : null;
  const role = level === 'error' ? 'alert' : 'status';
  ui.alerts.append(h('div', { class: `alert ${level}`, 'data-alert': key, role },
    h('strong', {}, title), ' ', h('span', {}, detail), button));
}

function clearAlert(key: AlertKey): void {
  ui.alerts.querySelector(`[data-alert="${key}"]`)?.remove();
}

function describe(error: unknown): string {
  if (error instanceof RequestError || error instanceof ContextTimeout) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function setStatus(state: string, text: string): void {
  document.body.dataset.connection = state;
  ui.status.textContent = text;
}

// -- joining ---------------------------------------------------------------------------

/** An identity the endpoint accepts (1–128 of `A-Z a-z 0-9 _ . : @ = + -`), unique per tab. */
function identityFor(name: string): string {
  const slug = name.normalize('NFKD').replace(/[^A-Za-z0-9_.:@=+-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const suffix = Math.random().toString(16).slice(2, 8);
  return `${(slug || 'developer').slice(0, 100)}-${suffix}`;
}

async function requestToken(roomName: string, name: string): Promise<TokenAnswer | null> {
  const body = {
    room_name: roomName, participant_name: name, participant_identity: identityFor(name),
  };
  let response: Response;
  try {
    response = await fetch('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (error) {
    showAlert('token', 'error', 'The token endpoint did not answer.', describe(error));
    return null;
  }
  const answer: unknown = await response.json().catch(() => null);
  if (response.ok) return answer as TokenAnswer;
  const error = (answer as { error?: { code?: string; message?: string } } | null)?.error;
  const code = error?.code ?? response.statusText;
  const message = error?.message ?? 'no explanation given';
  showAlert('token', 'error', `The token was refused (${response.status} ${code}):`, message);
  return null;
}

/** Joins counted, so that only the last one asked for takes effect: a page opened with
 * `?room=` and a remembered name joins at once, and a submit right after asked again. Two
 * joins made two participants, with two clients writing into one page. */
let joins = 0;

async function join(roomName: string, name: string): Promise<void> {
  const seq = ++joins;
  for (const key of ['token', 'bot', 'connection'] as const) clearAlert(key);
  ui.notices.replaceChildren();
  setStatus('token', 'Getting a token…');
  const answer = await requestToken(roomName, name);
  if (seq !== joins) return; // a later join took over
  if (answer === null) {
    setStatus('idle', '');
    return;
  }
  const botIdentity = params.get('bot') || answer.bot_identity || 'context-bot';
  const previous = room; // an earlier join's room: one page is one participant
  bot?.close();
  const joined = new Room({ adaptiveStream: false, dynacast: false });
  room = joined;
  leaving = false;
  void previous?.disconnect();
  // Created before connecting, so a push sent the moment we arrive is not missed; the
  // overview is asked for once connected (loadOverview), not by the client's prefetch.
  bot = forBrowser(joined, { botIdentity, prefetch: false });
  bot.on('heard', () => clearAlert('bot'));
  bot.on('slow', () => showAlert('bot', 'warning', 'The bot is not answering.',
    `No answer yet from ${botIdentity}: it may not be in room ${answer.room_name}. `
    + 'Still trying…'));
  bot.on('overview', showOverview);
  bot.on('knowledge_changed', (change) => void knowledgeChanged(change));
  watchConnection(joined, answer.room_name, name);
  setStatus('connecting', 'Connecting…');
  try {
    await joined.connect(answer.livekit_url, answer.token, { autoSubscribe: false });
  } catch (error) {
    if (seq !== joins) return;
    setStatus('disconnected', 'Not connected');
    const where = `Could not connect to LiveKit at ${answer.livekit_url}:`;
    showAlert('connection', 'error', where, describe(error));
    return;
  }
  if (seq !== joins) return;
  const url = new URL(location.href);
  url.searchParams.set('room', answer.room_name);
  history.replaceState(null, '', url);
  ui.where.textContent = `${name} in ${answer.room_name}`;
  ui.join.hidden = true;
  ui.session.hidden = false;
  ui.app.hidden = false;
  tree = new FileTree(ui.tree, (p) => ask<Listing>('list', p), openFile, describe);
  await Promise.all([loadOverview(), tree.load().then(markCurrent), route()]);
}

function watchConnection(joined: Room, roomName: string, name: string): void {
  const lost = () => {
    setStatus('reconnecting', 'Reconnecting…');
    showAlert('connection', 'warning', 'Connection lost.', 'Reconnecting to the room…');
  };
  joined
    .on(RoomEvent.ConnectionStateChanged, (state: ConnectionState) => {
      if (state === ConnectionState.Connected) setStatus('connected', 'Connected');
    })
    .on(RoomEvent.Reconnecting, lost) // media and signal
    .on(RoomEvent.SignalReconnecting, lost) // the signal connection only
    .on(RoomEvent.Reconnected, () => {
      setStatus('connected', 'Connected');
      clearAlert('connection');
      void loadOverview(); // a push may have been lost while we were away
    })
    .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
      if (leaving || joined !== room) return;
      setStatus('disconnected', 'Disconnected');
      const why = reason === undefined ? 'no reason' : (DisconnectReason[reason] ?? String(reason));
      showAlert('connection', 'error', 'Disconnected from the room.', `LiveKit says: ${why}.`,
        ['Rejoin', () => void rejoin(roomName, name)]);
    });
}

async function leave(): Promise<void> {
  leaving = true;
  const current = room;
  bot?.close();
  room = bot = tree = null;
  await current?.disconnect();
  ui.app.hidden = true;
  ui.session.hidden = true;
  ui.join.hidden = false;
  setStatus('idle', '');
  for (const key of ['bot', 'connection'] as const) clearAlert(key);
}

async function rejoin(roomName: string, name: string): Promise<void> {
  await leave();
  await join(roomName, name);
}

// -- the bot's answers -----------------------------------------------------------------

async function ask<T>(method: string, p: Record<string, unknown> = {}): Promise<T> {
  if (bot === null) throw new Error('not in a room');
  return bot.request<T>(method, p);
}

function showOverview(overview: Overview): void {
  if (superseded.has(overview.knowledge_version)) return; // an answer older than a push
  ui.overview.innerHTML = markdown(overview.text);
  ui.overview.dataset.version = overview.knowledge_version;
}

async function loadOverview(): Promise<void> {
  try {
    showOverview(await ask<Overview>('overview'));
  } catch (error) {
    if (error instanceof ContextTimeout) {
      showAlert('bot', 'error', 'The bot is not in this room.', `${describe(error)}.`,
        ['Try again', () => void Promise.all([loadOverview(), tree?.load().then(markCurrent)])]);
    } else {
      ui.overview.replaceChildren(h('p', { class: 'error' }, describe(error)));
    }
  }
}

async function knowledgeChanged(change: KnowledgeChanged): Promise<void> {
  if (change.previous_version !== null) superseded.add(change.previous_version);
  const link = (path: string, i: number) => [i ? ', ' : '', h('a', { href: fileHref(path) }, path)];
  // `counts` holds how many paths a list had before the bot cut it (a very large change).
  const paths = (label: string, list: string[] = [], total = list.length) => list.length === 0
    ? null
    : h('p', {}, `${label}: `, ...list.slice(0, 20).flatMap(link),
      total > 20 ? ` and ${total - 20} more` : '');
  const dismiss = h('button', { type: 'button', class: 'dismiss' }, 'Dismiss');
  const notice = h('div', { class: 'notice', 'data-notice': 'knowledge_changed', role: 'status' },
    dismiss, h('strong', {}, 'The knowledge changed.'),
    ` Version ${change.previous_version} → ${change.knowledge_version}.`,
    paths('Changed', change.changed, change.counts?.changed),
    paths('Added', change.added, change.counts?.added),
    paths('Removed', change.removed, change.counts?.removed));
  dismiss.addEventListener('click', () => notice.remove());
  ui.notices.replaceChildren(notice);
  const touched = new Set([...change.changed, ...change.added, ...change.removed]);
  const refresh: Promise<unknown>[] = [(tree?.load() ?? Promise.resolve()).then(markCurrent)];
  // A cut change names only some paths: the open file may be among the rest.
  if (openPath !== null && (change.truncated === true || touched.has(openPath))) {
    refresh.push(showFile(openPath));
  }
  if (ui.search.value.trim()) refresh.push(runSearch());
  await Promise.all(refresh);
}

// -- files -----------------------------------------------------------------------------

/** Opening goes through the URL's hash, so Back returns to the previous view; `line`
 * (from code search) becomes `&line=N`, which `route` scrolls to and marks. */
function openFile(path: string, line?: number): void {
  const href = fileHref(path) + (line === undefined ? '' : `&line=${line}`);
  if (location.hash === href) void route();
  else location.hash = href;
}

async function route(): Promise<void> {
  const name = /^#symbol=(.+)$/.exec(location.hash);
  if (name !== null) {
    await goToDefinition(decodeURIComponent(name[1]));
    return;
  }
  // `encodeURIComponent` escapes `&` in a path, so the first `&` starts the line.
  const match = /^#file=([^&]+)(?:&line=(\d+))?$/.exec(location.hash);
  if (match === null) {
    openPath = null;
    markCurrent();
    ui.fileView.hidden = true;
    ui.overviewView.hidden = false;
    ui.main.scrollTop = 0;
    return;
  }
  const path = decodeURIComponent(match[1]);
  await showFile(path);
  ui.main.focus({ preventScroll: true }); // the keyboard continues in the file
  ui.main.scrollTop = 0;
  const top = ui.main.getBoundingClientRect().top;
  if (top < 0 || top > innerHeight / 2) ui.main.scrollIntoView(); // narrow: below the files
  if (match[2] !== undefined && openPath === path) showLine(ui.fileView, Number(match[2]));
}

async function showFile(path: string): Promise<void> {
  openPath = path;
  ui.overviewView.hidden = true;
  ui.fileView.hidden = false;
  ui.fileView.replaceChildren(h('p', { class: 'note' }, `Loading ${path}…`));
  markCurrent();
  let answer: FileAnswer;
  try {
    answer = await ask<FileAnswer>('file', { path, outline: true });
  } catch (error) {
    const message = h('p', { class: 'error' }, describe(error));
    if (openPath === path) ui.fileView.replaceChildren(fileHead(path), message);
    return;
  }
  if (openPath === path) ui.fileView.replaceChildren(...fileView(answer));
}

/** Where `name` (`RoomManager`, `Knowledge.search`, `load_knowledge()`) is defined, asked
 * of the bot's `symbols`: the exact spelling first, then a definition inside the named
 * container. The `#symbol=` entry is replaced by the file's, so Back skips it. A name
 * the repository does not define says so in the file view. */
async function goToDefinition(name: string): Promise<void> {
  const parts = name.replace(/\(\)$/, '').split(/\.|::|#/);
  const wanted = parts[parts.length - 1];
  const container = parts.length > 1 ? parts[parts.length - 2] : null;
  ui.overviewView.hidden = true;
  ui.fileView.hidden = false;
  ui.fileView.replaceChildren(h('p', { class: 'note' }, `Looking for ${name}…`));
  let found: SymbolsAnswer;
  try {
    found = await ask<SymbolsAnswer>('symbols', { query: wanted, limit: 20 });
  } catch (error) {
    ui.fileView.replaceChildren(h('p', { class: 'error' }, describe(error)));
    return;
  }
  const exact = found.symbols.filter((s) => s.match === 'exact');
  const rank = (s: SymbolsAnswer['symbols'][number]) =>
    (s.name === wanted ? 0 : 2) + (container !== null && s.container?.endsWith(container) ? 0 : 1);
  const best = exact.sort((a, b) => rank(a) - rank(b))[0];
  if (best === undefined) {
    ui.fileView.replaceChildren(h('p', { class: 'note', 'data-missing': name },
      h('code', {}, name), ' is not defined in this repository',
      ' (the symbol index reads Python, TypeScript, JavaScript, Go, Rust and Java).'));
    return;
  }
  location.replace(`${fileHref(best.path)}&line=${best.line}`);
}

/** The identifier under a point of the shown source, if any. */
function nameAt(x: number, y: number): string | null {
  const caret = document.caretRangeFromPoint(x, y);
  const node = caret?.startContainer;
  if (!caret || !node || node.nodeType !== Node.TEXT_NODE) return null;
  const text = node.textContent ?? '';
  let start = caret.startOffset;
  let end = caret.startOffset;
  while (start > 0 && /[\w$]/.test(text[start - 1])) start -= 1;
  while (end < text.length && /[\w$]/.test(text[end])) end += 1;
  const word = text.slice(start, end);
  return /^[A-Za-z_$][\w$]*$/.test(word) ? word : null;
}

/** The open file's row in the tree, marked; after the tree reloads too. */
function markCurrent(): void {
  for (const node of ui.tree.querySelectorAll('button.node[aria-current]')) {
    node.removeAttribute('aria-current');
  }
  if (openPath === null) return;
  const row = ui.tree.querySelector(`button[data-path="${CSS.escape(openPath)}"]`);
  row?.setAttribute('aria-current', 'true');
}

// -- search ----------------------------------------------------------------------------

let searchTimer: ReturnType<typeof setTimeout> | undefined;
let searchSeq = 0;

async function runSearch(): Promise<void> {
  clearTimeout(searchTimer);
  const query = ui.search.value.trim();
  const seq = ++searchSeq;
  if (query === '') {
    ui.results.hidden = true;
    ui.results.replaceChildren();
    return;
  }
  if (ui.grepMode.checked) {
    await runGrep(ui.search.value, seq);
    return;
  }
  let hits: Hit[];
  try {
    hits = (await ask<{ hits: Hit[] }>('search', { query: query.slice(0, 512), limit: 20 })).hits;
  } catch (error) {
    const message = h('li', { class: 'note error' }, describe(error));
    if (seq === searchSeq) ui.results.replaceChildren(message);
    ui.results.hidden = false;
    return;
  }
  if (seq !== searchSeq) return; // a newer query is on its way
  ui.results.hidden = false;
  if (hits.length === 0) {
    ui.results.replaceChildren(h('li', { class: 'note' }, `Nothing matches “${query}”.`));
    return;
  }
  ui.results.replaceChildren(...hits.map((hit) => h('li', {}, hitButton(hit))));
}

/** Code search: `pattern` as typed (spaces count), literal unless Regex is on. A bad
 * pattern comes back as a 4000 with RE2's reason, shown as the answer. */
async function runGrep(pattern: string, seq: number): Promise<void> {
  const regex = ui.grepRegex.checked;
  let answer: GrepAnswer;
  try {
    answer = await ask<GrepAnswer>('grep', { pattern, regex, limit: GREP_LIMIT });
  } catch (error) {
    const message = h('li', { class: 'note error', role: 'alert' }, describe(error));
    if (seq === searchSeq) {
      ui.results.replaceChildren(message);
      ui.results.hidden = false;
    }
    return;
  }
  if (seq !== searchSeq) return;
  ui.results.hidden = false;
  if (answer.matches.length === 0 && !answer.truncated) {
    const what = regex ? 'matches the expression' : 'contains';
    ui.results.replaceChildren(h('li', { class: 'note' },
      `No line ${what} “${pattern}” (${answer.files_searched} files searched).`));
    return;
  }
  ui.results.replaceChildren(...grepResults(answer, pattern, regex, openFile));
}

function hitButton(hit: Hit): HTMLButtonElement {
  const meta = [hit.kind, hit.feature, `score ${hit.score.toFixed(2)}`].filter(Boolean);
  return h('button',
    { type: 'button', class: 'hit', 'data-path': hit.path, onclick: () => openFile(hit.path) },
    h('span', { class: 'hit-path' }, hit.path),
    h('span', { class: 'hit-meta' }, meta.join(' · ')),
    html('span', { class: 'hit-snippet' }, snippet(hit.snippet)));
}

// -- wiring ----------------------------------------------------------------------------

ui.room.value = params.get('room') ?? '';
ui.name.value = params.get('name') ?? localStorage.getItem(NAME_KEY) ?? '';
ui.join.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = ui.name.value.trim();
  localStorage.setItem(NAME_KEY, name);
  void join(ui.room.value.trim(), name);
});
ui.leave.addEventListener('click', () => void leave());
ui.searchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void runSearch();
});
ui.search.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => void runSearch(), SEARCH_DELAY_MS);
});
/** Code mode: the Regex switch applies, and the placeholder says what is searched. */
function setMode(): void {
  ui.grepRegex.disabled = !ui.grepMode.checked;
  ui.search.placeholder = ui.grepMode.checked ? 'Search code  ( / )' : 'Search  ( / )';
  ui.search.setAttribute('aria-label',
    ui.grepMode.checked ? 'Search the code' : 'Search the knowledge');
  void runSearch();
}
ui.grepMode.addEventListener('change', setMode);
ui.grepRegex.addEventListener('change', () => void runSearch());
ui.search.addEventListener('keydown', (event) => {
  if (event.key === 'ArrowDown') ui.results.querySelector<HTMLElement>('button')?.focus();
  if (event.key === 'Escape') {
    ui.search.value = '';
    void runSearch();
  }
});
document.addEventListener('keydown', (event) => {
  const target = event.target;
  // A switch beside the search box (Code, Regex) is an input, but nothing is typed in it.
  const typing = target instanceof HTMLTextAreaElement
    || (target instanceof HTMLInputElement && target.type !== 'checkbox');
  if (event.key === '/' && !typing && !ui.app.hidden) {
    event.preventDefault();
    ui.search.focus();
    ui.search.select();
  }
});
// In a file: an outline entry opens its line; Ctrl- or Cmd-click on a name in the source
// opens where it is defined (as in an editor).
ui.fileView.addEventListener('click', (event) => {
  const target = event.target as HTMLElement;
  const entry = target.closest<HTMLElement>('.outline button[data-line]');
  if (entry !== null && openPath !== null) {
    openFile(openPath, Number(entry.dataset.line));
    return;
  }
  if ((event.ctrlKey || event.metaKey) && target.closest('.source') !== null) {
    const name = nameAt(event.clientX, event.clientY);
    if (name !== null) {
      event.preventDefault();
      location.hash = symbolHref(name);
    }
  }
});
window.addEventListener('hashchange', () => void route());
window.addEventListener('pagehide', () => void room?.disconnect());

if (ui.room.value && ui.name.value) void join(ui.room.value, ui.name.value);
else (ui.room.value ? ui.name : ui.room).focus();
