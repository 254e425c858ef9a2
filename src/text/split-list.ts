/**
 * A comma-separated value as its items, trimmed, empty ones left out: what the command line, the console's text fields
 * and query parameters take for lists.
 *
 * @example
 * splitList('C2, I1,'); // ['C2', 'I1']
 */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
