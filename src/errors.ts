/**
 * Turning whatever was thrown into an Error with a message, without leaking secrets.
 */

/** Returns `err` as an Error (wrapping strings and other values). */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err));
}

/** Removes credentials from a URL-ish string (postgres://user:pass@host → postgres://user:***@host). */
export function scrubSecrets(text: string): string {
  return text.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, '$1***@').replace(/(Basic\s+)[A-Za-z0-9+/=]+/gi, '$1***');
}

/** What a file system error means for a person. */
export function fsProblem(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return e.message ?? String(err);
  }
}
