/**
 * Upper bound on raw input length checked before any other work, so a megabyte of garbage costs one comparison.
 * Every identifier type has a far smaller limit of its own; this only caps what is trimmed and scanned.
 */
export const MAX_RAW_LENGTH = 4096;

// C0 and C1 control characters, DEL, and UTF-16 surrogates that are not part of a pair. A lone surrogate has no UTF-8
// encoding: hashing would silently replace it with U+FFFD and two different inputs would share one digest.
const INVALID_CHARACTERS =
  // eslint-disable-next-line no-control-regex -- finding control characters is this pattern's purpose
  /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when `s` holds a control character or an unpaired surrogate. */
export function hasInvalidCharacters(s: string): boolean {
  return INVALID_CHARACTERS.test(s);
}

/** Index of the first invalid character of `s` (see {@link hasInvalidCharacters}), or -1. */
export function firstInvalidCharacter(s: string): number {
  const match = INVALID_CHARACTERS.exec(s);
  return match === null ? -1 : match.index;
}

/** True when every UTF-16 unit of `s` is printable ASCII (0x21..0x7e): the common case, checked without regex. */
export function isPrintableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
