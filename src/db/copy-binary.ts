/**
 * Rows for `COPY … FROM STDIN (FORMAT binary)`, each field in its column type's binary form: nothing
 * is escaped and nothing is parsed twice — a record's bytes as eMAG sent them go in as they are (as
 * jsonb: a version byte, then the text), numbers as the integers or base-10000 digits PostgreSQL
 * keeps. The caller writes a row's fields in its columns' order and types.
 */

/** The binary COPY header: signature, flags, header-extension length. */
const HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');
/** The trailer: a field count of -1. */
const TRAILER = Buffer.from([0xff, 0xff]);
/** The OID of `text`, the element type of a text[]. */
const TEXT_OID = 25;
const NUMERIC_NEGATIVE = 0x4000;
const TWO_32 = 2 ** 32;
/**
 * Below this (2³⁶), doubles are spaced far closer than 10⁻⁴, so a number that k × 10⁻⁴ converts to
 * has that decimal as its shortest text: `numeric` writes it from k, without going through text.
 */
const SCALED_MAX = 2 ** 36;

/** A number's decimal digits without an exponent: those of String(n), the point moved for `1e-7`. */
function plainDecimal(abs: number): string {
  const s = String(abs);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const [whole, fraction = ''] = s.slice(0, e).split('.');
  const digits = whole + fraction;
  const point = whole.length + Number(s.slice(e + 1));
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** One COPY stream's bytes, built field by field into one growing buffer. */
export class BinaryCopy {
  #buf: Buffer;
  #at = HEADER.length;

  constructor(sizeHint = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(sizeHint, HEADER.length + TRAILER.length));
    HEADER.copy(this.#buf, 0);
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(grown, 0, 0, this.#at);
    this.#buf = grown;
  }

  #length(n: number): void {
    this.#room(4 + n);
    this.#buf.writeInt32BE(n, this.#at);
    this.#at += 4;
  }

  /** Starts a row of `fields` fields. */
  row(fields: number): this {
    this.#room(2);
    this.#buf.writeInt16BE(fields, this.#at);
    this.#at += 2;
    return this;
  }

  /** A NULL of any type. */
  null(): this {
    this.#room(4);
    this.#buf.writeInt32BE(-1, this.#at);
    this.#at += 4;
    return this;
  }

  /** A text (or NULL). */
  text(s: string | null): this {
    if (s === null) return this.null();
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the length is written once it is known.
    this.#room(4 + 3 * s.length);
    const n = this.#buf.write(s, this.#at + 4, 'utf8');
    this.#buf.writeInt32BE(n, this.#at);
    this.#at += 4 + n;
    return this;
  }

  /** A smallint or integer (or NULL) of `size` bytes; the caller has checked its range. */
  #int(n: number | null, size: 2 | 4): this {
    if (n === null) return this.null();
    this.#length(size);
    if (size === 2) this.#buf.writeInt16BE(n, this.#at);
    else this.#buf.writeInt32BE(n, this.#at);
    this.#at += size;
    return this;
  }

  /** A smallint (or NULL); the caller has checked its range. */
  int2(n: number | null): this {
    return this.#int(n, 2);
  }

  /** An integer (or NULL); the caller has checked its range. */
  int4(n: number | null): this {
    return this.#int(n, 4);
  }

  /** A bigint (or NULL) from a safe integer. */
  int8(n: number | null): this {
    if (n === null) return this.null();
    this.#length(8);
    const hi = Math.floor(n / TWO_32);
    this.#buf.writeInt32BE(hi, this.#at);
    this.#buf.writeUInt32BE(n - hi * TWO_32, this.#at + 4);
    this.#at += 8;
    return this;
  }

  /**
   * A numeric (or NULL) from a finite number: the decimal digits its text would have, in base-10000
   * groups. The column's typmod (numeric(16,4)) rounds it as it would round that text.
   */
  numeric(n: number | null): this {
    if (n === null) return this.null();
    const abs = Math.abs(n);
    const scaled = Math.round(abs * 10_000);
    if (abs < SCALED_MAX && scaled / 10_000 === abs) return this.#scaledNumeric(scaled, n < 0);
    const s = plainDecimal(abs);
    const dot = s.indexOf('.');
    const whole = dot < 0 ? s : s.slice(0, dot);
    const fraction = dot < 0 ? '' : s.slice(dot + 1);
    // Whole digits padded on the left and fraction digits on the right to groups of four.
    const digits = '0'.repeat((4 - (whole.length % 4)) % 4) + whole + fraction + '0'.repeat((4 - (fraction.length % 4)) % 4);
    const groups: number[] = [];
    for (let i = 0; i < digits.length; i += 4) groups.push(Number(digits.slice(i, i + 4)));
    let weight = Math.ceil(whole.length / 4) - 1;
    let first = 0;
    while (first < groups.length && groups[first] === 0) first++;
    let last = groups.length;
    while (last > first && groups[last - 1] === 0) last--;
    weight -= first;
    const kept = last - first;
    this.#length(8 + 2 * kept);
    this.#buf.writeInt16BE(kept, this.#at);
    this.#buf.writeInt16BE(kept === 0 ? 0 : weight, this.#at + 2);
    this.#buf.writeUInt16BE(n < 0 && kept > 0 ? NUMERIC_NEGATIVE : 0, this.#at + 4);
    this.#buf.writeInt16BE(fraction.length, this.#at + 6);
    this.#at += 8;
    for (let i = first; i < last; i++) {
      this.#buf.writeInt16BE(groups[i], this.#at);
      this.#at += 2;
    }
    return this;
  }

  /**
   * The numeric `k` × 10⁻⁴ (what `numeric` found the number to be), the same bytes as the digits of
   * its text would give: base-10000 groups of `k` without zero groups at either end, the scale of
   * its shortest text (no trailing zeros).
   */
  #scaledNumeric(k: number, negative: boolean): this {
    const fraction = k % 10_000;
    // Groups from the lowest (weight −1, the fraction) up; at most four below SCALED_MAX.
    let rest = k;
    let lowest = 0;
    while (rest > 0 && rest % 10_000 === 0) {
      rest /= 10_000;
      lowest++;
    }
    let kept = 0;
    for (let r = rest; r > 0; r = Math.floor(r / 10_000)) kept++;
    this.#length(8 + 2 * kept);
    this.#buf.writeInt16BE(kept, this.#at);
    this.#buf.writeInt16BE(kept === 0 ? 0 : lowest - 1 + kept - 1, this.#at + 2);
    this.#buf.writeUInt16BE(negative && kept > 0 ? NUMERIC_NEGATIVE : 0, this.#at + 4);
    let scale = fraction === 0 ? 0 : 4;
    for (let f = fraction; scale > 0 && f % 10 === 0; f /= 10) scale--;
    this.#buf.writeInt16BE(scale, this.#at + 6);
    this.#at += 8 + 2 * kept;
    for (let i = 1, r = rest; i <= kept; i++, r = Math.floor(r / 10_000)) this.#buf.writeInt16BE(r % 10_000, this.#at - 2 * i);
    return this;
  }

  /** A one-dimensional text[] without NULLs (empty: no dimensions). */
  textArray(values: readonly string[]): this {
    const start = this.#at;
    this.#length(12);
    this.#buf.writeInt32BE(values.length === 0 ? 0 : 1, this.#at);
    this.#buf.writeInt32BE(0, this.#at + 4);
    this.#buf.writeInt32BE(TEXT_OID, this.#at + 8);
    this.#at += 12;
    if (values.length > 0) {
      this.#room(8);
      this.#buf.writeInt32BE(values.length, this.#at);
      this.#buf.writeInt32BE(1, this.#at + 4);
      this.#at += 8;
      for (const v of values) this.text(v);
    }
    this.#buf.writeInt32BE(this.#at - start - 4, start);
    return this;
  }

  /** A jsonb from JSON text as UTF-8 bytes: format version 1, then the text, which PostgreSQL parses. */
  jsonb(bytes: Buffer): this {
    this.#length(1 + bytes.length);
    this.#buf[this.#at] = 1;
    bytes.copy(this.#buf, this.#at + 1);
    this.#at += 1 + bytes.length;
    return this;
  }

  /** The rows written so far, without the stream's header and trailer (for `copyStream`). */
  rows(): Buffer {
    return this.#buf.subarray(HEADER.length, this.#at);
  }

  /** The stream's bytes, trailer included. */
  finish(): Buffer {
    this.#room(TRAILER.length);
    TRAILER.copy(this.#buf, this.#at);
    return this.#buf.subarray(0, this.#at + TRAILER.length);
  }
}

/** A COPY stream of the rows of several writers, in their order: the header, their rows, the trailer. */
export function copyStream(rows: readonly Buffer[]): Buffer[] {
  return [HEADER, ...rows, TRAILER];
}
