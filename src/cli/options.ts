/**
 * Reading option values that parseArgs leaves as strings.
 */
import { UsageError } from './command.ts';

/** A whole-number option: `def` when absent, a UsageError naming the option when not a whole number ≥ `min`. */
export function intOption(value: unknown, name: string, def: number, min = 0): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}, not "${value}"`);
  return n;
}
