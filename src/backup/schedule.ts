/**
 * The daemon's own backups (EMAG_BACKUP_SCHEDULE, off by default): a backup on that cron schedule,
 * then a cleanup of those past EMAG_BACKUP_RETENTION_DAYS. Among several daemons on one database,
 * the one that takes the backup lock makes it; the others skip that slot.
 */
import { Cron } from 'croner';
import type { Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import { withBackupLock } from '../db/snapshot.ts';
import { coerceError, scrubSecrets } from '../errors.ts';
import type { Logger } from '../log.ts';
import { createBackup } from './create.ts';
import { cleanupBackups } from './files.ts';

/** A running backup schedule. */
export interface BackupSchedule {
  /** Stops the schedule and waits for a backup in progress. */
  stop(): Promise<void>;
}

/** Takes one scheduled backup (unless another daemon is taking one) and cleans up after it. */
export async function scheduledBackup(sql: Sql, config: Config, log: Logger): Promise<void> {
  const taken = await withBackupLock(sql, async () => {
    const made = await createBackup(sql, { dir: config.backupDir });
    log.info({ path: made.path, bytes: made.size, rows: made.rows }, 'backup written');
    const deleted = await cleanupBackups(config.backupDir, config.backupRetentionDays);
    if (deleted.length > 0) log.info({ deleted }, `${deleted.length} old backup(s) deleted`);
  });
  if (!taken) log.info('backup skipped: another emag-sync is taking one');
}

/** Starts the schedule; null when EMAG_BACKUP_SCHEDULE is not set. */
export function startBackupSchedule(sql: Sql, config: Config, log: Logger): BackupSchedule | null {
  if (!config.backupSchedule) return null;
  let running: Promise<void> = Promise.resolve();
  const job = new Cron(config.backupSchedule, { name: 'backup', protect: true }, () => {
    running = scheduledBackup(sql, config, log).catch((err) => log.error({ err: scrubSecrets(coerceError(err).message) }, 'scheduled backup failed'));
    return running;
  });
  log.info({ schedule: config.backupSchedule, dir: config.backupDir, next: job.nextRun()?.toISOString() }, 'backups scheduled');
  return {
    stop: async () => {
      job.stop();
      await running;
    },
  };
}
