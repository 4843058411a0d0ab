/**
 * The SQL that owns `emag_checkpoints`: one cursor per account and stream, written in the same
 * transaction as the data it covers, so it never runs ahead of what is committed.
 */
import type { Db } from './connect.ts';

/** Reads a stream's checkpoint, or null before its first run. */
export async function getCheckpoint<T>(db: Db, account: string, stream: string): Promise<T | null> {
  const [row] = await db<{ value: T }[]>`select value from emag_checkpoints where account = ${account} and stream = ${stream}`;
  return row?.value ?? null;
}

/** Writes a stream's checkpoint (call inside the transaction that commits the data it covers). */
export async function setCheckpoint(db: Db, account: string, stream: string, value: unknown): Promise<void> {
  await db`
    insert into emag_checkpoints (account, stream, value) values (${account}, ${stream}, ${db.json(value as never)})
    on conflict (account, stream) do update set value = excluded.value, updated_at = now()`;
}
