/**
 * The backup file format, version 1: gzip'd JSON lines.
 *
 *   {"format":"emag-sync-backup","version":1,"schema":"004_commands","created_at":"…","tables":{"emag_offers":3000,…}}
 *   {"t":"emag_offers","r":{…one row…}}
 *   …
 *   {"rows":<row lines>,"sha256":"<hex SHA-256 of every byte before this line>"}
 *
 * The manifest comes first so a listing reads one line; the trailer comes last so a truncated file
 * cannot pass. Row values are never parsed into JavaScript numbers (which would round numerics and
 * large ids): a row's JSON text goes to Postgres as it is.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, type Stats, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';

/** The `format` of the manifest line. */
export const BACKUP_FORMAT = 'emag-sync-backup';
/** The format version this code writes and reads. */
export const BACKUP_VERSION = 1;

/** The first line of a backup. */
export interface Manifest {
  format: typeof BACKUP_FORMAT;
  version: number;
  /** The latest migration applied to the database it was taken from. */
  schema: string;
  /** When the snapshot was taken (ISO 8601, UTC). */
  created_at: string;
  /** Rows per table, in load order. */
  tables: Record<string, number>;
}

/** A file that is not a complete, intact emag-sync backup. The message says what is wrong. */
export class BackupFileError extends Error {
  override name = 'BackupFileError';
}

const NEWLINE = Buffer.from('\n');
const ROW_PREFIX = Buffer.from('{"t":"');
const ROW_MIDDLE = '","r":';
/** No line of ours comes near this; a foreign file without newlines must not fill the memory. */
const MAX_LINE_BYTES = 256 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The manifest line, with its newline. */
export function manifestLine(m: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(m)}\n`);
}

/** The trailer line: the number of row lines and the SHA-256 (hex) of everything before it. */
export function trailerLine(rows: number, sha256: string): Buffer {
  return Buffer.from(`${JSON.stringify({ rows, sha256 })}\n`);
}

/** Counts newlines in a chunk: COPY hands over whole lines, one row each. */
export function countLines(chunk: Buffer): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

/** One row of a backup: its table and its JSON text. */
export interface BackupRow {
  table: string;
  json: string;
}

/** Why a file cannot be opened, in words. */
function openProblem(path: string): string | null {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${path}: no such file`;
    if (code === 'EACCES') return `${path}: permission denied`;
    return `${path}: ${(err as Error).message}`;
  }
  if (!st.isFile()) return `${path}: not a file`;
  return null;
}

/** What a zlib failure means for a person. */
function gzipProblem(path: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message)) return `${path} is truncated (the gzip stream ends early)`;
  if (err.code === 'Z_DATA_ERROR') return `${path} is not a gzip file or is corrupted (${err.message})`;
  if (err.code === 'EACCES') return `${path}: permission denied`;
  return `${path}: ${err.message}`;
}

/** The uncompressed lines of a gzip file, as Buffers without their newline; the last may lack one. */
async function* gzipLines(path: string, maxFirstLine: number): AsyncGenerator<{ line: Buffer; complete: boolean }> {
  const problem = openProblem(path);
  if (problem) throw new BackupFileError(problem);
  const file = createReadStream(path);
  const gunzip = createGunzip();
  file.on('error', (err) => gunzip.destroy(err));
  file.pipe(gunzip);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let first = true;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(10, start);
        if (nl === -1) {
          if (start < chunk.length) {
            pending.push(chunk.subarray(start));
            pendingBytes += chunk.length - start;
          }
          const cap = first ? maxFirstLine : MAX_LINE_BYTES;
          if (pendingBytes > cap) throw new BackupFileError(`${path} is not an emag-sync backup (a line longer than ${cap} bytes)`);
          break;
        }
        const piece = chunk.subarray(start, nl);
        const line = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
        pending = [];
        pendingBytes = 0;
        first = false;
        yield { line, complete: true };
        start = nl + 1;
      }
    }
  } catch (err) {
    if (err instanceof BackupFileError) throw err;
    throw new BackupFileError(gzipProblem(path, err as NodeJS.ErrnoException));
  } finally {
    file.destroy();
    gunzip.destroy();
  }
  if (pendingBytes > 0) yield { line: Buffer.concat(pending), complete: false };
}

