import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  hmacSha1Signature,
  parseAuthorizationHeader,
  percentEncode,
  queryParams,
  signatureBaseString,
  signatureBaseUrl,
  signatureParams,
  signRequest,
  verifySignature,
} from './oauth1.ts';

// X's published "Creating a signature" credentials and the Ads API vectors derived from them.
const credentials = {
  consumer_key: 'xvz1evFS4wEEPTGEFPHBog',
  consumer_secret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw',
  token: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb',
  token_secret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE',
  nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
  timestamp: '1318622958',
};

interface Vector {
  name: string;
  method: string;
  url: string;
  form_body?: Record<string, string>;
  json_body?: unknown;
  signature: string;
}

const cases: Vector[] = [
  {
    name: "docs 'Creating a signature' (api.x.com)",
    method: 'POST',
    url: 'https://api.x.com/1.1/statuses/update.json?include_entities=true',
    form_body: { status: 'Hello Ladies + Gentlemen, a signed OAuth request!' },
    signature: 'Ls93hJiZbQ3akF3HF3x1Bz8/zU4=',
  },
  {
    name: 'same, pre-rebrand host (api.twitter.com)',
    method: 'POST',
    url: 'https://api.twitter.com/1.1/statuses/update.json?include_entities=true',
    form_body: { status: 'Hello Ladies + Gentlemen, a signed OAuth request!' },
    signature: 'hCtSmYh+iHYCEqBWrE7C7hYmtUk=',
  },
  {
    name: 'create audience, params on the query string',
    method: 'POST',
    url: 'https://ads-api.x.com/12/accounts/18ce54d4x5t/custom_audiences?name=developers&description=A%20test',
    signature: 'hfBcf4BLF0fyenG/TY6qCxslTdc=',
  },
  {
    name: 'list audiences',
    method: 'GET',
    url: 'https://ads-api.x.com/12/accounts/18ce54d4x5t/custom_audiences?count=1000&cursor=c-3yvu1pzhd3i7&with_deleted=true',
    signature: 'Y5dO0r6InKIvOmbVUO+U33PAahk=',
  },
  {
    name: 'authenticated user access',
    method: 'GET',
    url: 'https://ads-api.x.com/12/accounts/18ce54d4x5t/authenticated_user_access',
    signature: '6sgxAlgX9Ywbz9mK2Lz7GQoKo1o=',
  },
  {
    name: 'users endpoint, JSON body NOT part of the signature',
    method: 'POST',
    url: 'https://ads-api.x.com/12/accounts/18ce54d4x5t/custom_audiences/1nmth/users',
    json_body: [
      {
        operation_type: 'Update',
        params: { users: [{ email: ['4798b8bbdcf6f2a52e527f46a3d7a7c9aefb541afda03af79c74809ecc6376f3'] }] },
      },
    ],
    signature: 'zreLvHV6V+GeBN4+ahf/Fx0PJzA=',
  },
];

const consumer = { key: credentials.consumer_key, secret: credentials.consumer_secret };
const token = { key: credentials.token, secret: credentials.token_secret };

describe('percentEncode', () => {
  it('follows the documented examples', () => {
    expect(percentEncode('Ladies + Gentlemen')).toBe('Ladies%20%2B%20Gentlemen');
    expect(percentEncode('An encoded string!')).toBe('An%20encoded%20string%21');
    expect(percentEncode('Dogs, Cats & Mice')).toBe('Dogs%2C%20Cats%20%26%20Mice');
    expect(percentEncode('☃')).toBe('%E2%98%83');
  });

  it("encodes !*'() and the Ads API separators : and ,", () => {
    expect(percentEncode("!*'()")).toBe('%21%2A%27%28%29');
    expect(percentEncode('2018-05-15T00:00:00Z,a')).toBe('2018-05-15T00%3A00%3A00Z%2Ca');
  });

  it('leaves only the unreserved set and uses uppercase hex', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const out = percentEncode(s);
        expect(out).toMatch(/^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/);
        expect(decodeURIComponent(out)).toBe(s);
      }),
    );
  });
});

