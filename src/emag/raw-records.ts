/**
 * The records of a paged answer as the bytes eMAG sent, unparsed: one scan of the answer finds
 * `results`, the extent of each record in it, and each record's top-level `id`. A record that has not
 * changed since the last read is then known by a hash of its bytes alone. (Decoding, parsing,
 * re-serialising and hashing every record of a scan cost more CPU than storing the ones that changed.)
 *
 * The scan checks the answer's structure — brackets balance, strings end, the text ends where the
 * answer does — not every token: a record is parsed (`recordValue`) whenever it is used for anything
 * but its hash, and bytes whose hash is already stored were parsed when they were stored.
 */

/** One record of a page: its bytes (a view into the answer), and its top-level `id` when that is digits. */
export interface RawRecord {
  bytes: Buffer;
  id: number | null;
}

/** An answer split around its `results`. */
export interface SplitAnswer {
  /** The answer's text with `results` replaced by `null`: small, for JSON.parse. */
  envelope: string;
  /** The records when `results` is a list or an object (a PHP array: its values); null when absent or a scalar. */
  records: RawRecord[] | null;
}

/** Thrown for an answer that is not one well-formed JSON object. */
export class JsonShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonShapeError';
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const RESULTS_KEY = Buffer.from('"results"');
/** The largest id read without parsing: more digits could lose precision as a double. */
const ID_DIGITS = 15;

/** Whether byte `c` is JSON whitespace. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The first index at or after `i` that is not whitespace. */
function skipSpace(b: Buffer, i: number): number {
  let at = i;
  while (at < b.length && isSpace(b[at])) at++;
  return at;
}

