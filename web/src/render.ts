// Markdown and source code into safe HTML.
//
// The Markdown comes from the served repository's knowledge documents, which anyone with
// commit rights writes: raw HTML in it is shown as text and only http(s), mailto and
// relative links are kept, so a document cannot run script in the developer's page.
// highlight.js core with a handful of languages (each is a few kilobytes) instead of the
// full build (~190 language definitions, ten times the weight).

import { Marked, type Tokens } from 'marked';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import css from 'highlight.js/lib/languages/css';
import dockerfile from 'highlight.js/lib/languages/dockerfile';
import go from 'highlight.js/lib/languages/go';
import ini from 'highlight.js/lib/languages/ini';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdownLanguage from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

const LANGUAGES = {
  bash, css, dockerfile, go, ini, javascript, json, markdown: markdownLanguage, python, rust, sql,
  typescript, xml, yaml,
};
for (const [name, definition] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, definition);

/** Larger files are shown plain: highlighting a megabyte takes the page seconds. */
const MAX_HIGHLIGHT_CHARS = 200_000;

const BY_EXTENSION: Record<string, string> = {
  py: 'python', pyi: 'python', js: 'javascript', mjs: 'javascript', cjs: 'javascript',
  jsx: 'javascript', ts: 'typescript', tsx: 'typescript', mts: 'typescript', json: 'json',
  yaml: 'yaml', yml: 'yaml', sh: 'bash', bash: 'bash', md: 'markdown', toml: 'ini',
  ini: 'ini', cfg: 'ini', html: 'xml', xml: 'xml', svg: 'xml', css: 'css', go: 'go',
  rs: 'rust', sql: 'sql',
};
const BY_NAME: Record<string, string> = { Dockerfile: 'dockerfile', Procfile: 'yaml' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The highlight.js language for a path, from its name, extension or `#!` line. */
export function languageOf(path: string, text: string): string | undefined {
  const name = path.split('/').pop() ?? '';
  if (BY_NAME[name]) return BY_NAME[name];
  const dot = name.lastIndexOf('.');
  if (dot > 0) return BY_EXTENSION[name.slice(dot + 1).toLowerCase()];
  const shebang = /^#!.*\b(bash|sh|python3?|node)\b/.exec(text);
  if (shebang) return { bash: 'bash', sh: 'bash', node: 'javascript' }[shebang[1]] ?? 'python';
  return undefined;
}

/** Highlighted HTML for `text`, or escaped plain text for unknown or very large input. */
export function highlight(text: string, language: string | undefined): string {
  if (language && hljs.getLanguage(language) && text.length <= MAX_HIGHLIGHT_CHARS) {
    return hljs.highlight(text, { language, ignoreIllegals: true }).value;
  }
  return escapeHtml(text);
}

/** Repository paths as the overview writes them: a folder or an extension, no spaces. */
const PATH_LIKE = /^(?!\/)(?!.*\.\.)[\w.@+-]+(\/[\w.@+-]+)*$/;
const OTHER_EXTENSIONS = ['txt', 'lock', 'rst', 'c', 'h', 'cpp', 'java', 'kt', 'swift', 'rb'];
const FILE_EXTENSIONS = new Set([...Object.keys(BY_EXTENSION), ...OTHER_EXTENSIONS]);

/** A path names its extension in lower case (`setup.py`, `Cargo.lock`); `asyncio.Lock`
 * or `config.Settings` is a name in code, not a file. */
function looksLikePath(text: string): boolean {
  const extension = /\.([a-z0-9]+)$/.exec(text)?.[1];
  return PATH_LIKE.test(text) && extension !== undefined && FILE_EXTENSIONS.has(extension);
}

/** A name in code as documents quote it: qualified (`Knowledge.search`, `rtc::Room`),
 * called (`load_knowledge()`), snake or camel case (`RoomManager`, `MAX_PATH_CHARS`). A
 * plain word (`file`, `list`) is prose, not a link. */
const QUALIFIED = /^[A-Za-z_$][\w$]*(?:(?:\.|::|#)[A-Za-z_$][\w$]*)*(?:\(\))?$/;
const CODE_SHAPED = /[._:#(]|[a-z0-9][A-Z]|^[A-Z][A-Z0-9]*_/;

export function looksLikeName(text: string): boolean {
  return QUALIFIED.test(text) && CODE_SHAPED.test(text);
}

/** The page's link to where a name is defined: the hash route `main.ts` resolves with the
 * bot's `symbols`. */
export function symbolHref(name: string): string {
  return `#symbol=${encodeURIComponent(name)}`;
}

/** The page's own link to a file: the hash route that `main.ts` follows. */
export function fileHref(path: string): string {
  return `#file=${encodeURIComponent(path)}`;
}

/** `target` relative to the folder `from`, as a repository path (`..` resolved). */
export function resolve(from: string, target: string): string {
  const parts = target.startsWith('/') ? [] : from.split('/').filter(Boolean);
  for (const part of target.split(/[?#]/)[0].split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.' && part !== '') parts.push(part);
  }
  return parts.join('/');
}

let base = '';

const marked = new Marked({
  gfm: true,
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    link({ href, title, tokens }: Tokens.Link): string {
      const inner = this.parser.parseInline(tokens);
      const url = href.trim();
      const tip = title ? ` title="${escapeHtml(title)}"` : '';
      if (/^(https?:|mailto:)/i.test(url)) {
        const attrs = `${tip} target="_blank" rel="noopener noreferrer"`;
        return `<a href="${escapeHtml(url)}"${attrs}>${inner}</a>`;
      }
      if (url.startsWith('#') || url.includes(':')) return inner; // no javascript: and kin
      return `<a href="${fileHref(resolve(base, url))}"${tip}>${inner}</a>`;
    },
    codespan({ text }: Tokens.Codespan): string {
      // Paths in the overview (`context_bot/bot/rooms.py`) open the file in the page;
      // names in code (`RoomManager`) open where they are defined.
      const code = `<code>${escapeHtml(text)}</code>`;
      if (looksLikePath(text)) return `<a href="${fileHref(text)}">${code}</a>`;
      if (looksLikeName(text)) return `<a class="name" href="${symbolHref(text)}">${code}</a>`;
      return code;
    },
    image({ text }: Tokens.Image): string {
      return `<span class="image-alt">[${escapeHtml(text)}]</span>`; // no remote fetches
    },
    code({ text, lang }: Tokens.Code): string {
      const language = (lang ?? '').trim().split(/\s+/)[0].toLowerCase();
      const known = language && hljs.getLanguage(language) ? language : undefined;
      return `<pre class="md-code"><code class="hljs">${highlight(text, known)}</code></pre>`;
    },
  },
});

/** `text` as HTML; relative links are resolved from the folder `folder`. */
export function markdown(text: string, folder = ''): string {
  base = folder;
  return marked.parse(text, { async: false });
}

/** A knowledge document split into its YAML front-matter (if any) and Markdown body. */
export function splitFrontMatter(text: string): { frontMatter: string | null; body: string } {
  const source = text.replace(/^\uFEFF/, '');
  if (!/^---\r?\n/.test(source)) return { frontMatter: null, body: source };
  const close = /^(---|\.\.\.)[ \t]*$/m;
  const rest = source.replace(/^---\r?\n/, '');
  const match = close.exec(rest);
  if (match === null) return { frontMatter: null, body: source };
  const body = rest.slice(match.index + match[0].length).replace(/^\r?\n/, '');
  return { frontMatter: rest.slice(0, match.index), body };
}

/** A search snippet: the bot marks matched words with `**`; everything else is text but
 * for heading markers (`## Purpose`), which read as noise out of context. */
export function snippet(text: string): string {
  const plain = text.replace(/(^|\s)#{1,6} /g, '$1');
  return escapeHtml(plain).replace(/\*\*(.+?)\*\*/g, '<mark>$1</mark>');
}