describe('signature vectors', () => {
  it('reproduces the documented base string', () => {
    const v = cases[0]!;
    const oauth = {
      oauth_consumer_key: credentials.consumer_key,
      oauth_nonce: credentials.nonce,
      oauth_signature_method: 'HMAC-SHA1',
      oauth_timestamp: credentials.timestamp,
      oauth_token: credentials.token,
      oauth_version: '1.0',
    };
    const base = signatureBaseString({
      method: v.method,
      url: v.url,
      params: signatureParams({ url: v.url, form: v.form_body!, oauth }),
    });
    expect(base).toBe(
      'POST&https%3A%2F%2Fapi.x.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521',
    );
    const hmac = Buffer.from(
      hmacSha1Signature(base, credentials.consumer_secret, credentials.token_secret),
      'base64',
    );
    expect(hmac.toString('hex')).toBe('2ecf778498996d0dda905dc7177c75073f3fcd4e');
  });

  it('double-encodes query values in the base string (vector A)', () => {
    const base = signatureBaseString({
      method: 'post',
      url: cases[2]!.url,
      params: signatureParams({
        url: cases[2]!.url,
        oauth: {
          oauth_consumer_key: credentials.consumer_key,
          oauth_nonce: credentials.nonce,
          oauth_signature_method: 'HMAC-SHA1',
          oauth_timestamp: credentials.timestamp,
          oauth_token: credentials.token,
          oauth_version: '1.0',
        },
      }),
    });
    expect(base).toBe(
      'POST&https%3A%2F%2Fads-api.x.com%2F12%2Faccounts%2F18ce54d4x5t%2Fcustom_audiences&description%3DA%2520test%26name%3Ddevelopers%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0',
    );
  });

  for (const v of cases) {
    it(`signRequest: ${v.name}`, () => {
      const header = signRequest({
        method: v.method,
        url: v.url,
        ...(v.form_body ? { form: v.form_body } : {}),
        consumer,
        token,
        nonce: credentials.nonce,
        timestamp: credentials.timestamp,
      });
      const parsed = parseAuthorizationHeader(header);
      expect(parsed?.oauth_signature).toBe(v.signature);
      expect(
        verifySignature({
          method: v.method,
          url: v.url,
          ...(v.form_body ? { form: v.form_body } : {}),
          oauth: parsed!,
          consumerSecret: consumer.secret,
          tokenSecret: token.secret,
        }),
      ).toBe(true);
    });
  }

  it('vector E: an oauth_body_hash in the header is signed like any protocol parameter', () => {
    const url = cases[5]!.url;
    const header = signRequest({
      method: 'POST',
      url,
      consumer,
      token,
      nonce: credentials.nonce,
      timestamp: credentials.timestamp,
      extra: { oauth_body_hash: 'isIVdXi3+VxQttYZGfPXktiQZ/s=' },
    });
    expect(parseAuthorizationHeader(header)?.oauth_signature).toBe('gwnYIpVsmIxkp0vwVvT527orqfA=');
  });
});

