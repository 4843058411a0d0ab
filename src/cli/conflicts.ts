/**
 * `emag-sync conflicts`: the offer changes parked by the manual conflict strategy.
 */
import { loadConfig, readEnv } from '../config.ts';
import { listConflicts, resolveConflict } from '../db/commands.ts';
import { openDatabase } from '../db/connect.ts';
import { migrate } from '../db/migrate.ts';
import { createLogger } from '../log.ts';
import { type Command, UsageError } from './command.ts';

/** Lists open (or all) conflicts, or resolves one by keeping the local or eMAG's value. */
export const conflicts: Command = {
  summary: 'offer changes parked by the manual conflict strategy',
  args: 'list|resolve',
  usage: `Usage: emag-sync conflicts list [--all]
       emag-sync conflicts resolve <id> --keep local|emag

Offer and stock commands that met a different value on eMAG are parked here when the conflict
strategy is "manual" (EMAG_CONFLICT_STRATEGY or EMAG_<A>_CONFLICT_STRATEGY).

  list               open conflicts (--all: resolved ones too)
  resolve <id>       --keep local: send the command anyway; --keep emag: keep eMAG's value and
                     cancel the command`,
  options: { keep: { type: 'string' }, all: { type: 'boolean' } },
  positionals: 2,
  async run({ values, positionals }) {
    const [action, idArg] = positionals;
    if (action !== 'list' && action !== 'resolve') throw new UsageError('say "list" or "resolve <id> --keep local|emag"');
    if (action === 'resolve' && (!idArg || !/^\d+$/.test(idArg))) throw new UsageError('resolve needs a conflict id (see "emag-sync conflicts list")');
    if (action === 'resolve' && values.keep !== 'local' && values.keep !== 'emag') throw new UsageError('--keep must be local or emag');
    const config = loadConfig(readEnv(), { requireAccounts: false });
    const db = await openDatabase(config.databaseUrl, config.dataDir, createLogger('warn'));
    try {
      await migrate(db.sql);
      if (action === 'list') {
        const rows = await listConflicts(db.sql, values.all === true);
        if (rows.length === 0) console.log(values.all ? 'no conflicts' : 'no open conflicts');
        for (const c of rows) {
          const state = c.status === 'open' ? 'open' : `resolved: kept ${c.resolution}`;
          console.log(`#${c.id} ${c.account} offer ${c.offer_id} (command ${c.command_id}, ${state}): local ${JSON.stringify(c.local)} vs eMAG ${JSON.stringify(c.emag)}`);
        }
        return 0;
      }
      const keep = values.keep as 'local' | 'emag';
      if (!(await resolveConflict(db.sql, Number(idArg), keep))) {
        console.error(`emag-sync conflicts: no open conflict #${idArg}`);
        return 1;
      }
      console.log(keep === 'local' ? `conflict #${idArg} resolved: the command will be sent` : `conflict #${idArg} resolved: eMAG's value kept, command cancelled`);
      return 0;
    } finally {
      await db.close();
    }
  },
};
