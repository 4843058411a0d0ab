/**
 * The SQL that owns the per-account reference tables (`emag_vat_rates`, `emag_handling_times`,
 * `emag_courier_accounts`): each refresh replaces an account's set, writing only changed rows.
 */
import type { Db } from './connect.ts';

/** A reference table and its columns besides `account`, `raw` and `updated_at`. */
export interface ReferenceTable {
  table: 'emag_vat_rates' | 'emag_handling_times' | 'emag_courier_accounts';
  /** The column that, with `account`, is the primary key. */
  key: string;
  columns: readonly string[];
}

/** The reference tables, by the eMAG resource that fills them. */
export const REFERENCE_TABLES = {
  vat: { table: 'emag_vat_rates', key: 'vat_id', columns: ['vat_id', 'vat_rate', 'is_default'] },
  handling_time: { table: 'emag_handling_times', key: 'handling_time', columns: ['handling_time'] },
  courier_accounts: {
    table: 'emag_courier_accounts',
    key: 'account_id',
    columns: [
      'account_id',
      'account_display_name',
      'courier_account_type',
      'courier_name',
      'courier_account_properties',
      'created',
      'status',
      'pickup_country_code',
    ],
  },
} as const satisfies Record<string, ReferenceTable>;

/** What one refresh did. */
export interface ReplaceCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

/**
 * Replaces an account's rows of a reference table with `rows` (each with the key, the columns and
 * `raw`), in the caller's transaction: new rows are inserted, rows whose `raw` changed are updated,
 * equal ones are not touched, and — when `deleteMissing` — rows missing from `rows` are deleted.
 */
export async function replaceReference(
  tx: Db,
  spec: ReferenceTable,
  account: string,
  rows: Record<string, unknown>[],
  deleteMissing: boolean,
): Promise<ReplaceCounts> {
  // A list may repeat a key; the last copy wins (ON CONFLICT cannot touch a row twice).
  const byKey = new Map(rows.map((r) => [String(r[spec.key]), r]));
  const input = [...byKey.values()];
  // Identifiers come from REFERENCE_TABLES, never from eMAG; the data goes as parameters. The
  // input is typed by the table itself (jsonb_populate_recordset), so no column list is repeated.
  const cols = [...spec.columns, 'raw'];
  const list = cols.join(', ');
  const [row] = await tx.unsafe<{ inserted: string; updated: string; deleted: string }[]>(
    `with input as (
      select ${list} from jsonb_populate_recordset(null::${spec.table}, $2::jsonb)
    ), written as (
      insert into ${spec.table} as t (account, ${list})
      select $1, ${list} from input
      on conflict (account, ${spec.key}) do update set
        ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}, updated_at = now()
      where t.raw is distinct from excluded.raw
      returning (xmax = 0) as inserted
    ), gone as (
      delete from ${spec.table} t
      where $3::boolean and t.account = $1 and t.${spec.key} not in (select ${spec.key} from input)
      returning 1
    )
    select (select count(*) from written where inserted) as inserted,
      (select count(*) from written where not inserted) as updated,
      (select count(*) from gone) as deleted`,
    [account, tx.json(input as never), deleteMissing],
  );
  const inserted = Number(row.inserted);
  const updated = Number(row.updated);
  return { inserted, updated, unchanged: rows.length - inserted - updated, deleted: Number(row.deleted) };
}

/** One of the account's mirrored courier accounts, or null (also when reference data was never read). */
export async function courierAccount(db: Db, account: string, id: number): Promise<{ status: number | null; courier_account_type: number | null } | null> {
  const [row] = await db<{ status: number | null; courier_account_type: number | null }[]>`
    select status, courier_account_type from emag_courier_accounts where account = ${account} and account_id = ${id}`;
  return row ?? null;
}

/** How many courier accounts of the account are mirrored (0: reference data not read yet). */
export async function courierAccountCount(db: Db, account: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`select count(*)::int as n from emag_courier_accounts where account = ${account}`;
  return row.n;
}