describe('signRequest', () => {
  const base = {
    method: 'GET',
    url: 'https://ads-api.x.com/12/accounts/abc',
    consumer,
    token,
    nonce: 'n1',
    timestamp: 1,
  };

  it('produces the documented header format, keys sorted and values encoded', () => {
    const header = signRequest(base);
    expect(header).toMatch(
      /^OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="n1", oauth_signature="[A-Za-z0-9%]+", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1", oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"$/,
    );
  });

  it('omits oauth_token for the request-token step and signs oauth_callback', () => {
    const header = signRequest({
      method: 'POST',
      url: 'https://api.x.com/oauth/request_token',
      consumer,
      nonce: 'n',
      timestamp: 2,
      extra: { oauth_callback: 'oob' },
    });
    const parsed = parseAuthorizationHeader(header)!;
    expect(parsed.oauth_token).toBeUndefined();
    expect(parsed.oauth_callback).toBe('oob');
    expect(
      verifySignature({
        method: 'POST',
        url: 'https://api.x.com/oauth/request_token',
        oauth: parsed,
        consumerSecret: consumer.secret,
      }),
    ).toBe(true);
    // The callback is part of the signature: changing it must break verification.
    expect(
      verifySignature({
        method: 'POST',
        url: 'https://api.x.com/oauth/request_token',
        oauth: { ...parsed, oauth_callback: 'https://evil.example' },
        consumerSecret: consumer.secret,
      }),
    ).toBe(false);
  });

  it('signs every query parameter: a changed or added one fails verification', () => {
    const url = 'https://ads-api.x.com/12/accounts/abc/custom_audiences?q=dev&count=10';
    const oauth = parseAuthorizationHeader(signRequest({ ...base, url }))!;
    const verify = (u: string, method = 'GET') =>
      verifySignature({ method, url: u, oauth, consumerSecret: consumer.secret, tokenSecret: token.secret });
    expect(verify(url)).toBe(true);
    expect(verify('https://ads-api.x.com/12/accounts/abc/custom_audiences?count=10&q=dev')).toBe(true);
    expect(verify('https://ads-api.x.com/12/accounts/abc/custom_audiences?q=dev&count=11')).toBe(false);
    expect(verify(`${url}&with_deleted=true`)).toBe(false);
    expect(verify(url, 'POST')).toBe(false);
    expect(verify(url.replace('https:', 'http:'))).toBe(false);
  });

  it('normalizes the base URL: host case and default port do not matter, other ports do', () => {
    const oauth = parseAuthorizationHeader(signRequest(base))!;
    const verify = (u: string) =>
      verifySignature({
        method: 'GET',
        url: u,
        oauth,
        consumerSecret: consumer.secret,
        tokenSecret: token.secret,
      });
    expect(verify('https://ADS-API.x.com:443/12/accounts/abc')).toBe(true);
    expect(verify('https://ads-api.x.com:8443/12/accounts/abc')).toBe(false);
  });

  it('signs loopback URLs with a port', () => {
    const url = 'http://127.0.0.1:9090/12/accounts/abc?name=a%20b%21';
    const oauth = parseAuthorizationHeader(signRequest({ ...base, url }))!;
    expect(
      verifySignature({
        method: 'GET',
        url,
        oauth,
        consumerSecret: consumer.secret,
        tokenSecret: token.secret,
      }),
    ).toBe(true);
    expect(
      verifySignature({ method: 'GET', url, oauth, consumerSecret: consumer.secret, tokenSecret: 'other' }),
    ).toBe(false);
  });

  it('round-trips arbitrary query and form values through sign, parse and verify', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1 }),
        fc.string({ unit: 'grapheme' }),
        fc.string({ unit: 'grapheme' }),
        (q, formValue, nonce) => {
          const url = `https://ads-api.x.com/12/x?name=${percentEncode(q)}`;
          const form = { status: formValue };
          const oauth = parseAuthorizationHeader(
            signRequest({ ...base, method: 'POST', url, form, nonce: nonce || 'n' }),
          );
          expect(oauth).not.toBeNull();
          expect(
            verifySignature({
              method: 'POST',
              url,
              form,
              oauth: oauth!,
              consumerSecret: consumer.secret,
              tokenSecret: token.secret,
            }),
          ).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('URL helpers', () => {
  it('normalizes the base URL and decodes the query', () => {
    expect(signatureBaseUrl('HTTPS://Ads-API.x.com:443/12/accounts?count=5#f')).toBe(
      'https://ads-api.x.com/12/accounts',
    );
    expect(signatureBaseUrl('http://127.0.0.1:9090/12/a')).toBe('http://127.0.0.1:9090/12/a');
    expect(queryParams('https://a.example/x?name=a%20b&q=c+d')).toEqual([
      ['name', 'a b'],
      ['q', 'c d'],
    ]);
    expect(
      signatureParams({
        url: 'https://ads-api.x.com/12/x?count=5',
        oauth: { oauth_nonce: 'n', oauth_signature: 's', realm: 'r' },
      }),
    ).toEqual([
      ['count', '5'],
      ['oauth_nonce', 'n'],
    ]);
  });

  it('sorts duplicate keys by value', () => {
    const base = signatureBaseString({
      method: 'GET',
      url: 'https://a.example/x',
      params: [
        ['a', '2'],
        ['a', '1'],
        ['A', '3'],
      ],
    });
    expect(base).toBe('GET&https%3A%2F%2Fa.example%2Fx&A%3D3%26a%3D1%26a%3D2');
  });
});

describe('parseAuthorizationHeader', () => {
  it('parses the documented header format', () => {
    const parsed = parseAuthorizationHeader(
      'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"',
    );
    expect(parsed).toEqual({
      oauth_consumer_key: 'xvz1evFS4wEEPTGEFPHBog',
      oauth_nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
      oauth_signature: 'tnnArxj06cWHq44gCs1OSKk/jLY=',
      oauth_signature_method: 'HMAC-SHA1',
      oauth_timestamp: '1318622958',
      oauth_token: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb',
      oauth_version: '1.0',
    });
  });

  it('accepts a realm, any scheme case and loose spacing', () => {
    expect(parseAuthorizationHeader('oauth realm="x",oauth_nonce="a" ,  oauth_token="b"')).toEqual({
      realm: 'x',
      oauth_nonce: 'a',
      oauth_token: 'b',
    });
  });

  it.each([
    [undefined],
    [null],
    [''],
    ['Bearer abc'],
    ['OAuth'],
    ['OAuth oauth_nonce=abc'],
    ['OAuth oauth_nonce="a" oauth_token="b"'],
    ['OAuth oauth_nonce="a", oauth_nonce="b"'],
    ['OAuth oauth_nonce="%E0%A4%A"'],
    ['OAuth oauth_nonce="a",, x="y"'],
  ])('rejects %s', (header) => {
    expect(parseAuthorizationHeader(header)).toBeNull();
  });

  it('verifySignature rejects a missing signature or another method', () => {
    const oauth = parseAuthorizationHeader(
      signRequest({ method: 'GET', url: 'https://a.example/x', consumer, token, nonce: 'n', timestamp: 1 }),
    )!;
    const { oauth_signature: _omit, ...unsigned } = oauth;
    const input = {
      method: 'GET',
      url: 'https://a.example/x',
      consumerSecret: consumer.secret,
      tokenSecret: token.secret,
    };
    expect(verifySignature({ ...input, oauth: unsigned })).toBe(false);
    expect(verifySignature({ ...input, oauth: { ...oauth, oauth_signature_method: 'PLAINTEXT' } })).toBe(
      false,
    );
  });
});
