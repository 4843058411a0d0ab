/**
 * The answer splitter: records found as the bytes eMAG sent, with their ids, for every shape the
 * answers come in; malformed answers refused, never split into something else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonShapeError, recordValue, splitAnswer } from '../src/emag/raw-records.ts';

const split = (text: string) => splitAnswer(Buffer.from(text));
const texts = (text: string) => split(text).records?.map((r) => r.bytes.toString('utf8')) ?? null;

test('a page splits into its records, byte for byte, with their ids, and an envelope without them', () => {
  const records = [{ id: 1, name: 'a', nested: { id: 99 } }, { id: 2, name: 'b"}]{[', list: [1, [2, { x: '\\' }]] }];
  const text = JSON.stringify({ isError: false, messages: [], results: records });
  const s = split(text);
  assert.deepEqual(
    s.records?.map((r) => r.id),
    [1, 2],
  );
  assert.deepEqual(texts(text), records.map((r) => JSON.stringify(r)));
  assert.deepEqual(JSON.parse(s.envelope), { isError: false, messages: [], results: null });
  assert.deepEqual(s.records?.map(recordValue), records);
});

test('ids: digits or a string of digits; anything else, a nested id or none is null', () => {
  const ids = (results: unknown[]) => split(JSON.stringify({ isError: false, results })).records?.map((r) => r.id);
  assert.deepEqual(ids([{ id: '42' }, { id: 7.5 }, { id: -3 }, { id: '4 2' }, { name: 'x', nested: { id: 5 } }, { id: null }]), [42, null, null, null, null, null]);
  assert.deepEqual(split('{"results":[{"id":1e3},{"id" : 08 },{"id":""}]}').records?.map((r) => r.id), [null, 8, null], 'exponents are left to the parser; a leading zero reads as digits (the id only finds a stored hash; JSON.parse refuses the record)');
  assert.deepEqual(ids([{ name: 'first', id: 12 }]), [12], 'the id need not be the first key');
  assert.deepEqual(ids([{ id: 1234567890123456 }]), [null], 'more digits than a double holds exactly are left to the parser');
  assert.deepEqual(ids([5, 'text', null, [1]]), [null, null, null, null], 'members that are not objects have no id');
});

test('a PHP array sent as an object: its values are the records', () => {
  const text = '{"isError":false,"results":{"0":{"id":3},"7":{"id":4}}}';
  assert.deepEqual(texts(text), ['{"id":3}', '{"id":4}']);
  assert.deepEqual(texts('{"isError":false,"results":{}}'), []);
  assert.deepEqual(texts('{"isError":false,"results":[]}'), []);
});

test('whitespace, a byte order mark and escapes anywhere are read as JSON.parse reads them', () => {
  const value = { isError: false, results: [{ id: 1, s: 'quote \\" and \\\\', u: 'ăîșț \u0000 \\u0103' }, { id: 2 }] };
  const pretty = JSON.stringify(value, null, 2).replace(/\n/g, '\r\n\t');
  const s = splitAnswer(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(` ${pretty} \n`)]));
  assert.deepEqual(s.records?.map(recordValue), value.results);
  assert.deepEqual(JSON.parse(s.envelope), { ...value, results: null });
});

test('results that is absent, null or a scalar gives no records; the envelope keeps the rest', () => {
  assert.equal(split('{"isError":false,"messages":["x"]}').records, null);
  assert.deepEqual(JSON.parse(split('{"isError":false,"messages":["x"]}').envelope), { isError: false, messages: ['x'] });
  assert.equal(split('{"isError":false,"results":null}').records, null);
  assert.equal(split('{"isError":false,"results":"none"}').records, null);
  assert.equal(split('{"isError":false,"results":5}').records, null);
  // JSON.parse keeps the last of repeated keys; so does the split.
  assert.deepEqual(texts('{"results":[{"id":1}],"isError":false,"results":[{"id":2}]}'), ['{"id":2}']);
  assert.deepEqual(JSON.parse(split('{"results":[{"id":1}],"isError":false,"results":[{"id":2}]}').envelope), { results: null, isError: false });
});

test('answers that are not one JSON object are refused with JsonShapeError', () => {
  const full = JSON.stringify({ isError: false, results: [{ id: 1, name: 'x' }, { id: 2 }] });
  for (let cut = 1; cut < full.length; cut++) {
    assert.throws(() => split(full.slice(0, cut)), JsonShapeError, `cut at ${cut}: ${full.slice(0, cut)}`);
  }
  for (const bad of ['', '   ', '[]', '"x"', '<html><body>502</body></html>', `${full} trailing`, `${full}{}`, '{"isError":false,,"results":[]}', '{"isError" false}', '{isError:false}', '{"results":[{"id":1},,{"id":2}]}', '{"results":[{"id":1} {"id":2}]}', '{"results":{"0" {"id":1}}}']) {
    assert.throws(() => split(bad), JsonShapeError, bad);
  }
});

test('any JSON value, any spacing: the split records equal JSON.parse of the whole answer', () => {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const chars = ['a', '"', '\\', '{', '}', '[', ']', ',', ':', 'ă', '€', '\n', '\t', ' ', '0'];
  const str = () => Array.from({ length: Math.floor(rnd() * 8) }, () => chars[Math.floor(rnd() * chars.length)]).join('');
  const value = (depth: number): unknown => {
    const k = rnd();
    if (depth > 3 || k < 0.3) return [str(), Math.floor(rnd() * 1000) - 500, rnd() * 10, true, false, null][Math.floor(rnd() * 6)];
    if (k < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, () => [str(), value(depth + 1)]));
  };
  for (let i = 0; i < 300; i++) {
    const results = Array.from({ length: Math.floor(rnd() * 5) }, () => ({ id: Math.floor(rnd() * 1e6), v: value(0) }));
    const answer = { isError: false, messages: [str()], results };
    const text = JSON.stringify(answer, null, Math.floor(rnd() * 3));
    const s = split(text);
    assert.deepEqual(s.records?.map(recordValue), JSON.parse(text).results, text);
    assert.deepEqual(
      s.records?.map((r) => r.id),
      results.map((r) => r.id),
    );
    assert.deepEqual(JSON.parse(s.envelope), { ...answer, results: null });
  }
});
