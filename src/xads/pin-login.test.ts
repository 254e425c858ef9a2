import { describe, expect, it } from 'vitest';
import { AuthError, TransientError, ValidationError } from './errors.ts';
import { parseAuthorizationHeader, verifySignature } from './oauth1.ts';
import { accessToken, authorizeUrl, requestToken } from './pin-login.ts';

const app = { consumerKey: 'ck', consumerSecret: 'cs' };
const NOW = Date.UTC(2026, 10, 28, 12);

// A scripted OAuth provider that checks each signature the way X does.
function provider(responses: { request?: Response; access?: Response } = {}) {
  const seen: Array<{ url: string; oauth: Record<string, string>; valid: boolean }> = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const oauth = parseAuthorizationHeader(new Headers(init?.headers).get('authorization'))!;
    const isAccess = url.endsWith('/oauth/access_token');
    const valid = verifySignature({
      method: init?.method ?? 'GET',
      url,
      oauth,
      consumerSecret: 'cs',
      ...(isAccess ? { tokenSecret: 'rts' } : {}),
    });
    seen.push({ url, oauth, valid });
    if (isAccess) {
      return (
        responses.access ??
        new Response('oauth_token=at&oauth_token_secret=ats&user_id=6253282&screen_name=XDevelopers', {
          status: 200,
        })
      );
    }
    return (
      responses.request ?? new Response('oauth_token=rt&oauth_token_secret=rts&oauth_callback_confirmed=true')
    );
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

describe('PIN login', () => {
  it('runs request token → authorize URL → access token against a configurable base URL', async () => {
    const { fetch, seen } = provider();
    const options = { baseUrl: 'http://127.0.0.1:9090/', fetch, now: () => NOW, nonce: () => 'n' };
    const token = await requestToken(app, options);
    expect(token).toEqual({ token: 'rt', tokenSecret: 'rts', callbackConfirmed: true });
    expect(seen[0]!.url).toBe('http://127.0.0.1:9090/oauth/request_token');
    expect(seen[0]!.oauth.oauth_callback).toBe('oob');
    expect(seen[0]!.oauth.oauth_token).toBeUndefined();
    expect(seen[0]!.oauth.oauth_timestamp).toBe(String(NOW / 1000));
    expect(seen[0]!.valid).toBe(true);

    expect(authorizeUrl(token.token, options)).toBe('http://127.0.0.1:9090/oauth/authorize?oauth_token=rt');
    expect(authorizeUrl('a/b+c')).toBe('https://api.x.com/oauth/authorize?oauth_token=a%2Fb%2Bc');

    const result = await accessToken(app, token, ' 1234567 ', options);
    expect(result).toEqual({
      credentials: { consumerKey: 'ck', consumerSecret: 'cs', accessToken: 'at', accessTokenSecret: 'ats' },
      userId: '6253282',
      screenName: 'XDevelopers',
    });
    expect(seen[1]!.oauth).toMatchObject({ oauth_token: 'rt', oauth_verifier: '1234567' });
    expect(seen[1]!.valid).toBe(true);
  });

  it('maps a refused PIN to AuthError and an outage to TransientError', async () => {
    const refused = provider({ access: new Response('Invalid oauth_verifier parameter', { status: 401 }) });
    await expect(
      accessToken(app, { token: 'rt', tokenSecret: 'rts' }, '1', { fetch: refused.fetch }),
    ).rejects.toBeInstanceOf(AuthError);

    const down = provider({ request: new Response('', { status: 503, headers: { 'retry-after': '5' } }) });
    await expect(requestToken(app, { fetch: down.fetch })).rejects.toBeInstanceOf(TransientError);

    const failing = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof globalThis.fetch;
    await expect(requestToken(app, { fetch: failing })).rejects.toMatchObject({ reason: 'network' });
  });

  it('rejects answers without a token and empty inputs', async () => {
    const empty = provider({ request: new Response('oauth_callback_confirmed=true') });
    await expect(requestToken(app, { fetch: empty.fetch })).rejects.toBeInstanceOf(AuthError);
    await expect(requestToken({ consumerKey: '', consumerSecret: 'x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(accessToken(app, { token: 'a', tokenSecret: 'b' }, '  ')).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});
