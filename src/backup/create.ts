/**
 * `backup create`: one consistent snapshot of every table, streamed from COPY through SHA-256 and
 * gzip into `<dir>/emag-sync-<UTC timestamp>.jsonl.gz` (mode 0600, directory 0700). The file appears
 * under its name only once complete and synced; on any failure the partial file is removed.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Sql } from '../db/connect.ts';
import { withSnapshot } from '../db/snapshot.ts';
import { fsProblem } from '../errors.ts';
import { BACKUP_FORMAT, BACKUP_VERSION, countLines, manifestLine, trailerLine } from './format.ts';

/** A backup that could not be written; the message names the file or directory and the reason. */
export class BackupWriteError extends Error {
  override name = 'BackupWriteError';
}

/** What `createBackup` wrote. */
export interface CreatedBackup {
  path: string;
  /** Bytes on disk (compressed). */
  size: number;
  createdAt: Date;
  schema: string;
  /** Rows per table. */
  tables: Record<string, number>;
  rows: number;
}

/** `emag-sync-20261201T083210.123Z.jsonl.gz`: sorts by time, no characters a file system dislikes. */
export function backupFileName(at: Date): string {
  return `emag-sync-${at.toISOString().replace(/[-:]/g, '')}.jsonl.gz`;
}

/** The time in a backup file name, or null for a name that is not one of ours. */
export function backupFileTime(name: string): Date | null {
  const m = /^emag-sync-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z\.jsonl\.gz$/.exec(name);
  if (!m) return null;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Creates the directory (0700) if needed and checks it is a directory. */
export async function ensureBackupDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (err) {
    throw new BackupWriteError(`cannot use backup directory ${dir}: ${fsProblem(err)}`);
  }
}

/** Writes a backup of the database into `dir`. */
export async function createBackup(sql: Sql, opts: { dir: string; withCallLog?: boolean }): Promise<CreatedBackup> {
  await ensureBackupDir(opts.dir);
  return withSnapshot(sql, { withCallLog: opts.withCallLog === true }, async (snap) => {
    const path = join(opts.dir, backupFileName(snap.takenAt));
    const partial = join(opts.dir, `.${backupFileName(snap.takenAt)}.partial`);
    const hash = createHash('sha256');
    let rows = 0;
    async function* content(): AsyncGenerator<Buffer> {
      const manifest = manifestLine({
        format: BACKUP_FORMAT,
        version: BACKUP_VERSION,
        schema: snap.schema,
        created_at: snap.takenAt.toISOString(),
        tables: Object.fromEntries(snap.tables.map((t) => [t, snap.counts[t]])),
      });
      hash.update(manifest);
      yield manifest;
      for (const table of snap.tables) {
        let n = 0;
        for await (const buf of snap.lines(table)) {
          hash.update(buf);
          n += countLines(buf);
          yield buf;
        }
        // Same transaction, same snapshot: a difference would mean a bug, never a race.
        if (n !== snap.counts[table]) throw new Error(`${table}: ${n} rows streamed, ${snap.counts[table]} counted`);
        rows += n;
      }
      yield trailerLine(rows, hash.digest('hex'));
    }
    let out: ReturnType<typeof createWriteStream>;
    try {
      // `wx`: never overwrite; 0600 because backups hold the customer data of orders.
      const fh = await open(partial, 'wx', 0o600);
      out = createWriteStream(partial, { fd: fh });
    } catch (err) {
      throw new BackupWriteError(`cannot write in ${opts.dir}: ${fsProblem(err)}`);
    }
    try {
      await pipeline(Readable.from(content()), createGzip(), out);
      // On disk before it gets its name: a crash leaves a .partial file, never a short backup.
      const fh = await open(partial, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(partial, 0o600);
      await rename(partial, path);
    } catch (err) {
      await unlink(partial).catch(() => {});
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
        throw new BackupWriteError(`writing ${path} failed: ${fsProblem(err)}; the partial file was removed`);
      }
      throw err;
    }
    const size = (await stat(path)).size;
    return { path, size, createdAt: snap.takenAt, schema: snap.schema, tables: { ...snap.counts }, rows };
  });
}
