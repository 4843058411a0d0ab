/**
 * The `emag-sync` command: one table of commands (each a `Command` of src/cli/), a dispatcher that
 * parses each one's options strictly, and failures turned into clear messages and exit codes
 * (64 usage, 69 database unavailable, 75 account busy, 78 configuration, 1 sync failed).
 */
import { parseArgs } from 'node:util';
import { alerts } from './cli/alerts.ts';
import { awb } from './cli/awb.ts';
import { type Command, type CommandArgs, UsageError } from './cli/command.ts';
import { backup } from './cli/backup.ts';
import { conflicts } from './cli/conflicts.ts';
import { demo } from './cli/demo.ts';
import { exportCommand } from './cli/export.ts';
import { health } from './cli/health.ts';
import { migrate } from './cli/migrate.ts';
import { sandbox } from './cli/sandbox.ts';
import { start } from './cli/start.ts';
import { status } from './cli/status.ts';
import { sync } from './cli/sync.ts';
import { test } from './cli/test.ts';
import { ConfigError } from './config.ts';
import { VERSION } from './daemon.ts';
import { coerceError, scrubSecrets } from './errors.ts';

/** Every command, in the order `emag-sync --help` lists them. */
export const COMMANDS: Record<string, Command> = { start, sync, migrate, test, conflicts, awb, backup, export: exportCommand, status, health, alerts, sandbox, demo };

/** Width of the command list's left column. */
const LIST_COLUMN = 26;

/** `emag-sync --help`, generated from the table's summaries. */
export function mainHelp(): string {
  const list = Object.entries(COMMANDS).map(([name, c]) => `  ${`${name} ${c.args ?? ''}`.trimEnd().padEnd(LIST_COLUMN)}${c.summary}`);
  return `emag-sync ${VERSION} — mirrors eMAG Marketplace accounts into PostgreSQL

Usage: emag-sync <command> [options]

Commands:
${list.join('\n')}

Run "emag-sync <command> --help" for a command's options.
Configuration comes from the environment and ./.env (see .env.example).`;
}

/** Entry point; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name ? 0 : 64;
  }
  if (name === '--version' || name === '-v') {
    console.log(VERSION);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    console.error(`emag-sync: unknown command "${name}"\n\n${mainHelp()}`);
    return 64;
  }
  const command = COMMANDS[name];
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(parse(command, rest));
  } catch (err) {
    return report(err, name, command);
  }
}

/** The command line, parsed strictly against the command's options: anything else is a UsageError. */
function parse(command: Command, args: string[]): CommandArgs {
  const positionals = command.positionals ?? 0;
  let parsed: CommandArgs;
  try {
    parsed = parseArgs({ args, options: command.options, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
  return parsed;
}

/**
 * Prints a failure the way a person can act on, and picks the exit code: the error's own `exitCode`
 * (usage 64, database 69, busy 75, configuration 78), else 1.
 */
function report(err: unknown, name: string, command: Command): number {
  const e = coerceError(err);
  const code = (e as { exitCode?: unknown }).exitCode;
  const where = err instanceof ConfigError ? 'emag-sync' : `emag-sync ${name}`;
  const usage = err instanceof UsageError ? `\n\n${command.usage}` : '';
  console.error(`${where}: ${scrubSecrets(e.message)}${usage}`);
  return typeof code === 'number' ? code : 1;
}

/** Runs the command line and exits with its code. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`emag-sync: ${scrubSecrets(coerceError(err).message)}`);
      process.exit(1);
    },
  );
}

// `tsx src/cli.ts …` (the npm scripts); the bin wrapper calls run() itself.
if (process.argv[1] && /[/\\]src[/\\]cli\.ts$/.test(process.argv[1])) run();
