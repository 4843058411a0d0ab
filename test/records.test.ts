/**
 * eMAG's documented quirks (emag-api.md, "Traps"; §1.3) against the one set of field readers every
 * record parser uses (src/emag/quirks.ts), as a table: what eMAG sends, what we read, or the reason
 * a record is quarantined for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOffer } from '../src/emag/offer-record.ts';
import { parseOrder } from '../src/emag/order-record.ts';
import { bool, code, enumValue, id, int, list, localDate, num, object, oneOrMany, parseAll, RecordError, record, str } from '../src/emag/quirks.ts';
import { parseRma } from '../src/emag/rma-record.ts';

/** One row: a reader, what eMAG sent, and the value read or the reason (a RegExp) it is refused. */
type Row = [quirk: string, read: (v: unknown) => unknown, sent: unknown, expected: unknown];

const n = (v: unknown) => num(v, 'sale_price', 'k');
const i = (v: unknown) => int(v, 'stock', 'k');
const c = (v: unknown) => code(v, 'status', 'k');
const l = (v: unknown) => list(v, 'products', 'k');
const o = (v: unknown) => object(v, 'customer', 'k');

const QUIRKS: Row[] = [
  // Numbers arrive as strings ("967.6613", "1") or numbers.
  ['a number as a string', n, '967.6613', 967.6613],
  ['a number as a number', n, 967.6613, 967.6613],
  ['a number with spaces', n, ' 12.5 ', 12.5],
  ['a whole number as a string', i, '7', 7],
  ['no number: null', n, null, null],
  ['no number: absent', n, undefined, null],
  ['no number: empty string', n, '', null],
  ['no number: [] (the empty object)', n, [], null],
  ['garbage for a number', n, '19%', /sale_price is not a number: "19%"/],
  ['an object for a number', n, { a: 1 }, /sale_price is not a number/],
  ['a number beyond the column (numeric(16,4))', n, '1e13', /sale_price is out of range/],
  ['a fraction for a whole number', i, '2.5', /stock is not a whole number: 2.5/],
  ['a whole number beyond a Postgres integer', i, 2 ** 31, /stock is out of range/],
  ['a code beyond a smallint', c, 70_000, /status is out of range: 70000/],
  // Ids as strings or ints.
  ['an id as a string', (v) => id(v, 'id', 'k'), '1048', 1048],
  ['an id of 0', (v) => id(v, 'id', 'k'), 0, /id is missing or not a positive id/],
  ['no id', (v) => id(v, 'id', 'k'), undefined, /id is missing/],
  // Objects for enumerations: {id, name}, {value, description}, [{value}].
  ['an enumeration as {id, name}', c, { id: '2', name: 'Cancelled by the client' }, 2],
  ['an enumeration as {value, description}', c, { value: 9, description: 'approved' }, 9],
  ['an enumeration as [{value}]', c, [{ value: '1', description: 'valid' }], 1],
  ['an enumeration as a bare code', c, '3', 3],
  ['an enumeration wrapper of nothing', (v) => enumValue(v), [], null],
  // A string or a list (part_number, ean).
  ['a string as a string', str, 'SKU-1', 'SKU-1'],
  ['a string as a list', str, ['SKU-1', 'SKU-2'], 'SKU-1'],
  ['a string as a number', str, 5941234567890, '5941234567890'],
  ['a blank string', str, '  ', null],
  ['one value for a list', (v) => oneOrMany(v, 'ean', 'k'), '5941234567890', ['5941234567890']],
  ['a list for a list', (v) => oneOrMany(v, 'ean', 'k'), ['1', '2'], ['1', '2']],
  ['nothing for one-or-many', (v) => oneOrMany(v, 'ean', 'k'), null, []],
  // Empty objects arrive as []; PHP arrays with keys arrive as objects.
  ['an empty object as []', o, [], null],
  ['an object as an object', o, { id: 5 }, { id: 5 }],
  ['no object', o, null, null],
  ['a string for an object', o, 'anonymous', /customer is not an object/],
  ['a list as a list', l, [{ id: 1 }], [{ id: 1 }]],
  ['a list as a PHP keyed object', l, { 0: 'a', 1: 'b' }, ['a', 'b']],
  ['an empty list as {}', l, {}, []],
  ['no list: null', l, null, []],
  ['no list: empty string', l, '', []],
  ['a number for a list', l, 3, /products is not a list: 3/],
  // Booleans as 1/0, "1"/"0", true/false.
  ['a boolean as "1"', (v) => bool(v, 'is_default', 'k'), '1', true],
  ['a boolean as 0', (v) => bool(v, 'is_default', 'k'), 0, false],
  ['a boolean as []', (v) => bool(v, 'is_default', 'k'), [], null],
  ['garbage for a boolean', (v) => bool(v, 'is_default', 'k'), 'yes', /is_default is not a boolean/],
  // Dates carry no time zone: Bucharest local time (EET in winter, UTC+2; EEST in summer, UTC+3).
  ['a winter local date', (v) => localDate(v, 'date', 'k'), '2025-01-15 10:00:00', '2025-01-15T08:00:00.000Z'],
  ['a summer local date', (v) => localDate(v, 'date', 'k'), '2025-07-15 10:00:00', '2025-07-15T07:00:00.000Z'],
  ['no date', (v) => localDate(v, 'date', 'k'), '', null],
  ['a date in another format', (v) => localDate(v, 'date', 'k'), '31/12/2025', /date is not a date: "31\/12\/2025"/],
];

