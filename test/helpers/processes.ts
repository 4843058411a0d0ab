/**
 * The real `emag-sync` CLI as a child process, for tests that need whole processes (several
 * daemons, kill -9): spawn, collect output, wait for exit, and poll for a condition.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

const ROOT = new URL('../..', import.meta.url).pathname;

/** A CLI process and everything it printed so far. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
}

/**
 * Runs `emag-sync <args>` with only `env` (and PATH) in its environment; `detached` puts it in a
 * process group of its own, as a terminal's foreground job is.
 */
export function cli(args: string[], env: Record<string, string>, opts: { detached?: boolean } = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', EMAG_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached === true,
  });
  let out = '';
  child.stdout?.on('data', (c) => (out += c));
  child.stderr?.on('data', (c) => (out += c));
  return { child, output: () => out };
}

/** Waits for the process to exit (killing it after `timeoutMs`); resolves with its exit code. */
export async function exited(p: Proc, timeoutMs = 20_000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const [code] = await once(p.child, 'exit');
  clearTimeout(timer);
  return code as number | null;
}

/** Polls `fn` every 100 ms until it returns something truthy; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
