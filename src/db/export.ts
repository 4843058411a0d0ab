/**
 * The SQL of exports: a table or view streamed by binary COPY as CSV (RFC 4180: a header, CRLF
 * line ends, fields quoted only when they must be) or JSON lines. Values are rendered by Postgres:
 * numbers exactly as stored, timestamps in ISO 8601 UTC with microseconds, nested values (jsonb,
 * arrays) as JSON. The CLI and the status server write the very same chunks.
 */
import type { Db } from './connect.ts';
import { accountsInDatabase, copyOut } from './snapshot.ts';

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

/** Output is handed on in chunks of about this size (one COPY message is one row). */
const CHUNK_BYTES = 64 * 1024;

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
 * A literal for a COPY statement, which takes no parameters. An E'' string with quotes and
 * backslashes doubled means the same whatever standard_conforming_strings says.
 */
function literal(text: string): string {
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/**
 * The export as chunks of whole lines (the CSV header first). Each line is built by Postgres and
 * read with binary COPY, which carries it byte for byte (text COPY would escape backslashes and
 * line breaks), so memory holds one chunk, never a table. Resolve the first chunk before promising
 * an answer: a database error shows there.
 */
export async function* exportChunks(db: Db, q: ExportQuery): AsyncGenerator<Buffer> {
  const spec = EXPORTS[q.what];
  const columns = await columnsOf(db, spec.relation);
  const where: string[] = [];
  if (q.account !== undefined) where.push(`t.${spec.account} = ${literal(q.account)}`);
  if (q.since !== undefined) {
    const since = `${literal(q.since.toISOString())}::timestamptz`;
    where.push(
      spec.since
        ? `t.${spec.since} >= ${since}`
        : `exists (select 1 from emag_orders o where o.account = t.account and o.id = t.order_id and o.updated_at >= ${since})`,
    );
  }
  const filter = where.length > 0 ? ` where ${where.join(' and ')}` : '';
  const order = spec.order.split(', ').map((c) => `t.${c}`).join(', ');
  let statement: string;
  let eol: Buffer;
  if (q.format === 'csv') {
    // Rendered once in the inner query (`offset 0` keeps the planner from inlining it into each use).
    const inner = columns.map((c, i) => `${rendered(c, false)} as c${i}`).join(', ');
    const line = columns.map((_, i) => csvField(`x.c${i}`)).join(` || ',' || `);
    statement = `select ${line} as line from (select ${inner} from ${spec.relation} t${filter} order by ${order} offset 0) x`;
    eol = Buffer.from('\r\n');
    yield Buffer.from(`${columns.map((c) => csvHeaderField(c.name)).join(',')}\r\n`);
  } else {
    const select = columns.map((c) => `${rendered(c, true)} as ${quoteIdent(c.name)}`).join(', ');
    statement = `select row_to_json(x)::text as line from (select ${select} from ${spec.relation} t${filter} order by ${order}) x`;
    eol = Buffer.from('\n');
  }
  yield* binaryCopyLines(copyOut(db.unsafe(`copy (${statement}) to stdout with (format binary)`)), eol);
}

/** The 11-byte signature, flags and extension length that open a binary COPY stream. */
const BINARY_HEADER_BYTES = 19;

/**
 * Reads a binary COPY of one non-null text column and hands on each value followed by `eol`,
 * batched into chunks of about CHUNK_BYTES. Layout: header, then per row an int16 field count
 * (-1 ends the data), an int32 length and the bytes.
 */
async function* binaryCopyLines(source: AsyncIterable<Buffer>, eol: Buffer): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let headerRead = false;
  let out: Buffer[] = [];
  let outBytes = 0;
  for await (const chunk of source) {
    buf = buf.length > 0 ? Buffer.concat([buf, chunk]) : chunk;
    let pos = 0;
    if (!headerRead) {
      if (buf.length < BINARY_HEADER_BYTES) continue;
      const extension = buf.readUInt32BE(15);
      if (buf.length < BINARY_HEADER_BYTES + extension) continue;
      pos = BINARY_HEADER_BYTES + extension;
      headerRead = true;
    }
    while (buf.length - pos >= 2) {
      const fields = buf.readInt16BE(pos);
      if (fields === -1) {
        pos += 2;
        continue;
      }
      if (buf.length - pos < 6) break;
      const length = buf.readInt32BE(pos + 2);
      if (fields !== 1 || length < 0) throw new Error('unexpected binary COPY row (one non-null column expected)');
      if (buf.length - pos < 6 + length) break;
      out.push(buf.subarray(pos + 6, pos + 6 + length), eol);
      outBytes += length + eol.length;
      pos += 6 + length;
    }
    // What is left is the start of a row; copied so the chunk it came from can be freed.
    buf = pos < buf.length ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
    if (outBytes >= CHUNK_BYTES) {
      yield Buffer.concat(out, outBytes);
      out = [];
      outBytes = 0;
    }
  }
  if (outBytes > 0) yield Buffer.concat(out, outBytes);
}
