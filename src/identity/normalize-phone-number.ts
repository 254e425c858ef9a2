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
 *
 * Speed: libphonenumber's parser costs several times a SHA-256. Two fast paths decide the common shapes from the same
 * metadata without it: E.164 input, and plain national digits for a region. Whenever a national prefix, an
 * international dialling prefix or an unusual length could change the parser's answer, they step aside and the parser
 * decides; property tests check that both paths agree.
 */

const MAX_PHONE_INPUT = 64;
// Characters people write phone numbers with. Letters are refused: keypad words (1-800-FLOWERS) are ads, not people.
const PHONE_CHARACTERS = /^[0-9+\-()./\s]+$/;
// "ext. 12", "x12", "#12" at the end: X matches the line, not the extension.
const EXTENSION = /\s*(?:ext\.?|extension|x|#)\s*[0-9]{1,7}$/i;
const E164 = /^\+[1-9][0-9]{6,14}$/;
const FORMATTING = /[\s().\-/]/g;
const DIGITS = /^[0-9]{2,17}$/;

interface CallingCodePlan {
  /** Lengths every territory sharing the calling code allows: whichever one the parser picks, these are possible. */
  possibleLengths: ReadonlySet<number>;
  /** Any territory's national prefix (`+44 0 20…`): a national number starting with it goes to the parser. */
  nationalPrefix: RegExp | null;
}

interface RegionPlan {
  callingCode: string;
  /** International dialling prefix (`011`, `00`): national digits starting with it may be an international number. */
  idd: RegExp | null;
}

type MetadataEntry = readonly unknown[] | undefined;
const json = metadata as unknown as {
  country_calling_codes: Record<string, string[]>;
  countries: Record<string, MetadataEntry>;
  nonGeographic?: Record<string, MetadataEntry>;
};

const CALLING_CODES: ReadonlySet<string> = new Set(Object.keys(json.country_calling_codes));
const CALLING_CODE_PLANS: ReadonlyMap<string, CallingCodePlan> = buildCallingCodePlans();
const REGION_PLANS: ReadonlyMap<string, RegionPlan> = buildRegionPlans();

function buildCallingCodePlans(): Map<string, CallingCodePlan> {
  const plans = new Map<string, CallingCodePlan>();
  for (const [callingCode, territories] of Object.entries(json.country_calling_codes)) {
    let lengths: Set<number> | null = null;
    const prefixes: string[] = [];
    let usable = true;
    for (const territory of territories) {
      const entry = json.countries[territory] ?? json.nonGeographic?.[callingCode];
      const entryLengths = entry?.[3];
      if (!Array.isArray(entryLengths) || entryLengths.length === 0) {
        usable = false;
        break;
      }
      const own = new Set<number>(entryLengths as number[]);
      lengths = lengths === null ? own : new Set([...lengths].filter((n: number) => own.has(n)));
      const prefixForParsing = entry?.[7] || entry?.[5];
      if (typeof prefixForParsing === 'string' && prefixForParsing.length > 0)
        prefixes.push(prefixForParsing);
    }
    if (!usable || lengths === null || lengths.size === 0) continue;
    plans.set(callingCode, {
      possibleLengths: lengths,
      nationalPrefix: prefixes.length === 0 ? null : new RegExp(`^(?:${prefixes.join('|')})`),
    });
  }
  return plans;
}

function buildRegionPlans(): Map<string, RegionPlan> {
  const plans = new Map<string, RegionPlan>();
  for (const [region, entry] of Object.entries(json.countries)) {
    const callingCode = entry?.[0];
    const idd = entry?.[1];
    if (typeof callingCode !== 'string') continue;
    plans.set(region, {
      callingCode,
      idd: typeof idd === 'string' && idd.length > 0 ? new RegExp(`^(?:${idd})`) : null,
    });
  }
  return plans;
}

/** Whether `region` is an ISO 3166-1 alpha-2 code the phone metadata knows (e.g. `US`, `GB`). */
export function isKnownPhoneRegion(region: string): boolean {
  return (
    typeof region === 'string' &&
    region.length === 2 &&
    isSupportedCountry(region.toUpperCase() as CountryCode, metadata)
  );
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
  return normalize(raw, options.region, true);
}

/**
 * The same rules as {@link normalizePhoneNumber}, always decided by the full parser. It is the reference the fast
 * paths are checked against; production code calls {@link normalizePhoneNumber}.
 */
export function normalizePhoneNumberWithParser(raw: string, options: { region?: string } = {}): Normalized {
  return normalize(raw, options.region, false);
}

function normalize(raw: string, regionOption: string | undefined, fast: boolean): Normalized {
  if (raw.length > MAX_RAW_LENGTH) return tooLong();
  let value = raw.trim();
  if (value.length === 0) return rejected('empty', 'The phone number is empty.');
  if (value.length > MAX_PHONE_INPUT) return tooLong();
  if (fast && E164.test(value) && fastE164(value)) return accepted(value);
  value = value.replace(EXTENSION, '');
  if (!PHONE_CHARACTERS.test(value)) {
    return rejected(
      'phone_invalid',
      'A phone number may only contain digits, spaces, "+", "-", ".", "/" and brackets.',
    );
  }
  let region: CountryCode | undefined;
  if (regionOption !== undefined) {
    if (!isKnownPhoneRegion(regionOption)) {
      return rejected(
        'region_unknown',
        'The default region is not a known ISO 3166-1 alpha-2 code (e.g. "US").',
      );
    }
    region = regionOption.toUpperCase() as CountryCode;
  }
  const international = value.startsWith('+');
  if (!international && region === undefined) {
    return rejected(
      'phone_needs_region',
      'The phone number has no "+" country code; write it in E.164 (e.g. +12125550100) or set a default region.',
    );
  }
  if (fast && !international && region !== undefined) {
    const national = fastNational(value, region);
    if (national !== undefined) return accepted(national);
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

/** True when E.164 input is certainly possible; false means "ask the parser", not "invalid". */
function fastE164(value: string): boolean {
  for (let ccLength = 1; ccLength <= 3; ccLength += 1) {
    const callingCode = value.slice(1, 1 + ccLength);
    // Calling codes are prefix-free: the first known one is the only candidate.
    if (!CALLING_CODES.has(callingCode)) continue;
    const plan = CALLING_CODE_PLANS.get(callingCode);
    if (plan === undefined) return false;
    const national = value.slice(1 + ccLength);
    if (plan.nationalPrefix !== null && plan.nationalPrefix.test(national)) return false;
    return plan.possibleLengths.has(national.length);
  }
  return false;
}

/** E.164 for plain national digits in `region`, or undefined to let the parser decide. */
function fastNational(value: string, region: CountryCode): string | undefined {
  const digits = value.replace(FORMATTING, '');
  if (!DIGITS.test(digits)) return undefined;
  const plan = REGION_PLANS.get(region);
  if (plan === undefined) return undefined;
  if (plan.idd !== null && plan.idd.test(digits)) return undefined;
  // Digits that start with the region's own calling code may be an international number written without `+`
  // (`30 6…` in GR); the parser strips the code when the rest is a possible number, so it decides.
  if (digits.startsWith(plan.callingCode)) return undefined;
  const e164 = `+${plan.callingCode}${digits}`;
  return E164.test(e164) && fastE164(e164) ? e164 : undefined;
}

function tooLong(): Normalized {
  return rejected('too_long', `A phone number is at most ${MAX_PHONE_INPUT} characters, extension included.`);
}
