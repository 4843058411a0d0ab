/**
 * The binary COPY writer against a real PostgreSQL: every field form it writes reads back as the
 * text input of the same value reads (numerics rounded by the column's typmod alike).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BinaryCopy } from '../src/db/copy-binary.ts';
import { type TestDatabase, testDatabase } from './helpers/db.ts';

let db: TestDatabase;
before(async () => {
  db = await testDatabase();
});
after(async () => {
  await db?.close();
});

/** COPYs `build`'s rows into a fresh temp table of `columns`, and reads each column back as text. */
async function roundTrip(columns: string[], build: (c: BinaryCopy) => void): Promise<Record<string, string | null>[]> {
  const copy = new BinaryCopy(64);
  build(copy);
  return db.sql.begin(async (tx) => {
    await tx.unsafe(`create temp table t (n serial, ${columns.join(', ')}) on commit drop`);
    const names = columns.map((c) => c.split(' ')[0]);
    const stream = await tx.unsafe(`copy t (${names.join(', ')}) from stdin (format binary)`).writable();
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.once('finish', resolve);
      stream.end(copy.finish());
    });
    const rows = await tx.unsafe(`select ${names.map((c) => `${c}::text as ${c}`).join(', ')} from t order by n`);
    return rows.map((r) => ({ ...r }) as Record<string, string | null>);
  });
}

test('numerics in binary read back as their text would: scale, rounding, signs, tiny and large values', async () => {
  const values = [0, 1, -1, 0.5, -0.5, 123.45, -0.01, 10_000, 100_000_000, 99_999_999.9999, 12_345_678.9, 1234.56789, 0.00005, -0.00005, 0.0001, 1e-7, 2.5e-5, 1.5e-10, 1e11, 999_999_999_999.9999, 7.1];
  const got = await roundTrip(['a numeric(16,4)', 'b numeric'], (c) => {
    for (const v of values) c.row(2).numeric(v).numeric(v);
  });
  const want = await db.sql.unsafe(`select v::numeric(16,4)::text as a, v::numeric::text as b from unnest($1::text[]) with ordinality as x(v, n) order by n`, [values.map(String)]);
  assert.deepEqual(got, want.map((r) => ({ a: r.a, b: r.b })));
  // Beyond the typmod's range (which parseOffer refuses before): exponents of String() moved out.
  const large = [1e21, 1.25e22, -3.5e30];
  const big = await roundTrip(['b numeric'], (c) => {
    for (const v of large) c.row(1).numeric(v);
  });
  assert.deepEqual(big.map((r) => r.b), ['1000000000000000000000', '12500000000000000000000', '-3500000000000000000000000000000']);
});

test('numerics of every scale up to 10⁻⁴ and past it read back as their text: prices, cents, rounding edges, the fast path’s bounds', async () => {
  // A fixed sequence (a linear congruential generator), so a failure is reproducible.
  let seed = 7;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const values: number[] = [0.1 + 0.2, 1.00005, 9.99995, 0.99995, 2 ** 36, 2 ** 36 - 0.0001, 2 ** 36 + 0.5, 68_719_476_735.9999, 1e-4, 5e-5, 123_456.7, -0];
  for (let i = 0; i < 3000; i++) {
    const decimals = i % 7;
    const magnitude = 10 ** ((i % 11) - 1);
    const v = Number((next() * magnitude * 1000).toFixed(decimals));
    values.push(i % 5 === 0 ? -v : v, next() * magnitude);
  }
  const got = await roundTrip(['a numeric(16,4)', 'b numeric'], (c) => {
    for (const v of values) c.row(2).numeric(v).numeric(v);
  });
  const want = await db.sql.unsafe(`select v::numeric(16,4)::text as a, v::numeric::text as b from unnest($1::text[]) with ordinality as x(v, n) order by n`, [values.map(String)]);
  assert.equal(got.length, values.length);
  for (const [i, r] of got.entries()) assert.deepEqual(r, { a: want[i].a, b: want[i].b }, `value ${String(values[i])}`);
});

test('integers, texts, arrays, jsonb and NULLs in binary read back as written', async () => {
  const got = await roundTrip(['s smallint', 'i integer', 'b bigint', 't text', 'a text[]', 'j jsonb'], (c) => {
    c.row(6).int2(-32768).int4(2_147_483_647).int8(2 ** 53 - 1).text('ăîșț\t"\\\n').textArray(['a"b', '\\', '', 'ș']).jsonb(Buffer.from('{"b": [1, "\\u0103"], "a": null}'));
    c.row(6).int2(7).int4(-5).int8(-(2 ** 32) - 5).text('').textArray([]).jsonb(Buffer.from('[]'));
    c.row(6).null().int4(null).int8(null).text(null).textArray(['x']).null();
  });
  assert.deepEqual(got, [
    { s: '-32768', i: '2147483647', b: String(2 ** 53 - 1), t: 'ăîșț\t"\\\n', a: '{"a\\"b","\\\\","",ș}', j: '{"a": null, "b": [1, "ă"]}' },
    { s: '7', i: '-5', b: String(-(2 ** 32) - 5), t: '', a: '{}', j: '[]' },
    { s: null, i: null, b: null, t: null, a: '{x}', j: null },
  ]);
});
