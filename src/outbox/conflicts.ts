/**
 * Conflict strategies for offer and stock commands: when eMAG's value changed since the ERP saw it
 * (the mirror's value when the command was created, or the `expected` values the ERP sent), decide
 * whether the command is sent, dropped, or parked for a person.
 */
import type { ConflictStrategy } from '../config.ts';
import type { OfferRow } from '../emag/offer-record.ts';

/** The values an offer/stock command wants to set, by field name. */
export type TargetValues = Record<string, number>;

/** What a strategy decided. */
export type ConflictDecision =
  | { action: 'send' }
  | { action: 'conflict'; reason: string; park: boolean; emag: TargetValues; seen: TargetValues };

const TOLERANCE = 0.00005;

/** eMAG's current value of a command field, from the offer as read now. */
export function currentValue(offer: OfferRow, field: string): number | null {
  const v = (offer as unknown as Record<string, unknown>)[field];
  return typeof v === 'number' ? v : v === null || v === undefined ? null : Number(v);
}

/** Equal prices/stock, within eMAG's 4 decimals; null equals only null. */
export function sameValue(a: unknown, b: unknown): boolean {
  const x = a === null || a === undefined ? null : Number(a);
  const y = b === null || b === undefined ? null : Number(b);
  return x === null || y === null ? x === y : Math.abs(x - y) <= TOLERANCE;
}

/**
 * Compares what the ERP saw with eMAG now, for the fields the command sets, and applies the strategy.
 * `emagChangedAt` is when the mirror learned eMAG's current value (the best knowledge of when eMAG changed).
 */
export function decide(opts: {
  strategy: ConflictStrategy;
  target: TargetValues;
  seen: Record<string, unknown> | null;
  offer: OfferRow;
  createdAt: Date;
  emagChangedAt: Date;
}): ConflictDecision {
  const { strategy, target, seen, offer } = opts;
  if (strategy === 'local_priority' || !seen) return { action: 'send' };
  const changed: string[] = [];
  const emag: TargetValues = {};
  const then: TargetValues = {};
  for (const field of Object.keys(target)) {
    if (!(field in seen)) continue;
    const before = seen[field] === null ? null : Number(seen[field]);
    const now = currentValue(offer, field);
    if (now !== null) emag[field] = now;
    if (before !== null) then[field] = before;
    if (!sameValue(before, now)) changed.push(`${field} ${before ?? 'none'} → ${now ?? 'none'}`);
  }
  if (changed.length === 0) return { action: 'send' };
  if (strategy === 'newest_wins' && opts.createdAt > opts.emagChangedAt) return { action: 'send' };
  const reason = `eMAG's value changed since the command was created (${changed.join(', ')})`;
  return { action: 'conflict', reason, park: strategy === 'manual', emag, seen: then };
}
