/**
 * The shape of one `emag-sync` command: its help, its options and what it does. `src/cli.ts` holds
 * the table of them; a command longer than a few lines lives in a file of its own under `src/cli/`.
 */
import type { ParseArgsConfig } from 'node:util';

/** Options as `node:util` parseArgs takes them. */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** The parsed command line a command's `run` receives. */
export interface CommandArgs {
  /** Option values by name (strings, booleans, or arrays for `multiple: true`). */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** One command of the `emag-sync` binary. */
export interface Command {
  /** One line for the command list of `emag-sync --help`. */
  summary: string;
  /** What follows the name in that list, e.g. `<account|all>` (the list's left column). @default '' */
  args?: string;
  /** The whole `--help` text, starting with `Usage:`. */
  usage: string;
  /** Its options (strict: anything else is a usage error). */
  options: CommandOptions;
  /** How many positional arguments it accepts at most. @default 0 */
  positionals?: number;
  /** Runs the command; resolves with the exit code. Throws `UsageError` for a mistake in the call. */
  run(args: CommandArgs): Promise<number>;
}

/** A mistake in how the command was called (exit 64, with the command's usage). */
export class UsageError extends Error {
  readonly exitCode = 64;
}

/** Another process holds an account's lease (exit 75). */
export class BusyError extends Error {
  readonly exitCode = 75;
}