function parseManifest(path: string, line: Buffer): Manifest {
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(line.toString('utf8'));
  } catch {
    throw new BackupFileError(`${path} is not an emag-sync backup (its first line is not a manifest)`);
  }
  if (m === null || typeof m !== 'object' || m.format !== BACKUP_FORMAT) {
    throw new BackupFileError(`${path} is not an emag-sync backup (no "format": "${BACKUP_FORMAT}" manifest)`);
  }
  if (m.version !== BACKUP_VERSION) {
    throw new BackupFileError(`${path} is backup format version ${String(m.version)}; this emag-sync reads version ${BACKUP_VERSION}`);
  }
  const tablesOk = m.tables !== null && typeof m.tables === 'object' && Object.values(m.tables).every((n) => Number.isInteger(n) && n >= 0);
  if (typeof m.schema !== 'string' || typeof m.created_at !== 'string' || !tablesOk) {
    throw new BackupFileError(`${path} has a malformed manifest (schema, created_at and tables are required)`);
  }
  return m as Manifest;
}

/** Reads only the manifest (the first line), for listings. */
export async function readManifest(path: string): Promise<Manifest> {
  for await (const { line } of gzipLines(path, MAX_MANIFEST_BYTES)) return parseManifest(path, line);
  throw new BackupFileError(`${path} is empty`);
}

/**
 * Reads a backup from start to end, handing over its manifest first and then each row, and checks
 * it as it goes: the trailer must be last, its SHA-256 and row total must match what was read, and
 * the rows per table must match the manifest. Any mismatch throws BackupFileError — after the rows
 * were handed over, so a loader must apply them in a transaction it commits only once this resolves.
 */
export async function readBackup(
  path: string,
  onManifest: (m: Manifest) => void | Promise<void>,
  onRow: (row: BackupRow) => void | Promise<void>,
): Promise<Manifest> {
  const hash: Hash = createHash('sha256');
  let manifest: Manifest | null = null;
  let trailer: { rows: unknown; sha256: unknown } | null = null;
  const counts = new Map<string, number>();
  let rows = 0;
  for await (const { line, complete } of gzipLines(path, MAX_MANIFEST_BYTES)) {
    if (!complete) throw new BackupFileError(`${path} is truncated (its last line is incomplete)`);
    if (trailer) throw new BackupFileError(`${path} is corrupted (lines after the trailer)`);
    if (!manifest) {
      manifest = parseManifest(path, line);
      await onManifest(manifest);
    } else if (line.subarray(0, ROW_PREFIX.length).equals(ROW_PREFIX)) {
      const middle = line.indexOf(ROW_MIDDLE, ROW_PREFIX.length);
      const table = middle === -1 ? '' : line.toString('latin1', ROW_PREFIX.length, middle);
      if (!/^[a-z0-9_]+$/.test(table) || line[line.length - 1] !== 0x7d /* } */) {
        throw new BackupFileError(`${path} is corrupted (line ${rows + 2} is not a row)`);
      }
      if (!Object.hasOwn(manifest.tables, table)) throw new BackupFileError(`${path} is corrupted (rows of ${table}, which its manifest does not list)`);
      counts.set(table, (counts.get(table) ?? 0) + 1);
      rows++;
      await onRow({ table, json: line.toString('utf8', middle + ROW_MIDDLE.length, line.length - 1) });
    } else {
      try {
        trailer = JSON.parse(line.toString('utf8'));
      } catch {
        trailer = null;
      }
      if (!trailer || typeof trailer !== 'object' || typeof trailer.sha256 !== 'string') {
        throw new BackupFileError(`${path} is corrupted (line ${rows + 2} is neither a row nor the trailer)`);
      }
      continue;
    }
    hash.update(line);
    hash.update(NEWLINE);
  }
  if (!manifest) throw new BackupFileError(`${path} is empty`);
  if (!trailer) throw new BackupFileError(`${path} is truncated (no trailer line)`);
  const digest = hash.digest('hex');
  if (trailer.sha256 !== digest) throw new BackupFileError(`${path} is corrupted (SHA-256 ${digest} does not match the recorded ${String(trailer.sha256).slice(0, 64)})`);
  if (trailer.rows !== rows) throw new BackupFileError(`${path} is corrupted (${rows} rows read, its trailer says ${String(trailer.rows)})`);
  for (const [table, expected] of Object.entries(manifest.tables)) {
    const got = counts.get(table) ?? 0;
    if (got !== expected) throw new BackupFileError(`${path} is corrupted (${got} rows of ${table}, its manifest says ${expected})`);
  }
  return manifest;
}

/** Reads and checks a whole backup without loading it; resolves with its manifest. */
export function verifyBackup(path: string): Promise<Manifest> {
  return readBackup(path, () => {}, () => {});
}
