// The results of the bot's methods as PROTOCOL.md describes them, field for field (snake
// case, as on the wire: the client hands over the parsed answer without copying it).

export interface Overview {
  knowledge_version: string;
  text: string;
}

export interface Knowledge {
  path: string;
  kind: 'file' | 'doc';
  text: string;
  stale: boolean;
  stale_reason?: string | null;
  version: string | null;
  version_match: 'blob' | 'commit' | null;
  last_updated?: string | null;
  source: string;
  title?: string | null;
  feature?: string | null;
  feature_role?: string | null;
  importance?: string | null;
  tags?: string[];
  history?: unknown[];
  related?: unknown[];
  backlinks?: unknown[];
  [more: string]: unknown;
}

export interface Content {
  /** The file's text, or the lines asked for. */
  text: string;
  /** Of the whole file, whether or not `lines` was given. */
  size: number;
  sha: string;
  line_count: number;
  /** The lines `text` holds, `[first, last]`. */
  lines: [number, number];
}

export interface WireErrorObject {
  code: number;
  name: string;
  message: string;
  [more: string]: unknown;
}

export interface FileAnswer {
  path: string;
  knowledge_version: string;
  knowledge: Knowledge | null;
  content: Content | null;
  content_error: WireErrorObject | null;
  outline?: OutlineSymbol[];
}

export interface SearchHit {
  path: string;
  /** `symbol`: the query is one identifier and this is where it is defined. */
  kind: 'file' | 'doc' | 'code' | 'path' | 'symbol';
  feature: string | null;
  /** 0 to 1, comparable within one knowledge version. */
  score: number;
  snippet: string;
  line: number | null;
}

export interface SearchAnswer {
  query: string;
  knowledge_version: string;
  hits: SearchHit[];
}

export interface ListEntry {
  path: string;
  kind: 'dir' | 'file' | 'doc';
  documents?: number;
  files?: number;
  documented?: number | boolean;
  stale?: boolean | null;
  feature?: string | null;
  size?: number | null;
  language?: string | null;
  binary?: boolean;
}

export interface ListAnswer {
  prefix: string;
  depth: number;
  entries: ListEntry[];
  truncated: boolean;
  total: number;
  files: number;
  documented: number;
  knowledge_version: string;
}

export interface GrepMatch {
  path: string;
  line: number;
  column: number;
  text: string;
  before: string[];
  after: string[];
}

export interface GrepAnswer {
  matches: GrepMatch[];
  truncated: boolean;
  truncated_reason: 'limit' | 'deadline' | null;
  files_searched: number;
  files_skipped: Record<string, number>;
  files_total: number;
  case_sensitive: boolean;
  knowledge_version: string;
}

export interface SymbolHit {
  name: string;
  kind: string;
  container: string | null;
  path: string;
  line: number;
  end_line: number;
  signature: string;
  doc: string | null;
  language: string;
  match: 'exact' | 'prefix' | 'camel' | 'substring' | 'fuzzy';
}

export interface SymbolsAnswer {
  symbols: SymbolHit[];
  truncated: boolean;
  knowledge_version: string;
}

export interface OutlineSymbol {
  name: string;
  kind: string;
  line: number;
  end_line: number;
  signature: string;
  doc: string | null;
  children: OutlineSymbol[];
}

export interface OutlineAnswer {
  path: string;
  language: string | null;
  parsed: boolean;
  symbols: OutlineSymbol[];
  knowledge_version: string;
}

export interface ReferencesAnswer {
  name: string;
  references: { path: string; line: number }[];
  total: number;
  truncated: boolean;
  resolution: 'name';
  knowledge_version: string;
}

export interface Feature {
  name: string;
  files: { path: string; role: string | null }[];
  entry_points: unknown[];
  services: unknown[];
  user_flows: unknown[];
  knowledge_version?: string;
}

export interface KnowledgeChanged {
  knowledge_version: string;
  previous_version: string | null;
  added: string[];
  changed: string[];
  removed: string[];
  /** How many paths each list had before the bot cut it (absent from older bots). */
  counts?: { added: number; changed: number; removed: number };
  /** A list was cut (a change too large to name path by path): refresh everything. */
  truncated?: boolean;
}

export interface Push {
  event: string;
  data: Record<string, unknown>;
}
