/**
 * The SQL that owns `emag_quarantine`: records eMAG sent that could not be stored, with the reason.
 */
import type { Db } from './connect.ts';

/** One record set aside. */
export interface QuarantinedRecord {
  key: string | null;
  reason: string;
  raw: unknown;
}

/** Stores quarantined records of a run (inside the page's transaction, when `sql` is one). */
export async function quarantine(sql: Db, account: string, stream: string, runId: number, records: QuarantinedRecord[]): Promise<void> {
  if (records.length === 0) return;
  const rows = records.map((r) => ({
    account,
    stream,
    run_id: runId,
    record_key: r.key,
    reason: r.reason,
    raw: (r.raw ?? null) as never,
  }));
  await sql`insert into emag_quarantine ${sql(rows, 'account', 'stream', 'run_id', 'record_key', 'reason', 'raw')}`;
}
