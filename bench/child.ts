/**
 * The bench's child processes (sandbox, scanner, load generator): each a `node --import tsx` process
 * that reports on stdout as JSON lines, bounded by a deadline after which it is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A running child that reports JSON lines. */
export interface Child {
  /** The child's process id (for its CPU time). */
  pid: number;
  /** Resolves with the first JSON line the child prints. */
  first<T>(): Promise<T>;
  /** Resolves with the last JSON line once the child exits 0; rejects on any other end. */
  done<T>(): Promise<T>;
  /** Ends the child (closing its stdin, then SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

/** Starts `file` (a .ts under bench/) with `input` as its one JSON argument; it is killed after `timeoutMs`. */
export function startChild(file: string, input: unknown, timeoutMs: number): Child {
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', file, JSON.stringify(input)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: unknown[] = [];
  const waiting: Array<(line: unknown) => void> = [];
  const deadline = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  deadline.unref();
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return; // Stray output (a library's warning) is not a report.
    }
    lines.push(parsed);
    for (const w of waiting.splice(0)) w(parsed);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal });
    });
  });
  const describe = (e: { code: number | null; signal: NodeJS.Signals | null }) =>
    new Error(`${file} ended (${e.signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${e.code ?? e.signal}`}) without a report`);

  return {
    pid: proc.pid ?? 0,
    first<T>() {
      if (lines.length > 0) return Promise.resolve(lines[0] as T);
      return Promise.race([
        new Promise<T>((resolve) => waiting.push((line) => resolve(line as T))),
        exited.then((e) => Promise.reject(describe(e))),
      ]);
    },
    async done<T>() {
      const e = await exited;
      if (e.code !== 0 || lines.length === 0) throw describe(e);
      return lines[lines.length - 1] as T;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin?.end();
      const force = setTimeout(() => proc.kill('SIGTERM'), 2000);
      await exited;
      clearTimeout(force);
    },
  };
}

/** Runs `file` to its end and returns its last JSON line. */
export function runChild<T>(file: string, input: unknown, timeoutMs: number): Promise<T> {
  return startChild(file, input, timeoutMs).done<T>();
}

/** Makes a child process end when its parent does (stdin closes) or on SIGTERM/SIGINT. */
export function endWithParent(onEnd: () => Promise<void> | void): void {
  let ending = false;
  const end = () => {
    if (ending) return;
    ending = true;
    Promise.resolve(onEnd()).finally(() => process.exit(0));
  };
  process.stdin.on('end', end);
  process.stdin.on('error', end);
  process.stdin.resume();
  process.once('SIGTERM', end);
  process.once('SIGINT', end);
}
