import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromEmagDate, toEmagDate } from '../src/emag/dates.ts';

/** Bucharest wall-clock time of an instant, straight from the time zone database (no cache). */
const ZONE = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Bucharest', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const wall = (ms: number) => ZONE.format(ms).replace('T', ' ');

test('eMAG dates are Bucharest wall-clock time, on both sides of every DST change', () => {
  // Every 7 min 13 s over three years (DST edges at 01:00 UTC land in every phase of the step), and 1931's LMT change.
  const instants: number[] = [];
  for (let ms = Date.UTC(2025, 0, 1); ms < Date.UTC(2028, 0, 1); ms += 433_000) instants.push(ms);
  for (const iso of ['2026-03-29T00:59:59Z', '2026-03-29T01:00:00Z', '2026-10-25T00:59:59Z', '2026-10-25T01:00:00Z', '1931-07-23T22:30:00Z', '1931-07-23T21:50:00Z']) instants.push(Date.parse(iso));
  for (const ms of instants) {
    assert.equal(toEmagDate(new Date(ms)), wall(ms), new Date(ms).toISOString());
    const back = fromEmagDate(wall(ms))?.getTime();
    // The autumn hour that repeats resolves to one of its two instants; every other time round-trips.
    assert.ok(back === ms || (back !== undefined && wall(back) === wall(ms)), `${new Date(ms).toISOString()} read back as ${back === undefined ? 'null' : new Date(back).toISOString()}`);
  }
  assert.equal(fromEmagDate('2026-07-01 12:30:05')?.toISOString(), '2026-07-01T09:30:05.000Z');
  assert.equal(fromEmagDate('2026-01-16 00:00')?.toISOString(), '2026-01-15T22:00:00.000Z');
  assert.equal(fromEmagDate('16.01.2026'), null);
  assert.equal(fromEmagDate(20260116), null);
});
