import { describe, expect, it } from 'vitest';
import { describeNetworkFailure } from './network-failure.ts';

const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });

describe('describeNetworkFailure', () => {
  it('names the innermost reason of a fetch that got no response', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:443'), { code: 'ECONNREFUSED' });
    expect(describeNetworkFailure(fetchFailed(refused))).toEqual({
      reason: 'connect ECONNREFUSED 10.0.0.5:443',
      proxyStatus: null,
      hint: null,
    });
    expect(describeNetworkFailure(new Error('socket hang up'))).toMatchObject({ reason: 'socket hang up' });
    expect(describeNetworkFailure('aborted')).toMatchObject({ reason: 'aborted' });
  });

  it("turns a proxy's refusal of the tunnel into its status and what to fix", () => {
    const tunnel = (status: number) =>
      fetchFailed(new Error(`Proxy response (${status}) !== 200 when HTTP Tunneling`));
    expect(describeNetworkFailure(tunnel(407))).toEqual({
      reason: 'the proxy refused to connect (HTTP 407 Proxy Authentication Required)',
      proxyStatus: 407,
      hint: expect.stringContaining('give them in the proxy URL'),
    });
    expect(describeNetworkFailure(tunnel(403)).hint).toContain('NO_PROXY');
    expect(describeNetworkFailure(tunnel(502))).toMatchObject({
      reason: 'the proxy refused to connect (HTTP 502 Bad Gateway)',
      hint: expect.stringContaining('could not reach the host'),
    });
    expect(describeNetworkFailure(tunnel(418)).reason).toBe('the proxy refused to connect (HTTP 418)');
  });
});
