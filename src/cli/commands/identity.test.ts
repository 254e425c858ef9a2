import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runIdentityCommand } from './identity.ts';

const TCA = fileURLToPath(new URL('../../../bin/tca.js', import.meta.url));

function tca(...args: string[]): { status: number | null; stdout: string } {
  const run = spawnSync(process.execPath, [TCA, 'identity', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout };
}

describe('tca identity (as a user runs it)', () => {
  it('prints one JSON line with the normalized value and digest, exit 0', () => {
    const run = tca('email', '  Test.User+Promo@Example.COM ');
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(run.stdout)).toEqual({
      type: 'email',
      normalized: 'test.user+promo@example.com',
      sha256: '196fca500feeb3ff09085ddeb4beddca4dee804554b274c06cd6071c95d5af48',
    });
  });

  it('prints the rejection, exit 1; options and "--" reach the command', () => {
    const run = tca('twitter_id', '--region', 'US', '--', '-5');
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      type: 'twitter_id',
      error: { code: 'twitter_id_invalid', message: expect.any(String) },
    });
  });

  it('exits 2 on an unknown type', () => {
    expect(tca('ip_address', '127.0.0.1').status).toBe(2);
  });
});

describe('runIdentityCommand', () => {
  it('uses the region for national phone numbers', () => {
    const run = runIdentityCommand('phone_number', '(212) 555-0100', { region: 'US' });
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.output)).toEqual({
      type: 'phone_number',
      normalized: '+12125550100',
      sha256: '7051794160d3623333285fa17308ecc1841d3764590bfcd8266e5d83937d3bb8',
    });
  });

  it('checks hashed values without hashing them again', () => {
    const digest = '49E0BE2AECCFB51A8DEE4C945C8A70A9AC500CF6F5CB08112575F74DB9B1470D';
    const run = runIdentityCommand('handle', digest, { hashed: true });
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.output)).toEqual({
      type: 'handle',
      normalized: digest.toLowerCase(),
      sha256: digest.toLowerCase(),
    });
    expect(runIdentityCommand('handle', '@AdsAPI', { hashed: true }).exitCode).toBe(1);
  });

  it('prints partner_user_id without a digest', () => {
    expect(JSON.parse(runIdentityCommand('partner_user_id', ' CRM-1 ', {}).output)).toEqual({
      type: 'partner_user_id',
      normalized: 'CRM-1',
    });
  });

  it('passes the device kind', () => {
    const run = runIdentityCommand('device_id', 'af3802a465767e36', { deviceKind: 'idfa' });
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.output)).toMatchObject({ error: { code: 'device_id_kind_mismatch' } });
  });

  it('reports phone numbers without a country code', () => {
    const run = runIdentityCommand('phone_number', '555-0100', {});
    expect(run).toEqual({ output: expect.stringContaining('"code":"phone_needs_region"'), exitCode: 1 });
  });
});
