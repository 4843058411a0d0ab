/**
 * The `<account|all>` argument of the commands that act on accounts.
 */
import type { AccountConfig, Config } from '../config.ts';
import { UsageError } from './command.ts';

/** The named account, or every enabled one for `all`; an unknown name is a UsageError listing the configured ones. */
export function pickAccounts(config: Config, name: string): AccountConfig[] {
  if (name === 'all') return config.accounts.filter((a) => a.enabled);
  const account = config.accounts.find((a) => a.name === name.toLowerCase());
  if (!account) throw new UsageError(`unknown account "${name}" (configured: ${config.accounts.map((a) => a.name).join(', ')}, or "all")`);
  return [account];
}
