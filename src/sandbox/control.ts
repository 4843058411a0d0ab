/**
 * The `/_sandbox/` endpoints the CLI and the demo drive the sandbox with: read the request log and
 * the limit violations, queue faults, set latency, set callback URLs, mutate account data. No auth, not rate limited,
 * not logged.
 */
import type { SandboxAccount } from './account.ts';
import type { CallbackSpec } from './callbacks.ts';
import { FAULT_KINDS, type FaultSpec } from './faults.ts';
import { windowViolations, type Limits } from './limits.ts';
import { plain, type Reply } from './reply.ts';

/** What the control endpoints can reach. */
export interface ControlTarget {
  log: ReadonlyArray<{ t: number; account: string | null; group: 'orders' | 'other' }>;
  limits: Limits;
  accounts: ReadonlyMap<string, SandboxAccount>;
  fault(f: FaultSpec): void;
  clearFaults(): void;
  setLatency(ms: number): void;
  setCallbacks(account: string, spec: CallbackSpec | null): void;
}

const MUTATIONS = ['changePrices', 'addOffers', 'removeOffers', 'addOrders', 'addRmas'] as const;

/** Answers one control request. */
export function control(target: ControlTarget, method: string, url: URL, body: unknown): Reply {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const route = `${method} ${url.pathname.replace(/\/+$/, '')}`;
  switch (route) {
    case 'GET /_sandbox/log': {
      const since = Number(url.searchParams.get('since') ?? 0);
      return plain(since > 0 ? target.log.filter((e) => e.t >= since) : target.log);
    }
    case 'GET /_sandbox/violations':
      return plain(windowViolations(target.log, target.limits));
    case 'GET /_sandbox/accounts':
      return plain(
        [...target.accounts.values()].map((a) => ({
          name: a.name,
          username: a.username,
          offers: a.catalog.size,
          orders: a.orders.length,
          rmas: a.rmas.length,
          orderType: a.orderType,
        })),
      );
    case 'POST /_sandbox/faults': {
      if (!FAULT_KINDS.includes(b.kind as never)) return plain({ error: `kind must be one of ${FAULT_KINDS.join(', ')}` }, 400);
      target.fault(b as unknown as FaultSpec);
      return plain({ ok: true });
    }
    case 'DELETE /_sandbox/faults':
      target.clearFaults();
      return plain({ ok: true });
    case 'POST /_sandbox/latency': {
      const ms = Number(b.ms);
      if (!Number.isFinite(ms) || ms < 0) return plain({ error: 'ms must be a non-negative number' }, 400);
      target.setLatency(ms);
      return plain({ ok: true });
    }
    case 'POST /_sandbox/callbacks': {
      if (!target.accounts.has(String(b.account))) return plain({ error: `unknown account ${String(b.account)}` }, 404);
      const repeatMs = b.repeatMs === undefined ? undefined : Number(b.repeatMs);
      if (repeatMs !== undefined && (!Number.isFinite(repeatMs) || repeatMs < 10)) return plain({ error: 'repeatMs must be a number ≥ 10' }, 400);
      if (b.url === null) {
        target.setCallbacks(String(b.account), null);
        return plain({ ok: true });
      }
      try {
        target.setCallbacks(String(b.account), { url: String(b.url), repeatMs });
      } catch {
        return plain({ error: 'url must be an absolute URL' }, 400);
      }
      return plain({ ok: true });
    }
    case 'POST /_sandbox/mutate': {
      const account = target.accounts.get(String(b.account));
      if (!account) return plain({ error: `unknown account ${String(b.account)}` }, 404);
      const action = b.action as (typeof MUTATIONS)[number];
      const n = Number(b.n ?? 1);
      if (!MUTATIONS.includes(action)) return plain({ error: `action must be one of ${MUTATIONS.join(', ')}` }, 400);
      if (!Number.isInteger(n) || n < 0) return plain({ error: 'n must be a non-negative integer' }, 400);
      return plain({ ids: account[action](n) });
    }
    default:
      return plain({ error: 'unknown control endpoint' }, 404);
  }
}
