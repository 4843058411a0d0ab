/**
 * CSV answers streamed from batches of rows (RFC 4180: quoted where needed, CRLF line ends), so a
 * download of the whole catalog never sits in memory. A cell starting with = + - @ is prefixed with
 * an apostrophe: spreadsheets would run it as a formula (CSV injection).
 */
import { Readable } from 'node:stream';
import type { Reply } from './reply.ts';

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = value instanceof Date ? value.toISOString() : Array.isArray(value) ? value.join(' ') : String(value);
  if (/^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A streamed CSV download of `columns` from each batch of `rows`. */
export function csvReply<T>(filename: string, columns: ReadonlyArray<keyof T & string>, rows: AsyncIterable<T[]>): Reply {
  async function* lines(): AsyncGenerator<string> {
    yield `${columns.join(',')}\r\n`;
    for await (const batch of rows) yield batch.map((r) => `${columns.map((c) => cell(r[c])).join(',')}\r\n`).join('');
  }
  return {
    status: 200,
    contentType: 'text/csv; charset=utf-8',
    body: Readable.from(lines()),
    headers: { 'Content-Disposition': `attachment; filename="${filename}"` },
  };
}
