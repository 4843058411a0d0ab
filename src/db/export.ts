/**
 * The SQL of exports: a table or view streamed through a cursor as CSV (RFC 4180: a header, CRLF
 * line ends, fields quoted only when they must be) or JSON lines. Values are rendered by Postgres:
 * numbers exactly as stored, timestamps in ISO 8601 UTC with microseconds, nested values (jsonb,
 * arrays) as JSON. The CLI and the status server write the very same chunks.
 */
import type { Db } from './connect.ts';
import { accountsInDatabase } from './snapshot.ts';

/** What can be exported, and where each comes from. */
export const EXPORTS = {
  offers: { relation: 'emag_offers', account: 'account', since: 'updated_at', order: 'account, id' },
  products: { relation: 'emag_products', account: 'source_account', since: 'updated_at', order: 'part_number' },
  orders: { relation: 'emag_orders', account: 'account', since: 'updated_at', order: 'account, id' },
  // Lines have no time of their own: they changed when their order did.
  'order-lines': {
    relation: 'emag_order_lines',
    account: 'account',
    since: null,
    order: 'account, order_id, line_id',
  },
  rmas: { relation: 'emag_rmas', account: 'account', since: 'updated_at', order: 'account, emag_id' },
  commands: { relation: 'emag_commands', account: 'account', since: 'updated_at', order: 'id' },
} as const;

/** An export's name (`offers`, `order-lines`, …). */
export type ExportKind = keyof typeof EXPORTS;
/** The two formats. */
export type ExportFormat = 'csv' | 'jsonl';

/** Whether a name is an export. */
export function isExportKind(name: string): name is ExportKind {
  return Object.hasOwn(EXPORTS, name);
}

/** One export request. */
export interface ExportQuery {
  what: ExportKind;
  format: ExportFormat;
  /** Only this account's rows. */
  account?: string;
  /** Only rows changed at or after this moment. */
  since?: Date;
}

/**
 * `--since`: a calendar date (midnight UTC) or an ISO 8601 timestamp; null when malformed.
 * `new Date("1")` would happily mean 2001, so only these two shapes are read.
 */
export function parseSince(text: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(text);
  if (!m) return null;
  // JavaScript rolls 2026-02-31 over to March: a calendar date that does not exist is malformed.
  const day = new Date(`${m[1]}T00:00:00Z`);
  if (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== m[1]) return null;
  const d = m[2] ? new Date(text) : day;
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The accounts an export may name: the configured ones and those the database holds. */
export async function knownAccounts(configured: string[], db: Db): Promise<string[]> {
  return [...new Set([...configured, ...(await accountsInDatabase(db))])].sort();
}

/** Rows fetched per cursor round trip. */
const CURSOR_ROWS = 1000;

interface Column {
  name: string;
  type: string;
  category: string;
}

async function columnsOf(db: Db, relation: string): Promise<Column[]> {
  return db<Column[]>`
    select a.attname as name, t.typname as type, t.typcategory as category
    from pg_attribute a join pg_type t on t.oid = a.atttypid
    where a.attrelid = ${relation}::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum`;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** A column's value as export text: ISO 8601 UTC for timestamps, JSON for arrays. */
function rendered(c: Column, forJson: boolean): string {
  const col = `t.${quoteIdent(c.name)}`;
  if (c.type === 'timestamptz') return `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
  if (c.type === 'timestamp') return `to_char(${col}, 'YYYY-MM-DD"T"HH24:MI:SS.US')`;
  if (forJson) return col;
  if (c.category === 'A') return `to_jsonb(${col})::text`;
  return `${col}::text`;
}

/** RFC 4180 field: quoted (inner quotes doubled) when it holds a quote, comma or line break; "" for an empty string. */
function csvField(expr: string): string {
  return `(case when (${expr}) is null then '' when (${expr}) = '' then '""' when (${expr}) ~ '[",\\r\\n]' then '"' || replace(${expr}, '"', '""') || '"' else (${expr}) end)`;
}

function csvHeaderField(name: string): string {
  return /[",\r\n]/.test(name) ? `"${name.replaceAll('"', '""')}"` : name;
}

/**
 * The export as text chunks (the CSV header first), each a whole number of lines; memory holds one
 * cursor batch at a time. Resolve the first chunk before promising an answer: a database error
 * shows there.
 */
export async function* exportChunks(db: Db, q: ExportQuery): AsyncGenerator<string> {
  const spec = EXPORTS[q.what];
  const columns = await columnsOf(db, spec.relation);
  const where: string[] = [];
  const params: (string | Date)[] = [];
  if (q.account !== undefined) {
    params.push(q.account);
    where.push(`t.${spec.account} = $${params.length}`);
  }
  if (q.since !== undefined) {
    params.push(q.since.toISOString());
    where.push(
      spec.since
        ? `t.${spec.since} >= $${params.length}::timestamptz`
        : `exists (select 1 from emag_orders o where o.account = t.account and o.id = t.order_id and o.updated_at >= $${params.length}::timestamptz)`,
    );
  }
  const filter = where.length > 0 ? ` where ${where.join(' and ')}` : '';
  const order = spec.order.split(', ').map((c) => `t.${c}`).join(', ');
  let statement: string;
  let eol: string;
  if (q.format === 'csv') {
    // Rendered once in the inner query (`offset 0` keeps the planner from inlining it into each use).
    const inner = columns.map((c, i) => `${rendered(c, false)} as c${i}`).join(', ');
    const line = columns.map((_, i) => csvField(`x.c${i}`)).join(` || ',' || `);
    statement = `select ${line} as line from (select ${inner} from ${spec.relation} t${filter} order by ${order} offset 0) x`;
    eol = '\r\n';
    yield `${columns.map((c) => csvHeaderField(c.name)).join(',')}${eol}`;
  } else {
    const select = columns.map((c) => `${rendered(c, true)} as ${quoteIdent(c.name)}`).join(', ');
    statement = `select row_to_json(x)::text as line from (select ${select} from ${spec.relation} t${filter} order by ${order}) x`;
    eol = '\n';
  }
  for await (const rows of db.unsafe<{ line: string }[]>(statement, params).cursor(CURSOR_ROWS)) {
    let chunk = '';
    for (const r of rows) chunk += r.line + eol;
    yield chunk;
  }
}
