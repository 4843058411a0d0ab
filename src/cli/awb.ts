/**
 * `emag-sync awb pdf <emag_id>`: downloads an AWB's label (`awb/read_pdf`) as a PDF file, under the
 * account's rate budget. Only AWBs issued through the API (they have an emag_id) can be printed.
 */
import { writeFile } from 'node:fs/promises';
import { loadConfig, readEnv } from '../config.ts';
import { AccountBudget } from '../emag/budget.ts';
import { EmagClient } from '../emag/client.ts';
import { EmagError } from '../emag/errors.ts';
import { type Command, UsageError } from './command.ts';

/** Paper formats eMAG prints labels on. */
const FORMATS = ['A4', 'A5', 'A6'] as const;

/** The `awb` command. */
export const awb: Command = {
  summary: 'download the label (PDF) of an AWB issued through the API',
  args: 'pdf <emag_id>',
  usage: `Usage: emag-sync awb pdf <emag_id> [--format A4|A5|A6] [--output FILE] [--account NAME]

Downloads the label of an AWB issued through the API (awb/read_pdf) and writes it to FILE
(default: awb-<emag_id>.pdf; "-" writes to stdout). The emag_id is in emag_awbs and on the
awb_create command's result.

Options:
  --format F      paper format: A4 (default), A5 or A6
  --output FILE   where to write the PDF
  --account NAME  the account the AWB belongs to (default: the only, or first seller-fulfilled, account)`,
  options: { format: { type: 'string' }, output: { type: 'string' }, account: { type: 'string' } },
  positionals: 2,
  async run({ values, positionals }) {
    const [action, idArg] = positionals;
    if (action !== 'pdf') throw new UsageError('say "pdf <emag_id>"');
    if (!idArg || !/^[1-9]\d{0,9}$/.test(idArg) || Number(idArg) > 4_294_967_295) throw new UsageError('pdf needs an AWB emag_id (a whole number)');
    const format = String(values.format ?? 'A4').toUpperCase();
    if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, not "${values.format}"`);
    const config = loadConfig(readEnv());
    const wanted = typeof values.account === 'string' ? values.account.toLowerCase() : null;
    const account = wanted ? config.accounts.find((a) => a.name === wanted) : (config.accounts.find((a) => a.orderType === 3) ?? config.accounts[0]);
    if (!account) throw new UsageError(`no account named "${wanted}" (accounts: ${config.accounts.map((a) => a.name).join(', ')})`);
    const client = new EmagClient({
      account: account.name,
      baseUrl: account.baseUrl,
      username: account.username,
      password: account.password,
      budget: new AccountBudget(account.ordersRps, account.otherRps),
      timeoutMs: config.apiTimeoutMs,
      maxRetries: config.maxRetries,
    });
    let pdf: Buffer;
    try {
      pdf = await client.download('awb', 'read_pdf', { emag_id: idArg, awb_format: format }, 'application/pdf');
    } catch (err) {
      if (!(err instanceof EmagError)) throw err;
      console.error(`emag-sync awb: ${account.name}: eMAG did not give the label of AWB ${idArg}: ${err.messages.length > 0 ? err.messages.join(' ') : err.message}`);
      return 1;
    }
    if (!pdf.subarray(0, 5).equals(Buffer.from('%PDF-'))) {
      console.error(`emag-sync awb: ${account.name}: the answer for AWB ${idArg} is not a PDF`);
      return 1;
    }
    const output = typeof values.output === 'string' ? values.output : `awb-${idArg}.pdf`;
    if (output === '-') process.stdout.write(pdf);
    else {
      await writeFile(output, pdf);
      console.log(`AWB ${idArg} (${format}, ${pdf.length} bytes) written to ${output}`);
    }
    return 0;
  },
};
