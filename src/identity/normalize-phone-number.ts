import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
import { accepted, rejected, type Normalized } from './identity-result.ts';
import { MAX_RAW_LENGTH } from './text-guards.ts';

/*
 * Phone numbers are sent to X as E.164 with the leading `+` (X's Conversions API convention; the Audience API docs
 * give no rule of their own), e.g. `+12125550100`.
 *
 * Acceptance rule: the number must parse and be *possible* (a known country calling code and a national number length
 * that numbering plan allows). We deliberately do not require libphonenumber's `isValid()`:
 *  - validity depends on number-range metadata that changes as regulators open new ranges, so a valid, matchable number
 *    would be dropped until the library is upgraded; a possible-but-unassigned number merely fails to match at X;
 *  - X's own published example `+11234567890` (sha256 1fa6b8d9…) uses NANP area code 123, which `isValid()` rejects.
 * Garbage is still refused: letters, too few or too many digits, unknown calling codes, national numbers without a
 * region to place them.
 */

const MAX_PHONE_INPUT = 64;
// Characters people write phone numbers with. Letters are refused: keypad words (1-800-FLOWERS) are ads, not people.
const PHONE_CHARACTERS = /^[0-9+\-().\/\s]+$/;
// "ext. 12", "x12", "#12" at the end: X matches the line, not the extension.
const EXTENSION = /\s*(?:ext\.?|extension|x|#)\s*[0-9]{1,7}$/i;
const E164 = /^\+[1-9][0-9]{6,14}$/;

interface CallingCodePlan {
  possibleLengths: ReadonlySet<number>;
  /** Present when a national prefix could be written after the calling code (`+44 0 20…`): parse those fully. */
  nationalPrefix: RegExp | null;
}

// Per calling code: the possible national-number lengths when every territory sharing the code agrees on them. This is
// the fast path for input already in E.164, which is what well-kept sources hold; anything else goes through the parser.
const PLANS: ReadonlyMap<string, CallingCodePlan> = buildPlans();
const CALLING_CODES: ReadonlySet<string> = new Set(Object.keys(metadata.country_calling_codes));

function buildPlans(): Map<string, CallingCodePlan> {
  const plans = new Map<string, CallingCodePlan>();
  const json = metadata as unknown as {
    country_calling_codes: Record<string, string[]>;
    countries: Record<string, unknown[]>;
    nonGeographic?: Record<string, unknown[]>;
  };
  for (const [callingCode, territories] of Object.entries(json.country_calling_codes)) {
    const entries = territories.map((t) =>
      t === '001'
        ? json.nonGeographic?.[callingCode]
        : (json.countries[t] ?? json.nonGeographic?.[callingCode]),
    );
    let lengths: number[] | null = null;
    let uniform = true;
    const prefixes: string[] = [];
    for (const entry of entries) {
      const entryLengths = entry?.[3];
      if (!Array.isArray(entryLengths) || entryLengths.length === 0) {
        uniform = false;
        break;
      }
      const key = (entryLengths as number[]).join(',');
      if (lengths === null) lengths = entryLengths as number[];
      else if (lengths.join(',') !== key) uniform = false;
      const prefixForParsing = entry?.[7] || entry?.[5];
      if (typeof prefixForParsing === 'string' && prefixForParsing.length > 0)
        prefixes.push(prefixForParsing);
    }
    if (!uniform || lengths === null) continue;
    plans.set(callingCode, {
      possibleLengths: new Set(lengths),
      nationalPrefix: prefixes.length === 0 ? null : new RegExp(`^(?:${prefixes.join('|')})`),
    });
  }
  return plans;
}

/** Whether `region` is an ISO 3166-1 alpha-2 code the phone metadata knows (e.g. `US`, `GB`). */
export function isKnownPhoneRegion(region: string): boolean {
  return region.length === 2 && isSupportedCountry(region.toUpperCase() as CountryCode, metadata);
}

/**
 * Normalizes a phone number to E.164 with the leading `+`. National numbers (no `+`) need `options.region`.
 *
 * @example
 * normalizePhoneNumber('(212) 555-0100', { region: 'US' }); // { ok: true, normalized: '+12125550100' }
 * normalizePhoneNumber('+11234567890');                      // { ok: true, normalized: '+11234567890' }
 * normalizePhoneNumber('555-0100');                          // { ok: false, code: 'phone_needs_region', … }
 */
export function normalizePhoneNumber(raw: string, options: { region?: string } = {}): Normalized {
  if (raw.length > MAX_RAW_LENGTH) return tooLong();
  let value = raw.trim();
  if (value.length === 0) return rejected('empty', 'The phone number is empty.');
  if (value.length > MAX_PHONE_INPUT) return tooLong();
  if (E164.test(value)) {
    const fast = fastE164(value);
    if (fast !== undefined) return fast;
  } else {
    value = value.replace(EXTENSION, '');
    if (!PHONE_CHARACTERS.test(value)) {
      return rejected(
        'phone_invalid',
        'A phone number may only contain digits, spaces, "+", "-", ".", "/" and brackets.',
      );
    }
  }
  let region: CountryCode | undefined;
  if (options.region !== undefined) {
    if (!isKnownPhoneRegion(options.region)) {
      return rejected(
        'region_unknown',
        'The default region is not a known ISO 3166-1 alpha-2 code (e.g. "US").',
      );
    }
    region = options.region.toUpperCase() as CountryCode;
  }
  if (!value.startsWith('+') && region === undefined) {
    return rejected(
      'phone_needs_region',
      'The phone number has no "+" country code; write it in E.164 (e.g. +12125550100) or set a default region.',
    );
  }
  const parsed =
    region === undefined
      ? parsePhoneNumberFromString(value, metadata)
      : parsePhoneNumberFromString(value, region, metadata);
  if (parsed === undefined || !parsed.isPossible()) {
    return rejected('phone_invalid', 'The phone number has an unknown country code or an impossible length.');
  }
  return accepted(parsed.number);
}

/** E.164 input checked against the plan table; `undefined` when only the full parser can decide. */
function fastE164(value: string): Normalized | undefined {
  for (let ccLength = 1; ccLength <= 3; ccLength += 1) {
    const callingCode = value.slice(1, 1 + ccLength);
    if (!CALLING_CODES.has(callingCode)) continue;
    const plan = PLANS.get(callingCode);
    if (plan === undefined) return undefined;
    const national = value.slice(1 + ccLength);
    if (plan.nationalPrefix !== null && plan.nationalPrefix.test(national)) return undefined;
    if (!plan.possibleLengths.has(national.length)) return undefined;
    return accepted(value);
  }
  return undefined;
}

function tooLong(): Normalized {
  return rejected('too_long', `A phone number is at most ${MAX_PHONE_INPUT} characters, extension included.`);
}
