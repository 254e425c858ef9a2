/** Extracts the token from an `Authorization: Bearer …` header; undefined when absent or malformed. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (header === undefined || header === null) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
