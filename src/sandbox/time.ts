/**
 * eMAG dates carry no zone: they are Europe/Bucharest wall-clock time as `YYYY-mm-dd HH:ii:ss`.
 * These helpers convert between that text and instants using Intl only.
 */

const ZONE = 'Europe/Bucharest';

const parts = new Intl.DateTimeFormat('en-GB', {
  timeZone: ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** Wall-clock fields of an instant in Bucharest, as [y, m, d, h, i, s]. */
function wallClock(ms: number): number[] {
  const out = [0, 0, 0, 0, 0, 0];
  for (const p of parts.formatToParts(ms)) {
    const slot = FIELD_SLOT[p.type];
    if (slot !== undefined) out[slot] = Number(p.value);
  }
  return out;
}

const FIELD_SLOT: Record<string, number> = { year: 0, month: 1, day: 2, hour: 3, minute: 4, second: 5 };

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

const HOUR = 3600_000;
const offsets = new Map<number, number>();

/** Bucharest's offset at an instant, cached per UTC hour (DST switches fall on whole UTC hours). */
function cachedOffset(ms: number): number {
  const hour = Math.floor(ms / HOUR);
  let offset = offsets.get(hour);
  if (offset === undefined) {
    offset = offsetAt(hour * HOUR);
    if (offsets.size > 100_000) offsets.clear();
    offsets.set(hour, offset);
  }
  return offset;
}

/** Formats an instant as eMAG does: Bucharest local time `YYYY-mm-dd HH:ii:ss`. */
export function formatLocal(at: Date | number): string {
  // Intl is slow (µs per call) and generation formats hundreds of thousands of dates: shift by
  // the cached offset and read the fields as UTC instead.
  const ms = typeof at === 'number' ? at : at.getTime();
  const d = new Date(ms + cachedOffset(ms));
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * Parses Bucharest local time (`YYYY-mm-dd HH:ii:ss`, time optional) to epoch milliseconds,
 * or null when the text is not such a date.
 */
export function parseLocal(text: string): number | null {
  const m = LOCAL.exec(text.trim());
  if (!m) return null;
  const f = m.slice(1).map((v) => (v === undefined ? 0 : Number(v)));
  const asUtc = Date.UTC(f[0], f[1] - 1, f[2], f[3], f[4], f[5]);
  if (Number.isNaN(asUtc)) return null;
  // Guess with the offset at the UTC reading, then correct once: this lands right on both sides
  // of a DST switch (the repeated autumn hour resolves to its later occurrence, in EET).
  let guess = asUtc - offsetAt(asUtc);
  guess = asUtc - offsetAt(guess);
  return guess;
}

/** Bucharest's offset from UTC at an instant, in milliseconds. */
function offsetAt(ms: number): number {
  const [y, m, d, h, i, s] = wallClock(ms);
  return Date.UTC(y, m - 1, d, h, i, s) - Math.floor(ms / 1000) * 1000;
}

/** The sandbox clock: real time plus an adjustable offset, shared by all accounts. */
export class Clock {
  /** Milliseconds added to the real clock. */
  offset = 0;

  /** The sandbox's current time in epoch milliseconds. */
  now(): number {
    return Date.now() + this.offset;
  }
}