for (const [quirk, read, sent, expected] of QUIRKS) {
  test(`quirk: ${quirk}`, () => {
    if (expected instanceof RegExp) {
      assert.throws(
        () => read(sent),
        (err: unknown) => err instanceof RecordError && expected.test(err.message) && err.key === 'k',
      );
    } else {
      assert.deepEqual(read(sent), expected);
    }
  });
}

test('a record that is not an object is refused with what it should have been', () => {
  for (const raw of [null, [], 'x', 5]) assert.throws(() => record(raw, 'offer'), /offer is not an object/);
  assert.deepEqual(record({ id: 1 }, 'offer'), { id: 1 });
});

test('the record parsers read the quirks the same way', () => {
  // One offer in the shapes real answers use: numbers as strings, stock per warehouse, wrapped enumerations.
  const offer = parseOffer({
    id: '12',
    sale_price: '967.6613',
    stock: [{ warehouse_id: 1, value: '3' }, { warehouse_id: 2, value: 4 }],
    handling_time: [{ warehouse_id: 1, value: 2 }],
    validation_status: [{ value: '9', description: 'Approved' }],
    offer_validation_status: { value: 1, description: 'Valid' },
    ean: '5941234567890',
    part_number: ['SKU-12'],
  });
  assert.deepEqual(
    { sale: offer.sale_price, stock: offer.stock, ht: offer.handling_time, vs: offer.validation_status, ovs: offer.offer_validation_status, ean: offer.ean, pn: offer.part_number },
    { sale: 967.6613, stock: 7, ht: 2, vs: 9, ovs: 1, ean: ['5941234567890'], pn: 'SKU-12' },
  );
  assert.throws(() => parseOffer({ id: 16_777_216 }), /above eMAG's maximum 16777215/);

  // An order: `[]` for the empty customer, the cancellation reason as {id, name}, its old name, lines keyed PHP-style.
  const order = parseOrder({
    id: '5',
    status: '0',
    date: '2025-01-15 10:00:00',
    customer: [],
    reason_cancellation: { id: '2', name: 'Cancelled by the client' },
    products: { 0: { id: '71', quantity: '1', sale_price: '10.5' } },
    vouchers: [],
    is_storno: '1',
  });
  assert.equal(order.customer, null);
  assert.equal(order.reason_cancellation, 2);
  assert.equal(order.is_storno, true);
  assert.deepEqual(order.lines.map((x) => [x.line_id, x.quantity, x.sale_price]), [[71, 1, 10.5]]);
  assert.equal(order.modified, order.date, 'no modified date: the order date');
  assert.equal(parseOrder({ id: 6, status: 1, date: '2025-01-15 10:00:00', cancellation_reason: '15' }).reason_cancellation, 15);
  assert.throws(() => parseOrder({ id: 7, status: 9, date: '2025-01-15 10:00:00' }), /not an order status 0..5/);
  assert.throws(() => parseOrder({ id: 7, status: 1, date: '2025-01-15 10:00:00', products: [5] }), /7\/products\[0\] is not an object/);

  // A return: numbers as strings, lists keyed, no date.
  const rma = parseRma({ emag_id: '300', request_status: '2', awbs: { 0: { awb: 'X1' } }, products: [], date: null });
  assert.deepEqual([rma.emag_id, rma.request_status, rma.awbs, rma.products, rma.date], [300, 2, [{ awb: 'X1' }], [], null]);
});

test('parseAll keeps what parses and sets the rest aside with its key and reason', () => {
  const { rows, bad } = parseAll([{ id: 1 }, { id: 'x' }, 'junk', { id: 2 }], (raw) => parseOffer(raw).id);
  assert.deepEqual(rows, [1, 2]);
  assert.deepEqual(
    bad.map((b) => [b.key, b.reason]),
    [
      ['x', 'id is not a number: "x"'],
      [null, 'offer is not an object'],
    ],
  );
  assert.throws(() => parseAll([1], () => { throw new TypeError('a bug, not a record'); }), TypeError, 'only RecordError is a quarantine');
});
