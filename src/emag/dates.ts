/**
 * eMAG's dates carry no time zone: they are Europe/Bucharest wall-clock time, `YYYY-mm-dd HH:ii:ss`.
 * We store instants (timestamptz) and send filters in that local time.
 */

const ZONE = 'Europe/Bucharest';
const FORMAT = new Intl.DateTimeFormat('en-GB', {
  timeZone: ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** Bucharest's UTC offset (ms) at an instant, from the time zone database. */
function zoneOffset(ms: number): number {
  const f: Record<string, number> = {};
  for (const p of FORMAT.formatToParts(ms)) if (p.type !== 'literal') f[p.type] = Number(p.value);
  const asUtc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

const HOUR = 3_600_000;
/** Since 1932 Bucharest's offset has changed only on whole UTC hours (its last odd one: LMT, 1931). */
const WHOLE_HOURS_FROM = Date.UTC(1932, 0, 1);
/** Offsets by UTC hour: formatToParts costs ~5 µs, and an order carries several dates. */
const offsets = new Map<number, number>();

/** Bucharest's UTC offset (ms) at an instant. */
function offsetAt(ms: number): number {
  if (!(ms >= WHOLE_HOURS_FROM)) return zoneOffset(ms);
  const hour = Math.floor(ms / HOUR);
  let offset = offsets.get(hour);
  if (offset === undefined) {
    // A bound, not a policy: a backfill spans a few thousand hours.
    if (offsets.size >= 100_000) offsets.clear();
    offset = zoneOffset(hour * HOUR);
    offsets.set(hour, offset);
  }
  return offset;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** An instant as eMAG writes it: Bucharest local `YYYY-mm-dd HH:ii:ss`. */
export function toEmagDate(at: Date): string {
  const d = new Date(at.getTime() + offsetAt(at.getTime()));
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/** Parses eMAG's Bucharest local time into an instant; null when it is not such a date. */
export function fromEmagDate(text: unknown): Date | null {
  if (typeof text !== 'string') return null;
  const m = LOCAL.exec(text.trim());
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
  if (Number.isNaN(wall)) return null;
  // The offset at the instant depends on the instant; two steps settle it (DST edges included).
  let ms = wall - offsetAt(wall);
  ms = wall - offsetAt(ms);
  return new Date(ms);
}

/** One date window `[from, to]`. */
export interface DateWindow {
  from: Date;
  to: Date;
}

/**
 * Splits `[from, to]` into consecutive windows no longer than `maxDays` (eMAG rejects order
 * filters wider than one month; 30 days stays inside every month's length).
 */
export function splitWindows(from: Date, to: Date, maxDays = 30): DateWindow[] {
  const out: DateWindow[] = [];
  const step = maxDays * 86_400_000;
  for (let start = from.getTime(); start < to.getTime(); start += step) {
    out.push({ from: new Date(start), to: new Date(Math.min(start + step, to.getTime())) });
  }
  return out;
}
