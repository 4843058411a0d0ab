/**
 * Rows for `COPY … FROM STDIN (FORMAT binary)` whose fields are all text: each field is its length
 * and its UTF-8 bytes, so nothing is escaped and a record's bytes as eMAG sent them go in as they
 * are. The staging table's columns are text; the merge casts them.
 */

/** The binary COPY header: signature, flags, header-extension length. */
const HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');
/** The trailer: a field count of -1. */
const TRAILER = Buffer.from([0xff, 0xff]);

/** One COPY stream's bytes, built row by row into one growing buffer. */
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

  /** Adds a row; a field is text, bytes already UTF-8, a number (written as its text), or null. */
  row(fields: ReadonlyArray<string | number | Buffer | null>): void {
    this.#room(2);
    this.#buf.writeInt16BE(fields.length, this.#at);
    this.#at += 2;
    for (const f of fields) {
      if (f === null) {
        this.#room(4);
        this.#buf.writeInt32BE(-1, this.#at);
        this.#at += 4;
      } else if (Buffer.isBuffer(f)) {
        this.#room(4 + f.length);
        this.#buf.writeInt32BE(f.length, this.#at);
        f.copy(this.#buf, this.#at + 4);
        this.#at += 4 + f.length;
      } else {
        const text = typeof f === 'number' ? String(f) : f;
        // UTF-8 takes at most 3 bytes per UTF-16 unit; the length is written once it is known.
        this.#room(4 + 3 * text.length);
        const n = this.#buf.write(text, this.#at + 4, 'utf8');
        this.#buf.writeInt32BE(n, this.#at);
        this.#at += 4 + n;
      }
    }
  }

  /** The stream's bytes, trailer included. */
  finish(): Buffer {
    this.#room(TRAILER.length);
    TRAILER.copy(this.#buf, this.#at);
    return this.#buf.subarray(0, this.#at + TRAILER.length);
  }
}
