/**
 * PostgreSQL's COPY text format (one line per row, tab between fields, `\N` for null), so pages of
 * rows travel as one COPY stream rather than as query parameters.
 */

/** The text of a COPY null. */
const NULL = '\\N';

/** Characters that must be escaped in a COPY text field. */
const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One text value as a COPY field (null as `\N`). Most values have nothing to escape: test first. */
export function copyText(value: string | null): string {
  if (value === null) return NULL;
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c]) : value;
}

/** A number as a COPY field (null as `\N`). */
export function copyNumber(value: number | null): string {
  return value === null ? NULL : String(value);
}

/** A text[] as a COPY field: the array literal `{"a","b"}`, itself escaped as text. */
export function copyTextArray(values: readonly string[]): string {
  if (values.length === 0) return '{}';
  return copyText(`{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`);
}
