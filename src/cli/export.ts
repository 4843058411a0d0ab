/**
 * `emag-sync export <what>`: a table or view as CSV or JSON lines, streamed to a file or stdout.
 */
import { createWriteStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { loadConfig, readEnv } from '../config.ts';
import { openDatabase } from '../db/connect.ts';
import { EXPORTS, type ExportFormat, type ExportKind, exportChunks, isExportKind, knownAccounts, parseSince } from '../db/export.ts';
import { fsProblem } from '../errors.ts';
import { createLogger } from '../log.ts';
import { type Command, UsageError } from './command.ts';

/** Exports offers, products, orders, order lines, returns or commands. */
export const exportCommand: Command = {
  summary: 'offers, products, orders, lines, returns or commands as CSV or JSON lines',
  args: '<what>',
  usage: `Usage: emag-sync export <${Object.keys(EXPORTS).join('|')}> [--account A] [--format csv|jsonl] [--since DATE] [--output FILE|-]

Streams a table (or the unified catalog, "products") as CSV (RFC 4180, a header row, UTF-8) or JSON
lines (one object per row). Numbers come exactly as stored, timestamps in ISO 8601 UTC, nested
values (stock per warehouse, voucher splits, raw records) as JSON in one cell.

Options:
  --account A        only this account's rows (products: those taken from this account)
  --format F         csv (default) or jsonl
  --since DATE       only rows changed since DATE (YYYY-MM-DD, midnight UTC, or an ISO timestamp);
                     order lines follow their order
  --output FILE|-    write to FILE (mode 0600; removed if the export fails) instead of stdout`,
  options: {
    account: { type: 'string' },
    format: { type: 'string' },
    since: { type: 'string' },
    output: { type: 'string' },
  },
  positionals: 1,
  async run({ values, positionals }) {
    const what = positionals[0];
    if (!what) throw new UsageError(`what to export? one of ${Object.keys(EXPORTS).join(', ')}`);
    if (!isExportKind(what)) throw new UsageError(`cannot export "${what}" (one of ${Object.keys(EXPORTS).join(', ')})`);
    const format = ((values.format as string | undefined) ?? 'csv').toLowerCase();
    if (format !== 'csv' && format !== 'jsonl') throw new UsageError(`--format must be csv or jsonl, not "${values.format}"`);
    let since: Date | undefined;
    if (values.since !== undefined) {
      const parsed = parseSince(String(values.since));
      if (!parsed) throw new UsageError(`--since "${values.since}" is not a date (YYYY-MM-DD or an ISO 8601 timestamp with a zone)`);
      since = parsed;
    }
    const account = values.account === undefined ? undefined : String(values.account).toLowerCase();
    const output = values.output === undefined || values.output === '-' ? null : String(values.output);
    const config = loadConfig(readEnv(), { requireAccounts: false });
    const db = await openDatabase(config.databaseUrl, config.dataDir, createLogger('warn'));
    try {
      if (account !== undefined) {
        const known = await knownAccounts(config.accounts.map((a) => a.name), db.sql);
        if (!known.includes(account)) throw new UsageError(`unknown account "${values.account}" (known: ${known.join(', ') || 'none'})`);
      }
      await writeExport(exportChunks(db.sql, { what: what as ExportKind, format: format as ExportFormat, account, since }), output);
      return 0;
    } finally {
      await db.close();
    }
  },
};

/** Streams the chunks into the file (removed on failure) or stdout. */
async function writeExport(chunks: AsyncGenerator<Buffer>, output: string | null): Promise<void> {
  if (output === null) {
    await pipeline(Readable.from(chunks), process.stdout as Writable, { end: false });
    return;
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(output, 'w', 0o600);
  } catch (err) {
    throw new Error(`cannot write ${output}: ${fsProblem(err)}`);
  }
  try {
    await pipeline(Readable.from(chunks), createWriteStream(output, { fd: handle }));
  } catch (err) {
    await unlink(output).catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    throw typeof code === 'string' && /^E[A-Z]+$/.test(code) ? new Error(`writing ${output} failed: ${fsProblem(err)}; the partial file was removed`) : err;
  }
}
