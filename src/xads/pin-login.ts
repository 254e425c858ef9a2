/**
 * OAuth 1.0a PIN-based ("out of band") login: request token → the user opens the authorize URL and reads a
 * PIN → access token. Endpoints per docs.x.com (oauth/request_token, oauth/authorize, oauth/access_token on
 * api.x.com); the base URL is configurable so the emulator can serve them.
 */
import { randomBytes } from 'node:crypto';
import { AuthError, errorFromResponse, TransientError, ValidationError } from './errors.ts';
import { percentEncode, signRequest } from './oauth1.ts';
import { timeoutSignal } from './rate-limit.ts';
import type { XCredentials } from './types.ts';
import type { FetchLike } from './client.ts';

export const DEFAULT_OAUTH_BASE_URL = 'https://api.x.com';

export interface PinLoginOptions {
  /** Defaults to https://api.x.com. */
  baseUrl?: string;
  /** Called with a string URL and an init object, like {@link FetchLike}. */
  fetch?: FetchLike;
  /** Epoch milliseconds. */
  now?: () => number;
  nonce?: () => string;
  /** Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface AppCredentials {
  consumerKey: string;
  consumerSecret: string;
}

/** The temporary token of step 1; keep the secret for step 3. */
export interface RequestToken {
  token: string;
  tokenSecret: string;
  callbackConfirmed: boolean;
}

export interface AccessTokenResult {
  /** Ready for `new XAdsClient({ credentials })`. */
  credentials: XCredentials;
  userId: string | null;
  screenName: string | null;
}

function base(options: PinLoginOptions): string {
  return (options.baseUrl ?? DEFAULT_OAUTH_BASE_URL).replace(/\/+$/, '');
}

async function postOAuth(
  path: string,
  sign: { consumer: AppCredentials; token?: { key: string; secret: string }; extra: Record<string, string> },
  options: PinLoginOptions,
): Promise<URLSearchParams> {
  const url = `${base(options)}${path}`;
  const now = options.now ?? Date.now;
  const authorization = signRequest({
    method: 'POST',
    url,
    consumer: { key: sign.consumer.consumerKey, secret: sign.consumer.consumerSecret },
    ...(sign.token ? { token: sign.token } : {}),
    nonce: (options.nonce ?? (() => randomBytes(16).toString('hex')))(),
    timestamp: Math.floor(now() / 1000),
    extra: sign.extra,
  });
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timeout = timeoutSignal(timeoutMs, options.signal);
  let status: number;
  let headers: Headers;
  let text: string;
  try {
    const response = await doFetch(url, {
      method: 'POST',
      headers: { authorization },
      signal: timeout.signal,
    });
    status = response.status;
    headers = response.headers;
    text = await response.text();
  } catch (cause) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new TransientError({
      message: timeout.timedOut()
        ? `POST ${path} timed out after ${timeoutMs} ms`
        : `POST ${path} failed before a response`,
      reason: timeout.timedOut() ? 'timeout' : 'network',
      method: 'POST',
      path,
      cause,
      hint: `Check network access to ${base(options)}.`,
    });
  } finally {
    timeout.dispose();
  }
  if (status < 200 || status >= 300) {
    throw errorFromResponse({ status, headers, bodyText: text, now: now(), method: 'POST', path });
  }
  return new URLSearchParams(text);
}

function required(params: URLSearchParams, key: string, path: string): string {
  const value = params.get(key);
  if (!value) {
    throw new AuthError({
      message: `POST ${path} answered without ${key}`,
      method: 'POST',
      path,
      hint: 'Start the login again; the temporary token may have expired or the PIN may be wrong.',
    });
  }
  return value;
}

/**
 * Step 1: gets a temporary request token with `oauth_callback=oob` (PIN flow).
 *
 * @example
 * const requestTokenResult = await requestToken({ consumerKey, consumerSecret });
 * console.log(`Open ${authorizeUrl(requestTokenResult.token)} and paste the PIN`);
 */
export async function requestToken(
  app: AppCredentials,
  options: PinLoginOptions = {},
): Promise<RequestToken> {
  if (!app.consumerKey || !app.consumerSecret) {
    throw new ValidationError({
      message: 'consumerKey and consumerSecret are required',
      hint: 'Use the app API key and secret.',
    });
  }
  const path = '/oauth/request_token';
  const params = await postOAuth(path, { consumer: app, extra: { oauth_callback: 'oob' } }, options);
  return {
    token: required(params, 'oauth_token', path),
    tokenSecret: required(params, 'oauth_token_secret', path),
    callbackConfirmed: params.get('oauth_callback_confirmed') === 'true',
  };
}

/**
 * Step 2: the page where the user approves the app and sees the PIN.
 *
 * @example
 * authorizeUrl('Z6eEdO8MOmk394WozF5oKyuAv855l4Mlqo7hhlSLik'); // 'https://api.x.com/oauth/authorize?oauth_token=Z6eE…'
 */
export function authorizeUrl(token: string, options: { baseUrl?: string } = {}): string {
  return `${base(options)}/oauth/authorize?oauth_token=${percentEncode(token)}`;
}

/**
 * Step 3: exchanges the request token and the PIN (verifier) for the user's access token.
 *
 * @example
 * const { credentials, screenName } = await accessToken({ consumerKey, consumerSecret }, requestTokenResult, pin);
 * const client = new XAdsClient({ credentials });
 */
export async function accessToken(
  app: AppCredentials,
  request: Pick<RequestToken, 'token' | 'tokenSecret'>,
  verifier: string,
  options: PinLoginOptions = {},
): Promise<AccessTokenResult> {
  const pin = verifier.trim();
  if (pin === '')
    throw new ValidationError({
      message: 'the PIN is empty',
      hint: 'Paste the PIN X showed after approval.',
    });
  const path = '/oauth/access_token';
  const params = await postOAuth(
    path,
    {
      consumer: app,
      token: { key: request.token, secret: request.tokenSecret },
      extra: { oauth_verifier: pin },
    },
    options,
  );
  return {
    credentials: {
      consumerKey: app.consumerKey,
      consumerSecret: app.consumerSecret,
      accessToken: required(params, 'oauth_token', path),
      accessTokenSecret: required(params, 'oauth_token_secret', path),
    },
    userId: params.get('user_id'),
    screenName: params.get('screen_name'),
  };
}
