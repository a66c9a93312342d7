// A file as the page shows it: its knowledge document beside its numbered, highlighted
// contents; a stale document is marked where the eye lands first (title and pane).
//
// The two panes come from one `file` answer. Line numbers are a separate column rather
// than markup around each line, so copying code copies only code, and a 50,000-line file
// costs two text nodes instead of 100,000 elements.

import { h, html } from './dom';
import { highlight, languageOf, markdown, splitFrontMatter } from './render';

export interface Knowledge {
  text: string;
  stale: boolean;
  kind?: string;
  file_version?: string | null;
  /** What the bot sends today where PROTOCOL.md says `file_version`. */
  version?: string | null;
  last_updated?: string | null;
  feature?: string | null;
}

export interface FileAnswer {
  path: string;
  knowledge_version: string;
  knowledge: Knowledge | null;
  content: { text: string; size: number; sha: string; line_count: number } | null;
  content_error: { code: number; name: string; message: string } | null;
  /** The file's definitions (asked with `outline: true`); absent from older bots. */
  outline?: OutlineEntry[];
}

export interface OutlineEntry {
  name: string;
  kind: string;
  line: number;
  signature: string;
  children: OutlineEntry[];
}

export function fileHead(path: string, ...badges: (Node | null)[]): HTMLElement {
  return h('header', { class: 'file-head' },
    h('a', { href: '#', class: 'back' }, '← Overview'), h('h2', {}, path), ...badges);
}

export function fileView(answer: FileAnswer): Node[] {
  const { knowledge } = answer;
  const stale = knowledge?.stale ? h('span', { class: 'badge stale' }, 'stale document') : null;
  const feature = knowledge?.feature ? h('span', { class: 'badge' }, knowledge.feature) : null;
  const panes = h('div', { class: 'panes' }, documentPane(answer.path, knowledge));
  if (knowledge?.kind !== 'doc') panes.append(contentsPane(answer));
  return [fileHead(answer.path, stale, feature), panes];
}

function documentPane(path: string, knowledge: Knowledge | null): HTMLElement {
  const pane = h('section', { class: 'pane document', 'aria-label': 'Knowledge document' },
    h('h3', {}, 'Knowledge'));
  if (knowledge === null) {
    pane.append(h('p', { class: 'note' }, 'No knowledge document describes this file.'));
    return pane;
  }
  if (knowledge.stale) {
    const written = knowledge.file_version ?? knowledge.version;
    pane.classList.add('is-stale');
    pane.append(h('p', { class: 'stale-warning' },
      h('strong', {}, 'Stale: '), 'this document was written for another version of the file',
      written ? ` (${written.slice(0, 12)})` : '', '; check it against the contents.'));
  }
  const { frontMatter, body } = splitFrontMatter(knowledge.text);
  if (frontMatter !== null) {
    pane.append(h('details', { class: 'front-matter' }, h('summary', {}, 'Front-matter'),
      html('pre', { class: 'hljs' }, highlight(frontMatter, 'yaml'))));
  }
  const folder = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  pane.append(html('div', { class: 'markdown' }, markdown(body, folder)));
  return pane;
}

function contentsPane(answer: FileAnswer): HTMLElement {
  const pane = h('section', { class: 'pane contents', 'aria-label': 'File contents' });
  const content = answer.content;
  if (content === null) {
    const error = answer.content_error;
    const why = error ? `${error.message} (${error.name})` : 'not asked for';
    pane.append(h('h3', {}, 'Contents'), h('p', { class: 'note' }, why));
    return pane;
  }
  const lines = content.text.endsWith('\n') ? content.text.slice(0, -1) : content.text;
  const count = lines === '' ? 1 : lines.split('\n').length;
  const numbers = Array.from({ length: count }, (_, i) => i + 1).join('\n');
  const language = languageOf(answer.path, content.text);
  const facts = [`${content.line_count} lines`, size(content.size), language].filter(Boolean);
  const outline = outlineList(answer.outline ?? []);
  pane.append(
    h('h3', {}, 'Contents ', h('small', {}, facts.join(' · '))),
    ...(outline ? [outline] : []),
    h('div', {
      class: 'code', tabindex: '0', 'aria-label': `${answer.path}, ${count} lines`,
      'data-lines': count,
    },
      h('pre', { class: 'gutter', 'aria-hidden': 'true' }, numbers),
      html('pre', { class: 'hljs source' }, `<code>${highlight(lines, language)}</code>`)),
  );
  return pane;
}

/** The file's definitions as a folded tree of buttons: each opens its line (`main.ts`
 * follows `data-line`). Nothing for a file the symbol index does not parse. */
function outlineList(entries: OutlineEntry[]): HTMLElement | null {
  if (entries.length === 0) return null;
  let count = 0;
  const list = (nodes: OutlineEntry[]): HTMLElement => h('ul', {}, ...nodes.map((node) => {
    count += 1;
    const button = h('button', {
      type: 'button', class: 'outline-entry', 'data-line': node.line, title: node.signature,
    }, h('span', { class: 'kind' }, node.kind), ' ', node.name,
    h('span', { class: 'line' }, ` ${node.line}`));
    return h('li', {}, button, node.children.length ? list(node.children) : null);
  }));
  const tree = list(entries);
  return h('details', { class: 'outline' }, h('summary', {}, `Outline (${count})`), tree);
}

function size(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}


/** Marks line `line` of the shown contents and scrolls it to the middle of the view (code
 * search opens a file here). The mark is one element laid over the line, placed by the
 * `--line` custom property (set through CSSOM: the page's CSP refuses style attributes),
 * so the source stays two text nodes however long the file. */
export function showLine(view: HTMLElement, line: number): void {
  const code = view.querySelector<HTMLElement>('.contents .code');
  const source = code?.querySelector('.source');
  if (!code || !source) return; // no contents (too large, binary): the document only
  const count = Number(code.dataset.lines);
  if (!Number.isInteger(line) || line < 1 || line > count) return;
  code.querySelector('.line-mark')?.remove();
  const mark = h('div', { class: 'line-mark', 'data-line': line, 'aria-hidden': 'true' });
  mark.style.setProperty('--line', String(line));
  const gutter = code.querySelector<HTMLElement>('.gutter');
  mark.style.setProperty('--gutter', `${gutter?.offsetWidth ?? 0}px`);
  code.append(mark);
  mark.scrollIntoView({ block: 'center' });
}
