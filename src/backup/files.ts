/**
 * The backups in a directory: listing them (from each file's manifest line) and deleting those past
 * the retention period (by the time in their name, which `backup create` wrote).
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsProblem } from '../errors.ts';
import { backupFileTime } from './create.ts';
import { readManifest } from './format.ts';

/** One backup file of a listing. */
export interface BackupEntry {
  file: string;
  path: string;
  size: number;
  /** From the manifest; the name's time when the file cannot be read. */
  createdAt: Date;
  /** Null when the file cannot be read. */
  schema: string | null;
  rows: number | null;
  /** Why the manifest could not be read. */
  problem: string | null;
}

async function backupNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => backupFileTime(f) !== null).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read backup directory ${dir}: ${fsProblem(err)}`);
  }
}

/** The backups in `dir`, oldest first; a missing directory has none. */
export async function listBackups(dir: string): Promise<BackupEntry[]> {
  const out: BackupEntry[] = [];
  for (const file of await backupNames(dir)) {
    const path = join(dir, file);
    const size = (await stat(path)).size;
    try {
      const m = await readManifest(path);
      out.push({
        file,
        path,
        size,
        createdAt: new Date(m.created_at),
        schema: m.schema,
        rows: Object.values(m.tables).reduce((a, b) => a + b, 0),
        problem: null,
      });
    } catch (err) {
      out.push({ file, path, size, createdAt: backupFileTime(file) as Date, schema: null, rows: null, problem: (err as Error).message });
    }
  }
  return out;
}

/** Deletes the backups in `dir` older than `keepDays` days; returns the files deleted. */
export async function cleanupBackups(dir: string, keepDays: number, now = new Date()): Promise<string[]> {
  const cutoff = now.getTime() - keepDays * 86_400_000;
  const deleted: string[] = [];
  for (const file of await backupNames(dir)) {
    const at = backupFileTime(file);
    if (!at || at.getTime() >= cutoff) continue;
    try {
      await unlink(join(dir, file));
      deleted.push(file);
    } catch (err) {
      throw new Error(`cannot delete ${join(dir, file)}: ${fsProblem(err)}`);
    }
  }
  return deleted;
}
