/**
 * GET /api/export/<what>?format=csv|jsonl&account=&since=: the same export as `emag-sync export`,
 * byte for byte, streamed as an attachment (the dashboard's CSV download). The first chunk is read
 * before answering, so a database error is a 500, not a truncated file; a failure later cuts the
 * connection, so a client never mistakes a partial file for a whole one.
 */
import { Readable } from 'node:stream';
import { EXPORTS, type ExportFormat, exportChunks, isExportKind, knownAccounts, parseSince } from '../../db/export.ts';
import { HttpError } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /api/export/:what (404 unknown export or account, 400 bad format or date). */
export function exportRoute(ctx: RouteContext): Handler {
  return async ({ params, url }) => {
    const what = params.what;
    if (!isExportKind(what)) throw new HttpError(404, 'not_found', `no export "${what.slice(0, 60)}" (exports: ${Object.keys(EXPORTS).join(', ')})`);
    const query = url.searchParams;
    const format = (query.get('format') || 'csv').toLowerCase();
    if (format !== 'csv' && format !== 'jsonl') throw new HttpError(400, 'bad_request', 'format must be csv or jsonl');
    const account = query.get('account')?.toLowerCase() || undefined;
    if (account !== undefined) {
      const known = await knownAccounts(ctx.config.accounts.map((a) => a.name), ctx.sql);
      if (!known.includes(account)) throw new HttpError(404, 'unknown_account', `no account named "${account.slice(0, 60)}" (accounts: ${known.join(', ')})`);
    }
    const sinceText = query.get('since') || undefined;
    const since = sinceText === undefined ? undefined : parseSince(sinceText);
    if (since === null) throw new HttpError(400, 'bad_request', 'since must be a date (YYYY-MM-DD) or an ISO 8601 timestamp with a zone');
    const chunks = exportChunks(ctx.sql, { what, format: format as ExportFormat, account, since });
    const first = await chunks.next();
    async function* all(): AsyncGenerator<Buffer> {
      if (!first.done) yield first.value;
      yield* chunks;
    }
    const day = new Date().toISOString().slice(0, 10);
    return {
      status: 200,
      contentType: format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson; charset=utf-8',
      body: Readable.from(all()),
      headers: { 'Content-Disposition': `attachment; filename="emag-${what}${account ? `-${account}` : ''}-${day}.${format}"` },
    };
  };
}
