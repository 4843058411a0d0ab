/**
 * A burst of eMAG callbacks, sent from its own process: `count` GETs spread evenly over `durationMs`
 * (each sent on time whatever the answers before it), naming `distinct` different orders so repeats
 * coalesce, over `connections` keep-alive connections. Argument: JSON `{base, count, durationMs,
 * distinct, connections}` (`base` is `http://host:port/callbacks/<account>/order?token=…`). Prints one
 * JSON line with the latencies (ms, send to end of answer) and statuses.
 */
import { Agent, get } from 'node:http';

/** What the parent asks for. */
export interface CallbackLoadInput {
  base: string;
  count: number;
  durationMs: number;
  distinct: number;
  connections: number;
}

/** What the load reports. */
export interface CallbackLoadReport {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  elapsedMs: number;
  p50: number;
  p99: number;
  max: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as CallbackLoadInput;
const agent = new Agent({ keepAlive: true, maxSockets: input.connections });

function call(url: string): Promise<{ ms: number; status: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = get(url, { agent }, (res) => {
      res.resume();
      res.once('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve({ ms: performance.now() - started, status: 0 }));
  });
}

const urlOf = (i: number) => `${input.base}&order_id=${800_000_000 + (i % input.distinct)}`;
// Warm the connections with probes (no id: answered without touching the queue).
await Promise.all(Array.from({ length: input.connections }, () => call(input.base)));

const start = performance.now();
const results: Array<Promise<{ ms: number; status: number }>> = [];
for (let i = 0; i < input.count; i++) {
  const due = start + (input.durationMs * i) / input.count;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  results.push(call(urlOf(i)));
}
const answers = await Promise.all(results);
const elapsedMs = performance.now() - start;
agent.destroy();
const latencies = answers.map((a) => a.ms).sort((a, b) => a - b);
const statuses: Record<string, number> = {};
for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
const report: CallbackLoadReport = {
  requests: answers.length,
  errors: statuses['0'] ?? 0,
  statuses,
  elapsedMs,
  p50: at(0.5),
  p99: at(0.99),
  max: latencies[latencies.length - 1] ?? Number.NaN,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
