import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

describe('createLogger', () => {
  it('redacts credentials, tokens and identifiers wherever they sit', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info(
      {
        authorization: 'Bearer tca_secret',
        credentials: { consumerSecret: 'cs', accessTokenSecret: 'ats' },
        destination: { consumerKey: 'ck', accessToken: 'at' },
        profile: { identityMap: { Email: [{ id: 'jane@example.com' }] }, email: 'jane@example.com' },
        pin: '1234567',
        dataflowId: 'df_1',
      },
      'something happened',
    );
    const out = lines.join('');
    for (const secret of ['tca_secret', '"cs"', '"ats"', '"ck"', '"at"', 'jane@example.com', '1234567'])
      expect(out).not.toContain(secret);
    expect(out).toContain('df_1');
    expect(JSON.parse(out).msg).toBe('something happened');
  });
});
