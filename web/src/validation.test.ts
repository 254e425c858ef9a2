import { describe, expect, it } from 'vitest';
import {
  defaultsForSource,
  highlightForbidden,
  scheduleToRequest,
  validateAccountId,
  validateCredentials,
  validateDataflowName,
  validateMapping,
  validateName,
  validatePin,
  validateSchedule,
  validateWebhookUrl,
  validateEmailList,
  validatePagerDutyKey,
} from './validation.ts';
import type { MappingRow, ScheduleDraft } from './validation.ts';

describe('validateName', () => {
  it('accepts a human-readable name and trims it', () => {
    expect(validateName('  US and European Shoppers ', { field: 'name' })).toEqual({
      ok: true,
      value: 'US and European Shoppers',
    });
  });

  it('lists each forbidden character with its position and suggests a fix', () => {
    const result = validateName('US, European 5h0pP3rs: 50% off', { field: 'mappingName' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => [p.char, p.index])).toEqual([
      [',', 2],
      [':', 21],
      ['%', 25],
    ]);
    expect(result.suggestion).toBe('US European 5h0pP3rs 50 off');
    // A refused character between two words leaves them apart.
    expect(validateName('Buyers,US EU', { field: 'mappingName' })).toMatchObject({
      suggestion: 'Buyers US EU',
    });
    expect(validateName('Acme: US/EU', { field: 'mappingName' })).toMatchObject({ suggestion: 'Acme US EU' });
    expect(result.message).toBe('Mapping name contains characters X does not accept: "," ":" "%".');
  });

  it('refuses line breaks and names them in words', () => {
    const result = validateName('Line one\nline two', { field: 'description' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toContain('line break');
    expect(result.suggestion).toBe('Line one line two');
  });

  it('requires a name and a mapping name but lets the description be empty', () => {
    expect(validateName('   ', { field: 'name' })).toMatchObject({ ok: false, message: 'Name is required.' });
    expect(validateName('', { field: 'mappingName' })).toMatchObject({ ok: false });
    expect(validateName('', { field: 'description' })).toEqual({ ok: true, value: '' });
  });

  it('refuses every character of the documented set', () => {
    for (const char of ['+', '&', ',', '%', ':', ';', '@', '/', '=', '?', '$']) {
      expect(validateName(`a${char}b`, { field: 'name' }).ok, char).toBe(false);
    }
  });
});

describe('validateDataflowName', () => {
  it("takes any printable name, X's forbidden characters included, and a blank one only where a default fills in", () => {
    expect(validateDataflowName('  CRM to X, daily: US/EU ', { optional: false })).toBeNull();
    expect(validateDataflowName('   ', { optional: true })).toBeNull();
    expect(validateDataflowName('   ', { optional: false })).toBe('Dataflow name is required.');
  });

  it('refuses tabs and line breaks, as the service does, suggesting spaces', () => {
    expect(validateDataflowName('CRM\tto X\nnightly', { optional: false })).toBe(
      'Dataflow name contains characters a name cannot hold: tab, line break. Use spaces instead: "CRM to X nightly".',
    );
  });
});

describe('highlightForbidden', () => {
  it('splits the value into accepted and refused runs', () => {
    expect(highlightForbidden('a+&b')).toEqual([
      { text: 'a', bad: false },
      { text: '+&', bad: true },
      { text: 'b', bad: false },
    ]);
  });

  it('shows a refused line break as a visible mark and keeps emoji whole', () => {
    expect(highlightForbidden('x\n😀')).toEqual([
      { text: 'x', bad: false },
      { text: '⏎', bad: true },
      { text: '😀', bad: false },
    ]);
  });
});

describe('connection fields', () => {
  it('validates the account id and suggests a cleaned one', () => {
    expect(validateAccountId(' 18ce54d4x5t ')).toEqual({ ok: true, value: '18ce54d4x5t' });
    expect(validateAccountId('')).toMatchObject({ ok: false });
    expect(validateAccountId('"18ce54d4x5t".')).toMatchObject({ ok: false, suggestion: '18ce54d4x5t' });
    expect(validateAccountId('<18ce54d4x5t>')).toMatchObject({ ok: false, suggestion: '18ce54d4x5t' });
  });

  it('suggests no account id when fixing it would glue pieces into an id nobody typed', () => {
    for (const value of ['not an id!', '18ce-54d4 x5t', 'id: 18ce54d4x5t', '!!!']) {
      const result = validateAccountId(value);
      expect(result, value).toMatchObject({ ok: false });
      expect(result, value).not.toHaveProperty('suggestion');
    }
  });

  it('suggests no account id when the one typed is too long: a cut one names another account', () => {
    const long = 'a'.repeat(40);
    const result = validateAccountId(long);
    expect(result).toMatchObject({ ok: false });
    expect(result).not.toHaveProperty('suggestion');
    expect(validateAccountId(`${'b'.repeat(30)}-${'c'.repeat(5)}`)).not.toHaveProperty('suggestion');
  });

  it('accepts an empty or http(s) webhook only', () => {
    expect(validateWebhookUrl('')).toEqual({ ok: true, value: '' });
    expect(validateWebhookUrl('https://hooks.example.com/a')).toMatchObject({ ok: true });
    expect(validateWebhookUrl('ftp://example.com')).toMatchObject({ ok: false });
    expect(validateWebhookUrl('not a url')).toMatchObject({ ok: false });
  });

  it('accepts an empty PagerDuty routing key or one of 32 letters and digits, and says what is wrong', () => {
    expect(validatePagerDutyKey(' ')).toEqual({ ok: true, value: '' });
    expect(validatePagerDutyKey(' AcmeCrmTeamKey0123456789abcdefAB ')).toEqual({
      ok: true,
      value: 'AcmeCrmTeamKey0123456789abcdefAB',
    });
    const short = validatePagerDutyKey('abc');
    expect(short).toMatchObject({ ok: false });
    if (!short.ok) expect(short.message).toContain('this has 3 characters');
    const dashed = validatePagerDutyKey('AcmeCrmTeamKey0123456789abcdef-B');
    if (dashed.ok) throw new Error('a key with a dash was accepted');
    expect(dashed.message).toContain('others than letters and digits');
  });

  it('reads alert email recipients separated by commas or spaces, each once, and names the bad ones', () => {
    expect(validateEmailList('  ')).toEqual({ ok: true, value: [] });
    expect(validateEmailList('a@example.com, b@example.com;a@example.com\nc@example.org')).toEqual({
      ok: true,
      value: ['a@example.com', 'b@example.com', 'c@example.org'],
    });
    const bad = validateEmailList('a@example.com, oncall, b@');
    expect(bad).toMatchObject({ ok: false });
    expect(!bad.ok && bad.message).toContain('oncall, b@');
    expect(
      validateEmailList(Array.from({ length: 21 }, (_, i) => `p${i}@example.com`).join(',')),
    ).toMatchObject({
      ok: false,
    });
  });

  it('requires all four credentials without inner spaces', () => {
    const errors = validateCredentials({
      consumerKey: 'key',
      consumerSecret: '',
      accessToken: 'tok en',
      accessTokenSecret: 's',
    });
    expect(Object.keys(errors).sort()).toEqual(['accessToken', 'consumerSecret']);
  });

  it('accepts a numeric PIN only', () => {
    expect(validatePin(' 4829301 ')).toEqual({ ok: true, value: '4829301' });
    expect(validatePin('12ab')).toMatchObject({ ok: false });
  });
});

const row = (patch: Partial<MappingRow>): MappingRow => ({
  sourceType: 'namespace',
  source: 'Email',
  target: 'email',
  applyTransformation: true,
  ...patch,
});

describe('validateMapping', () => {
  it('accepts Email → email with the transformation', () => {
    expect(validateMapping([row({})])).toEqual({ ok: true });
  });

  it('requires at least one identity target', () => {
    const result = validateMapping([]);
    expect(result).toMatchObject({ ok: false, problems: [{ index: -1, field: 'rows' }] });
    const blank = validateMapping([row({ source: '  ' })]);
    expect(blank.ok).toBe(false);
    if (blank.ok) return;
    expect(blank.problems.map((p) => [p.index, p.field])).toEqual([
      [-1, 'rows'],
      [0, 'source'],
    ]);
  });

  it('refuses a transformation on an already hashed namespace', () => {
    const result = validateMapping([row({ source: 'Email_LC_SHA256', applyTransformation: true })]);
    expect(result).toMatchObject({ ok: false, problems: [{ index: 0, field: 'applyTransformation' }] });
  });

  it('requires the transformation for a plain standard namespace', () => {
    const result = validateMapping([
      row({ source: 'Phone_E.164', target: 'phone_number', applyTransformation: false }),
    ]);
    expect(result).toMatchObject({ ok: false, problems: [{ index: 0, field: 'applyTransformation' }] });
  });

  it('keeps a standard namespace on its own identifier', () => {
    const result = validateMapping([row({ source: 'IDFA', target: 'email' })]);
    expect(result).toMatchObject({ ok: false, problems: [{ index: 0, field: 'target' }] });
  });

  it('sends partner_user_id unhashed', () => {
    expect(
      validateMapping([row({ source: 'CRMID', target: 'partner_user_id', applyTransformation: false })]),
    ).toEqual({
      ok: true,
    });
    expect(
      validateMapping([row({ source: 'CRMID', target: 'partner_user_id', applyTransformation: true })]),
    ).toMatchObject({
      ok: false,
    });
  });

  it('lets attributes feed any identifier, hashed or not', () => {
    expect(
      validateMapping([row({ sourceType: 'attribute', source: 'person.email', applyTransformation: false })]),
    ).toEqual({ ok: true });
  });

  it('lists every problem at once', () => {
    const result = validateMapping([
      row({ source: '' }),
      row({ source: 'GAID', target: 'handle', applyTransformation: false }),
    ]);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => `${p.index}:${p.field}`)).toEqual([
      '0:source',
      '1:target',
      '1:applyTransformation',
    ]);
  });
});

