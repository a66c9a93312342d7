// Code search: the bot's `grep` answer as a list grouped by file, each line a button that
// opens the file at that line.
//
// Everything here is text (`h` sets textContent), never HTML: a matched line is whatever
// a repository file holds, `<script>` included. The match is marked by splitting the text
// into three text nodes, not by building markup.

import type { GrepAnswer, GrepMatch } from '../../clients/js/src/types';
import { h } from './dom';

export type { GrepAnswer, GrepMatch }; // the protocol's types live in the client, once

/** Matches asked for per search: enough to scan by eye, a fifth of the protocol's 500. */
export const GREP_LIMIT = 100;

/** Where the match starts in `text` and how long it is, or null when unknown. The bot
 * sends the column of the first match but not its length; for a literal pattern the
 * length is the pattern's. A regular expression is not re-run in the page: RE2 and
 * JavaScript disagree on syntax, and a backtracking engine could hang the tab on a line. */
function literalSpan(text: string, pattern: string, caseSensitive: boolean): [number, number] | null {
  const at = caseSensitive ? text.indexOf(pattern)
    : text.toLowerCase().indexOf(pattern.toLowerCase());
  // Lower-casing can change a string's length (İ); then the span would be off: skip it.
  if (at < 0 || (!caseSensitive && text.toLowerCase().length !== text.length)) return null;
  return [at, pattern.length];
}

/** Characters kept before the match when a line is shown from its match on. */
const LEAD = 12;

/** The line as shown in the narrow sidebar: its indentation dropped and, when the match
 * lies further in than the sidebar shows, the text from a little before the match (an
 * ellipsis marking the cut), so the match itself is in sight. */
function lineText(match: GrepMatch, pattern: string, regex: boolean, caseSensitive: boolean,
): HTMLElement {
  const span = regex ? null : literalSpan(match.text, pattern, caseSensitive);
  let text = match.text;
  let at: number;
  let length = 0;
  if (span !== null) [at, length] = span;
  else if (!text.startsWith('…')) {
    // `column` counts code points of the whole line; an uncut line is the whole line.
    at = Array.from(text).slice(0, match.column - 1).join('').length;
  } else at = 0;
  const indent = /^\s*/.exec(text)?.[0].length ?? 0;
  let start = Math.min(indent, at);
  if (at - start > LEAD * 2) start = at - LEAD;
  if (/[\uDC00-\uDFFF]/.test(text.charAt(start))) start -= 1; // not half a surrogate pair
  const cut = start > indent ? '…' : '';
  text = text.slice(start);
  at -= start;
  return h('span', { class: 'grep-text' }, cut, text.slice(0, at),
    length > 0 ? h('mark', {}, text.slice(at, at + length)) : null, text.slice(at + length));
}

/** The answer as `<li>` rows for `#results`: one per file, its lines inside. */
export function grepResults(
  answer: GrepAnswer, pattern: string, regex: boolean,
  open: (path: string, line: number) => void,
): HTMLElement[] {
  const groups = new Map<string, GrepMatch[]>();
  for (const match of answer.matches) {
    const group = groups.get(match.path);
    if (group) group.push(match);
    else groups.set(match.path, [match]);
  }
  const rows = [...groups].map(([path, matches]) => h('li', { class: 'grep-file' },
    h('span', { class: 'hit-path' }, path,
      h('span', { class: 'hit-meta' }, ` ${matches.length}`)),
    h('ol', { class: 'grep-lines' }, ...matches.map((match) => h('li', {},
      h('button', {
        type: 'button', class: 'hit grep-line', 'data-path': path, 'data-line': match.line,
        title: `${path}:${match.line}:${match.column}\n${match.text}`,
        onclick: () => open(path, match.line),
      }, h('span', { class: 'grep-number' }, String(match.line)),
      lineText(match, pattern, regex, answer.case_sensitive)))))));
  const summary = `${answer.matches.length} ${answer.matches.length === 1 ? 'line' : 'lines'}`
    + ` in ${groups.size} ${groups.size === 1 ? 'file' : 'files'}`
    + ` (${answer.files_searched} searched)`;
  const more = !answer.truncated ? ''
    : answer.truncated_reason === 'deadline'
      ? '; the 2-second budget ran out, later files were not searched'
      : `; only the first ${answer.matches.length} are shown`;
  return [h('li', { class: 'note grep-summary' }, summary + more), ...rows];
}
