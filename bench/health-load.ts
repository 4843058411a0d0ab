/**
 * A load generator for GET /health (autocannon is not a dependency): `connections` keep-alive
 * connections, each sending its next request as soon as the last answer ended (closed loop) or, with
 * `intervalMs`, one request per interval (paced). Argument: JSON `{url, connections, durationMs,
 * intervalMs?, startAt?}`. Every connection is opened and used once before the measured window, so the figures
 * are of keep-alive requests, not TCP handshakes. Prints one JSON line.
 */
import { Agent, get } from 'node:http';

/** What the parent asks for. */
export interface LoadInput {
  url: string;
  connections: number;
  durationMs: number;
  /** Each connection sends one request per interval instead of back to back. */
  intervalMs?: number;
  /** When (`Date.now()` ms) the measured window starts; connections are opened before it. @default at once */
  startAt?: number;
}

/** What the load reports; latencies in ms. */
export interface LoadReport {
  requests: number;
  errors: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** A request that gets no answer within this is counted as an error. */
const REQUEST_TIMEOUT_MS = 5000;

const input = JSON.parse(process.argv[2] ?? '{}') as LoadInput;
const agent = new Agent({ keepAlive: true, maxSockets: input.connections });

/** One GET; resolves with its latency and status (0 for an error). */
function probe(): Promise<{ ms: number; status: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = get(input.url, { agent }, (res) => {
      res.resume();
      res.once('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
      res.once('error', () => resolve({ ms: performance.now() - started, status: 0 }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve({ ms: performance.now() - started, status: 0 }));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

// Open every connection first.
await Promise.all(Array.from({ length: input.connections }, probe));
if (input.startAt !== undefined) await sleep(input.startAt - Date.now());

const latencies: number[] = [];
const statuses: Record<string, number> = {};
let errors = 0;
const start = performance.now();
const end = start + input.durationMs;

const connection = async (index: number): Promise<void> => {
  const interval = input.intervalMs;
  // Paced connections are spread over the interval, so the load is even, not in waves.
  let next = interval ? start + (interval * index) / input.connections : start;
  while (true) {
    if (interval) await sleep(next - performance.now());
    if (performance.now() >= end) return;
    const { ms, status } = await probe();
    latencies.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === 0) errors++;
    if (interval) next += interval;
  }
};
await Promise.all(Array.from({ length: input.connections }, (_, i) => connection(i)));
const elapsed = performance.now() - start;
agent.destroy();

latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
const report: LoadReport = {
  requests: latencies.length,
  errors,
  statuses,
  requestsPerSecond: latencies.length / (elapsed / 1000),
  p50: at(0.5),
  p90: at(0.9),
  p99: at(0.99),
  max: latencies[latencies.length - 1] ?? Number.NaN,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