/** The index after the string whose opening quote is at `i` (a native search for each quote). */
function stringEnd(b: Buffer, i: number): number {
  let at = i;
  for (;;) {
    const q = b.indexOf(QUOTE, at + 1);
    if (q < 0) throw new JsonShapeError('the answer ends inside a string');
    // The quote is escaped when an odd number of backslashes precede it.
    let k = q - 1;
    while (b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    at = q;
  }
}

/** The index after the object or array that opens at `i`, counting depth (which bracket closes which is JSON.parse's to check). */
function containerEnd(b: Buffer, i: number): number {
  const n = b.length;
  let depth = 0;
  for (let at = i; at < n; at++) {
    const c = b[at];
    if (c === QUOTE) {
      // stringEnd, inlined: this loop is the scan's hot path.
      for (;;) {
        const q = b.indexOf(QUOTE, at + 1);
        if (q < 0) throw new JsonShapeError('the answer ends inside a string');
        let k = q - 1;
        while (b[k] === BACKSLASH) k--;
        at = q;
        if ((q - 1 - k) % 2 === 0) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return at + 1;
    }
  }
  throw new JsonShapeError('the answer ends inside an object or list');
}

/** The index after the value that starts at `i`. */
function valueEnd(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return stringEnd(b, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return containerEnd(b, i);
  // A number or a literal: up to the next delimiter.
  let at = i;
  while (at < b.length) {
    const d = b[at];
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d)) break;
    if (d === QUOTE || d === OPEN_BRACE || d === OPEN_BRACKET || d === COLON) throw new JsonShapeError(`unexpected character at byte ${at}`);
    at++;
  }
  if (at === i) throw new JsonShapeError(`a value was expected at byte ${i}`);
  return at;
}

/** The digits of `b[s, e)` as a number, or null when it holds anything else (or too many of them). */
function digits(b: Buffer, s: number, e: number): number | null {
  if (e <= s || e - s > ID_DIGITS) return null;
  let n = 0;
  for (let at = s; at < e; at++) {
    const d = b[at] - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return n;
}

/** The top-level `id` of the object `b[s, e)`, when it is digits or a string of digits. */
function topLevelId(b: Buffer, s: number, e: number): number | null {
  let at = skipSpace(b, s + 1);
  while (at < e && b[at] === QUOTE) {
    const keyEnd = stringEnd(b, at);
    const v = skipSpace(b, skipSpace(b, keyEnd) + 1);
    const end = valueEnd(b, v);
    if (keyEnd - at === 4 && b[at + 1] === 0x69 && b[at + 2] === 0x64) {
      return b[v] === QUOTE ? digits(b, v + 1, end - 1) : digits(b, v, end);
    }
    at = skipSpace(b, end);
    if (b[at] !== COMMA) return null;
    at = skipSpace(b, at + 1);
  }
  return null;
}

/**
 * The members of the list or object that opens at `s` (an object's values are its records), and
 * the index after it: one pass, so `results` is scanned once.
 */
function members(b: Buffer, s: number): { records: RawRecord[]; end: number } {
  const isObject = b[s] === OPEN_BRACE;
  const close = isObject ? CLOSE_BRACE : CLOSE_BRACKET;
  const out: RawRecord[] = [];
  let at = skipSpace(b, s + 1);
  if (b[at] === close) return { records: out, end: at + 1 };
  for (;;) {
    if (isObject) {
      if (b[at] !== QUOTE) throw new JsonShapeError(`a key was expected at byte ${at}`);
      at = skipSpace(b, stringEnd(b, at));
      if (b[at] !== COLON) throw new JsonShapeError(`":" was expected at byte ${at}`);
      at = skipSpace(b, at + 1);
    }
    const end = valueEnd(b, at);
    out.push({ bytes: b.subarray(at, end), id: b[at] === OPEN_BRACE ? topLevelId(b, at, end) : null });
    at = skipSpace(b, end);
    if (b[at] === close) return { records: out, end: at + 1 };
    if (b[at] !== COMMA) throw new JsonShapeError(`"," was expected at byte ${at}`);
    at = skipSpace(b, at + 1);
  }
}

/**
 * Splits a JSON answer into its envelope and the records of its top-level `results`. Throws
 * JsonShapeError when the bytes are not one well-formed JSON object (a truncated answer, a proxy's
 * page): the caller then reads them as text, for the error that names what they are.
 */
export function splitAnswer(body: Buffer): SplitAnswer {
  // A byte order mark, which response.text() would have dropped too.
  let at = skipSpace(body, body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0);
  const start = at;
  if (body[at] !== OPEN_BRACE) throw new JsonShapeError('the answer is not a JSON object');
  at = skipSpace(body, at + 1);
  let results: { s: number; e: number; records: RawRecord[] | null } | null = null;
  if (body[at] !== CLOSE_BRACE) {
    for (;;) {
      if (body[at] !== QUOTE) throw new JsonShapeError(`a key was expected at byte ${at}`);
      const keyEnd = stringEnd(body, at);
      const colon = skipSpace(body, keyEnd);
      if (body[colon] !== COLON) throw new JsonShapeError(`":" was expected at byte ${colon}`);
      const v = skipSpace(body, colon + 1);
      const isResults = keyEnd - at === RESULTS_KEY.length && body.subarray(at, keyEnd).equals(RESULTS_KEY);
      let end: number;
      // The last `results` wins, as in JSON.parse.
      if (isResults && (body[v] === OPEN_BRACKET || body[v] === OPEN_BRACE)) {
        const m = members(body, v);
        end = m.end;
        results = { s: v, e: end, records: m.records };
      } else {
        end = valueEnd(body, v);
        if (isResults) results = { s: v, e: end, records: null };
      }
      at = skipSpace(body, end);
      if (body[at] === CLOSE_BRACE) break;
      if (body[at] !== COMMA) throw new JsonShapeError(`"," was expected at byte ${at}`);
      at = skipSpace(body, at + 1);
    }
  }
  if (skipSpace(body, at + 1) !== body.length) throw new JsonShapeError('bytes follow the answer');
  if (results === null) return { envelope: body.toString('utf8', start), records: null };
  return { envelope: `${body.toString('utf8', start, results.s)}null${body.toString('utf8', results.e)}`, records: results.records };
}

/** A record's value: its bytes parsed. Throws SyntaxError for bytes that are not JSON. */
export function recordValue(r: RawRecord): unknown {
  return JSON.parse(r.bytes.toString('utf8'));
}