describe('defaultsForSource', () => {
  it('picks the target and transformation for known namespaces', () => {
    expect(defaultsForSource('namespace', 'email')).toEqual({ target: 'email', applyTransformation: true });
    expect(defaultsForSource('namespace', 'Phone_SHA256')).toEqual({
      target: 'phone_number',
      applyTransformation: false,
    });
    expect(defaultsForSource('namespace', 'CRMID')).toEqual({
      target: 'partner_user_id',
      applyTransformation: false,
    });
    expect(defaultsForSource('attribute', 'Email')).toBeNull();
    expect(defaultsForSource('namespace', 'LoyaltyId')).toBeNull();
  });
});

const schedule = (patch: Partial<ScheduleDraft>): ScheduleDraft => ({
  segmentId: 'seg-1',
  mappingName: 'Cart abandoners',
  startDate: '2026-12-01',
  endDate: '',
  existingXAudienceId: '',
  ttlDays: '',
  removeAtEnd: false,
  ...patch,
});

describe('validateSchedule', () => {
  it('accepts the defaults', () => {
    expect(validateSchedule(schedule({}))).toEqual({});
  });

  it('checks the mapping name with the naming rules', () => {
    expect(validateSchedule(schedule({ mappingName: 'Cart: abandoners' })).mappingName).toContain('":"');
  });

  it('catches two segments sent to the same audience name', () => {
    const errors = validateSchedule(schedule({}), ['Cart abandoners', 'cart abandoners ']);
    expect(errors.mappingName).toMatch(/Another segment/);
  });

  it('requires a real start date and an end date not before it', () => {
    expect(validateSchedule(schedule({ startDate: '' })).startDate).toBeDefined();
    expect(validateSchedule(schedule({ startDate: '2026-02-30' })).startDate).toBeDefined();
    expect(validateSchedule(schedule({ endDate: '2026-11-30' })).endDate).toMatch(/on or after/);
    expect(validateSchedule(schedule({ endDate: '2026-12-01' })).endDate).toBeUndefined();
  });

  it('checks the optional X audience id and TTL', () => {
    expect(validateSchedule(schedule({ existingXAudienceId: '2906h' }))).toEqual({});
    expect(validateSchedule(schedule({ existingXAudienceId: '29 06' })).existingXAudienceId).toBeDefined();
    expect(validateSchedule(schedule({ ttlDays: '30' }))).toEqual({});
    expect(validateSchedule(schedule({ ttlDays: '0' })).ttlDays).toBeDefined();
    expect(validateSchedule(schedule({ ttlDays: '1.5' })).ttlDays).toBeDefined();
    expect(validateSchedule(schedule({ ttlDays: '396' })).ttlDays).toBeDefined();
  });

  it('asks for an end date when members are to be removed at the end', () => {
    expect(validateSchedule(schedule({ removeAtEnd: true })).removeAtEnd).toMatch(/end date/);
    expect(validateSchedule(schedule({ removeAtEnd: true, endDate: '2027-01-01' }))).toEqual({});
  });
});

describe('scheduleToRequest', () => {
  it('leaves empty optional fields out and converts the TTL to a number', () => {
    expect(scheduleToRequest(schedule({ mappingName: ' Buyers ' }))).toEqual({
      segmentId: 'seg-1',
      mappingName: 'Buyers',
      startDate: '2026-12-01',
    });
    expect(
      scheduleToRequest(schedule({ endDate: '2027-01-01', existingXAudienceId: ' 2906h ', ttlDays: '30' })),
    ).toEqual({
      segmentId: 'seg-1',
      mappingName: 'Cart abandoners',
      startDate: '2026-12-01',
      endDate: '2027-01-01',
      existingXAudienceId: '2906h',
      ttlDays: 30,
    });
    expect(scheduleToRequest(schedule({ endDate: '2027-01-01', removeAtEnd: true })).removeMembersAtEnd).toBe(
      true,
    );
  });
});
