/**
 * The console's Server-Sent Events: `run` (started, progress, finished, with the run as /api/runs
 * shows it), `alert` (started, cleared) and a `status` heartbeat (the /api/status document). Progress
 * is coalesced to a few events a second per run; a client that stops reading is dropped once a
 * bounded backlog is waiting for it, never buffered without end.
 */
import { Readable } from 'node:stream';
import { coerceError, scrubSecrets } from '../errors.ts';
import type { Alert } from './alerts.ts';
import type { RouteContext } from './route.ts';
import { buildStatus } from './routes/status.ts';
import { runJson, snapshotSummary } from './run-json.ts';
import type { RunEvent } from '../streams/run.ts';

/** The default time between `status` heartbeats. */
export const HEARTBEAT_MS = 15_000;
/** Progress events of one run are sent at most this often. */
const PROGRESS_EVERY_MS = 250;
/** Bytes waiting for one client beyond which it is dropped (a few hundred events). */
export const MAX_BACKLOG_BYTES = 256 * 1024;
/** Clients served at most; more are answered 503 so a leak of tabs cannot exhaust the daemon. */
export const MAX_CLIENTS = 1000;

/** The live connections of one server and what feeds them. */
export class EventHub {
  readonly #ctx: RouteContext;
  readonly #clients = new Set<Readable>();
  readonly #pending = new Map<number, RunEvent>();
  #flushTimer: NodeJS.Timeout | null = null;
  readonly #heartbeat: NodeJS.Timeout;
  /** Alerts active at the last heartbeat, by key. */
  #alerts: Map<string, Alert> | null = null;
  readonly #onRun = (e: RunEvent) => this.#run(e);

  constructor(ctx: RouteContext) {
    this.#ctx = ctx;
    ctx.runEvents?.on('run', this.#onRun);
    this.#heartbeat = setInterval(() => void this.#beat(), ctx.heartbeatMs ?? HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** A new client's stream; null when MAX_CLIENTS are connected. */
  open(): Readable | null {
    if (this.#clients.size >= MAX_CLIENTS) return null;
    const stream = new Readable({ read() {} });
    this.#clients.add(stream);
    this.#ctx.metrics.eventClients.set(this.#clients.size);
    stream.on('close', () => {
      this.#clients.delete(stream);
      this.#ctx.metrics.eventClients.set(this.#clients.size);
    });
    // Reconnect after 3 s if the stream drops; the page polls meanwhile.
    stream.push(`retry: 3000\n: connected\n\n`);
    return stream;
  }

  /** Ends every stream and stops listening. */
  close(): void {
    clearInterval(this.#heartbeat);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#ctx.runEvents?.off('run', this.#onRun);
    for (const c of this.#clients) c.push(null);
  }

  /** Sends one event to every client, dropping those too far behind. */
  send(event: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    const chunk = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.#clients) {
      if (c.readableLength > MAX_BACKLOG_BYTES) {
        this.#ctx.metrics.eventClientsDropped.inc();
        this.#ctx.log.info({ backlogBytes: c.readableLength }, 'console events: dropped a client that stopped reading');
        c.destroy();
        continue;
      }
      c.push(chunk);
    }
  }

  #run(e: RunEvent): void {
    if (e.type === 'progress') {
      this.#pending.set(e.run.runId, e);
      this.#flushTimer ??= setTimeout(() => this.#flush(), PROGRESS_EVERY_MS);
      return;
    }
    // A run's last progress goes before its end, never after it.
    if (e.type === 'finished') this.#pending.delete(e.run.runId);
    this.send('run', { type: e.type, run: runJson(snapshotSummary(e.run)) });
  }

  #flush(): void {
    this.#flushTimer = null;
    const events = [...this.#pending.values()];
    this.#pending.clear();
    for (const e of events) this.send('run', { type: 'progress', run: runJson(snapshotSummary(e.run)) });
  }

  /** The heartbeat: the status document, and alerts that started or cleared since the last one. */
  async #beat(): Promise<void> {
    if (this.#clients.size === 0) {
      this.#alerts = null;
      return;
    }
    try {
      const status = buildStatus(this.#ctx, await this.#ctx.snapshots.status());
      const now = new Map(status.alerts.map((a) => [alertKey(a), a]));
      if (this.#alerts) {
        for (const [k, a] of now) if (!this.#alerts.has(k)) this.send('alert', { type: 'started', alert: a });
        for (const [k, a] of this.#alerts) if (!now.has(k)) this.send('alert', { type: 'cleared', alert: a });
      }
      this.#alerts = now;
      this.send('status', status);
    } catch (err) {
      this.#ctx.log.warn({ err: scrubSecrets(coerceError(err).message) }, 'console events: heartbeat failed');
    }
  }
}

function alertKey(a: Alert): string {
  return `${a.type}/${a.account ?? ''}/${a.stream ?? ''}`;
}
