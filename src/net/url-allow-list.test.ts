import { describe, expect, it } from 'vitest';
import { describeAllowList, isAllowedUrl, parseUrlAllowList } from './url-allow-list.ts';

describe('URL allow-list', () => {
  const { origins, problems } = parseUrlAllowList(
    ' https://storage.googleapis.com, https://*.S3.amazonaws.com ,http://10.0.0.5:8080,,',
  );

  it('reads origins and subdomain wildcards, and shows them back', () => {
    expect(problems).toEqual([]);
    expect(describeAllowList(origins)).toEqual([
      'https://storage.googleapis.com',
      'https://*.s3.amazonaws.com',
      'http://10.0.0.5:8080',
    ]);
    expect(parseUrlAllowList(undefined)).toEqual({ origins: [], problems: [] });
  });

  it('allows only the same scheme, host (or a subdomain of a wildcard) and port', () => {
    const allowed = (url: string) => isAllowedUrl(origins, new URL(url));
    expect(allowed('https://storage.googleapis.com/bucket/vip.csv?X-Goog-Signature=abc')).toBe(true);
    expect(allowed('https://storage.googleapis.com:443/bucket/vip.csv')).toBe(true);
    expect(allowed('http://storage.googleapis.com/bucket/vip.csv')).toBe(false);
    expect(allowed('https://storage.googleapis.com:8443/bucket/vip.csv')).toBe(false);
    expect(allowed('https://storage.googleapis.com.evil.example/vip.csv')).toBe(false);
    expect(allowed('https://exports.s3.amazonaws.com/vip.csv')).toBe(true);
    expect(allowed('https://a.b.s3.amazonaws.com/vip.csv')).toBe(true);
    // A wildcard covers subdomains only, and not a look-alike suffix.
    expect(allowed('https://s3.amazonaws.com/vip.csv')).toBe(false);
    expect(allowed('https://evils3.amazonaws.com/vip.csv')).toBe(false);
    expect(allowed('http://10.0.0.5:8080/export.ndjson')).toBe(true);
    expect(allowed('http://10.0.0.5/export.ndjson')).toBe(false);
    expect(allowed('http://127.0.0.1:8080/export.ndjson')).toBe(false);
  });

  it('names each entry that is not an origin', () => {
    expect(
      parseUrlAllowList(
        'storage.googleapis.com, ftp://files.example.com, https://x.example.com/bucket, https://u:p@y.example.com',
      ).problems,
    ).toEqual([
      '"storage.googleapis.com" is not an origin such as https://storage.googleapis.com',
      '"ftp://files.example.com" is not http or https',
      '"https://x.example.com/bucket" has more than an origin (scheme, host and port only)',
      '"https://u:p@y.example.com" has more than an origin (scheme, host and port only)',
    ]);
  });
});
