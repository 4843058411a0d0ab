/**
 * The database client's own sockets (TCP_NODELAY, see `noDelaySocket`): postgres.js's host list,
 * refusals and reconnection still work through them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { connectUrl, freePort, openDatabase, warmPool } from '../src/db/connect.ts';
import { createLogger } from '../src/log.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';

let db: TestDatabase;
before(async () => {
  db = await testDatabase();
});
after(async () => {
  await db?.close();
});

test('a host list whose first host refuses: the client connects to the next one', { timeout: 15_000 }, async () => {
  const url = new URL(db.url);
  const refused = await freePort();
  const listed = db.url.replace(`@${url.host}`, `@127.0.0.1:${refused},${url.host}`);
  assert.notEqual(listed, db.url);
  const sql = connectUrl(listed, 1);
  try {
    const [row] = await sql<{ one: number }[]>`select 1 as one`;
    assert.equal(row.one, 1);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

test('a refused connection fails the query with the refusal, and does not hang', { timeout: 15_000 }, async () => {
  const url = new URL(db.url);
  url.host = `127.0.0.1:${await freePort()}`;
  const sql = connectUrl(url.toString(), 1);
  try {
    await assert.rejects(sql`select 1`, (err: Error & { code?: string }) => err.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(err.message));
  } finally {
    await sql.end({ timeout: 1 });
  }
});

test('warmPool opens that many of the pool’s connections at once, and they stay open for use', async () => {
  const count = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = current_database()`)[0].n;
  const before = await count();
  const sql = connectUrl(db.url, 5);
  try {
    await warmPool(sql, 3);
    assert.equal((await count()) - before, 3);
    const answers = await Promise.all([1, 2, 3].map((i) => sql<{ i: number }[]>`select ${i}::int as i`));
    assert.deepEqual(answers.map((a) => a[0].i), [1, 2, 3]);
    assert.equal((await count()) - before, 3, 'used, not reopened');
  } finally {
    await sql.end({ timeout: 1 });
  }
});

test('a server that answers but takes fewer connections than the pool would warm: the database opens, with a warning, and works', async () => {
  // A role allowed two sessions; the pool for ten accounts would open ten.
  const role = `warm_${process.pid}`;
  await db.sql.unsafe(`create role ${role} login password 'warm-only' connection limit 2`);
  try {
    const url = new URL(db.url);
    url.username = role;
    url.password = 'warm-only';
    const lines: string[] = [];
    const log = createLogger('warn', new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }));
    // Several rounds: which of the connections opened at once the server refuses varies from one to the next.
    for (let round = 1; round <= 8; round++) {
      lines.length = 0;
      const opened = await openDatabase(url.toString(), '/nonexistent', log, 10);
      try {
        const [row] = await opened.sql<{ one: number }[]>`select 1 as one`;
        assert.equal(row.one, 1, `round ${round}`);
        assert.equal(lines.length, 1, lines.join(''));
        assert.match(lines[0], /could not open the pool’s connections ahead/);
        assert.doesNotMatch(lines[0], /warm-only/, 'no password in the log');
      } finally {
        await opened.close();
      }
    }
  } finally {
    await db.sql.unsafe(`drop role if exists ${role}`).catch(() => {});
  }
});
