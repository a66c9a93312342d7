// The file tree: one `list` call per folder, made when the folder is first opened.
//
// Rows are buttons (Tab reaches them, Enter and Space open them); the arrow keys move
// between visible rows, Right opens a folder and Left closes it or goes to its parent.

import { h } from './dom';

export interface Entry {
  path: string;
  kind: 'dir' | 'file' | 'doc';
  documents?: number;
  stale?: boolean | null;
  feature?: string | null;
  // Since the inventory: a folder's files and how many are documented (numbers); a
  // file's own `documented` (boolean), size, language and binary. Older bots omit them.
  files?: number;
  documented?: number | boolean;
  size?: number | null;
  language?: string | null;
  binary?: boolean | null;
}

export interface Listing {
  prefix: string;
  entries: Entry[];
  truncated: boolean;
  total: number;
}

const LIMIT = 500;

export class FileTree {
  private readonly expanded = new Set<string>();

  constructor(
    private readonly root: HTMLElement,
    private readonly list: (params: Record<string, unknown>) => Promise<Listing>,
    private readonly open: (path: string) => void,
    private readonly failed: (error: unknown) => string,
  ) {
    root.addEventListener('keydown', (event) => this.onKey(event));
  }

  /** The top level, then every folder that was open, again (after a knowledge change). */
  async load(): Promise<void> {
    const list = h('ul', { class: 'tree', role: 'list' });
    await this.fill(list, '');
    this.root.replaceChildren(list);
    for (const path of [...this.expanded].sort()) {
      const button = this.button(path);
      if (button === null) this.expanded.delete(path);
      else await this.expand(button);
    }
  }

  private button(path: string): HTMLButtonElement | null {
    return this.root.querySelector(`button[data-path="${CSS.escape(path)}"]`);
  }

  private async fill(list: HTMLElement, prefix: string): Promise<void> {
    try {
      const listing = await this.list({ prefix, depth: 1, limit: LIMIT });
      list.replaceChildren(...listing.entries.map((entry) => this.row(entry, prefix)));
      if (listing.entries.length === 0) {
        list.append(h('li', { class: 'note' }, 'empty'));
      }
      if (listing.truncated) {
        const more = listing.total - listing.entries.length;
        list.append(h('li', { class: 'note' }, `… ${more} more; search to find them`));
      }
    } catch (error) {
      list.replaceChildren(h('li', { class: 'note error' }, this.failed(error)));
    }
  }

  private row(entry: Entry, prefix: string): HTMLLIElement {
    const name = prefix ? entry.path.slice(prefix.length + 1) : entry.path;
    if (entry.kind === 'dir') {
      const button = h(
        'button',
        {
          class: 'node dir',
          type: 'button',
          'data-path': entry.path,
          'aria-expanded': 'false',
          onclick: () => void this.toggle(button),
        },
        h('span', { class: 'name' }, `${name}/`),
        // Documents only (the files they describe are not in the repository): their count.
        entry.files === undefined || entry.files === 0
          ? h('span', { class: 'count', title: 'documents' }, String(entry.documents ?? ''))
          : h(
              'span',
              { class: 'count', title: `${entry.documented} of ${entry.files} files documented` },
              `${entry.documented}/${entry.files}`,
            ),
      );
      return h('li', {}, button, h('ul', { class: 'tree', role: 'list', hidden: true }));
    }
    // A file no knowledge document describes is listed and readable, and marked.
    const undocumented = entry.kind === 'file' && entry.documented === false;
    const facts = [
      entry.feature ? `feature: ${entry.feature}` : '',
      undocumented ? 'no knowledge document' : '',
      entry.language ?? '',
      entry.binary ? 'binary' : '',
    ].filter(Boolean);
    const button = h(
      'button',
      {
        class: `node ${entry.kind}${undocumented ? ' undocumented' : ''}`,
        type: 'button',
        'data-path': entry.path,
        title: facts.length > 0 ? facts.join(' · ') : undefined,
        onclick: () => this.open(entry.path),
      },
      h('span', { class: 'name' }, name),
      entry.stale ? h('span', { class: 'badge stale' }, 'stale') : null,
      undocumented ? h('span', { class: 'badge undocumented' }, 'no doc') : null,
    );
    return h('li', {}, button);
  }

  private async toggle(button: HTMLButtonElement): Promise<void> {
    if (button.getAttribute('aria-expanded') === 'true') this.collapse(button);
    else await this.expand(button);
  }

  private async expand(button: HTMLButtonElement): Promise<void> {
    const path = button.dataset.path ?? '';
    const children = button.nextElementSibling as HTMLElement;
    button.setAttribute('aria-expanded', 'true');
    this.expanded.add(path);
    children.hidden = false;
    if (children.childElementCount === 0) {
      children.append(h('li', { class: 'note' }, 'loading…'));
      await this.fill(children, path);
    }
  }

  private collapse(button: HTMLButtonElement): void {
    button.setAttribute('aria-expanded', 'false');
    this.expanded.delete(button.dataset.path ?? '');
    (button.nextElementSibling as HTMLElement).hidden = true;
  }

  private visible(): HTMLButtonElement[] {
    return [...this.root.querySelectorAll<HTMLButtonElement>('button.node')].filter(
      (button) => button.offsetParent !== null,
    );
  }

  private onKey(event: KeyboardEvent): void {
    const current = event.target;
    if (!(current instanceof HTMLButtonElement) || !current.classList.contains('node')) return;
    const rows = this.visible();
    const at = rows.indexOf(current);
    const isDir = current.classList.contains('dir');
    const open = current.getAttribute('aria-expanded') === 'true';
    let target: HTMLButtonElement | undefined;
    if (event.key === 'ArrowDown') target = rows[at + 1];
    else if (event.key === 'ArrowUp') target = rows[at - 1];
    else if (event.key === 'Home') target = rows[0];
    else if (event.key === 'End') target = rows[rows.length - 1];
    else if (event.key === 'ArrowRight' && isDir && !open) void this.expand(current);
    else if (event.key === 'ArrowRight' && isDir) target = rows[at + 1];
    else if (event.key === 'ArrowLeft' && isDir && open) this.collapse(current);
    else if (event.key === 'ArrowLeft') {
      const parent = current.closest('ul')?.previousElementSibling;
      if (parent instanceof HTMLButtonElement) target = parent;
    } else return;
    event.preventDefault();
    target?.focus();
  }
}
